-- The role model of 1.1.0: create_roles() makes order_mgmt_writer,
-- order_mgmt_reader and order_mgmt_consumer; a member of each can do exactly
-- its part, a role with no membership nothing, and nobody (but the owner)
-- touches a table or sequence directly.
--
-- First the whole matrix from the catalog (every function, table, view and
-- sequence of the extension x every role), then real calls for the key
-- cases: allowed ones work, denied ones fail with 42501.
--
-- Carts of this file are 97000000-..., customers c9700000-..., products a9700000-...

-- only a superuser sets up the roles: PUBLIC may not call create_roles()
SELECT has_function_privilege('public', 'order_mgmt.create_roles(name, name, name)', 'EXECUTE')
       AS public_may_create_roles;
SELECT order_mgmt.create_roles();
-- a second call finds the roles and grants again: no error
SELECT order_mgmt.create_roles();
SELECT rolname, rolcanlogin, rolinherit, rolsuper, rolcreaterole, rolcreatedb
FROM pg_roles WHERE rolname LIKE 'order\_mgmt\_%' ORDER BY 1;

-- one login-less member of each role, and a role with no membership
CREATE ROLE regress_om_wr NOLOGIN IN ROLE order_mgmt_writer;
CREATE ROLE regress_om_rd NOLOGIN IN ROLE order_mgmt_reader;
CREATE ROLE regress_om_cn NOLOGIN IN ROLE order_mgmt_consumer;
CREATE ROLE regress_om_none NOLOGIN;

------------------------------------------------------------------------
-- The matrix.  Function cells: X = EXECUTE.  Table and view cells: the ACL
-- letters r SELECT, a INSERT, w UPDATE, d DELETE, D TRUNCATE, x REFERENCES,
-- t TRIGGER.  Sequence cells: U USAGE, r SELECT, w UPDATE.  '-' = nothing.
-- has_*_privilege() looks through role membership, as SET ROLE would.
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.privs(role name, kind text, obj oid) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(CASE kind
    WHEN 'function' THEN
      CASE WHEN has_function_privilege(role, obj, 'EXECUTE') THEN 'X' ELSE '' END
    WHEN 'sequence' THEN
      concat(CASE WHEN has_sequence_privilege(role, obj, 'USAGE') THEN 'U' END,
             CASE WHEN has_sequence_privilege(role, obj, 'SELECT') THEN 'r' END,
             CASE WHEN has_sequence_privilege(role, obj, 'UPDATE') THEN 'w' END)
    ELSE
      concat(CASE WHEN has_table_privilege(role, obj, 'SELECT') THEN 'r' END,
             CASE WHEN has_table_privilege(role, obj, 'INSERT') THEN 'a' END,
             CASE WHEN has_table_privilege(role, obj, 'UPDATE') THEN 'w' END,
             CASE WHEN has_table_privilege(role, obj, 'DELETE') THEN 'd' END,
             CASE WHEN has_table_privilege(role, obj, 'TRUNCATE') THEN 'D' END,
             CASE WHEN has_table_privilege(role, obj, 'REFERENCES') THEN 'x' END,
             CASE WHEN has_table_privilege(role, obj, 'TRIGGER') THEN 't' END)
  END, ''), '-')
$$;

SELECT o.kind, o.name,
       pg_temp.privs('regress_om_wr', o.kind, o.oid) AS writer,
       pg_temp.privs('regress_om_rd', o.kind, o.oid) AS reader,
       pg_temp.privs('regress_om_cn', o.kind, o.oid) AS consumer,
       pg_temp.privs('regress_om_none', o.kind, o.oid) AS no_role,
       pg_temp.privs('public', o.kind, o.oid) AS public
FROM (SELECT 'function' AS kind, p.oid::regprocedure::text AS name, p.oid
        FROM pg_proc p WHERE p.pronamespace = 'order_mgmt'::regnamespace
      UNION ALL
      SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' END,
             c.oid::regclass::text, c.oid
        FROM pg_class c
       WHERE c.relnamespace = 'order_mgmt'::regnamespace AND c.relkind IN ('r', 'v', 'S')) o
