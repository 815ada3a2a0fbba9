-- create_order happy paths: the order, its lines and exactly one OrderCreated event are written, ids are UUIDv7, replays are idempotent.
--
-- Test data naming shared by the pg_regress files: the first digit of a uuid's
-- first group names the file (1 create_order, 2 create_order_errors,
-- 3 lifecycle, 4 lifecycle_errors, 5 direct_dml, 6 get_order); carts are
-- N0000000-..., customers cN000000-..., products aN000000-...; the last group
-- numbers them within the file.  Order ids are random: they go through \gset.

-- a plain 1-line order
\set cmd1 '{"cartId": "10000000-0000-4000-8000-000000000001", "customerId": "c1000000-0000-4000-8000-000000000001", "items": [{"productId": "a1000000-0000-4000-8000-000000000001", "quantity": 2, "unitPrice": 1999}], "total": 3998, "currency": "GBP"}'
BEGIN;
SELECT order_mgmt.create_order(:'cmd1') AS o1 \gset
-- the event is written by the creating transaction, stamped with its start time
SELECT xact_id = pg_current_xact_id() AS same_xact,
       occurred_at = now() AS occurred_now
FROM order_mgmt.outbox WHERE aggregateid = :'o1';
SELECT created_at = now() AS created_now FROM order_mgmt.orders WHERE order_id = :'o1';
COMMIT;

-- the id is an RFC 9562 version 7 uuid: version nibble 7, variant 10xx
SELECT substr(:'o1', 15, 1) AS version_nibble,
       substr(:'o1', 20, 1) IN ('8', '9', 'a', 'b') AS rfc_variant,
       :'o1' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' AS canonical_text;

-- the order row
SELECT cart_id, customer_id, status, total, currency, payment_authorization_id,
       version, completed_at, cancelled_at, cancellation_reason,
       length(command_digest) AS digest_bytes
FROM order_mgmt.orders WHERE order_id = :'o1';

-- its line
SELECT line_no, product_id, quantity, unit_price
FROM order_mgmt.order_lines WHERE order_id = :'o1' ORDER BY line_no;

-- exactly one event, OrderCreated, with the outbox columns Debezium reads
SELECT count(*) AS events FROM order_mgmt.outbox WHERE aggregateid = :'o1';
SELECT e.aggregatetype, e.aggregateid = o.order_id AS aggregateid_is_order, e.type,
       e.order_version, e.schema_version, e.occurred_at = o.created_at AS occurred_at_is_created_at,
       substr(e.id::text, 15, 1) AS event_id_version,
       e.id <> o.order_id AS own_event_id
FROM order_mgmt.outbox e JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
WHERE e.aggregateid = :'o1';

-- the payload has exactly the keys of OrderCreated v1.0.0, with the right values and types
SELECT array_agg(k ORDER BY k) AS payload_keys
FROM order_mgmt.outbox, jsonb_object_keys(payload) AS k
WHERE aggregateid = :'o1';
SELECT payload->>'orderId' = :'o1' AS order_id_ok,
       payload->>'customerId' AS customer_id,
       payload->'total' AS total, jsonb_typeof(payload->'total') AS total_type,
       payload->>'currency' AS currency
FROM order_mgmt.outbox WHERE aggregateid = :'o1';
-- createdAt is RFC 3339 in UTC with a Z, and is the order's created_at
SELECT e.payload->>'createdAt' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' AS rfc3339_utc,
       (e.payload->>'createdAt')::timestamptz = o.created_at AS equals_created_at,
       e.payload->>'createdAt' = to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS exact_text
FROM order_mgmt.outbox e JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
WHERE e.aggregateid = :'o1';

-- a 3-line order: lines numbered from 1 in the order the command lists them
-- (the product ids are deliberately not in sorted order)
\set cmd3 '{"cartId": "10000000-0000-4000-8000-000000000003", "customerId": "c1000000-0000-4000-8000-000000000003", "items": [{"productId": "a1000000-0000-4000-8000-000000000033", "quantity": 1, "unitPrice": 1500}, {"productId": "a1000000-0000-4000-8000-000000000031", "quantity": 3, "unitPrice": 250}, {"productId": "a1000000-0000-4000-8000-000000000032", "quantity": 10, "unitPrice": 99}], "total": 3240, "currency": "EUR"}'
SELECT order_mgmt.create_order(:'cmd3') AS o3 \gset
SELECT status, total, currency, version FROM order_mgmt.orders WHERE order_id = :'o3';
SELECT line_no, product_id, quantity, unit_price
FROM order_mgmt.order_lines WHERE order_id = :'o3' ORDER BY line_no;
SELECT type, order_version, payload->'total' AS total, payload->>'currency' AS currency
FROM order_mgmt.outbox WHERE aggregateid = :'o3';

