#!/usr/bin/env bash
# bench/stats_views.sh: what reading the stats views costs (issue 10)
#
# Compares: what a scrape of each stats view costs against the plain count a
# naive status view would run.
#
#   sudo bench/stats_views.sh                  # 1M orders, 1M outbox events
#   sudo BENCH_QUICK=1 bench/stats_views.sh    # smoke: 20k orders and events
#
# A scrape (postgres_exporter with docs/monitoring/postgres_exporter.yml)
# reads every stats view every 15 to 60 seconds, so each must stay cheap on a
# large store.  One throwaway server (bench/bench.conf), one database:
#   - STATS_ORDERS orders of the last 365 days from bench/sql/scale_gen.sql
#     (10% cancelled, most of the rest completed; no order lines: no stats
#     view reads them), then refresh_reports(): the rollup holds the year;
#   - STATS_EVENTS outbox events over the last hour (retention's window), with
#     the payload of a real OrderCreated event;
#   - polling consumers: one caught up, one 1000 events behind; later one
#     that acknowledged nothing (STATS_EVENTS behind);
#   - one test_decoding slot.
# Measured, each query STATS_RUNS times with pgbench (-c 1, average latency),
# side by side with what the plain query would cost:
#   stats_orders against SELECT status, count(*) FROM orders GROUP BY status,
#     right after the refresh, and again with STATS_LIVE orders created (10%
#     of them completed) since the horizon, the live part it reads through
#     the BRIN and partial indexes;
#   stats_reports, stats_outbox, stats_slots;
#   stats_consumers with the caught-up and the lagging consumer, then with the
#     stalled one added.
# EXPLAIN (ANALYZE, BUFFERS) of each is kept in $BENCH_OUT/stats_views/.
# Environment: BENCH_QUICK, BENCH_OUT, PG_CONFIG; STATS_ORDERS (1000000),
# STATS_EVENTS (1000000), STATS_LIVE (20000), STATS_RUNS (20).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_ENV="STATS_ORDERS STATS_EVENTS STATS_LIVE STATS_RUNS" bench_init stats_views "$@"
check_installed test_decoding.so

if [ "$QUICK" = 1 ]; then
	N=${STATS_ORDERS:-20000} EVENTS=${STATS_EVENTS:-20000} LIVE=${STATS_LIVE:-1000} RUNS=${STATS_RUNS:-3}
else
	N=${STATS_ORDERS:-1000000} EVENTS=${STATS_EVENTS:-1000000} LIVE=${STATS_LIVE:-20000} RUNS=${STATS_RUNS:-20}
fi
bindir=$CLUSTER_BINDIR
db=stats

bench_server "work_mem = 16MB"
cd "$CLUSTER_WORK"
q postgres <<<"CREATE DATABASE $db"
q "$db" <<<'CREATE EXTENSION order_mgmt'
q "$db" -f "$ROOT/bench/sql/scale_gen.sql" >/dev/null
t0=$(q "$db" <<<"SELECT date_trunc('second', now() - interval '5 minutes')")

say "loading $N orders over the year before $t0"
ts=$(date +%s)
q "$db" <<SQL >/dev/null
BEGIN;
SET session_replication_role = replica;
INSERT INTO order_mgmt.orders SELECT * FROM bench.gen_orders(1, $N, $N, '$t0');
COMMIT;
SQL
# a real event's payload for the generated ones, then that order and its event go
payload=$(q "$db" <<'SQL'
SELECT order_mgmt.create_order('{"cartId": "b0000000-0000-4000-8000-000000000001",
  "customerId": "c0000000-0000-4000-8000-000000000001", "items": [
  {"productId": "a0000000-0000-4000-8000-000000000001", "quantity": 2, "unitPrice": 1250},
  {"productId": "a0000000-0000-4000-8000-000000000002", "quantity": 1, "unitPrice": 999}],
  "total": 3499, "currency": "EUR"}') IS NOT NULL \g /dev/null
SELECT payload FROM order_mgmt.outbox ORDER BY position DESC LIMIT 1
SQL
)
say "loading $EVENTS outbox events over the hour before $t0"
q "$db" <<SQL >/dev/null
BEGIN;
SET session_replication_role = replica;
DELETE FROM order_mgmt.order_lines;
DELETE FROM order_mgmt.orders WHERE cart_id = 'b0000000-0000-4000-8000-000000000001';
DELETE FROM order_mgmt.outbox;
INSERT INTO order_mgmt.outbox (id, aggregatetype, aggregateid, type, payload, order_version, schema_version,
                               occurred_at, xact_id)