ORDER BY o.kind, o.name;

-- the schema: every role of the model may look up names in it, others not
SELECT r AS role, has_schema_privilege(r, 'order_mgmt', 'USAGE') AS usage,
       has_schema_privilege(r, 'order_mgmt', 'CREATE') AS "create"
FROM unnest(ARRAY['regress_om_wr', 'regress_om_rd', 'regress_om_cn', 'regress_om_none', 'public']) AS r;

-- A member of pg_monitor (a monitoring login, such as postgres_exporter's)
-- may look into the schema and read the stats views, and call the one
-- function they call; nothing else
CREATE ROLE regress_om_mon NOLOGIN IN ROLE pg_monitor;
SELECT o.kind, o.name, pg_temp.privs('regress_om_mon', o.kind, o.oid) AS monitor
FROM (SELECT 'function' AS kind, p.oid::regprocedure::text AS name, p.oid
        FROM pg_proc p WHERE p.pronamespace = 'order_mgmt'::regnamespace
      UNION ALL
      SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' END,
             c.oid::regclass::text, c.oid
        FROM pg_class c
       WHERE c.relnamespace = 'order_mgmt'::regnamespace AND c.relkind IN ('r', 'v', 'S')) o
WHERE pg_temp.privs('regress_om_mon', o.kind, o.oid) <> '-'
ORDER BY o.kind, o.name;
SELECT has_schema_privilege('regress_om_mon', 'order_mgmt', 'USAGE') AS monitor_usage,
       has_schema_privilege('regress_om_mon', 'order_mgmt', 'CREATE') AS monitor_create;

------------------------------------------------------------------------
-- Real calls.  Orders to work on, made by the owner
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('97000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', 'c9700000-0000-4000-8000-000000000001',
    'items', jsonb_build_array(jsonb_build_object(
        'productId', 'a9700000-0000-4000-8000-000000000001', 'quantity', 2, 'unitPrice', 1250)),
    'total', 2500, 'currency', 'EUR')
$$;
SELECT pg_temp.cmd(1) AS cmd1, pg_temp.cmd(2) AS cmd2, pg_temp.cmd(3) AS cmd3,
       pg_temp.cmd(4) AS cmd4 \gset
SELECT order_mgmt.create_order(:'cmd4') AS o4 \gset
SELECT max(position) AS outbox_before FROM order_mgmt.outbox \gset
-- every denied call below shows only its SQLSTATE
\set VERBOSITY sqlstate

-- the writer: creates, cancels, completes; reads nothing, consumes nothing
SET ROLE regress_om_wr;
SELECT order_mgmt.create_order(:'cmd1') AS o1 \gset
SELECT order_mgmt.create_order(:'cmd2') AS o2 \gset
SELECT order_mgmt.create_order(:'cmd1') = :'o1' AS replay_same_id;
SELECT order_mgmt.complete_order(:'o1') AS o1_version;
SELECT order_mgmt.cancel_order(:'o2', 'OUT_OF_STOCK', 1) AS o2_version;
SELECT order_mgmt.get_order(:'o1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.order_summary;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.currencies;
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.register_consumer('regress_writer');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.fetch_events('regress_writer');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.uuid_generate_v7();
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.refresh_reports();
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.purge_events('0');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_roles();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.orders;
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = :'o4';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the reader: reads orders and the reports; changes nothing, consumes nothing
SET ROLE regress_om_rd;
SELECT g ->> 'status' AS status, g ->> 'version' AS version, g ->> 'orderId' = :'o1' AS id_ok
FROM order_mgmt.get_order(:'o1') AS g;
SELECT status, total, total_amount, line_count FROM order_mgmt.order_summary WHERE order_id = :'o2';
SELECT count(*) AS my_customer_orders FROM order_mgmt.customer_orders
WHERE customer_id = 'c9700000-0000-4000-8000-000000000001';
SELECT count(*) > 0 AS sales_daily_readable FROM order_mgmt.sales_daily;
SELECT count(*) > 0 AS cancellations_readable FROM order_mgmt.cancellations_by_reason;
SELECT minor_unit FROM order_mgmt.currencies WHERE code = 'JPY';
SELECT order_mgmt.create_order(:'cmd3');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.complete_order(:'o4');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'o4', 'FRAUD');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.register_consumer('regress_reader');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.fetch_events('regress_reader');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.refresh_reports();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.orders;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.outbox;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the consumer: registers, fetches, acknowledges, renders CloudEvents,
-- unregisters; neither writes nor reads orders
SET ROLE regress_om_cn;
SELECT order_mgmt.register_consumer('regress_priv', from_beginning => true) AS cn_start;
SELECT count(*) > 0 AS fetched_some FROM order_mgmt.fetch_events('regress_priv', 10000);
SELECT type, order_version
FROM order_mgmt.fetch_events('regress_priv', 10000)
WHERE aggregateid IN (:'o1', :'o2') ORDER BY seq;
SELECT ce ->> 'type' AS ce_type, ce ->> 'subject' = :'o1' AS ce_subject_ok
FROM (SELECT order_mgmt.cloudevent(ROW(e.event_position, e.id, 'order', e.aggregateid, e.type, e.payload,
                                       e.order_version, '1.0.0', e.occurred_at, '0')::order_mgmt.outbox) AS ce
        FROM order_mgmt.fetch_events('regress_priv', 10000) e
       WHERE e.aggregateid = :'o1' AND e.order_version = 2) s;
SELECT order_mgmt.ack_events('regress_priv', (SELECT max(seq) FROM order_mgmt.fetch_events('regress_priv', 10000)))
       > 0 AS acked;
SELECT count(*) AS nothing_left FROM order_mgmt.fetch_events('regress_priv');
SELECT order_mgmt.unregister_consumer('regress_priv');
SELECT order_mgmt.create_order(:'cmd3');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.complete_order(:'o4');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.get_order(:'o1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.order_summary;
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.purge_events('0');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.outbox;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.consumers;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- a role with no membership: nothing at all (not even the schema)
SET ROLE regress_om_none;
SELECT order_mgmt.create_order(:'cmd3');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.get_order(:'o1');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.register_consumer('regress_none');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.currencies;
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.uuid_generate_v7();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.orders;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- ... and with USAGE on the schema, still no function of the extension
GRANT USAGE ON SCHEMA order_mgmt TO regress_om_none;
SET ROLE regress_om_none;
SELECT order_mgmt.create_order(:'cmd3');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.get_order(:'o1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.fetch_events('regress_none');
\echo :LAST_ERROR_SQLSTATE
-- (a non-null row: the planner folds a strict function of NULL to NULL
-- without calling it, or checking the privilege to)
SELECT order_mgmt.cloudevent(ROW(1, '01890000-0000-7000-8000-000000000001', 'order',
  '01890000-0000-7000-8000-000000000001', 'OrderCreated', '{}', 1, '1.0.0', '2026-01-01 00:00:00+00',
  '0')::order_mgmt.outbox);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM order_mgmt.sales_daily;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA order_mgmt FROM regress_om_none;
\set VERBOSITY default

------------------------------------------------------------------------
-- No role touches a table or sequence directly: every SELECT, INSERT,
-- UPDATE, DELETE and TRUNCATE on every table, and nextval/setval on every
-- sequence, is tried as each role (each in a subtransaction that is rolled
-- back whatever happens) and must fail with 42501
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.try_direct() RETURNS TABLE (outcome text, attempts bigint)
LANGUAGE plpgsql AS $$
DECLARE
  rel record;
  stmt text;
  stmts text[];
  results text[] := '{}';
BEGIN
  FOR rel IN SELECT c.oid::regclass AS name, c.relkind,
                    (SELECT a.attname FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attnum = 1) AS col
               FROM pg_class c
              WHERE c.relnamespace = 'order_mgmt'::regnamespace AND c.relkind IN ('r', 'v', 'S')
              ORDER BY 1 LOOP
    IF rel.relkind = 'S' THEN
      stmts := ARRAY[format('SELECT nextval(%L)', rel.name),
                     format('SELECT setval(%L, 1000000)', rel.name),
                     format('SELECT last_value FROM %s', rel.name)];
    ELSIF rel.relkind = 'v' THEN
      stmts := ARRAY[format('INSERT INTO %s DEFAULT VALUES', rel.name),
                     format('DELETE FROM %s WHERE false', rel.name)];
    ELSE
      stmts := ARRAY[format('SELECT FROM %s LIMIT 0', rel.name),
                     format('INSERT INTO %s DEFAULT VALUES', rel.name),
                     format('UPDATE %s SET %I = %I WHERE false', rel.name, rel.col, rel.col),
                     format('DELETE FROM %s WHERE false', rel.name),
                     format('TRUNCATE %s', rel.name)];
    END IF;
    FOREACH stmt IN ARRAY stmts LOOP
      BEGIN
        EXECUTE stmt;
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'allowed';
      EXCEPTION WHEN OTHERS THEN
        results := results || CASE WHEN SQLSTATE = '42501' THEN 'denied (42501)'
                                   WHEN SQLSTATE = '55000' AND rel.relkind = 'v'
                                   THEN 'view not updatable (55000)'
                                   ELSE SQLSTATE || ': ' || stmt END;
      END;
    END LOOP;
  END LOOP;
  RETURN QUERY SELECT r, count(*) FROM unnest(results) AS r GROUP BY r ORDER BY r;
END
$$;
-- (the views are not updatable: a role that may look into the schema is
-- refused writes through them before privileges are checked; SELECT on
-- them is the reader's and not tried here)
SET ROLE regress_om_wr;
SELECT 'writer' AS role, * FROM pg_temp.try_direct();
RESET ROLE;
SET ROLE regress_om_rd;
SELECT 'reader' AS role, * FROM pg_temp.try_direct();
RESET ROLE;
SET ROLE regress_om_cn;
SELECT 'consumer' AS role, * FROM pg_temp.try_direct();
RESET ROLE;
SET ROLE regress_om_none;
SELECT 'no role' AS role, * FROM pg_temp.try_direct();
RESET ROLE;
SET ROLE regress_om_mon;
SELECT 'monitor' AS role, * FROM pg_temp.try_direct();
RESET ROLE;

-- what the allowed calls did, seen by the owner: the writer's two orders,
-- one completed, one cancelled, each change with its event
SELECT type, order_version, CASE aggregateid WHEN :'o1' THEN 'o1' WHEN :'o2' THEN 'o2' END AS ord
FROM order_mgmt.outbox WHERE position > :outbox_before ORDER BY position;
SELECT status, version FROM order_mgmt.orders WHERE order_id = :'o4';
SELECT count(*) AS leftover_consumers FROM order_mgmt.consumers WHERE name LIKE 'regress\_%';

-- create_roles() with names of one's own
SELECT order_mgmt.create_roles('regress_om_w2', 'regress_om_r2', 'regress_om_c2');
SELECT r AS role, (SELECT rolcanlogin FROM pg_roles WHERE rolname = r) AS can_login,
       has_function_privilege(r, 'order_mgmt.create_order(jsonb)', 'EXECUTE') AS create_order,
       has_function_privilege(r, 'order_mgmt.get_order(uuid)', 'EXECUTE') AS get_order,
       has_function_privilege(r, 'order_mgmt.fetch_events(text, integer)', 'EXECUTE') AS fetch_events,
       has_table_privilege(r, 'order_mgmt.order_summary', 'SELECT') AS order_summary
FROM unnest(ARRAY['regress_om_w2', 'regress_om_r2', 'regress_om_c2']) AS r;
SELECT order_mgmt.create_roles('regress_om_w2', NULL, 'regress_om_c2');
\echo :LAST_ERROR_SQLSTATE

-- clean up
DROP ROLE regress_om_wr, regress_om_rd, regress_om_cn, regress_om_none, regress_om_mon;
DROP OWNED BY regress_om_w2, regress_om_r2, regress_om_c2,
              order_mgmt_writer, order_mgmt_reader, order_mgmt_consumer;
DROP ROLE regress_om_w2, regress_om_r2, regress_om_c2,
          order_mgmt_writer, order_mgmt_reader, order_mgmt_consumer;
