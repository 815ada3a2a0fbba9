-- The lifecycle triggers hold for direct DML: no INSERT (only create_order, or pg_restore's COPY into the tables), no DELETE/TRUNCATE of orders or lines, no UPDATE of lines, outbox or an order's essentials, only CREATED -> COMPLETED|CANCELLED, and a refused statement changes nothing.
--
-- Carts of this file are 50000000-..., customers c5000000-..., products a5000000-...
-- Messages that name a (random) order id are shown with VERBOSITY sqlstate
-- and then printed from LAST_ERROR_MESSAGE with the id masked.

CREATE FUNCTION pg_temp.dd_cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('50000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', format('c5000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'items', jsonb_build_array(
        jsonb_build_object('productId', format('a5000000-0000-4000-8000-%s', lpad((10 * n + 1)::text, 12, '0')),
                           'quantity', 1, 'unitPrice', 300),
        jsonb_build_object('productId', format('a5000000-0000-4000-8000-%s', lpad((10 * n + 2)::text, 12, '0')),
                           'quantity', 2, 'unitPrice', 50)),
    'total', 400, 'currency', 'USD')
$$;

-- p stays CREATED, q is COMPLETED, r is CANCELLED
SELECT order_mgmt.create_order(pg_temp.dd_cmd(1)) AS p,
       order_mgmt.create_order(pg_temp.dd_cmd(2)) AS q,
       order_mgmt.create_order(pg_temp.dd_cmd(3)) AS r \gset
SELECT order_mgmt.complete_order(:'q') AS q_version, order_mgmt.cancel_order(:'r', 'PAYMENT_FAILED') AS r_version;

-- everything the refused statements below must leave exactly as it is
CREATE TEMP TABLE snap_orders AS SELECT to_jsonb(o) AS r FROM order_mgmt.orders o;
CREATE TEMP TABLE snap_lines AS SELECT to_jsonb(l) AS r FROM order_mgmt.order_lines l;
CREATE TEMP TABLE snap_outbox AS SELECT to_jsonb(e) AS r FROM order_mgmt.outbox e;

------------------------------------------------------------------------
-- rows enter orders and order_lines only through create_order: 0A000
------------------------------------------------------------------------
INSERT INTO order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at, command_digest)
VALUES ('50000000-eeee-4000-8000-000000000001', '50000000-0000-4000-8000-000000000099', 'c5000000-0000-4000-8000-000000000099',
        'CREATED', 100, 'USD', 1, now(), '\x00');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO order_mgmt.order_lines (order_id, line_no, product_id, quantity, unit_price)
VALUES (:'p', 3, 'a5000000-0000-4000-8000-000000000013', 1, 0);
\echo :LAST_ERROR_SQLSTATE
-- even an INSERT that would add no row
INSERT INTO order_mgmt.order_lines SELECT * FROM order_mgmt.order_lines WHERE false;
\echo :LAST_ERROR_SQLSTATE
-- a copy of an existing order under another cart
INSERT INTO order_mgmt.orders
SELECT '50000000-eeee-4000-8000-000000000002', '50000000-0000-4000-8000-000000000098', customer_id, status, total, currency,
       payment_authorization_id, version, created_at, completed_at, cancelled_at, cancellation_reason, command_digest
FROM order_mgmt.orders WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
-- INSERT ... ON CONFLICT DO UPDATE
INSERT INTO order_mgmt.orders
SELECT * FROM order_mgmt.orders WHERE order_id = :'p'
ON CONFLICT (order_id) DO UPDATE SET status = 'COMPLETED';
\echo :LAST_ERROR_SQLSTATE
-- MERGE ... INSERT
MERGE INTO order_mgmt.order_lines l
USING (VALUES (:'p'::uuid, 3)) AS v(order_id, line_no) ON l.order_id = v.order_id AND l.line_no = v.line_no
WHEN NOT MATCHED THEN INSERT VALUES (v.order_id, v.line_no, 'a5000000-0000-4000-8000-000000000013', 1, 0);
\echo :LAST_ERROR_SQLSTATE
-- no forged events either: the outbox takes rows only from the order functions and triggers
INSERT INTO order_mgmt.outbox (id, aggregatetype, aggregateid, type, payload, order_version,
                               schema_version, occurred_at, xact_id)