SELECT gen_random_uuid(), 'order', gen_random_uuid(), 'OrderCreated', '$payload', 1, '1.0.0',
       '$t0'::timestamptz - interval '1 hour' * (1 - g::float8 / $EVENTS), '3'::xid8
  FROM generate_series(1, $EVENTS) g;
COMMIT;
SQL
load_s=$(($(date +%s) - ts))
say "loaded in $load_s s; numbering the events for the consumers, vacuum, refresh_reports()"
ts=$(date +%s)
q "$db" <<SQL >/dev/null
SELECT order_mgmt.register_consumer('caught_up');
SELECT order_mgmt.register_consumer('lagging', true);
SELECT order_mgmt.ack_events('lagging', (SELECT max(seq) - 1000 FROM order_mgmt.event_feed));
-- two more sequencing rounds: the gap left by the deleted event is then known
-- dead and the feed's low position reaches the end, as polling keeps it
SELECT count(*) FROM order_mgmt.fetch_events('caught_up', 1);
SELECT count(*) FROM order_mgmt.fetch_events('caught_up', 1);
VACUUM (ANALYZE) order_mgmt.orders;
VACUUM (ANALYZE) order_mgmt.outbox;
VACUUM (ANALYZE) order_mgmt.event_feed;
SELECT order_mgmt.refresh_reports();
SELECT 'init' FROM pg_create_logical_replication_slot('cdc', 'test_decoding');
CHECKPOINT;
SQL
prep_s=$(($(date +%s) - ts))
buckets=$(q "$db" <<<'SELECT count(*) FROM order_mgmt.sales_buckets')
low=$(q "$db" <<<'SELECT low_position FROM order_mgmt.feed_state')
[ "$low" -ge "$EVENTS" ] || die "the feed's low position is $low, not at the end ($EVENTS)"
say "prepared in $prep_s s; $buckets sales buckets"

csv=$RAW/results.csv
echo "query,scenario,runs,latency_ms" >"$csv"
# measure NAME SCENARIO SQL: EXPLAIN ANALYZE into $RAW, then RUNS runs with pgbench
measure() {
	local name=$1 scenario=$2 sql=$3 f=$CLUSTER_WORK/$1.$2.sql lat
	printf '%s\n' "$sql;" >"$f"
	chmod 644 "$f"
	q "$db" <<<"EXPLAIN (ANALYZE, BUFFERS) $sql" >"$RAW/$name.$scenario.plan"
	"${as_pg[@]}" "$bindir/pgbench" -n -h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres -c 1 -t "$RUNS" \
		-f "$f" "$db" >"$RAW/$name.$scenario.out" 2>&1 || { cat "$RAW/$name.$scenario.out" >&2; die "pgbench $name failed"; }
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$RAW/$name.$scenario.out")
	echo "$name,$scenario,$RUNS,$lat" >>"$csv"
	say "$name ($scenario): $lat ms"
}
plain_count='SELECT status, count(*) FROM order_mgmt.orders GROUP BY status'

measure stats_orders refreshed 'SELECT * FROM order_mgmt.stats_orders'
measure count_by_status refreshed "$plain_count"
measure stats_reports refreshed 'SELECT * FROM order_mgmt.stats_reports'
measure stats_outbox refreshed 'SELECT * FROM order_mgmt.stats_outbox'
measure stats_consumers two 'SELECT * FROM order_mgmt.stats_consumers'
measure stats_slots refreshed 'SELECT * FROM order_mgmt.stats_slots'

say "$LIVE orders since the horizon (10% completed)"
q "$db" <<SQL >/dev/null
SELECT count(order_mgmt.create_order(jsonb_build_object(
         'cartId', gen_random_uuid(), 'customerId', bench.customer_id(1 + g % 1000),
         'items', jsonb_build_array(jsonb_build_object(
             'productId', 'a0000000-0000-4000-8000-000000000001', 'quantity', 1, 'unitPrice', 500)),
         'total', 500, 'currency', 'EUR')))
  FROM generate_series(1, $LIVE) g;