-- idempotent replay: the same command returns the same id and writes nothing
SELECT order_mgmt.create_order(:'cmd3') = :'o3' AS same_id;
-- the same command with the items in another order is the same checkout
SELECT order_mgmt.create_order('{"currency": "EUR", "total": 3240, "items": [{"unitPrice": 99, "quantity": 10, "productId": "a1000000-0000-4000-8000-000000000032"}, {"productId": "a1000000-0000-4000-8000-000000000033", "quantity": 1, "unitPrice": 1500}, {"productId": "a1000000-0000-4000-8000-000000000031", "quantity": 3, "unitPrice": 250}], "customerId": "c1000000-0000-4000-8000-000000000003", "cartId": "10000000-0000-4000-8000-000000000003"}') = :'o3' AS same_id_reordered;
-- a replay in the same transaction as the creation is also the same order
BEGIN;
SELECT order_mgmt.create_order(:'cmd1') = :'o1' AS same_id_in_xact;
SELECT order_mgmt.create_order(:'cmd1') = :'o1' AS same_id_again;
COMMIT;
SELECT (SELECT count(*) FROM order_mgmt.orders WHERE cart_id IN ('10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000003')) AS orders,
       (SELECT count(*) FROM order_mgmt.order_lines WHERE order_id IN (:'o1', :'o3')) AS lines,
       (SELECT count(*) FROM order_mgmt.outbox WHERE aggregateid IN (:'o1', :'o3')) AS events;
-- the replay left the stored lines in the first command's order
SELECT line_no, product_id FROM order_mgmt.order_lines WHERE order_id = :'o3' ORDER BY line_no;

-- paymentAuthorizationId is stored and echoed by get_order; a replay must repeat it
\set cmd4 '{"cartId": "10000000-0000-4000-8000-000000000004", "customerId": "c1000000-0000-4000-8000-000000000004", "items": [{"productId": "a1000000-0000-4000-8000-000000000041", "quantity": 1, "unitPrice": 5000}], "total": 5000, "currency": "USD", "paymentAuthorizationId": "pa_8842"}'
SELECT order_mgmt.create_order(:'cmd4') AS o4 \gset
SELECT payment_authorization_id FROM order_mgmt.orders WHERE order_id = :'o4';
SELECT order_mgmt.get_order(:'o4')->>'paymentAuthorizationId' AS echoed;
SELECT order_mgmt.create_order(:'cmd4') = :'o4' AS same_id;
-- the OrderCreated payload stays exactly the schema's keys (no paymentAuthorizationId)
SELECT array_agg(k ORDER BY k) AS payload_keys
FROM order_mgmt.outbox, jsonb_object_keys(payload) AS k
WHERE aggregateid = :'o4';

-- a paymentAuthorizationId of exactly 255 bytes (multibyte characters count in bytes) is accepted
SELECT order_mgmt.create_order(jsonb_build_object(
  'cartId', '10000000-0000-4000-8000-000000000005',
  'customerId', 'c1000000-0000-4000-8000-000000000005',
  'items', jsonb_build_array(jsonb_build_object('productId', 'a1000000-0000-4000-8000-000000000051', 'quantity', 1, 'unitPrice', 100)),
  'total', 100, 'currency', 'USD',
  'paymentAuthorizationId', repeat('é', 127) || 'x')) AS o5 \gset
SELECT octet_length(payment_authorization_id) AS bytes, char_length(payment_authorization_id) AS chars
FROM order_mgmt.orders WHERE order_id = :'o5';

-- fields the contract does not know are ignored, at the top level and in items
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000006", "customerId": "c1000000-0000-4000-8000-000000000006", "items": [{"productId": "a1000000-0000-4000-8000-000000000061", "quantity": 1, "unitPrice": 700, "sku": "X-1", "gift": true}], "total": 700, "currency": "CHF", "channel": "web", "meta": {"a": [1, 2]}, "note": null}') AS o6 \gset
SELECT status, total, currency FROM order_mgmt.orders WHERE order_id = :'o6';
SELECT count(*) AS events FROM order_mgmt.outbox WHERE aggregateid = :'o6';

-- a number with a zero fraction is an integer (JSON Schema): 2.0 and 1500.00 are accepted
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000007", "customerId": "c1000000-0000-4000-8000-000000000007", "items": [{"productId": "a1000000-0000-4000-8000-000000000071", "quantity": 2.0, "unitPrice": 1500.00}], "total": 3000.0, "currency": "USD"}') AS o7 \gset
SELECT quantity, unit_price FROM order_mgmt.order_lines WHERE order_id = :'o7';
SELECT total FROM order_mgmt.orders WHERE order_id = :'o7';
-- and the event carries it as a plain integer
SELECT payload->'total' AS total FROM order_mgmt.outbox WHERE aggregateid = :'o7';

-- a free item (unitPrice 0) beside a paid one
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000008", "customerId": "c1000000-0000-4000-8000-000000000008", "items": [{"productId": "a1000000-0000-4000-8000-000000000081", "quantity": 1, "unitPrice": 0}, {"productId": "a1000000-0000-4000-8000-000000000082", "quantity": 1, "unitPrice": 450}], "total": 450, "currency": "USD"}') AS o8 \gset
SELECT line_no, quantity, unit_price FROM order_mgmt.order_lines WHERE order_id = :'o8' ORDER BY line_no;
-- an order that costs nothing at all (total 0)
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000009", "customerId": "c1000000-0000-4000-8000-000000000009", "items": [{"productId": "a1000000-0000-4000-8000-000000000091", "quantity": 3, "unitPrice": 0}], "total": 0, "currency": "USD"}') AS o9 \gset
SELECT total, status FROM order_mgmt.orders WHERE order_id = :'o9';
SELECT payload->'total' AS total FROM order_mgmt.outbox WHERE aggregateid = :'o9';

