#!/usr/bin/env bash
# Benchmark section router (see bench/README.md): what a call routed by
# order_mgmt_router (PL/Proxy) costs against the same call made directly on
# its shard, on one machine: two shard servers of a 4-partition cluster and
# one router server.
#
# Compares: create_order and get_order direct on a shard against through the
# router; and through the router, one shard instance against two; 1 and 4
# clients.
#
#   sudo bench/router.sh              # or through bench/run.sh
#
# The servers (bench/bench.conf, then synchronous_commit as below; unix
# sockets only):
#   a   database bench: order_mgmt, assign_partitions(4, '{0,2}');
#       database single: order_mgmt, assign_partitions(4, '{0,1,2,3}')
#   b   database bench: order_mgmt, assign_partitions(4, '{1,3}')
#   r   CREATE EXTENSION order_mgmt_router CASCADE (and plproxy) in two
#       databases, each with server order_mgmt_cluster and a user mapping
#       for PUBLIC: bench (p0, p2 on a's bench; p1, p3 on b's) and single
#       (p0 to p3 on a's single)
# Every database has bench.cart of bench/setup.sql (psql -v cart_only=1).
#
# Contenders, interleaved round-robin in each round (the first rotates):
#   create_direct   create_order of a 3-line cart (bench/pgbench/create_order.sql)
#                   on a's bench, carts of partitions 0 and 2 (bench.cart draws
#                   cart ids until one is held: a shard refuses the others, OM002)
#   create_routed   the same script and carts on r's bench: every call goes to a
#   one_instance    the same script on r's single, carts of every partition
#   two_instances   the same script on r's bench, carts of every partition
# and, in rounds of their own after those (on orders they read):
#   get_direct      get_order of a random one of the orders created on a's bench
#                   before them (bench/pgbench/get_order.sql; ids in bench.ids)
#   get_routed      the same on r's bench (bench.ids copied there)
# Before each create run the order tables of every shard database are
# emptied; after it, the orders in each are counted against the run's
# transactions.  Before the get runs, both answers are compared for the
# first orders.  On 2 cores the one/two instance comparison shows the
# router's cost, not scaling: every server and pgbench share the same cores.
#
# Environment (the section contract of bench/run.sh, plus):
#   BENCH_DURATION=3 seconds per create run    BENCH_ROUNDS=2 rounds
#   ROUTER_GET_DURATION=2 seconds per get run (tens of thousands of reads)
#   BENCH_ORDERS=5000 orders for get_order
#   BENCH_SYNCHRONOUS_COMMIT=off        the servers' synchronous_commit
#   BENCH_QUICK=1: 4 clients, 1 s runs, 1 round, 500 orders (a smoke test)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_ENV="ROUTER_GET_DURATION" bench_init router "$@"

DURATION=${BENCH_DURATION:-3}
GET_DURATION=${ROUTER_GET_DURATION:-2}
ROUNDS=${BENCH_ROUNDS:-2}
ORDERS=${BENCH_ORDERS:-5000}
SYNC=${BENCH_SYNCHRONOUS_COMMIT:-off}
CLIENTS=(1 4)
CHECKED=1000
if [ "$QUICK" = 1 ]; then
	DURATION=1 GET_DURATION=1 ROUNDS=1 ORDERS=500 CLIENTS=(4) CHECKED=100
fi
bench_int DURATION GET_DURATION ROUNDS ORDERS
case $SYNC in on | off | local | remote_write | remote_apply) ;; *) die "bad BENCH_SYNCHRONOUS_COMMIT" ;; esac
[ "$CHECKED" -le "$ORDERS" ] || CHECKED=$ORDERS
check_installed plproxy.so
[ -f "$("$PG_CONFIG" --sharedir)/extension/order_mgmt_router.control" ] ||
	die "order_mgmt_router is not installed in the PostgreSQL of $PG_CONFIG"
CREATES=(create_direct create_routed one_instance two_instances)
GETS=(get_direct get_routed)
SHARD_DBS=(a:bench a:single b:bench)

# ---------------------------------------------------------------------------
# The shards
# shard SERVER DB PARTITIONS: database DB of the current server as a shard
shard() {
	[ "$2" = bench ] || q postgres <<<"CREATE DATABASE $2"
	[ "$2" = bench ] || q "$2" <<<'CREATE EXTENSION order_mgmt; CREATE SCHEMA bench'
	q "$2" -v cart_only=1 -f "$bench_root/bench/setup.sql" >/dev/null
	q "$2" <<<"SELECT order_mgmt.assign_partitions(4, '$3')" >/dev/null
	say "shard $1, database $2: partitions $3 of 4"
}
bench_use a
bench_start "synchronous_commit = $SYNC"
shard a bench '{0,2}'
shard a single '{0,1,2,3}'
conn_a="host=$CLUSTER_WORK port=$CLUSTER_PORT connect_timeout=2"
bench_use b
bench_start "synchronous_commit = $SYNC"
shard b bench '{1,3}'
conn_b="host=$CLUSTER_WORK port=$CLUSTER_PORT connect_timeout=2"

