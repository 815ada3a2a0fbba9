-- create_order writes its rows without the executor when the tables are as
-- the extension made them, and through SQL INSERTs otherwise.  Either way the
-- table's rules hold: these tests change the tables the way an operator
-- might and check that create_order still writes exactly what an INSERT would.

CREATE FUNCTION dw_cmd(cart text, n int DEFAULT 3) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', cart, 'customerId', 'c0000000-0000-4000-8000-0000000000d1',
    'items', (SELECT jsonb_agg(jsonb_build_object(
                'productId', '00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'),
                'quantity', i, 'unitPrice', 100) ORDER BY i)
              FROM generate_series(1, n) i),
    'total', (SELECT sum(i * 100) FROM generate_series(1, n) i),
    'currency', 'EUR') $$;

-- a read-only transaction refuses the write, as it refuses an INSERT
BEGIN READ ONLY;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000001'));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- more lines than one batch: all written, numbered in command order
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000002', 150)) AS id150 \gset
SELECT count(*) AS lines, min(line_no), max(line_no), bool_and(quantity = line_no) AS in_order
FROM order_mgmt.order_lines WHERE order_id = :'id150';
SELECT jsonb_array_length(order_mgmt.get_order(:'id150')->'items') AS items;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000002', 150)) = :'id150' AS replay_same_id;
SELECT count(*) AS events FROM order_mgmt.outbox WHERE aggregateid = :'id150';

-- the same cart twice in one statement: one order, one id
SELECT count(DISTINCT order_mgmt.create_order(c)) AS ids
FROM (VALUES (dw_cmd('da000000-0000-4000-8000-000000000003')),
             (dw_cmd('da000000-0000-4000-8000-000000000003'))) v(c);
SELECT count(*) AS orders FROM order_mgmt.orders WHERE cart_id = 'da000000-0000-4000-8000-000000000003';

-- an order rolled back with its savepoint leaves the cart free
BEGIN;
SAVEPOINT s;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000004')) AS first_id \gset
ROLLBACK TO s;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000004')) <> :'first_id' AS new_id;
COMMIT;
SELECT count(*) AS orders FROM order_mgmt.orders WHERE cart_id = 'da000000-0000-4000-8000-000000000004';

-- a row trigger someone adds fires for create_order's rows
CREATE TABLE dw_audit (what text);
CREATE FUNCTION dw_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.dw_audit VALUES (TG_TABLE_NAME); RETURN NULL; END $$;
CREATE TRIGGER dw_audit AFTER INSERT ON order_mgmt.order_lines
  FOR EACH ROW EXECUTE FUNCTION dw_audit_row();
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000005')) IS NOT NULL AS created;
SELECT what, count(*) FROM dw_audit GROUP BY what;
DROP TRIGGER dw_audit ON order_mgmt.order_lines;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000006')) IS NOT NULL AS created;
SELECT what, count(*) FROM dw_audit GROUP BY what;

-- a CHECK constraint someone adds is enforced
ALTER TABLE order_mgmt.order_lines ADD CONSTRAINT dw_small CHECK (quantity < 3) NOT VALID;
-- (terse: the failing row's detail holds the new order's random id)
\set VERBOSITY terse
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000007'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT count(*) AS orders FROM order_mgmt.orders WHERE cart_id = 'da000000-0000-4000-8000-000000000007';
ALTER TABLE order_mgmt.order_lines DROP CONSTRAINT dw_small;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000007')) IS NOT NULL AS created;

-- a column someone adds gets its default
ALTER TABLE order_mgmt.outbox ADD COLUMN dw_note text DEFAULT 'default applied';
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000008')) AS id8 \gset
SELECT dw_note FROM order_mgmt.outbox WHERE aggregateid = :'id8';
ALTER TABLE order_mgmt.outbox DROP COLUMN dw_note;

-- a deferrable constraint someone adds is checked at commit
ALTER TABLE order_mgmt.order_lines ADD CONSTRAINT dw_u UNIQUE (order_id, product_id)
  DEFERRABLE INITIALLY DEFERRED;
SELECT order_mgmt.create_order(dw_cmd('da000000-0000-4000-8000-000000000009')) IS NOT NULL AS created;
ALTER TABLE order_mgmt.order_lines DROP CONSTRAINT dw_u;

-- and after all that DDL the tables still refuse direct inserts
INSERT INTO order_mgmt.orders SELECT * FROM order_mgmt.orders LIMIT 1;
\echo :LAST_ERROR_SQLSTATE

-- every event has its own position and the writer's transaction id
SELECT count(*) = count(DISTINCT position) AS distinct_positions,
       bool_and(xact_id IS NOT NULL) AS xact_ids
FROM order_mgmt.outbox;

DROP FUNCTION dw_audit_row() CASCADE;
DROP TABLE dw_audit;
DROP FUNCTION dw_cmd(text, int);
