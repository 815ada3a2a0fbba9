#!/usr/bin/env bash
# Benchmark section get_order (see bench/README.md): get_order's throughput
# and latency at 1, 4 and 16 clients against a hand-written SQL query that
# builds the same JSON (bench/pgbench/get_order_sql.sql), on 100,000 stored
# orders.  Before timing it checks, order by order, that both answer the
# same for a sample of the orders.
#
# Compares: get_order against a hand-written jsonb_build_object query; 1, 4 and 16 clients.
#
#   sudo bench/get_order.sh           # or through bench/run.sh
#
# Environment (the section contract of bench/run.sh, plus):
#   BENCH_DURATION=3 seconds per run    BENCH_ROUNDS=2 rounds
#   BENCH_ORDERS=100000 stored orders
#   BENCH_QUICK=1: 2 clients, 2,000 orders (300 checked), 1 s runs, 1 round
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init get_order "$@"

DURATION=${BENCH_DURATION:-3}
ROUNDS=${BENCH_ROUNDS:-2}
ORDERS=${BENCH_ORDERS:-100000}
CLIENTS=(1 4 16)
CHECKED=2000
if [ "$QUICK" = 1 ]; then
	DURATION=1 ROUNDS=1 ORDERS=2000 CLIENTS=(2) CHECKED=300
fi
bench_int DURATION
bench_int ROUNDS
bench_int ORDERS
[ "$CHECKED" -le "$ORDERS" ] || CHECKED=$ORDERS
CONTENDERS=(order_mgmt sql)
script_of() {
	case $1 in
	order_mgmt) echo "$bench_root/bench/pgbench/get_order.sql" ;;
	sql) echo "$bench_root/bench/pgbench/get_order_sql.sql" ;;
	esac
}

bench_start
bench_sql -f "$bench_root/bench/setup.sql" >/dev/null

# The stored orders, as create_order, complete_order and cancel_order would
# have left them, inserted directly (the guard triggers bypassed) to save
# time: 1 to 5 lines (line i as bench.cart makes it), a quarter with a
# payment authorization, a tenth completed, a tenth cancelled; bench.ids
# numbers them at random
say "storing $ORDERS orders"
t0=$(date +%s)
bench_sql -v orders="$ORDERS" <<'EOF' >/dev/null
CREATE TABLE bench.src AS
	SELECT g, order_mgmt.uuid_generate_v7() AS order_id, 1 + g % 5 AS lines,
		   clock_timestamp() - interval '1 day' AS created_at
	FROM generate_series(1, :orders) AS g;
SET session_replication_role = replica;
INSERT INTO order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency,
	payment_authorization_id, version, created_at, completed_at, cancelled_at,
	cancellation_reason, command_digest)
SELECT s.order_id, gen_random_uuid(), gen_random_uuid(),
	CASE s.g % 10 WHEN 0 THEN 'COMPLETED' WHEN 1 THEN 'CANCELLED' ELSE 'CREATED' END,
	(SELECT sum((1 + i % 3) * 100 * i) FROM generate_series(1, s.lines) AS i), 'EUR',
	CASE WHEN s.g % 4 = 0 THEN 'pi_' || s.g END,
	CASE WHEN s.g % 10 IN (0, 1) THEN 2 ELSE 1 END, s.created_at,
	CASE WHEN s.g % 10 = 0 THEN s.created_at + interval '1 hour' END,
	CASE WHEN s.g % 10 = 1 THEN s.created_at + interval '1 hour' END,
	CASE WHEN s.g % 10 = 1 THEN 'OUT_OF_STOCK' END,
	sha256(uuid_send(s.order_id))
FROM bench.src s ORDER BY s.g;
INSERT INTO order_mgmt.order_lines (order_id, line_no, product_id, quantity, unit_price)
SELECT s.order_id, i, gen_random_uuid(), 1 + i % 3, 100 * i
FROM bench.src s, generate_series(1, s.lines) AS i ORDER BY s.g, i;
RESET session_replication_role;
CREATE TABLE bench.ids AS
	SELECT row_number() OVER (ORDER BY random()) AS n, order_id FROM bench.src;
ALTER TABLE bench.ids ADD PRIMARY KEY (n);
DROP TABLE bench.src;
VACUUM ANALYZE;
CHECKPOINT;
EOF
say "stored in $(($(date +%s) - t0)) s: $(bench_sql <<<"SELECT string_agg(status || ' ' || c, ', ' ORDER BY status) FROM (SELECT status, count(*) c FROM order_mgmt.orders GROUP BY status) s")"

# Same answers: both scripts' queries, as psql runs them, for orders 1..CHECKED
say "checking that both answer the same for $CHECKED orders"
grep -v '^\\set' "$(script_of order_mgmt)" >"$RAW/check_order_mgmt.sql"
grep -v '^\\set' "$(script_of sql)" >"$RAW/check_sql.sql"
for ((n = 1; n <= CHECKED; n++)); do
	printf '\\set n %d\n\\i %s\n\\i %s\n' "$n" "$RAW/check_order_mgmt.sql" "$RAW/check_sql.sql"
done >"$RAW/check.psql"
chown postgres: "$RAW"/check*
bench_sql -f "$RAW/check.psql" >"$RAW/check.out"
[ "$(wc -l <"$RAW/check.out")" -eq $((2 * CHECKED)) ] || die "the check did not read $CHECKED orders"
mismatches=$(paste - - <"$RAW/check.out" | awk -F'\t' '$1 != $2 || $1 == ""' | wc -l)
[ "$mismatches" -eq 0 ] || {
	paste - - <"$RAW/check.out" | awk -F'\t' '$1 != $2' | head -3 >&2
	die "$mismatches of $CHECKED orders differ between get_order and the hand-written query"
}
for key in completedAt cancelledAt paymentAuthorizationId; do
	grep -q "\"$key\"" "$RAW/check.out" || die "the checked orders have no $key: widen the check"
done

# ---------------------------------------------------------------------------
started=$(date +%s)
say "${#CLIENTS[@]} client counts x $ROUNDS rounds x ${#CONTENDERS[@]} contenders x $DURATION s"
for c in "${CLIENTS[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		line="$c clients, round $round:"
		for k in 0 1; do
			who=${CONTENDERS[$(((k + round - 1) % 2))]}
			r=$(bench_pgbench "\"contender\": \"$who\", \"clients\": $c, \"round\": $round" \
				"$c" "$(script_of "$who")" -T "$DURATION" -D "orders=$ORDERS")
			line+=" $who ${r%% *}"
		done
		say "$line tps"
	done
done

printf '{"rounds": %d, "duration": "%d s", "orders": %d, "checked": %d, "mismatches": %d, "quick": %s, "seconds": %d}\n' \
	"$ROUNDS" "$DURATION" "$ORDERS" "$CHECKED" "$mismatches" \
	"$([ "$QUICK" = 1 ] && echo true || echo false)" $(($(date +%s) - started)) >"$RAW/meta.json"
"$BENCH_PYTHON" "$bench_root/bench/report.py" get_order "$RAW/runs.jsonl" \
	"$BENCH_OUT/get_order.md" "$RAW/meta.json"
say "fragment written to $BENCH_OUT/get_order.md"