VALUES ('50000000-eeee-4000-8000-000000000003', 'order', :'p', 'OrderCompleted', '{}', 2,
        '1.0.0', now(), pg_current_xact_id());
\echo :LAST_ERROR_SQLSTATE

-- COPY FROM into the tables themselves is let through: it is how pg_restore
-- reloads a dump (shown here in a transaction that is rolled back)
BEGIN;
COPY order_mgmt.order_lines FROM stdin;
50000000-eeee-4000-8000-000000000003	1	a5000000-0000-4000-8000-000000000099	1	100
\.
SELECT count(*) AS copied_lines FROM order_mgmt.order_lines WHERE order_id = '50000000-eeee-4000-8000-000000000003';
ROLLBACK;
-- (INSERTs run under some other COPY statement: see the end of this file)

------------------------------------------------------------------------
-- orders and lines are never deleted or truncated, lines never updated: 0A000
------------------------------------------------------------------------
DELETE FROM order_mgmt.orders WHERE order_id = :'r';
\echo :LAST_ERROR_SQLSTATE
-- even a DELETE that matches nothing
DELETE FROM order_mgmt.orders WHERE false;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM order_mgmt.order_lines WHERE order_id = :'p' AND line_no = 2;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE order_mgmt.orders;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE order_mgmt.order_lines;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE order_mgmt.orders, order_mgmt.order_lines;
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.order_lines SET quantity = 5 WHERE order_id = :'p' AND line_no = 1;
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.order_lines SET unit_price = 0 WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
-- MERGE ... DELETE
MERGE INTO order_mgmt.order_lines l
USING (VALUES (:'p'::uuid)) AS v(order_id) ON l.order_id = v.order_id
WHEN MATCHED THEN DELETE;
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- events are never rewritten: 0A000 (deleting them, for retention, is allowed)
------------------------------------------------------------------------
UPDATE order_mgmt.outbox SET payload = '{}' WHERE aggregateid = :'p';
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.outbox SET type = 'OrderCompleted' WHERE aggregateid = :'p';
\echo :LAST_ERROR_SQLSTATE
-- DELETE is not blocked (rolled back here)
BEGIN;
DELETE FROM order_mgmt.outbox WHERE aggregateid = :'p';
ROLLBACK;

------------------------------------------------------------------------
-- an order's essentials never change: 0A000, the message names the column
------------------------------------------------------------------------
\set VERBOSITY sqlstate
UPDATE order_mgmt.orders SET order_id = '50000000-eeee-4000-8000-000000000004' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET cart_id = '50000000-0000-4000-8000-000000000097' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET customer_id = 'c5000000-0000-4000-8000-000000000097' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET total = total + 1 WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET currency = 'EUR' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
-- from NULL to a value counts as a change
UPDATE order_mgmt.orders SET payment_authorization_id = 'pa_forged' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET created_at = created_at - interval '1 day' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET command_digest = '\x00' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
-- essentials are fixed on final orders too, and even alongside a legal transition
UPDATE order_mgmt.orders SET total = 0 WHERE order_id = :'q';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'q', '<q>') AS message;
UPDATE order_mgmt.orders SET status = 'COMPLETED', customer_id = 'c5000000-0000-4000-8000-000000000096' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;

