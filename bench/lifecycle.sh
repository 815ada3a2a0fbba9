#!/usr/bin/env bash
# Benchmark section lifecycle (see bench/README.md): cancel_order and
# complete_order throughput and latency, with the direct path (a plain
# UPDATE of the status, checked by the extension's trigger) and, as the
# limit, one hand-written UPDATE + outbox INSERT statement on trigger-free
# copies of the tables (bench/pgbench/complete_bare.sql).
#
# Compares: cancel_order, complete_order and the direct UPDATE against one
# hand-written UPDATE + outbox INSERT on bench_bare (the limit); 1, 4 and 16 clients.
#
# Every transaction takes a CREATED order no other transaction takes: the
# orders of all runs are inserted first (bench_created_orders of
# bench/lib.sh: directly, triggers bypassed, the same way into order_mgmt and
# bench_bare) and numbered in bench.lc; run r
# takes numbers base_r + 1 .. base_r + clients x per, client c's k-th
# transaction number base_r + c x per + k (pgbench -t per, a per-client
# counter in the script).  After each run it checks that exactly that many
# orders left CREATED, so a transaction that found no order would show.
#
#   sudo bench/lifecycle.sh           # or through bench/run.sh
#
# Environment (the section contract of bench/run.sh, plus):
#   BENCH_ROUNDS=2 rounds
#   BENCH_SYNCHRONOUS_COMMIT=off        this section's synchronous_commit (see
#                                       bench/create_order.sh)
#   BENCH_LIFECYCLE_SCALE=1             multiplies the transactions per client
#                                       and run (longer runs, steadier on a busy
#                                       machine; every run still has its own orders)
#   BENCH_QUICK=1: 2 clients, 100 transactions per client, 1 round
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init lifecycle "$@"

ROUNDS=${BENCH_ROUNDS:-2}
SYNC=${BENCH_SYNCHRONOUS_COMMIT:-off}
CLIENTS=(1 4 16)
declare -A PER=([1]=6000 [4]=3000 [16]=1500)     # transactions per client and run
LC_SCALE=${BENCH_LIFECYCLE_SCALE:-1}
bench_int LC_SCALE
for c in "${CLIENTS[@]}"; do PER[$c]=$((PER[$c] * LC_SCALE)); done
if [ "$QUICK" = 1 ]; then
	ROUNDS=1 CLIENTS=(2)
	PER=([2]=100)
fi
bench_int ROUNDS
case $SYNC in on | off | local | remote_write | remote_apply) ;; *) die "bad BENCH_SYNCHRONOUS_COMMIT" ;; esac
CONTENDERS=(cancel complete update bare)
script_of() {
	case $1 in
	cancel) echo "$bench_root/bench/pgbench/cancel.sql" ;;
	complete) echo "$bench_root/bench/pgbench/complete.sql" ;;
	update) echo "$bench_root/bench/pgbench/complete_update.sql" ;;
	bare) echo "$bench_root/bench/pgbench/complete_bare.sql" ;;
	esac
}
schema_of() { if [ "$1" = bare ]; then echo bench_bare; else echo order_mgmt; fi; }
status_of() { if [ "$1" = cancel ]; then echo CANCELLED; else echo COMPLETED; fi; }

bench_start "synchronous_commit = $SYNC"
bench_sql -f "$bench_root/bench/setup.sql" >/dev/null

# The schedule: every run with its contender and its range of order numbers
runs=()                 # "clients round contender base count"
plan="" base=0 total=0
for c in "${CLIENTS[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		for k in 0 1 2 3; do
			who=${CONTENDERS[$(((k + round - 1) % 4))]}
			count=$((c * PER[$c]))
			runs+=("$c $round $who $base $count")
			plan+="${plan:+,}($base, $count, '$(schema_of "$who")')"
			base=$((base + count))
			total=$((total + count))
		done
	done
done

say "inserting $total CREATED orders"
t0=$(date +%s)
{
	bench_created_orders bench.lc "$plan"
	echo "VACUUM ANALYZE;"
	echo "CHECKPOINT;"
} | bench_sql >/dev/null
say "inserted in $(($(date +%s) - t0)) s"

# ---------------------------------------------------------------------------
started=$(date +%s)
say "${#CLIENTS[@]} client counts x $ROUNDS rounds x ${#CONTENDERS[@]} contenders"
line="" i=0
for run in "${runs[@]}"; do
	read -r c round who base count <<<"$run"
	r=$(bench_pgbench "\"contender\": \"$who\", \"clients\": $c, \"round\": $round" \
		"$c" "$(script_of "$who")" -t "${PER[$c]}" -D k=0 -D "base=$base" -D "per=${PER[$c]}")
	# exactly the run's orders moved, each once, to the contender's status
	moved=$(bench_sql <<EOF
SELECT count(*) FILTER (WHERE o.status = '$(status_of "$who")' AND o.version = 2)
	|| ' ' || count(*) FILTER (WHERE o.status = 'CREATED')
FROM bench.lc l JOIN $(schema_of "$who").orders o USING (order_id)
WHERE l.n BETWEEN $((base + 1)) AND $((base + count));
EOF
)
	[ "$moved" = "$count 0" ] ||
		die "run $who ($c clients, round $round): $count orders should have moved, found (moved, left): $moved"
	line+=" $who ${r%% *}"
	i=$((i + 1))
	if [ $((i % ${#CONTENDERS[@]})) -eq 0 ]; then
		say "$c clients, round $round:$line tps"
		line=""
	fi
done
bench_sql >"$RAW/events.txt" <<'EOF'
SELECT type, count(*) FROM order_mgmt.outbox GROUP BY type
UNION ALL SELECT 'bare ' || type, count(*) FROM bench_bare.outbox GROUP BY type ORDER BY 1;
EOF

printf '{"rounds": %d, "orders": %d, "per_client": "%s", "synchronous_commit": "%s", "quick": %s, "seconds": %d}\n' \
	"$ROUNDS" "$total" "$(for c in "${CLIENTS[@]}"; do printf '%s per client at %s client(s); ' "${PER[$c]}" "$c"; done | sed 's/; $//')" \
	"$SYNC" "$([ "$QUICK" = 1 ] && echo true || echo false)" $(($(date +%s) - started)) >"$RAW/meta.json"
"$BENCH_PYTHON" "$bench_root/bench/report.py" lifecycle "$RAW/runs.jsonl" \
	"$BENCH_OUT/lifecycle.md" "$RAW/meta.json"
say "fragment written to $BENCH_OUT/lifecycle.md"
