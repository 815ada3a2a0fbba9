-- bench/peer_plpgsql.sql: create_order as a team would otherwise write it,
-- in PL/pgSQL: the benchmark's peer (contender (b) of the create_order
-- section).  Same contract as order_mgmt.create_order (CreateOrder v1.0.0 in,
-- order id out, same SQLSTATEs, idempotent on cartId with a digest, one
-- OrderCreated outbox row whose payload is the v1.0.0 event), the same rows
-- written into its own copies of the tables.  Written to be straightforward
-- and careful, not slow: one pass over the items, set-based inserts, no
-- dynamic SQL, no exception blocks.
--
-- Run after CREATE EXTENSION order_mgmt: the tables are copied from the
-- extension's (LIKE ... INCLUDING ALL: same columns, constraints and
-- indexes; no triggers), so both write the same shape of rows, and the ISO
-- 4217 list is copied from order_mgmt.currencies into a table of its own.

CREATE SCHEMA bench_plpgsql;

CREATE TABLE bench_plpgsql.orders (LIKE order_mgmt.orders INCLUDING ALL);
CREATE TABLE bench_plpgsql.order_lines (LIKE order_mgmt.order_lines INCLUDING ALL);
CREATE TABLE bench_plpgsql.outbox (LIKE order_mgmt.outbox INCLUDING ALL)
	WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
CREATE SEQUENCE bench_plpgsql.outbox_position_seq AS bigint
	OWNED BY bench_plpgsql.outbox.position;
ALTER TABLE bench_plpgsql.outbox
	ALTER position SET DEFAULT nextval('bench_plpgsql.outbox_position_seq');

CREATE TABLE bench_plpgsql.currencies (
	code		text PRIMARY KEY,
	minor_unit	smallint NOT NULL
);
INSERT INTO bench_plpgsql.currencies SELECT code, minor_unit FROM order_mgmt.currencies;

-- A time-ordered (version 7) uuid: 48 bits of Unix milliseconds over a
-- random uuid, version and variant bits set.  The usual PL-free recipe.
CREATE FUNCTION bench_plpgsql.uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE
AS $$
	SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
			PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
			FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE FUNCTION bench_plpgsql.create_order(command jsonb) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	max_lines	constant integer := 1000;
	max_bytes	constant integer := 1048576;
	uuid_re		constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
	v			jsonb;
	item		jsonb;
	i			integer;
	n			integer;
	v_cart_id	uuid;
	v_customer_id	uuid;
	v_total		bigint;
	v_currency	text;
	v_payment_auth text;
	products	uuid[];
	quantities	integer[];
	prices		bigint[];
	num			numeric;
	amount		numeric := 0;
	v_digest	bytea;
	v_order_id	uuid;
	v_stored_digest bytea;
	v_created_at	timestamptz := now();
