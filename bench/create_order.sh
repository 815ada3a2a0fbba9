#!/usr/bin/env bash
# Benchmark section create_order (see bench/README.md): create_order's
# throughput and latency at 1, 4 and 16 clients, for a 3-line and a 50-line
# cart, side by side with
#   (a) one hand-written SQL statement writing the same rows, no validation
#       (bench/pgbench/create_order_bare.sql): the practical limit;
#   (b) the same contract in PL/pgSQL (bench/peer_plpgsql.sql);
#   (c) the ORM way: BEGIN, one INSERT per row, COMMIT (generated here).
# Before timing it checks that the contenders write the same rows and that
# the peer answers bad commands with the same SQLSTATEs as create_order.
#
# Compares: create_order against (a) one hand-written statement (the limit), (b) the PL/pgSQL
# peer, (c) the ORM way; 3- and 50-line carts, 1, 4 and 16 clients.
#
#   sudo bench/create_order.sh        # or through bench/run.sh
#
# Environment (the section contract of bench/run.sh, plus):
#   BENCH_DURATION=4 seconds per run    BENCH_ROUNDS=2 rounds
#   BENCH_SYNCHRONOUS_COMMIT=off        this section's synchronous_commit: off,
#       so that commits do not wait for the disk's flush, the same for every
#       contender, and the runs compare the work each contender does
#   BENCH_QUICK=1: the 50-line cart at 2 clients, 1 s runs, 1 round (a smoke test)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init create_order "$@"

DURATION=${BENCH_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-2}
SYNC=${BENCH_SYNCHRONOUS_COMMIT:-off}
CLIENTS=(1 4 16)
LINES=(3 50)
if [ "$QUICK" = 1 ]; then
	DURATION=1 ROUNDS=1 CLIENTS=(2) LINES=(50)
fi
bench_int DURATION
bench_int ROUNDS
case $SYNC in on | off | local | remote_write | remote_apply) ;; *) die "bad BENCH_SYNCHRONOUS_COMMIT" ;; esac
CONTENDERS=(order_mgmt bare plpgsql orm)

bench_start "synchronous_commit = $SYNC"
bench_sql -f "$bench_root/bench/setup.sql" -f "$bench_root/bench/peer_plpgsql.sql" >/dev/null

# (c) the ORM way for an N-line cart: one statement per row, the order's id
# and customer taken back with RETURNING (\gset), the event payload built
# from them; line i as bench.cart(n) makes it
orm_script() {
	local n=$1 i total=0
	for ((i = 1; i <= n; i++)); do
		total=$((total + (1 + i % 3) * 100 * i))
	done
	echo "-- create_order section, contender (c): the ORM way, a $n-line cart"
	echo "BEGIN;"
	echo "INSERT INTO bench_bare.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at, command_digest) VALUES (order_mgmt.uuid_generate_v7(), gen_random_uuid(), gen_random_uuid(), 'CREATED', $total, 'EUR', 1, now(), sha256(uuid_send(gen_random_uuid()))) RETURNING order_id AS oid, customer_id AS cid \\gset"
	for ((i = 1; i <= n; i++)); do
		echo "INSERT INTO bench_bare.order_lines (order_id, line_no, product_id, quantity, unit_price) VALUES (:oid, $i, gen_random_uuid(), $((1 + i % 3)), $((100 * i)));"
	done
	echo "INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version, schema_version, occurred_at, xact_id) VALUES (order_mgmt.uuid_generate_v7(), 'order', :oid, 'OrderCreated', jsonb_build_object('orderId', :oid::uuid, 'customerId', :cid::uuid, 'total', $total, 'currency', 'EUR', 'createdAt', bench.rfc3339(now())), 1, '1.0.0', now(), pg_current_xact_id());"
	echo "COMMIT;"
}
for n in $(printf '%s\n' 3 "${LINES[@]}" | sort -nu); do     # 3: the row check's cart
	orm_script "$n" >"$RAW/create_order_orm_$n.sql"
