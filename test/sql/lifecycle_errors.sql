-- cancel_order and complete_order refuse unknown orders (P0002), final orders (55000), stale versions (OM001), NULLs (22004) and bad reasons (22023), and change nothing when they do.
--
-- Carts of this file are 40000000-..., customers c4000000-..., products a4000000-...
-- Messages that name a (random) order id are shown with VERBOSITY sqlstate
-- and then printed from LAST_ERROR_MESSAGE with the id masked.

CREATE FUNCTION pg_temp.le_cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('40000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', format('c4000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'items', jsonb_build_array(jsonb_build_object(
        'productId', format('a4000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
        'quantity', 1, 'unitPrice', 990)),
    'total', 990, 'currency', 'GBP')
$$;

-- x stays CREATED, y is COMPLETED, z is CANCELLED
SELECT order_mgmt.create_order(pg_temp.le_cmd(1)) AS x,
       order_mgmt.create_order(pg_temp.le_cmd(2)) AS y,
       order_mgmt.create_order(pg_temp.le_cmd(3)) AS z \gset
SELECT order_mgmt.complete_order(:'y') AS y_version, order_mgmt.cancel_order(:'z', 'OUT_OF_STOCK') AS z_version;

-- the state every failing call below must leave as it is
CREATE TEMP TABLE before_state AS
  SELECT order_id, status, version, completed_at, cancelled_at, cancellation_reason,
         (SELECT count(*) FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id) AS events
  FROM order_mgmt.orders o WHERE order_id IN (:'x', :'y', :'z');
SELECT count(*) AS events_before FROM order_mgmt.outbox \gset

------------------------------------------------------------------------
-- no such order: P0002
------------------------------------------------------------------------
SELECT order_mgmt.complete_order('40000000-dead-4000-8000-000000000000');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order('40000000-dead-4000-8000-000000000000', 'FRAUD');
\echo :LAST_ERROR_SQLSTATE
-- with an expected_version too: still P0002
SELECT order_mgmt.complete_order('40000000-dead-4000-8000-000000000000', 1);
\echo :LAST_ERROR_SQLSTATE
-- a cart id is not an order id
SELECT order_mgmt.cancel_order('40000000-0000-4000-8000-000000000001', 'FRAUD');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- final orders: 55000, the message names the state
------------------------------------------------------------------------
\set VERBOSITY sqlstate
-- cancel a COMPLETED order
SELECT order_mgmt.cancel_order(:'y', 'CUSTOMER_REQUESTED');
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'y', '<y>') AS message;
-- cancel a CANCELLED order (again, even with the same reason)
SELECT order_mgmt.cancel_order(:'z', 'OUT_OF_STOCK');
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'z', '<z>') AS message;
-- complete a CANCELLED order
SELECT order_mgmt.complete_order(:'z');
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'z', '<z>') AS message;
-- complete a COMPLETED order (again)
SELECT order_mgmt.complete_order(:'y');
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'y', '<y>') AS message;
-- the status is reported even when expected_version matches the final order's version
SELECT order_mgmt.cancel_order(:'y', 'FRAUD', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'y', '<y>') AS message;
-- and when it does not: the status is the reason the change is impossible
SELECT order_mgmt.complete_order(:'z', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'z', '<z>') AS message;

------------------------------------------------------------------------
-- expected_version mismatch on a CREATED order: OM001
------------------------------------------------------------------------
SELECT order_mgmt.complete_order(:'x', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'x', '<x>') AS message;
SELECT order_mgmt.cancel_order(:'x', 'FRAUD', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'x', '<x>') AS message;
SELECT order_mgmt.cancel_order(:'x', 'FRAUD', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'x', '<x>') AS message;
\set VERBOSITY default

------------------------------------------------------------------------
-- NULL arguments: 22004
------------------------------------------------------------------------
SELECT order_mgmt.complete_order(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.complete_order(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(NULL, 'FRAUD');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'x', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- reasons outside the contract: 22023
------------------------------------------------------------------------
SELECT order_mgmt.cancel_order(:'x', 'fraud');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'x', '');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'x', 'FRAUD ');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'x', 'CHANGED_MIND');
\echo :LAST_ERROR_SQLSTATE
-- the reason is checked first, whatever the order
SELECT order_mgmt.cancel_order('40000000-dead-4000-8000-000000000000', 'fraud');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'y', 'Fraud');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- the cart of a final order is still taken: different content is a conflict (23505)
------------------------------------------------------------------------
\set VERBOSITY terse
SELECT order_mgmt.create_order(jsonb_set(pg_temp.le_cmd(2), '{currency}', '"EUR"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(pg_temp.le_cmd(3), '{customerId}', '"c4000000-0000-4000-8000-000000000099"'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

------------------------------------------------------------------------
-- an error inside a transaction aborts it; the order is untouched after ROLLBACK
------------------------------------------------------------------------
BEGIN;
\set VERBOSITY sqlstate
SELECT order_mgmt.complete_order(:'x', 7);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT 1;
ROLLBACK;

------------------------------------------------------------------------
-- nothing changed
------------------------------------------------------------------------
SELECT b.order_id = :'x' AS is_x, o.status, o.version,
       o.version = b.version AND o.status = b.status
       AND o.completed_at IS NOT DISTINCT FROM b.completed_at
       AND o.cancelled_at IS NOT DISTINCT FROM b.cancelled_at
       AND o.cancellation_reason IS NOT DISTINCT FROM b.cancellation_reason AS row_unchanged,
       (SELECT count(*) FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id) = b.events AS events_unchanged
FROM before_state b JOIN order_mgmt.orders o USING (order_id)
ORDER BY o.cart_id;
SELECT count(*) = :events_before AS no_new_events FROM order_mgmt.outbox;
-- x is still live: the right expected_version completes it
SELECT order_mgmt.complete_order(:'x', 1) AS new_version;