------------------------------------------------------------------------
-- version, completion and cancellation columns move only with the status: 0A000
------------------------------------------------------------------------
UPDATE order_mgmt.orders SET version = version + 1 WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET completed_at = now() WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET cancelled_at = now() WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
UPDATE order_mgmt.orders SET cancellation_reason = 'FRAUD' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'p', '<p>') AS message;
-- rewriting a final order's history
UPDATE order_mgmt.orders SET completed_at = completed_at - interval '1 hour' WHERE order_id = :'q';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'q', '<q>') AS message;
UPDATE order_mgmt.orders SET cancellation_reason = 'FRAUD' WHERE order_id = :'r';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'r', '<r>') AS message;
UPDATE order_mgmt.orders SET cancellation_reason = NULL WHERE order_id = :'r';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'r', '<r>') AS message;
UPDATE order_mgmt.orders SET version = 1 WHERE order_id = :'r';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'r', '<r>') AS message;

------------------------------------------------------------------------
-- illegal transitions: 55000
------------------------------------------------------------------------
-- from a final status
UPDATE order_mgmt.orders SET status = 'CANCELLED', cancellation_reason = 'FRAUD' WHERE order_id = :'q';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'q', '<q>') AS message;
UPDATE order_mgmt.orders SET status = 'COMPLETED', cancellation_reason = NULL WHERE order_id = :'r';
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'r', '<r>') AS message;
-- back to CREATED: refused, and the message names the current state without
-- claiming that a completion or a cancellation was asked for
UPDATE order_mgmt.orders SET status = 'CREATED' WHERE order_id = :'q';
\echo :LAST_ERROR_SQLSTATE
SELECT :'LAST_ERROR_MESSAGE' LIKE '%COMPLETED%' AS names_state,
       :'LAST_ERROR_MESSAGE' NOT LIKE '%cannot be completed%' AND :'LAST_ERROR_MESSAGE' NOT LIKE '%cannot be cancelled%' AS names_attempted_change;
UPDATE order_mgmt.orders SET status = 'CREATED', cancellation_reason = NULL WHERE order_id = :'r';
\echo :LAST_ERROR_SQLSTATE
SELECT :'LAST_ERROR_MESSAGE' LIKE '%CANCELLED%' AS names_state,
       :'LAST_ERROR_MESSAGE' NOT LIKE '%cannot be completed%' AND :'LAST_ERROR_MESSAGE' NOT LIKE '%cannot be cancelled%' AS names_attempted_change;
\set VERBOSITY default

------------------------------------------------------------------------
-- status values and reasons: 22023, 22004
------------------------------------------------------------------------
-- not a status: 22023 (raised before the CHECK constraint)
UPDATE order_mgmt.orders SET status = 'SHIPPED' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.orders SET status = 'completed' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.orders SET status = NULL WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
-- CANCELLED without a reason: 22004
UPDATE order_mgmt.orders SET status = 'CANCELLED' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
-- CANCELLED with a reason outside the contract: 22023
UPDATE order_mgmt.orders SET status = 'CANCELLED', cancellation_reason = 'fraud' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.orders SET status = 'CANCELLED', cancellation_reason = '' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE
-- COMPLETED with a reason: 22023
UPDATE order_mgmt.orders SET status = 'COMPLETED', cancellation_reason = 'FRAUD' WHERE order_id = :'p';
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- one bad row refuses the whole statement
------------------------------------------------------------------------
\set VERBOSITY sqlstate
-- p could be completed, r cannot: neither changes, no event
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id IN (:'p', :'r');
\echo :LAST_ERROR_SQLSTATE
SELECT replace(:'LAST_ERROR_MESSAGE', :'r', '<r>') AS message;
\set VERBOSITY default

