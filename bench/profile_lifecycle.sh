#!/usr/bin/env bash
# Instructions per lifecycle transition, counted by callgrind: order_mgmt's
# cancel_order and complete_order and the direct UPDATE of the status
# (checked by the lifecycle triggers) against the same rows written by one
# hand-written statement (an UPDATE feeding the outbox INSERT, on bare copies
# of the tables: the practical limit).  See bench/PROFILE.md.
#
#   bench/profile_lifecycle.sh                            # as root
#   PG_CONFIG=/path/to/pg_config N=2000 TOP=30 bench/profile_lifecycle.sh
#
# It does NOT build or install the extension: it uses the order_mgmt
# installed in the PostgreSQL of PG_CONFIG.  Needs valgrind.  The cluster,
# the single-user runs and the per-function differences are those of
# bench/profile_create_order.sh (the profile_* functions of bench/lib.sh): every contender runs
# twice, with N0 and N0 + N calls, one transaction per call, and the report
# is (Ir(N0 + N) - Ir(N0)) / N, commit included.
#
# Every call takes a CREATED order of its own: the orders of all runs are
# inserted first (bench_created_orders of bench/lib.sh, as bench/lifecycle.sh
# does: triggers bypassed, into order_mgmt.orders or bench_bare.orders) and
# numbered in prof.lc; a run reads PREPARE w(int) AS <contender> and then
# EXECUTE w(k) for its own range of numbers.  Afterwards every run's orders
# are checked to have moved, each once, to the contender's status.
#
# Contenders:
#   input          SELECT l.order_id IS NOT NULL FROM prof.lc l WHERE l.n = $1
#                  (the statement, the look-up of the order id, the commit)
#   cancel         SELECT order_mgmt.cancel_order(l.order_id, 'CUSTOMER_REQUESTED') ...
#   complete       SELECT order_mgmt.complete_order(l.order_id) ...
#   update         UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = (...)
#   bare_complete  WITH u AS (UPDATE bench_bare.orders SET status, version + 1,
#                  completed_at ... RETURNING ...) INSERT INTO bench_bare.outbox ...:
#                  bench/pgbench/complete_bare.sql, the harness's limit
#   bare_cancel    the same for a cancellation (reason, cancelled_at, payload)
#
# Environment: PG_CONFIG, N=2000, N0=200,
#   CONTENDERS="input cancel complete update bare_complete bare_cancel",
#   BENCH_OUT, KEEP=1, TOP=25 (see profile_create_order.sh).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
profile_init profile_lifecycle "$@"
CONTENDERS=${CONTENDERS:-"input cancel complete update bare_complete bare_cancel"}
read -r -a contenders <<<"$CONTENDERS"

# the statement of a contender, on the order numbered $1
statement() {
	local id="(SELECT l.order_id FROM prof.lc l WHERE l.n = \$1)"
	case $1 in
		input)
			echo "SELECT l.order_id IS NOT NULL FROM prof.lc l WHERE l.n = \$1" ;;
		cancel)
			echo "SELECT order_mgmt.cancel_order(l.order_id, 'CUSTOMER_REQUESTED') FROM prof.lc l WHERE l.n = \$1" ;;
		complete)
			echo "SELECT order_mgmt.complete_order(l.order_id) FROM prof.lc l WHERE l.n = \$1" ;;
		update)
			echo "UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = $id" ;;
		bare_complete)
			echo "WITH u AS (UPDATE bench_bare.orders SET status = 'COMPLETED', version = version + 1, completed_at = now()" \
				" WHERE order_id = $id AND status = 'CREATED' RETURNING order_id, customer_id, version, completed_at)" \
				" INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version," \
				" schema_version, occurred_at, xact_id)" \
				" SELECT order_mgmt.uuid_generate_v7(), 'order', order_id, 'OrderCompleted'," \
				" jsonb_build_object('orderId', order_id, 'customerId', customer_id, 'completedAt', bench.rfc3339(completed_at))," \
				" version, '1.0.0', completed_at, pg_current_xact_id() FROM u" ;;
		bare_cancel)
			echo "WITH u AS (UPDATE bench_bare.orders SET status = 'CANCELLED', version = version + 1, cancelled_at = now()," \
				" cancellation_reason = 'CUSTOMER_REQUESTED'" \
				" WHERE order_id = $id AND status = 'CREATED'" \
				" RETURNING order_id, customer_id, version, cancelled_at, cancellation_reason)" \
				" INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version," \
				" schema_version, occurred_at, xact_id)" \
				" SELECT order_mgmt.uuid_generate_v7(), 'order', order_id, 'OrderCancelled'," \
				" jsonb_build_object('orderId', order_id, 'customerId', customer_id, 'reason', cancellation_reason," \
				" 'cancelledAt', bench.rfc3339(cancelled_at))," \
				" version, '1.0.0', cancelled_at, pg_current_xact_id() FROM u" ;;
		*)
			echo "unknown contender $1" >&2; exit 1 ;;
	esac
}
schema_of() { case $1 in bare_*) echo bench_bare ;; *) echo order_mgmt ;; esac; }
status_of() { case $1 in input) echo CREATED ;; *cancel) echo CANCELLED ;; *) echo COMPLETED ;; esac; }