# The router: two databases, each its own cluster configuration
bench_use r
bench_server "synchronous_commit = $SYNC"
# router DB P0 P1 P2 P3: database DB, a router to the connection strings
router() {
	q postgres <<<"CREATE DATABASE $1"
	q "$1" -v cart_only=1 <<EOF >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION order_mgmt_router CASCADE;
CREATE SCHEMA bench;
\\i $bench_root/bench/setup.sql
CREATE SERVER order_mgmt_cluster FOREIGN DATA WRAPPER plproxy
	OPTIONS (p0 '$2', p1 '$3', p2 '$4', p3 '$5');
CREATE USER MAPPING FOR PUBLIC SERVER order_mgmt_cluster OPTIONS (user 'postgres');
EOF
}
router bench "$conn_a dbname=bench" "$conn_b dbname=bench" "$conn_a dbname=bench" "$conn_b dbname=bench"
router single "$conn_a dbname=single" "$conn_a dbname=single" "$conn_a dbname=single" "$conn_a dbname=single"
plproxy=$(q bench <<<"SELECT extversion FROM pg_extension WHERE extname = 'plproxy'")
say "router on $CLUSTER_WORK port $CLUSTER_PORT, plproxy $plproxy," \
	"order_mgmt_router $(q bench <<<"SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt_router'")"