BEGIN
	IF command IS NULL THEN
		RAISE EXCEPTION 'null value not allowed for argument "command" of create_order()'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pg_column_size(command) > max_bytes THEN
		RAISE EXCEPTION 'CreateOrder command is too large' USING ERRCODE = 'program_limit_exceeded';
	END IF;
	IF jsonb_typeof(command) <> 'object' THEN
		RAISE EXCEPTION 'invalid CreateOrder command: the command must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- cartId, customerId: canonical uuid strings
	v := command->'cartId';
	IF v IS NULL OR jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "cartId" must be a uuid string'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v->>0 !~ uuid_re THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "cartId" is not a valid uuid'
			USING ERRCODE = 'invalid_text_representation';
	END IF;
	v_cart_id := (v->>0)::uuid;
	v := command->'customerId';
	IF v IS NULL OR jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "customerId" must be a uuid string'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v->>0 !~ uuid_re THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "customerId" is not a valid uuid'
			USING ERRCODE = 'invalid_text_representation';
	END IF;
	v_customer_id := (v->>0)::uuid;

	-- items: a non-empty array of at most max_lines objects
	v := command->'items';
	IF v IS NULL OR jsonb_typeof(v) <> 'array' THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "items" must be an array'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	n := jsonb_array_length(v);
	IF n = 0 THEN
		RAISE EXCEPTION 'invalid CreateOrder command: an order needs at least one item'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF n > max_lines THEN
		RAISE EXCEPTION 'CreateOrder command has too many items' USING ERRCODE = 'program_limit_exceeded';
	END IF;
	products := array_fill(NULL::uuid, ARRAY[n]);
	quantities := array_fill(NULL::integer, ARRAY[n]);
	prices := array_fill(NULL::bigint, ARRAY[n]);
	i := 0;
	FOR item IN SELECT jsonb_array_elements(v) LOOP
		i := i + 1;
		IF jsonb_typeof(item) <> 'object' THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%]" must be an object', i - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF jsonb_typeof(item->'productId') IS DISTINCT FROM 'string' THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].productId" must be a uuid string', i - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF item->>'productId' !~ uuid_re THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].productId" is not a valid uuid', i - 1
				USING ERRCODE = 'invalid_text_representation';
		END IF;
		products[i] := (item->>'productId')::uuid;

		IF jsonb_typeof(item->'quantity') IS DISTINCT FROM 'number' THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].quantity" must be an integer', i - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		num := (item->'quantity')::numeric;
		IF num < 1 OR num <> trunc(num) THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].quantity" must be an integer of at least 1', i - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF num > 2147483647 THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].quantity" is out of range', i - 1
				USING ERRCODE = 'numeric_value_out_of_range';
		END IF;
		quantities[i] := num::integer;

		IF jsonb_typeof(item->'unitPrice') IS DISTINCT FROM 'number' THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].unitPrice" must be an integer', i - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		num := (item->'unitPrice')::numeric;
		IF num < 0 OR num <> trunc(num) THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].unitPrice" must be a non-negative integer', i - 1
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF num > 9223372036854775807 THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "items[%].unitPrice" is out of range', i - 1
				USING ERRCODE = 'numeric_value_out_of_range';
		END IF;
		prices[i] := num::bigint;
		amount := amount + quantities[i]::numeric * prices[i];
	END LOOP;

	-- total, currency, paymentAuthorizationId
	v := command->'total';
	IF v IS NULL OR jsonb_typeof(v) <> 'number' THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "total" must be an integer'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	num := v::numeric;
	IF num < 0 OR num <> trunc(num) THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "total" must be a non-negative integer'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF num > 9223372036854775807 THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "total" is out of range'
			USING ERRCODE = 'numeric_value_out_of_range';
	END IF;
	v_total := num::bigint;

	v := command->'currency';
	IF v IS NULL OR jsonb_typeof(v) <> 'string' OR v->>0 !~ '^[A-Z]{3}$' THEN
		RAISE EXCEPTION 'invalid CreateOrder command: field "currency" must be three capital letters'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	v_currency := v->>0;
	PERFORM FROM bench_plpgsql.currencies c WHERE c.code = v_currency;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid CreateOrder command: unknown currency code'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	v := command->'paymentAuthorizationId';
	IF v IS NOT NULL THEN
		IF jsonb_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "paymentAuthorizationId" must be a string'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		v_payment_auth := v->>0;
		IF octet_length(v_payment_auth) > 255 THEN
			RAISE EXCEPTION 'invalid CreateOrder command: field "paymentAuthorizationId" is too long'
				USING ERRCODE = 'string_data_right_truncation';
		END IF;
	END IF;

	-- each product once; the amount adds up without overflow; the digest of
	-- the content, lines in product order (a replay may list them differently)
	IF (SELECT count(DISTINCT p) FROM unnest(products) AS p) <> n THEN
		RAISE EXCEPTION 'invalid CreateOrder command: a product appears more than once'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF amount > 9223372036854775807 THEN
		RAISE EXCEPTION 'invalid CreateOrder command: the order''s amount is out of range'
			USING ERRCODE = 'numeric_value_out_of_range';
	END IF;
	IF amount <> v_total THEN
		RAISE EXCEPTION 'invalid CreateOrder command: total does not match the items'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Field "total" is %s, but quantity x unitPrice over the items adds up to %s.',
								  v_total, amount);
	END IF;
	SELECT sha256(convert_to(concat_ws('|', v_customer_id, v_currency, v_total,
									   coalesce(length(v_payment_auth) || ':' || v_payment_auth, '-'),
									   string_agg(concat_ws(':', u.p, u.q, u.pr), ',' ORDER BY u.p)),
							 'UTF8'))
	  INTO v_digest
	  FROM unnest(products, quantities, prices) AS u(p, q, pr);

	-- the order: a cart makes one order; a replay gets the first one's id
	INSERT INTO bench_plpgsql.orders AS o
		(order_id, cart_id, customer_id, status, total, currency,
		 payment_authorization_id, version, created_at, command_digest)
	VALUES (bench_plpgsql.uuid_v7(), v_cart_id, v_customer_id, 'CREATED', v_total, v_currency,
			v_payment_auth, 1, v_created_at, v_digest)
	ON CONFLICT (cart_id) DO NOTHING
	RETURNING o.order_id INTO v_order_id;
	IF v_order_id IS NULL THEN
		SELECT o.order_id, o.command_digest INTO v_order_id, v_stored_digest
		  FROM bench_plpgsql.orders o WHERE o.cart_id = v_cart_id;
		IF v_stored_digest IS DISTINCT FROM v_digest THEN
			RAISE EXCEPTION 'cart % already has an order with different content', v_cart_id
				USING ERRCODE = 'unique_violation';
		END IF;
		RETURN v_order_id;
	END IF;

	INSERT INTO bench_plpgsql.order_lines (order_id, line_no, product_id, quantity, unit_price)
	SELECT v_order_id, u.line_no, u.p, u.q, u.pr
	  FROM unnest(products, quantities, prices) WITH ORDINALITY AS u(p, q, pr, line_no);

	INSERT INTO bench_plpgsql.outbox
		(id, aggregatetype, aggregateid, type, payload, order_version, schema_version,
		 occurred_at, xact_id)
	VALUES (bench_plpgsql.uuid_v7(), 'order', v_order_id, 'OrderCreated',
			jsonb_build_object('orderId', v_order_id, 'customerId', v_customer_id,
							   'total', v_total, 'currency', v_currency,
							   'createdAt', to_char(v_created_at AT TIME ZONE 'UTC',
													'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
			1, '1.0.0', v_created_at, pg_current_xact_id());
	RETURN v_order_id;
END
$$;