-- currencies with 0 (JPY) and 3 (KWD) minor units
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000010", "customerId": "c1000000-0000-4000-8000-000000000010", "items": [{"productId": "a1000000-0000-4000-8000-000000000101", "quantity": 1, "unitPrice": 1200}], "total": 1200, "currency": "JPY"}') AS o10 \gset
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000011", "customerId": "c1000000-0000-4000-8000-000000000011", "items": [{"productId": "a1000000-0000-4000-8000-000000000111", "quantity": 1, "unitPrice": 12345}], "total": 12345, "currency": "KWD"}') AS o11 \gset
SELECT o.currency, c.minor_unit, o.total
FROM order_mgmt.orders o JOIN order_mgmt.currencies c ON c.code = o.currency
WHERE o.order_id IN (:'o10', :'o11') ORDER BY o.currency;

-- upper-case hex uuids are accepted and stored as the same uuids
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-0000000000AB", "customerId": "C1000000-0000-4000-8000-0000000000AB", "items": [{"productId": "A1000000-0000-4000-8000-0000000000AB", "quantity": 1, "unitPrice": 10}], "total": 10, "currency": "USD"}') AS oab \gset
SELECT cart_id, customer_id FROM order_mgmt.orders WHERE order_id = :'oab';
SELECT product_id FROM order_mgmt.order_lines WHERE order_id = :'oab';
SELECT payload->>'customerId' AS customer_id FROM order_mgmt.outbox WHERE aggregateid = :'oab';
-- the lower-case spelling of the same command is a replay of the same cart
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-0000000000ab", "customerId": "c1000000-0000-4000-8000-0000000000ab", "items": [{"productId": "a1000000-0000-4000-8000-0000000000ab", "quantity": 1, "unitPrice": 10}], "total": 10, "currency": "USD"}') = :'oab' AS same_id;

-- ids from successive calls increase (UUIDv7 is time-ordered), and so do event ids and positions
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000012", "customerId": "c1000000-0000-4000-8000-000000000012", "items": [{"productId": "a1000000-0000-4000-8000-000000000121", "quantity": 1, "unitPrice": 1}], "total": 1, "currency": "USD"}') AS o12 \gset
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000013", "customerId": "c1000000-0000-4000-8000-000000000013", "items": [{"productId": "a1000000-0000-4000-8000-000000000131", "quantity": 1, "unitPrice": 1}], "total": 1, "currency": "USD"}') AS o13 \gset
SELECT order_mgmt.create_order('{"cartId": "10000000-0000-4000-8000-000000000014", "customerId": "c1000000-0000-4000-8000-000000000014", "items": [{"productId": "a1000000-0000-4000-8000-000000000141", "quantity": 1, "unitPrice": 1}], "total": 1, "currency": "USD"}') AS o14 \gset
SELECT :'o12'::uuid < :'o13'::uuid AND :'o13'::uuid < :'o14'::uuid AS increasing;
SELECT bool_and(prev_id < id AND prev_pos < position) AS events_increasing
FROM (SELECT id, position, lag(id) OVER (ORDER BY position) AS prev_id,
             lag(position) OVER (ORDER BY position) AS prev_pos
      FROM order_mgmt.outbox WHERE aggregateid IN (:'o12', :'o13', :'o14')) s
WHERE prev_id IS NOT NULL;
-- several orders in one statement still get increasing ids
SELECT bool_and(prev < id) AS increasing_within_statement
FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev
      FROM (SELECT n, order_mgmt.create_order(jsonb_build_object(
                'cartId', format('10000000-0000-4000-8000-%s', lpad((200 + n)::text, 12, '0')),
                'customerId', 'c1000000-0000-4000-8000-000000000200',
                'items', jsonb_build_array(jsonb_build_object(
                    'productId', 'a1000000-0000-4000-8000-000000000200', 'quantity', n, 'unitPrice', 5)),
                'total', 5 * n, 'currency', 'SEK')) AS id
            FROM generate_series(1, 20) AS n) s) t
WHERE prev IS NOT NULL;

-- every order this file made has exactly one event, OrderCreated at version 1, and lines numbered 1..n
SELECT count(*) AS orders,
       bool_and(o.version = 1 AND o.status = 'CREATED') AS all_created_v1,
       bool_and((SELECT count(*) FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id) = 1) AS one_event_each,
       bool_and((SELECT array_agg(line_no ORDER BY line_no) FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id)
                = (SELECT array_agg(g) FROM generate_series(1, (SELECT count(*) FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id)::int) g)) AS lines_numbered,
       bool_and(o.total = (SELECT sum(quantity * unit_price) FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id)) AS totals_match
FROM order_mgmt.orders o
WHERE o.cart_id::text LIKE '10000000-%';
