-- bench/setup.sql: what the order-function sections share, run after
-- CREATE EXTENSION order_mgmt in the database "bench" (schema bench exists).

-- A CreateOrder command for a cart of n lines, fresh random ids each call:
-- line i has quantity 1 + i % 3 and unit price 100 * i (minor units), the
-- total is their sum.  Every contender that takes the command (create_order,
-- the bare statement, the PL/pgSQL peer) calls this same function, so they
-- pay the same cost to get their input.
CREATE FUNCTION bench.cart(n integer, payment_authorization_id text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql VOLATILE
AS $$
	SELECT jsonb_build_object(
		'cartId', gen_random_uuid(),
		'customerId', gen_random_uuid(),
		'items', jsonb_agg(jsonb_build_object(
			'productId', gen_random_uuid(),
			'quantity', 1 + i % 3,
			'unitPrice', 100 * i) ORDER BY i),
		'total', sum((1 + i % 3) * 100 * i)::bigint,
		'currency', 'EUR')
		|| CASE WHEN payment_authorization_id IS NULL THEN '{}'::jsonb
				ELSE jsonb_build_object('paymentAuthorizationId', payment_authorization_id) END
	FROM generate_series(1, n) AS i
$$;

-- A time as the contract writes it: RFC 3339, UTC, microseconds (a function
-- because pgbench scripts cannot hold the colons of the to_char pattern).
CREATE FUNCTION bench.rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- bench_bare: the same tables as order_mgmt's (same columns, constraints
-- and indexes, copied with LIKE ... INCLUDING ALL so they follow the
-- extension's definition), no triggers, no functions: what the hand-written
-- statements and the ORM-style transaction write into.
CREATE SCHEMA bench_bare;
CREATE TABLE bench_bare.orders (LIKE order_mgmt.orders INCLUDING ALL);
CREATE TABLE bench_bare.order_lines (LIKE order_mgmt.order_lines INCLUDING ALL);
CREATE TABLE bench_bare.outbox (LIKE order_mgmt.outbox INCLUDING ALL)
	WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
CREATE SEQUENCE bench_bare.outbox_position_seq AS bigint OWNED BY bench_bare.outbox.position;
ALTER TABLE bench_bare.outbox
	ALTER position SET DEFAULT nextval('bench_bare.outbox_position_seq');