------------------------------------------------------------------------
-- nothing changed
------------------------------------------------------------------------
SELECT (SELECT count(*) FROM (SELECT r FROM snap_orders EXCEPT SELECT to_jsonb(o) FROM order_mgmt.orders o) d) AS orders_changed_or_gone,
       (SELECT count(*) FROM (SELECT to_jsonb(o) FROM order_mgmt.orders o EXCEPT SELECT r FROM snap_orders) d) AS orders_new_or_changed,
       (SELECT count(*) FROM (SELECT r FROM snap_lines EXCEPT SELECT to_jsonb(l) FROM order_mgmt.order_lines l) d) AS lines_changed_or_gone,
       (SELECT count(*) FROM (SELECT to_jsonb(l) FROM order_mgmt.order_lines l EXCEPT SELECT r FROM snap_lines) d) AS lines_new_or_changed,
       (SELECT count(*) FROM (SELECT r FROM snap_outbox EXCEPT SELECT to_jsonb(e) FROM order_mgmt.outbox e) d) AS events_changed_or_gone,
       (SELECT count(*) FROM (SELECT to_jsonb(e) FROM order_mgmt.outbox e EXCEPT SELECT r FROM snap_outbox) d) AS events_new;

------------------------------------------------------------------------
-- no-op UPDATEs are allowed and write no event
------------------------------------------------------------------------
UPDATE order_mgmt.orders SET status = status WHERE order_id IN (:'p', :'q', :'r');
UPDATE order_mgmt.orders SET total = total, currency = currency, cancellation_reason = cancellation_reason,
       version = version, completed_at = completed_at
WHERE order_id IN (:'p', :'q', :'r');
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = :'q';
UPDATE order_mgmt.orders SET status = 'CANCELLED', cancellation_reason = 'PAYMENT_FAILED' WHERE order_id = :'r';
SELECT (SELECT count(*) FROM (SELECT r FROM snap_orders EXCEPT SELECT to_jsonb(o) FROM order_mgmt.orders o) d) AS orders_changed,
       (SELECT count(*) FROM (SELECT to_jsonb(e) FROM order_mgmt.outbox e EXCEPT SELECT r FROM snap_outbox) d) AS events_new;

------------------------------------------------------------------------
-- and after all that, p is still an ordinary CREATED order
------------------------------------------------------------------------
SELECT order_mgmt.cancel_order(:'p', 'CUSTOMER_REQUESTED', 1) AS new_version;
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'p' ORDER BY position;

------------------------------------------------------------------------
-- the COPY exception is for pg_restore's COPY into these tables only: an
-- INSERT that merely runs while some other COPY statement is active is still
-- refused (0A000) and leaves no row
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.dd_forge_line() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_mgmt.order_lines (order_id, line_no, product_id, quantity, unit_price)
  VALUES ('50000000-eeee-4000-8000-000000000005', 1, 'a5000000-0000-4000-8000-000000000099', 1, 100);
  RETURN 1;
END $$;
-- (psql does not set LAST_ERROR_SQLSTATE when a COPY fails: the SQLSTATE is
-- the one VERBOSITY sqlstate prints)
\set VERBOSITY sqlstate
-- an INSERT inside the query of a COPY ... TO
COPY (SELECT pg_temp.dd_forge_line()) TO stdout;
-- an INSERT made by a trigger of another table that a COPY ... FROM fills
CREATE TEMP TABLE dd_staging (n integer);
CREATE FUNCTION pg_temp.dd_staging_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at, command_digest)
  VALUES ('50000000-eeee-4000-8000-000000000006', '50000000-0000-4000-8000-000000000096', 'c5000000-0000-4000-8000-000000000096',
          'COMPLETED', 100, 'USD', 7, now(), '\x00');
  RETURN NEW;
END $$;
CREATE TRIGGER dd_staging_insert BEFORE INSERT ON dd_staging FOR EACH ROW EXECUTE FUNCTION pg_temp.dd_staging_trigger();
COPY dd_staging FROM stdin;
1
\.
\set VERBOSITY default
SELECT (SELECT count(*) FROM order_mgmt.orders WHERE order_id::text LIKE '50000000-eeee-%') AS forged_orders,
       (SELECT count(*) FROM order_mgmt.order_lines WHERE order_id::text LIKE '50000000-eeee-%') AS forged_lines;
