-- cancel_order and complete_order update the order without the executor
-- when the orders table is as the extension made it, and through the SQL
-- UPDATE (with the lifecycle triggers) otherwise.  These tests change the
-- table the way an operator might and check that both ways write the same
-- row and the same event, that what someone added (triggers, rules, CHECK
-- constraints, indexes, policies, publications) still takes effect, and
-- that every index entry is there.
--
-- Carts of this file are db000000-..., customers cdb00000-..., products adb00000-...

CREATE FUNCTION pg_temp.dt_order(n integer) RETURNS uuid LANGUAGE sql AS $$
  SELECT order_mgmt.create_order(jsonb_build_object(
    'cartId', format('db000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', format('cdb00000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'items', jsonb_build_array(jsonb_build_object(
        'productId', format('adb00000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
        'quantity', 1, 'unitPrice', 100 * n)),
    'total', 100 * n, 'currency', 'EUR'))
$$;

-- the RFC 3339 UTC text the events use for a timestamptz
CREATE FUNCTION pg_temp.rfc3339(t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- what a transition left: the order's lifecycle columns and its events
-- (payloads without the ids; times: whether each is the row's)
CREATE FUNCTION pg_temp.dt_state(id uuid) RETURNS TABLE (status text, version int,
    completed boolean, cancelled boolean, reason text, events text, times boolean)
LANGUAGE sql AS $$
  SELECT o.status, o.version, o.completed_at = now(), o.cancelled_at = now(),
         o.cancellation_reason,
         (SELECT string_agg(e.type || ' v' || e.order_version || ' ' ||
                            (e.payload - 'orderId' - 'customerId' - 'createdAt'
                             - 'completedAt' - 'cancelledAt')::text, '; ' ORDER BY e.position)
          FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id),
         (SELECT bool_and(e.occurred_at = CASE e.type WHEN 'OrderCreated' THEN o.created_at
                                                      WHEN 'OrderCompleted' THEN o.completed_at
                                                      ELSE o.cancelled_at END
                          AND e.payload->>(CASE e.type WHEN 'OrderCreated' THEN 'createdAt'
                                                       WHEN 'OrderCompleted' THEN 'completedAt'
                                                       ELSE 'cancelledAt' END)
                              = pg_temp.rfc3339(e.occurred_at)
                          AND e.payload->>'orderId' = o.order_id::text
                          AND e.payload->>'customerId' = o.customer_id::text)
          FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id)
  FROM order_mgmt.orders o WHERE o.order_id = id
$$;

-- a read-only transaction refuses the change, as it refuses an UPDATE
SELECT pg_temp.dt_order(1) AS ro \gset
BEGIN READ ONLY;
SELECT order_mgmt.cancel_order(:'ro', 'FRAUD');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT status, version FROM pg_temp.dt_state(:'ro');

-- created and cancelled in one statement: the cancel sees the new order
SELECT order_mgmt.cancel_order(pg_temp.dt_order(2), 'OUT_OF_STOCK') AS version;
SELECT s.status, s.version, s.events
FROM order_mgmt.orders o, pg_temp.dt_state(o.order_id) s
WHERE o.cart_id = 'db000000-0000-4000-8000-000000000002';

-- the same row and event, with or without the executor: one transaction
-- (so now() is the same) completes and cancels an order each way; the
-- trigger someone adds on UPDATE sends the second pair through the SQL UPDATE
CREATE TABLE dt_audit (what text, status text);
CREATE FUNCTION dt_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.dt_audit VALUES (TG_OP, NEW.status); RETURN NULL; END $$;
SELECT pg_temp.dt_order(3) AS c_direct, pg_temp.dt_order(4) AS x_direct,
       pg_temp.dt_order(5) AS c_sql, pg_temp.dt_order(6) AS x_sql \gset
BEGIN;
SELECT order_mgmt.complete_order(:'c_direct') AS completed,
       order_mgmt.cancel_order(:'x_direct', 'PAYMENT_FAILED', 1) AS cancelled;
CREATE TRIGGER dt_audit AFTER UPDATE ON order_mgmt.orders
  FOR EACH ROW EXECUTE FUNCTION dt_audit_row();
SELECT order_mgmt.complete_order(:'c_sql') AS completed,
       order_mgmt.cancel_order(:'x_sql', 'PAYMENT_FAILED', 1) AS cancelled;
SELECT * FROM pg_temp.dt_state(:'c_direct') UNION ALL SELECT * FROM pg_temp.dt_state(:'c_sql');
SELECT * FROM pg_temp.dt_state(:'x_direct') UNION ALL SELECT * FROM pg_temp.dt_state(:'x_sql');
-- the added trigger fired for the second pair only
SELECT what, status FROM dt_audit ORDER BY status;
-- every other column as it was, either way
SELECT count(*) AS unchanged FROM order_mgmt.orders o JOIN order_mgmt.outbox e
  ON e.aggregateid = o.order_id AND e.type = 'OrderCreated'
WHERE o.order_id IN (:'c_direct', :'x_direct', :'c_sql', :'x_sql')
  AND o.total = (e.payload->>'total')::bigint AND o.currency = e.payload->>'currency'
  AND o.customer_id = (e.payload->>'customerId')::uuid AND o.cart_id IS NOT NULL
  AND o.command_digest IS NOT NULL;
ROLLBACK;

-- a rule someone adds on UPDATE runs for cancel_order
SELECT pg_temp.dt_order(7) AS ruled \gset
CREATE RULE dt_rule AS ON UPDATE TO order_mgmt.orders
  DO ALSO INSERT INTO public.dt_audit VALUES ('rule', NEW.status);
SELECT order_mgmt.cancel_order(:'ruled', 'FRAUD') AS version;
SELECT what, status FROM dt_audit;
SELECT status, version, reason, events, times FROM pg_temp.dt_state(:'ruled');
DROP RULE dt_rule ON order_mgmt.orders;
DELETE FROM dt_audit;

-- a CHECK constraint someone adds is enforced on the updated row
ALTER TABLE order_mgmt.orders ADD CONSTRAINT dt_no_fraud
  CHECK (cancellation_reason IS DISTINCT FROM 'FRAUD') NOT VALID;
SELECT pg_temp.dt_order(8) AS chk \gset
\set VERBOSITY terse
SELECT order_mgmt.cancel_order(:'chk', 'FRAUD');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT status, version, events FROM pg_temp.dt_state(:'chk');
SELECT order_mgmt.cancel_order(:'chk', 'CUSTOMER_REQUESTED') AS version;
ALTER TABLE order_mgmt.orders DROP CONSTRAINT dt_no_fraud;

-- a column someone adds keeps its value; an index someone adds gets its entry
ALTER TABLE order_mgmt.orders ADD COLUMN dt_note text DEFAULT 'kept';
CREATE INDEX dt_reason_idx ON order_mgmt.orders (cancellation_reason, dt_note)
  WHERE cancellation_reason IS NOT NULL;
SELECT order_mgmt.cancel_order(pg_temp.dt_order(9), 'OUT_OF_STOCK') AS version;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT status, version, dt_note FROM order_mgmt.orders
WHERE cancellation_reason = 'OUT_OF_STOCK' AND dt_note = 'kept'
  AND cart_id = 'db000000-0000-4000-8000-000000000009';
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX order_mgmt.dt_reason_idx;
ALTER TABLE order_mgmt.orders DROP COLUMN dt_note;

-- a publication of updates needs a replica identity, whoever updates
-- (the error names no statement: no SQL UPDATE ran)
ALTER TABLE order_mgmt.orders REPLICA IDENTITY NOTHING;
CREATE PUBLICATION dt_pub FOR TABLE order_mgmt.orders;
SELECT pg_temp.dt_order(12) AS pub \gset
SELECT order_mgmt.complete_order(:'pub');
\echo :LAST_ERROR_SQLSTATE
DROP PUBLICATION dt_pub;
ALTER TABLE order_mgmt.orders REPLICA IDENTITY DEFAULT;
SELECT order_mgmt.complete_order(:'pub') AS version;

-- SERIALIZABLE, and a rolled-back savepoint: the change and its event go together
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT pg_temp.dt_order(13) AS ser \gset
SAVEPOINT s;
SELECT order_mgmt.complete_order(:'ser') AS version;
ROLLBACK TO s;
SELECT order_mgmt.cancel_order(:'ser', 'CUSTOMER_REQUESTED') AS version;
COMMIT;
SELECT status, version, events FROM pg_temp.dt_state(:'ser');

-- row-level security and a child table: the SQL UPDATE, same outcome (last:
-- the table keeps relhassubclass until it is vacuumed)
ALTER TABLE order_mgmt.orders ENABLE ROW LEVEL SECURITY;
SELECT order_mgmt.complete_order(pg_temp.dt_order(10)) AS version;
ALTER TABLE order_mgmt.orders DISABLE ROW LEVEL SECURITY;
CREATE TABLE dt_child () INHERITS (order_mgmt.orders);
SELECT order_mgmt.complete_order(pg_temp.dt_order(11)) AS version;
DROP TABLE dt_child;
SELECT o.cart_id, s.status, s.version, s.events
FROM order_mgmt.orders o, pg_temp.dt_state(o.order_id) s
WHERE o.cart_id IN ('db000000-0000-4000-8000-000000000010', 'db000000-0000-4000-8000-000000000011')
ORDER BY o.cart_id;

-- a direct UPDATE still goes through the triggers
\set VERBOSITY sqlstate
UPDATE order_mgmt.orders SET version = 7 WHERE order_id = :'ro';
\set VERBOSITY default

-- every B-tree index of orders holds every row version it should
CREATE EXTENSION amcheck;
SELECT c.relname AS checked
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam,
     LATERAL (SELECT bt_index_check(c.oid, true)) AS chk
WHERE i.indrelid = 'order_mgmt.orders'::regclass AND a.amname = 'btree'
ORDER BY c.relname;
DROP EXTENSION amcheck;

DROP FUNCTION dt_audit_row() CASCADE;
DROP TABLE dt_audit;
