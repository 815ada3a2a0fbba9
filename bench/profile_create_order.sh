#!/usr/bin/env bash
# Instructions per created order, counted by callgrind: order_mgmt's
# create_order against the same rows written by one hand-written SQL
# statement (a CTE into bare copies of the tables: the practical limit) and
# by a PL/pgSQL implementation of the same contract.  See bench/PROFILE.md.
#
#   bench/profile_create_order.sh                        # as root
#   PG_CONFIG=/path/to/pg_config N=2000 bench/profile_create_order.sh
#
# It does NOT build or install the extension: it uses the order_mgmt
# installed in the PostgreSQL of PG_CONFIG (see bench/lib.sh).  Needs valgrind.
#
# Built on bench/lib.sh (profile_init and the profile_* functions, which
# bench/profile_lifecycle.sh shares): as root it runs everything as the
# "postgres" account, in a throwaway cluster (fsync off;
# order_mgmt.notifications = off, order_mgmt.event_mode = outbox), set up
# with a short-lived server on a unix socket only, then stopped.  Every
# measurement is one single-user backend (postgres --single) run under
# valgrind --tool=callgrind that reads, one transaction per line,
#
#   PREPARE w AS <contender>;  EXECUTE w;  EXECUTE w;  ...
#
# Each contender runs twice, with N0 and N0 + N executions, and the report
# is (Ir(N0 + N) - Ir(N0)) / N: the instructions one more order costs,
# startup, PREPARE and planning excluded, commit included.  Every contender
# gets the same input: the command text with a fresh cartId and customerId
# (gen_random_uuid()) cast to jsonb, as a client would send it; the
# "input only" line is that cost alone (SELECT of the cast).
#
# Contenders, each for a 3-line and a 50-line cart:
#   input only    SELECT (command)::jsonb IS NOT NULL
#   create_order  SELECT order_mgmt.create_order((command)::jsonb)
#   cte           one INSERT ... WITH: the order row, its lines from
#                 jsonb_array_elements, the outbox row with its payload,
#                 into bench_bare.orders / order_lines / outbox of
#                 bench/setup.sql (same columns, constraints and indexes, no
#                 triggers)
#   plpgsql       bench_plpgsql.create_order(jsonb) of bench/peer_plpgsql.sql:
#                 the create_order section's PL/pgSQL peer (validation,
#                 digest, idempotency, event), into its own copies of the tables
#
# Environment: PG_CONFIG, N=2000, N0=200, LINES="3 50",
#   CONTENDERS="input create_order cte plpgsql", BENCH_OUT (the run's files
#   go to $BENCH_OUT/profile_create_order; default a new /tmp directory),
#   KEEP=1 keeps the callgrind.out.* files there (for callgrind_annotate),
#   TOP=25 also prints, per contender, the TOP functions by inclusive
#   instructions per order (the same difference of two runs, per function;
#   the frames every statement goes through, PortalRun to ExecutorRun, are
#   left out).  Counts grow a little with N (bigger tables, deeper indexes):
#   compare contenders measured with the same N.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
profile_init profile_create_order "$@"
LINES=${LINES:-"3 50"}
CONTENDERS=${CONTENDERS:-"input create_order cte plpgsql"}

echo "\\i $bench_root/bench/peer_plpgsql.sql" | profile_setup

# ---- the command text: fresh cartId and customerId, fixed products --------
command_expr() {
	local lines=$1 i items="" total=0 q p
	for ((i = 1; i <= lines; i++)); do
		q=$(((i % 5) + 1))
		p=$((100 * i + 99))
		total=$((total + q * p))
		[ -n "$items" ] && items+=","
		items+=$(printf '{"productId":"00000000-0000-4000-8000-%012x","quantity":%d,"unitPrice":%d}' "$i" "$q" "$p")
	done
	printf "('{\"cartId\":\"' || gen_random_uuid() || '\",\"customerId\":\"' || gen_random_uuid() || '\",\"items\":[%s],\"total\":%d,\"currency\":\"EUR\",\"paymentAuthorizationId\":\"auth-123\"}')::jsonb" "$items" "$total"
}

