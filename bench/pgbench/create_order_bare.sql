-- create_order section, contender (a): the practical limit.  One hand-written
-- statement takes the same command and writes the same rows (order, lines,
-- OrderCreated event with the v1.0.0 payload) into trigger-free copies of the
-- tables, validating nothing.
WITH c AS MATERIALIZED (
	SELECT cmd, order_mgmt.uuid_generate_v7() AS order_id, now() AS created_at
	FROM bench.cart(:lines, NULL, :customers, :products, :currency, :partitions, :held) AS cmd
), o AS (
	INSERT INTO bench_bare.orders (order_id, cart_id, customer_id, status, total, currency,
		payment_authorization_id, version, created_at, command_digest)
	SELECT order_id, (cmd->>'cartId')::uuid, (cmd->>'customerId')::uuid, 'CREATED',
		(cmd->>'total')::bigint, cmd->>'currency', cmd->>'paymentAuthorizationId', 1, created_at,
		sha256(convert_to(cmd::text, 'UTF8'))
	FROM c
	RETURNING order_id
), l AS (
	INSERT INTO bench_bare.order_lines (order_id, line_no, product_id, quantity, unit_price)
	SELECT c.order_id, i.n, (i.item->>'productId')::uuid, (i.item->>'quantity')::integer,
		(i.item->>'unitPrice')::bigint
	FROM c, jsonb_array_elements(c.cmd->'items') WITH ORDINALITY AS i(item, n)
), e AS (
	INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version,
		schema_version, occurred_at, xact_id)
	SELECT order_mgmt.uuid_generate_v7(), 'order', order_id, 'OrderCreated',
		jsonb_build_object('orderId', order_id, 'customerId', cmd->'customerId',
			'total', cmd->'total', 'currency', cmd->'currency',
			'createdAt', bench.rfc3339(created_at)),
		1, '1.0.0', created_at, pg_current_xact_id()
	FROM c
)
SELECT order_id FROM o;