done
chown postgres: "$RAW"/*.sql

script_of() {
	case $1 in
	order_mgmt) echo "$bench_root/bench/pgbench/create_order.sql" ;;
	bare) echo "$bench_root/bench/pgbench/create_order_bare.sql" ;;
	plpgsql) echo "$bench_root/bench/pgbench/create_order_plpgsql.sql" ;;
	orm) echo "$RAW/create_order_orm_$2.sql" ;;
	esac
}

# ---------------------------------------------------------------------------
# Same rows: one transaction of each contender, then the rows compared
say "checking that the contenders write the same rows"
schema_of() { case $1 in order_mgmt) echo order_mgmt ;; plpgsql) echo bench_plpgsql ;; *) echo bench_bare ;; esac; }
for c in "${CONTENDERS[@]}"; do
	bench_reset_tables order_mgmt bench_bare bench_plpgsql
	bench_cart 3
	"${as_pg[@]}" "$CLUSTER_BINDIR/pgbench" -n -M prepared -t 1 "${CART_VARS[@]}" \
		-h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres -f "$(script_of "$c" 3)" bench \
		>"$RAW/check_$c.out" 2>&1 || { cat "$RAW/check_$c.out" >&2; die "contender $c failed"; }
	schema=$(schema_of "$c")
	bench_sql >"$RAW/check_$c.txt" <<EOF
SELECT jsonb_build_object(
	'orders', (SELECT jsonb_agg(jsonb_build_object('status', status, 'total', total,
		'currency', currency, 'version', version, 'payment_authorization_id', payment_authorization_id,
		'digest_bytes', length(command_digest), 'v7', substr(order_id::text, 15, 1) = '7'))
		FROM $schema.orders),
	'lines', (SELECT jsonb_agg(jsonb_build_object('line_no', l.line_no, 'quantity', l.quantity,
		'unit_price', l.unit_price, 'order_matches', l.order_id = o.order_id) ORDER BY l.line_no)
		FROM $schema.order_lines l JOIN $schema.orders o USING (order_id)),
	'events', (SELECT jsonb_agg(jsonb_build_object('aggregatetype', e.aggregatetype,
		'type', e.type, 'order_version', e.order_version, 'schema_version', e.schema_version,
		'payload_keys', (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(e.payload) k),
		'payload_order', e.payload->>'orderId' = o.order_id::text,
		'payload_customer', e.payload->>'customerId' = o.customer_id::text,
		'payload_total', (e.payload->>'total')::bigint = o.total,
		'payload_currency', e.payload->>'currency' = o.currency,
		'payload_created', e.payload->>'createdAt' = bench.rfc3339(o.created_at),
		'occurred_at', e.occurred_at = o.created_at,
		'aggregate', e.aggregateid = o.order_id,
		'v7', substr(e.id::text, 15, 1) = '7'))
		FROM $schema.outbox e JOIN $schema.orders o ON o.order_id = e.aggregateid));
EOF
	cmp -s "$RAW/check_order_mgmt.txt" "$RAW/check_$c.txt" || {
		diff "$RAW/check_order_mgmt.txt" "$RAW/check_$c.txt" >&2
		die "contender $c does not write the same rows as order_mgmt"
	}
done
grep -q '"lines": \[{"line_no": 1' "$RAW/check_order_mgmt.txt" || die "the row check read nothing"

# Same contract: the peer answers like create_order (SQLSTATEs, replay)
say "checking that the PL/pgSQL peer keeps create_order's contract"
bench_sql >"$RAW/check_contract.txt" <<'EOF'
CREATE FUNCTION pg_temp.state(fn text, cmd jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %s($1)', fn) USING cmd;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
WITH good AS (SELECT bench.cart(2, 'pi_1') AS c),
cases(name, cmd) AS (
	SELECT 'not an object', '[]'::jsonb FROM good
	UNION ALL SELECT 'bad uuid', jsonb_set(c, '{cartId}', '"xyz"') FROM good
	UNION ALL SELECT 'uuid as number', jsonb_set(c, '{customerId}', '12') FROM good
	UNION ALL SELECT 'no items', jsonb_set(c, '{items}', '[]') FROM good
	UNION ALL SELECT 'quantity 0', jsonb_set(jsonb_set(c, '{items,0,quantity}', '0'), '{total}', to_jsonb((c->'items'->1->>'quantity')::int * (c->'items'->1->>'unitPrice')::int)) FROM good
	UNION ALL SELECT 'fractional price', jsonb_set(c, '{items,0,unitPrice}', '1.5') FROM good
	UNION ALL SELECT 'quantity > int32', jsonb_set(c, '{items,0,quantity}', '3000000000') FROM good
	UNION ALL SELECT 'negative total', jsonb_set(c, '{total}', '-1') FROM good
	UNION ALL SELECT 'total mismatch', jsonb_set(c, '{total}', '1') FROM good
	UNION ALL SELECT 'duplicate product', jsonb_set(c, '{items,1,productId}', c->'items'->0->'productId') FROM good
	UNION ALL SELECT 'lower-case currency', jsonb_set(c, '{currency}', '"eur"') FROM good
	UNION ALL SELECT 'unknown currency', jsonb_set(c, '{currency}', '"XYZ"') FROM good
	UNION ALL SELECT 'long payment id', jsonb_set(c, '{paymentAuthorizationId}', to_jsonb(repeat('x', 256))) FROM good
	UNION ALL SELECT 'too many items', bench.cart(1001) FROM good
	UNION ALL SELECT 'valid', c FROM good
	UNION ALL SELECT 'replay', c FROM good
	UNION ALL SELECT 'conflict', jsonb_set(c, '{customerId}', to_jsonb(gen_random_uuid())) FROM good
)
SELECT name, pg_temp.state('order_mgmt.create_order', cmd) AS order_mgmt,
	   pg_temp.state('bench_plpgsql.create_order', cmd) AS plpgsql
FROM cases;
EOF
awk -F'|' '$2 != $3 { bad = 1; print "differs: " $0 > "/dev/stderr" } END { exit bad }' \
	"$RAW/check_contract.txt" || die "the peer does not keep the contract"
[ "$(wc -l <"$RAW/check_contract.txt")" = 17 ] || die "the contract check did not run every case"

# ---------------------------------------------------------------------------
# The timed runs
bench_sql <<<'CHECKPOINT'
started=$(date +%s)
say "${#LINES[@]} carts x ${#CLIENTS[@]} client counts x $ROUNDS rounds x ${#CONTENDERS[@]} contenders x $DURATION s"
for n in "${LINES[@]}"; do
	for c in "${CLIENTS[@]}"; do
		for round in $(seq 1 "$ROUNDS"); do
			line="$n lines, $c clients, round $round:"
			for k in 0 1 2 3; do
				who=${CONTENDERS[$(((k + round - 1) % 4))]}
				bench_reset_tables order_mgmt bench_bare bench_plpgsql
				bench_cart "$n"
				r=$(bench_pgbench "\"contender\": \"$who\", \"lines\": $n, \"clients\": $c, \"round\": $round" \
					"$c" "$(script_of "$who" "$n")" -T "$DURATION" "${CART_VARS[@]}")
				line+=" $who ${r%% *}"
			done
			say "$line tps"
		done
	done
done
bench_reset_tables order_mgmt bench_bare bench_plpgsql

printf '{"rounds": %d, "duration": "%d s", "synchronous_commit": "%s", "quick": %s, "seconds": %d}\n' \
	"$ROUNDS" "$DURATION" "$SYNC" "$([ "$QUICK" = 1 ] && echo true || echo false)" \
	$(($(date +%s) - started)) >"$RAW/meta.json"
"$BENCH_PYTHON" "$bench_root/bench/report.py" create_order "$RAW/runs.jsonl" \
	"$BENCH_OUT/create_order.md" "$RAW/meta.json"
say "fragment written to $BENCH_OUT/create_order.md"