statement() {
	local who=$1 cmd=$2
	case $who in
		input)
			echo "SELECT $cmd IS NOT NULL" ;;
		create_order)
			echo "SELECT order_mgmt.create_order($cmd)" ;;
		plpgsql)
			echo "SELECT bench_plpgsql.create_order($cmd)" ;;
		cte)
			# one statement: order row, lines, event (no validation)
			echo "WITH c AS MATERIALIZED (SELECT $cmd AS cmd, order_mgmt.uuid_generate_v7() AS id, now() AS at)," \
				"o AS (INSERT INTO bench_bare.orders (order_id, cart_id, customer_id, status, total, currency," \
				" payment_authorization_id, version, created_at, command_digest)" \
				" SELECT c.id, (c.cmd->>'cartId')::uuid, (c.cmd->>'customerId')::uuid, 'CREATED'," \
				" (c.cmd->>'total')::bigint, c.cmd->>'currency', c.cmd->>'paymentAuthorizationId', 1, c.at," \
				" sha256(convert_to(c.cmd::text, 'UTF8')) FROM c" \
				" RETURNING order_id, customer_id, total, currency, created_at)," \
				"l AS (INSERT INTO bench_bare.order_lines (order_id, line_no, product_id, quantity, unit_price)" \
				" SELECT c.id, e.n, (e.v->>'productId')::uuid, (e.v->>'quantity')::int, (e.v->>'unitPrice')::bigint" \
				" FROM c, jsonb_array_elements(c.cmd->'items') WITH ORDINALITY AS e(v, n))" \
				" INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version," \
				" schema_version, occurred_at, xact_id)" \
				" SELECT order_mgmt.uuid_generate_v7(), 'order', o.order_id, 'OrderCreated'," \
				" jsonb_build_object('orderId', o.order_id, 'customerId', o.customer_id, 'total', o.total," \
				" 'currency', o.currency, 'createdAt', bench.rfc3339(o.created_at))," \
				" 1, '1.0.0', o.created_at, pg_current_xact_id() FROM o RETURNING aggregateid" ;;
		*)
			echo "unknown contender $who" >&2; exit 1 ;;
	esac
}

# total instructions of one single-user run of n executions
run_count() {
	local who=$1 lines=$2 n=$3 tag=$4
	{
		echo "PREPARE w AS $(statement "$who" "$(command_expr "$lines")")"
		for ((k = 0; k < n; k++)); do echo "EXECUTE w"; done
	} >"$RAW/$who-$lines-$tag.sql"
	profile_count "$who-$lines" "$tag"
}

# Ir per order; "net" subtracts the input-only cost (the client's statement,
# the command's jsonb parse, the transaction), what the contender itself adds
declare -A ir
echo "$("$CLUSTER_BINDIR/postgres" -V), $("$PG_CONFIG" --pkglibdir)/order_mgmt.so, N=$N orders (runs of N0+N minus runs of N0=$N0)"
printf '%-14s %6s %14s %14s %10s\n' contender lines "Ir/order" "net Ir/order" "net vs cte"
for lines in $LINES; do
	for who in $CONTENDERS; do
		small=$(run_count "$who" "$lines" "$N0" small)
		big=$(run_count "$who" "$lines" "$((N0 + N))" big)
		ir[$who.$lines]=$(((big - small) / N))
	done
	for who in $CONTENDERS; do
		total=${ir[$who.$lines]}
		net=$total
		ratio=-
		if [ -n "${ir[input.$lines]:-}" ]; then
			net=$((total - ${ir[input.$lines]}))
		fi
		if [ -n "${ir[cte.$lines]:-}" ] && [ "$who" != input ]; then
			ratio=$(awk -v a="$net" -v b="$((${ir[cte.$lines]} - ${ir[input.$lines]:-0}))" 'BEGIN { printf "%.2fx", a / b }')
		fi
		[ "$who" = input ] && net=-
		printf '%-14s %6s %14s %14s %10s\n' "$who" "$lines" "$total" "$net" "$ratio"
	done
done
if [ "$TOP" -gt 0 ]; then
	for lines in $LINES; do
		for who in $CONTENDERS; do
			echo "top functions of $who, $lines lines (inclusive Ir per order, % of the contender's total)"
			profile_top "$who-$lines" "${ir[$who.$lines]}"
		done
	done
fi
profile_done