SELECT count(order_mgmt.complete_order(o.order_id))
  FROM (SELECT order_id FROM order_mgmt.orders
         WHERE created_at >= order_mgmt.reports_closed_until() AND status = 'CREATED'
         LIMIT $((LIVE / 10))) o;
SQL
since_horizon=$(q "$db" <<<'SELECT count(*) FROM order_mgmt.orders WHERE created_at >= order_mgmt.reports_closed_until()')
unsequenced=$(q "$db" <<<'SELECT unsequenced FROM order_mgmt.stats_outbox')
measure stats_orders live 'SELECT * FROM order_mgmt.stats_orders'
measure count_by_status live "$plain_count"
measure stats_outbox live 'SELECT * FROM order_mgmt.stats_outbox'
measure stats_consumers live 'SELECT * FROM order_mgmt.stats_consumers'
q "$db" <<<"SELECT order_mgmt.register_consumer('stalled', true)" >/dev/null
measure stats_consumers stalled 'SELECT * FROM order_mgmt.stats_consumers'
# the figures agree with the plain counts
check=$(q "$db" <<<"SELECT bool_and(s.orders = (SELECT count(*) FROM order_mgmt.orders o WHERE o.status = s.status))
	FROM order_mgmt.stats_orders s")
[ "$check" = t ] || die "stats_orders disagrees with count(*) GROUP BY status"
stalled=$(q "$db" <<<"SELECT events_behind FROM order_mgmt.stats_consumers WHERE consumer = 'stalled'")
outbox_mb=$(q "$db" <<<"SELECT round(bytes / 1048576.0) FROM order_mgmt.stats_outbox")

ms() { awk -F, -v n="$1" -v s="$2" '$1 == n && $2 == s { print $4 }' "$csv"; }
ratio() { awk -v a="$(ms "$1" "$2")" -v b="$(ms "$3" "$4")" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
{
	cat <<EOF
## Stats views: what a scrape costs

What reading each stats view costs on a store of $N orders (the year before the run) and $EVENTS
outbox events ($outbox_mb MiB), average latency of $RUNS runs (pgbench \`-c 1\`), beside the plain
count a naive status view would run. \`stats_orders\` adds the report rollup ($buckets buckets:
a quarter hour and currency each) to the orders since its horizon; \`live\` is after $since_horizon orders
created since the last \`refresh_reports()\` (10% of them then completed), and $unsequenced outbox
events not yet numbered for the consumers. Loaded in $load_s s, numbered, vacuumed and refreshed in
$prep_s s. The figures of \`stats_orders\` equal \`count(*) ... GROUP BY status\`.

| query | scenario | ms |
| --- | --- | ---: |
| \`stats_orders\` | right after \`refresh_reports()\` | $(ms stats_orders refreshed) |
| \`SELECT status, count(*) FROM orders GROUP BY status\` | the same | $(ms count_by_status refreshed) |
| \`stats_orders\` | $since_horizon orders since the horizon | $(ms stats_orders live) |
| \`SELECT status, count(*) FROM orders GROUP BY status\` | the same | $(ms count_by_status live) |
| \`stats_reports\` | | $(ms stats_reports refreshed) |
| \`stats_outbox\` | $EVENTS events, all numbered | $(ms stats_outbox refreshed) |
| \`stats_outbox\` | and $unsequenced not numbered | $(ms stats_outbox live) |
| \`stats_consumers\` | one caught up, one 1000 behind | $(ms stats_consumers two) |
| \`stats_consumers\` | the same and $unsequenced not numbered | $(ms stats_consumers live) |
| \`stats_consumers\` | and one $stalled behind (acknowledged nothing) | $(ms stats_consumers stalled) |
| \`stats_slots\` | one slot | $(ms stats_slots refreshed) |

\`stats_orders\` / plain count: $(ratio stats_orders refreshed count_by_status refreshed) after the refresh,
$(ratio stats_orders live count_by_status live) with the live part. \`stats_outbox\` counts the outbox
(an index-only scan) and \`stats_consumers\` counts the feed rows each consumer is behind: both grow
with what they count. Plans (EXPLAIN ANALYZE, BUFFERS) in \`stats_views/*.plan\`.

Server settings: \`bench/bench.conf\` plus \`work_mem = 16MB\`.

$(machine_lines "$db")
EOF
} >"$FRAGMENT"
say "done: $FRAGMENT"
