-- complete_order, cancel_order and legal direct UPDATEs move a CREATED order on: version 2, time stamped, exactly one new event in the same transaction.
--
-- Carts of this file are 30000000-..., customers c3000000-..., products a3000000-...

-- a valid command for cart number n (customer and product numbered alike)
CREATE FUNCTION pg_temp.lc_cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('30000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', format('c3000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'items', jsonb_build_array(jsonb_build_object(
        'productId', format('a3000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
        'quantity', 2, 'unitPrice', 100 * n)),
    'total', 200 * n, 'currency', 'EUR')
$$;

-- the RFC 3339 UTC text the events use for a timestamptz
CREATE FUNCTION pg_temp.rfc3339(t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

SELECT order_mgmt.create_order(pg_temp.lc_cmd(1)) AS a,
       order_mgmt.create_order(pg_temp.lc_cmd(2)) AS b,
       order_mgmt.create_order(pg_temp.lc_cmd(3)) AS c1,
       order_mgmt.create_order(pg_temp.lc_cmd(4)) AS c2,
       order_mgmt.create_order(pg_temp.lc_cmd(5)) AS c3,
       order_mgmt.create_order(pg_temp.lc_cmd(6)) AS c4,
       order_mgmt.create_order(pg_temp.lc_cmd(7)) AS d,
       order_mgmt.create_order(pg_temp.lc_cmd(8)) AS e,
       order_mgmt.create_order(pg_temp.lc_cmd(9)) AS g,
       order_mgmt.create_order(pg_temp.lc_cmd(10)) AS h,
       order_mgmt.create_order(pg_temp.lc_cmd(11)) AS i,
       order_mgmt.create_order(pg_temp.lc_cmd(12)) AS j,
       order_mgmt.create_order(pg_temp.lc_cmd(13)) AS k,
       order_mgmt.create_order(pg_temp.lc_cmd(14)) AS m,
       order_mgmt.create_order(pg_temp.lc_cmd(15)) AS s \gset

------------------------------------------------------------------------
-- complete_order
------------------------------------------------------------------------
BEGIN;
-- returns the new version
SELECT order_mgmt.complete_order(:'a') AS new_version;
-- stamped with the transaction's start time
SELECT status, version, completed_at = now() AS completed_now, cancelled_at, cancellation_reason
FROM order_mgmt.orders WHERE order_id = :'a';
-- the event is in this transaction
SELECT type, xact_id = pg_current_xact_id() AS same_xact
FROM order_mgmt.outbox WHERE aggregateid = :'a' ORDER BY position;
COMMIT;
-- exactly one new event: OrderCompleted at version 2, after OrderCreated
SELECT type, order_version, aggregatetype, schema_version
FROM order_mgmt.outbox WHERE aggregateid = :'a' ORDER BY position;
-- its payload is exactly OrderCompleted v1.0.0: orderId, customerId, completedAt
SELECT array_agg(k ORDER BY k) AS payload_keys
FROM order_mgmt.outbox, jsonb_object_keys(payload) AS k
WHERE aggregateid = :'a' AND type = 'OrderCompleted';
SELECT e.payload = jsonb_build_object('orderId', :'a', 'customerId', 'c3000000-0000-4000-8000-000000000001',
                                      'completedAt', pg_temp.rfc3339(o.completed_at)) AS exact_payload,
       e.payload->>'completedAt' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' AS rfc3339_utc,
       (e.payload->>'completedAt')::timestamptz = o.completed_at AS equals_completed_at,
       e.occurred_at = o.completed_at AS occurred_at_is_completed_at,
       substr(e.id::text, 15, 1) AS event_id_version
FROM order_mgmt.outbox e JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
WHERE e.aggregateid = :'a' AND e.type = 'OrderCompleted';
-- nothing else of the order moved
SELECT cart_id, customer_id, total, currency, created_at <= completed_at AS created_first
FROM order_mgmt.orders WHERE order_id = :'a';
-- a replay of the command that created a now completed order still returns its id, and writes nothing
SELECT order_mgmt.create_order(pg_temp.lc_cmd(1)) = :'a' AS replay_returns_same_id;
SELECT status, version, (SELECT count(*) FROM order_mgmt.outbox WHERE aggregateid = :'a') AS events
FROM order_mgmt.orders WHERE order_id = :'a';

------------------------------------------------------------------------
-- cancel_order
------------------------------------------------------------------------
BEGIN;
SELECT order_mgmt.cancel_order(:'b', 'CUSTOMER_REQUESTED') AS new_version;
SELECT status, version, cancelled_at = now() AS cancelled_now, completed_at, cancellation_reason
FROM order_mgmt.orders WHERE order_id = :'b';
COMMIT;
SELECT type, order_version, aggregatetype, schema_version
FROM order_mgmt.outbox WHERE aggregateid = :'b' ORDER BY position;
-- its payload is exactly OrderCancelled v1.0.0: orderId, customerId, reason, cancelledAt
SELECT array_agg(k ORDER BY k) AS payload_keys
FROM order_mgmt.outbox, jsonb_object_keys(payload) AS k
WHERE aggregateid = :'b' AND type = 'OrderCancelled';
SELECT e.payload = jsonb_build_object('orderId', :'b', 'customerId', 'c3000000-0000-4000-8000-000000000002',
                                      'reason', 'CUSTOMER_REQUESTED',
                                      'cancelledAt', pg_temp.rfc3339(o.cancelled_at)) AS exact_payload,
       e.payload->>'cancelledAt' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' AS rfc3339_utc,
       (e.payload->>'cancelledAt')::timestamptz = o.cancelled_at AS equals_cancelled_at,
       e.occurred_at = o.cancelled_at AS occurred_at_is_cancelled_at
FROM order_mgmt.outbox e JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
WHERE e.aggregateid = :'b' AND e.type = 'OrderCancelled';

-- each of the four contract reasons is accepted, stored and published
SELECT order_mgmt.cancel_order(:'c1', 'CUSTOMER_REQUESTED') AS v1,
       order_mgmt.cancel_order(:'c2', 'PAYMENT_FAILED') AS v2,
       order_mgmt.cancel_order(:'c3', 'OUT_OF_STOCK') AS v3,
       order_mgmt.cancel_order(:'c4', 'FRAUD') AS v4;
SELECT o.cancellation_reason, o.status, o.version, e.type, e.order_version,
       e.payload->>'reason' AS payload_reason
FROM order_mgmt.orders o JOIN order_mgmt.outbox e ON e.aggregateid = o.order_id AND e.type <> 'OrderCreated'
WHERE o.order_id IN (:'c1', :'c2', :'c3', :'c4')
ORDER BY o.cart_id;

------------------------------------------------------------------------
-- expected_version: the change happens when the order is at that version
------------------------------------------------------------------------
SELECT order_mgmt.complete_order(:'d', 1) AS new_version;
SELECT order_mgmt.cancel_order(:'e', 'OUT_OF_STOCK', 1) AS new_version;
-- named arguments, and an explicit NULL meaning "any version"
SELECT order_mgmt.complete_order(order_id => :'m', expected_version => NULL) AS new_version;
SELECT order_id = :'d' AS is_d, status, version FROM order_mgmt.orders WHERE order_id IN (:'d', :'e', :'m') ORDER BY cart_id;
SELECT aggregateid = :'d' AS is_d, type, order_version FROM order_mgmt.outbox
WHERE aggregateid IN (:'d', :'e', :'m') ORDER BY position;

------------------------------------------------------------------------
-- one transaction that creates and cancels writes both events, in order
------------------------------------------------------------------------
BEGIN;
SELECT order_mgmt.create_order(pg_temp.lc_cmd(20)) AS f \gset
SELECT order_mgmt.cancel_order(:'f', 'PAYMENT_FAILED') AS new_version;
SELECT type, order_version, xact_id = pg_current_xact_id() AS same_xact
FROM order_mgmt.outbox WHERE aggregateid = :'f' ORDER BY position;
COMMIT;
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'f' ORDER BY position;
SELECT status, version, created_at = cancelled_at AS same_instant FROM order_mgmt.orders WHERE order_id = :'f';

------------------------------------------------------------------------
-- a rolled-back change leaves no trace
------------------------------------------------------------------------
BEGIN;
SELECT order_mgmt.cancel_order(:'g', 'FRAUD') AS new_version;
ROLLBACK;
SELECT status, version, cancelled_at, cancellation_reason FROM order_mgmt.orders WHERE order_id = :'g';
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'g' ORDER BY position;
-- a completion rolled back to a savepoint, then a cancellation: only the cancellation stays
BEGIN;
SAVEPOINT s;
SELECT order_mgmt.complete_order(:'g') AS new_version;
ROLLBACK TO SAVEPOINT s;
SELECT order_mgmt.cancel_order(:'g', 'OUT_OF_STOCK') AS new_version;
COMMIT;
SELECT status, version, completed_at, cancellation_reason FROM order_mgmt.orders WHERE order_id = :'g';
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'g' ORDER BY position;

------------------------------------------------------------------------
-- legal direct UPDATEs are real transitions
------------------------------------------------------------------------
-- to COMPLETED: the trigger bumps the version, stamps completed_at and writes OrderCompleted
BEGIN;
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = :'h' RETURNING status, version, completed_at = now() AS completed_now;
COMMIT;
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'h' ORDER BY position;
SELECT e.payload = jsonb_build_object('orderId', :'h', 'customerId', 'c3000000-0000-4000-8000-000000000010',
                                      'completedAt', pg_temp.rfc3339(o.completed_at)) AS exact_payload
FROM order_mgmt.outbox e JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
WHERE e.aggregateid = :'h' AND e.type = 'OrderCompleted';
-- to CANCELLED with a reason: OrderCancelled
UPDATE order_mgmt.orders SET status = 'CANCELLED', cancellation_reason = 'FRAUD' WHERE order_id = :'i';
SELECT status, version, cancellation_reason, cancelled_at IS NOT NULL AS cancelled_at_set, completed_at
FROM order_mgmt.orders WHERE order_id = :'i';
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'i' ORDER BY position;
SELECT e.payload = jsonb_build_object('orderId', :'i', 'customerId', 'c3000000-0000-4000-8000-000000000011',
                                      'reason', 'FRAUD', 'cancelledAt', pg_temp.rfc3339(o.cancelled_at)) AS exact_payload
FROM order_mgmt.outbox e JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
WHERE e.aggregateid = :'i' AND e.type = 'OrderCancelled';
-- values given for the lifecycle columns alongside a transition are replaced by the trigger's
BEGIN;
UPDATE order_mgmt.orders
SET status = 'COMPLETED', version = 42, completed_at = '2000-01-01 00:00:00+00', cancelled_at = '2000-01-01 00:00:00+00'
WHERE order_id = :'s'
RETURNING status, version, completed_at = now() AS completed_now, cancelled_at;
COMMIT;
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'s' ORDER BY position;
-- one UPDATE over two orders: one event for each
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id IN (:'j', :'k');
SELECT aggregateid = :'j' AS is_j, type, order_version FROM order_mgmt.outbox
WHERE aggregateid IN (:'j', :'k') ORDER BY aggregateid, position;

------------------------------------------------------------------------
-- summary: every order of this file has one event per version, numbered 1..version
------------------------------------------------------------------------
SELECT o.status, count(*) AS orders,
       bool_and((SELECT array_agg(e.order_version ORDER BY e.position) FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id)
                = (SELECT array_agg(v) FROM generate_series(1, o.version) v)) AS one_event_per_version,
       bool_and((SELECT e.type FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id ORDER BY e.position DESC LIMIT 1)
                = CASE o.status WHEN 'CREATED' THEN 'OrderCreated' WHEN 'COMPLETED' THEN 'OrderCompleted' ELSE 'OrderCancelled' END) AS last_event_matches_status,
       bool_and((o.completed_at IS NOT NULL) = (o.status = 'COMPLETED')
                AND (o.cancelled_at IS NOT NULL) = (o.status = 'CANCELLED')
                AND (o.cancellation_reason IS NOT NULL) = (o.status = 'CANCELLED')) AS columns_follow_status
FROM order_mgmt.orders o
WHERE o.cart_id::text LIKE '30000000-%'
GROUP BY o.status ORDER BY o.status;
