-- bench/setup.sql: what the sections share, run after CREATE EXTENSION
-- order_mgmt in the database of the benchmark (schema bench exists).

-- One value of a weighted list 'v1:w1,v2:w2,...', at random in proportion
-- to the weights.  The generators are PL/pgSQL, not SQL: a SQL function that
-- is not inlined is parsed and planned again in every transaction, which
-- made a 3-line cart cost 0.42 ms instead of 0.18 ms and hid the contenders'
-- differences behind their input.
CREATE FUNCTION bench.pick(list text) RETURNS text LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	RETURN (SELECT w.v
	FROM (SELECT split_part(e, ':', 1) AS v,
				 sum(split_part(e, ':', 2)::numeric) OVER (ORDER BY k) AS upto,
				 sum(split_part(e, ':', 2)::numeric) OVER () AS total
		  FROM unnest(string_to_array(list, ',')) WITH ORDINALITY AS u(e, k)) AS w,
		 (SELECT random() AS r) AS x
	WHERE w.upto > x.r * w.total
	ORDER BY w.upto LIMIT 1);
END
$$;

-- A CreateOrder command for a cart of n lines, fresh random ids each call:
-- line i has quantity 1 + i % 3 and unit price 100 * i (minor units), the
-- total is their sum.  The one command generator of the benchmarks: every
-- section that creates orders calls it, through the one pgbench script
-- bench/pgbench/create_order.sql (bench_cart of bench/lib.sh gives its
-- variables), and the create_order section's other contenders call it the
-- same way, so every contender pays the same to get its input.
--   payment_authorization_id  the command's paymentAuthorizationId, if not NULL
--   customers  0: a new customer id each call; N > 0: one of N customers,
--              c0000000-0000-4000-8000-<k> (k from 1, as bench.customer_id of
--              bench/sql/scale_gen.sql numbers them), k at random
--   products   0: new product ids; N > 0: n consecutive of N products,
--              a0000000-0000-4000-8000-<k> (k from 1), from a random start
--   currency   a code, or a weighted list such as 'EUR:55,USD:25,GBP:15,JPY:5'
--              (one code each call, at random in proportion to the weights)
--   partitions 0: any cart id; N > 0 (a cluster of N partitions, see
--              docs/sharding.md): a cart id of one of the partitions in held,
--              its key (order_mgmt.cart_partition_key) & (N - 1), drawn again
--              until it is (bench/router.sh: carts a shard holds; with 2 of
--              4 partitions held, 2 draws on average)
--   held       the partitions wanted (0 to N - 1), when partitions > 0
CREATE FUNCTION bench.cart(n integer, payment_authorization_id text DEFAULT NULL,
	customers integer DEFAULT 0, products integer DEFAULT 0, currency text DEFAULT 'EUR',
	partitions integer DEFAULT 0, held integer[] DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	cart uuid := gen_random_uuid();
BEGIN
	IF partitions > 0 THEN
		IF coalesce(cardinality(held), 0) = 0 OR EXISTS (SELECT FROM unnest(held) AS h(p)
				WHERE p IS NULL OR p < 0 OR p >= partitions) THEN
			RAISE EXCEPTION 'bench.cart: held must list partitions 0 to %', partitions - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		WHILE NOT (order_mgmt.cart_partition_key(cart) & (partitions - 1)) = ANY (held) LOOP
			cart := gen_random_uuid();
		END LOOP;
	END IF;
	RETURN (SELECT jsonb_build_object(
		'cartId', cart,
		'customerId', CASE WHEN customers > 0
			THEN ('c0000000-0000-4000-8000-' || lpad((1 + floor(random() * customers))::bigint::text, 12, '0'))::uuid
			ELSE gen_random_uuid() END,
		'items', jsonb_agg(jsonb_build_object(
			'productId', CASE WHEN products > 0
				THEN ('a0000000-0000-4000-8000-' || lpad((p.first + i - 1)::text, 12, '0'))::uuid
				ELSE gen_random_uuid() END,
			'quantity', 1 + i % 3,
			'unitPrice', 100 * i) ORDER BY i),
		'total', sum((1 + i % 3) * 100 * i)::bigint,
		'currency', CASE WHEN strpos(currency, ':') = 0 THEN currency ELSE bench.pick(currency) END)
		|| CASE WHEN payment_authorization_id IS NULL THEN '{}'::jsonb
				ELSE jsonb_build_object('paymentAuthorizationId', payment_authorization_id) END
	FROM (SELECT CASE WHEN products > 0 THEN 1 + floor(random() * (products - n + 1))::integer END AS first) AS p,
		generate_series(1, n) AS i);
END
$$;

-- A time as the contract writes it: RFC 3339, UTC, microseconds (a function
-- because pgbench scripts cannot hold the colons of the to_char pattern).
CREATE FUNCTION bench.rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- With psql's variable cart_only set (psql -v cart_only=1), only the
-- functions above: a router database (bench/router.sh) has no order tables
-- to copy.
\if :{?cart_only}
\quit
\endif

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