# where a contender's pgbench connects (server:database) and its carts
target_of() {
	case $1 in
	create_direct | get_direct) echo a:bench ;;
	create_routed | two_instances | get_routed) echo r:bench ;;
	one_instance) echo r:single ;;
	esac
}
cart_of() {
	case $1 in
	create_direct | create_routed) bench_cart 3 partitions=4 held=0,2 ;;
	*) bench_cart 3 ;;
	esac
}
# check_counts CONTENDER N COUNTS: true if a run of CONTENDER with N
# transactions left those orders in SHARD_DBS (COUNTS as counts prints it)
check_counts() {
	local ab as bb
	read -r ab as bb <<<"$3"
	case $1 in
	create_direct | create_routed) [ "$ab $as $bb" = "$2 0 0" ] ;;
	one_instance) [ "$ab $as $bb" = "0 $2 0" ] ;;
	two_instances) [ "$as" = 0 ] && [ "$ab" -gt 0 ] && [ "$bb" -gt 0 ] && [ $((ab + bb)) = "$2" ] ;;
	*) false ;;
	esac
}
# counts: the orders in each of SHARD_DBS, in that order
counts() {
	local sd line=""
	for sd in "${SHARD_DBS[@]}"; do
		bench_use "${sd%%:*}"
		line+=" $(q "${sd#*:}" <<<'SELECT count(*) FROM order_mgmt.orders')"
	done
	echo "${line# }"
}
reset_shards() {
	local sd
	for sd in "${SHARD_DBS[@]}"; do
		bench_use "${sd%%:*}"
		bench_reset_tables -d "${sd#*:}" order_mgmt
	done
}
# run CONTENDER CLIENTS ROUND [pgbench args]: one timed run, its tps printed
run() {
	local who=$1 c=$2 round=$3 target r
	shift 3
	target=$(target_of "$who")
	bench_use "${target%%:*}"
	r=$(BENCH_DB=${target#*:} bench_pgbench "\"contender\": \"$who\", \"clients\": $c, \"round\": $round" \
		"$c" "$@")
	echo "${r%% *}"
}

# ---------------------------------------------------------------------------
# A routed call makes its order where it should: one of each, checked
reset_shards
for who in "${CREATES[@]}"; do
	cart_of "$who"
	target=$(target_of "$who")
	bench_use "${target%%:*}"
	"${as_pg[@]}" "$CLUSTER_BINDIR/pgbench" -n -M prepared -t 1 "${CART_VARS[@]}" \
		-h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres -f "$CART_SCRIPT" "${target#*:}" \
		>"$RAW/check_$who.out" 2>&1 || { cat "$RAW/check_$who.out" >&2; die "contender $who failed"; }
done
got=$(counts)
[ "$got" = "2 1 1" ] || [ "$got" = "3 1 0" ] ||
	die "one order of each create contender left $got orders in ${SHARD_DBS[*]}"
say "one order of each create contender: $got orders in ${SHARD_DBS[*]}"

for sd in "${SHARD_DBS[@]}"; do
	bench_use "${sd%%:*}"
	q "${sd#*:}" <<<'CHECKPOINT'
done

# ---------------------------------------------------------------------------
started=$(date +%s)
count_checks=0
say "create_order: ${#CLIENTS[@]} client counts x $ROUNDS rounds x ${#CREATES[@]} contenders x $DURATION s"
for c in "${CLIENTS[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		line="$c clients, round $round:"
		for k in $(seq 0 $((${#CREATES[@]} - 1))); do
			who=${CREATES[$(((k + round - 1) % ${#CREATES[@]}))]}
			reset_shards
			cart_of "$who"
			tps=$(run "$who" "$c" "$round" "$CART_SCRIPT" -T "$DURATION" "${CART_VARS[@]}")
			n=$(tail -n 1 "$RAW/runs.jsonl" | sed -n 's/.*"n": \([0-9]*\).*/\1/p')
			got=$(counts)
			check_counts "$who" "$n" "$got" ||
				die "$who: $n transactions left $got orders in ${SHARD_DBS[*]}"
			count_checks=$((count_checks + 1))
			line+=" $who $tps"
		done
		say "$line tps"
	done
done
reset_shards

# ---------------------------------------------------------------------------
# The orders get_order reads: created on a's bench (partitions 0 and 2),
# numbered in bench.ids there and on the router
say "creating $ORDERS orders on shard a for get_order"
bench_use a
q bench -v orders="$ORDERS" <<'EOF' >/dev/null
CREATE TABLE bench.ids AS
	SELECT g AS n, order_mgmt.create_order(bench.cart(1 + g % 5, NULL, 0, 0, 'EUR', 4, '{0,2}')) AS order_id
	FROM generate_series(1, :orders) AS g;
ALTER TABLE bench.ids ADD PRIMARY KEY (n);
VACUUM ANALYZE;
CHECKPOINT;
EOF
q bench -c 'COPY bench.ids TO STDOUT' >"$RAW/ids.tsv"
q bench <<<"SELECT order_mgmt.get_order(order_id) FROM bench.ids WHERE n <= $CHECKED ORDER BY n" \
	>"$RAW/check_get_direct.txt"
bench_use r
chmod 644 "$RAW/ids.tsv"
q bench <<EOF
CREATE TABLE bench.ids (n integer PRIMARY KEY, order_id uuid NOT NULL);
\\copy bench.ids FROM '$RAW/ids.tsv'
VACUUM ANALYZE bench.ids;
EOF
q bench <<<"SELECT order_mgmt.get_order(order_id) FROM bench.ids WHERE n <= $CHECKED ORDER BY n" \
	>"$RAW/check_get_routed.txt"
[ "$(grep -c '"orderId"' "$RAW/check_get_direct.txt")" -eq "$CHECKED" ] ||
	die "get_order did not read $CHECKED orders on shard a"
mismatches=$(paste "$RAW/check_get_direct.txt" "$RAW/check_get_routed.txt" | awk -F'\t' '$1 != $2' | wc -l)
[ "$mismatches" -eq 0 ] || die "$mismatches of $CHECKED orders differ between get_order direct and routed"
say "get_order direct and routed agree on $CHECKED orders"

say "get_order: ${#CLIENTS[@]} client counts x $ROUNDS rounds x ${#GETS[@]} contenders x $GET_DURATION s"
for c in "${CLIENTS[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		line="$c clients, round $round:"
		for k in 0 1; do
			who=${GETS[$(((k + round - 1) % 2))]}
			line+=" $who $(run "$who" "$c" "$round" "$bench_root/bench/pgbench/get_order.sql" \
				-T "$GET_DURATION" -D "orders=$ORDERS")"
		done
		say "$line tps"
	done
done
seconds=$(($(date +%s) - started))

# ---------------------------------------------------------------------------
bench_use a
machine=$(machine_lines bench)
settings=$(settings_block bench)
"$BENCH_PYTHON" - "$RAW/meta.json" "$ROUNDS" "$DURATION s (get_order: $GET_DURATION s)" "$SYNC" "$QUICK" "$seconds" "$ORDERS" \
	"$CHECKED" "$mismatches" "$count_checks" "$plproxy" "$machine" "$settings" <<'EOF'
import json, sys
(out, rounds, duration, sync, quick, seconds, orders, checked, mismatches, count_checks, plproxy,
 machine, settings) = sys.argv[1:]
json.dump({"rounds": int(rounds), "duration": duration, "synchronous_commit": sync,
           "quick": quick == "1", "seconds": int(seconds), "orders": int(orders),
           "checked": int(checked), "mismatches": int(mismatches),
           "count_checks": f"{count_checks} runs", "plproxy": plproxy, "machine": machine,
           "settings": settings}, open(out, "w"))
EOF
"$BENCH_PYTHON" "$bench_root/bench/report.py" router "$RAW/runs.jsonl" "$FRAGMENT" "$RAW/meta.json"
say "fragment written to $FRAGMENT"