# the first order number of a contender's run (small: N0 orders, big: N0 + N)
first_of() {
	local i=$1 tag=$2 skip=0
	[ "$tag" = big ] && skip=$N0
	echo $((i * (2 * N0 + N) + 1 + skip))
}

# ---- the orders: every run's own, numbered -------------------------------
plan=""
for i in "${!contenders[@]}"; do
	plan+="${plan:+,}($(($(first_of "$i" small) - 1)), $((2 * N0 + N)), '$(schema_of "${contenders[$i]}")')"
done
{
	echo "CREATE SCHEMA prof;"
	bench_created_orders prof.lc "$plan"
	echo "VACUUM ANALYZE;"
} | profile_setup

# total instructions of one run of n calls from order number first
run_count() {
	local who=$1 first=$2 n=$3 tag=$4
	{
		echo "PREPARE w(int) AS $(statement "$who")"
		for ((k = first; k < first + n; k++)); do echo "EXECUTE w($k)"; done
	} >"$RAW/$who-$tag.sql"
	profile_count "$who" "$tag"
}

declare -A ir
echo "$("$CLUSTER_BINDIR/postgres" -V), $("$PG_CONFIG" --pkglibdir)/order_mgmt.so, N=$N transitions (runs of N0+N minus runs of N0=$N0)"
for i in "${!contenders[@]}"; do
	who=${contenders[$i]}
	small=$(run_count "$who" "$(first_of "$i" small)" "$N0" small)
	big=$(run_count "$who" "$(first_of "$i" big)" "$((N0 + N))" big)
	ir[$who]=$(((big - small) / N))
done

# every run's orders moved once, to the contender's status (checked without valgrind)
{
	for i in "${!contenders[@]}"; do
		who=${contenders[$i]}
		first=$(first_of "$i" small)
		last=$((first + 2 * N0 + N - 1))
		version=2
		[ "$who" = input ] && version=1
		echo "DO \$\$ BEGIN IF (SELECT count(*) FROM prof.lc l JOIN $(schema_of "$who").orders o USING (order_id)" \
			"WHERE l.n BETWEEN $first AND $last AND o.status = '$(status_of "$who")' AND o.version = $version)" \
			"<> $((2 * N0 + N)) THEN RAISE EXCEPTION '$who: not every order moved once'; END IF; END \$\$;"
	done
} >"$RAW/check.sql"
profile_backend check

printf '%-14s %14s %14s %18s %18s\n' contender "Ir/call" "net Ir/call" "vs bare_complete" "vs bare_cancel"
for who in "${contenders[@]}"; do
	total=${ir[$who]}
	net=$total
	[ -n "${ir[input]:-}" ] && net=$((total - ${ir[input]}))
	ratios=()
	for limit in bare_complete bare_cancel; do
		if [ -n "${ir[$limit]:-}" ] && [ "$who" != input ]; then
			# throughput ratio from instructions: limit's Ir / this one's
			ratios+=("$(awk -v a="$total" -v b="${ir[$limit]}" 'BEGIN { printf "%.2fx", b / a }')")
		else
			ratios+=(-)
		fi
	done
	[ "$who" = input ] && net=-
	printf '%-14s %14s %14s %18s %18s\n' "$who" "$total" "$net" "${ratios[0]}" "${ratios[1]}"
done
if [ "$TOP" -gt 0 ]; then
	for who in "${contenders[@]}"; do
		echo "top functions of $who (inclusive Ir per call, % of the contender's total)"
		profile_top "$who" "${ir[$who]}"
	done
fi
profile_done
