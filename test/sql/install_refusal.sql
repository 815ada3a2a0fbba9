-- The install refuses to adopt a schema, or objects in it, that another role
-- prepared (security.sql covers a schema handed to another role with
-- AUTHORIZATION and a superuser's table in it).  Refusing matters because
-- CREATE EXTENSION reuses an existing schema: whoever controls it could
-- later swap or add objects next to the SECURITY DEFINER functions.
--
-- Runs in a database of its own, so the extension of the other tests is
-- not touched.

-- error messages without the line numbers of the install script's checks
\set SHOW_CONTEXT never
SELECT current_database() AS origdb \gset
CREATE DATABASE regress_om_install;
\c regress_om_install
CREATE ROLE regress_om_eve;
GRANT CREATE ON DATABASE regress_om_install TO regress_om_eve;

-- what an attempt left behind: the extension must not exist, and the
-- schema must hold exactly what was there before
CREATE FUNCTION pg_temp.leftovers(OUT extension_installed boolean, OUT schema_owner text,
                                  OUT relations bigint, OUT functions bigint)
LANGUAGE sql AS $$
  SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'order_mgmt'),
         (SELECT CASE WHEN nspowner::regrole::name = current_user THEN '(the installing role)'
                      ELSE nspowner::regrole::text END
            FROM pg_namespace WHERE nspname = 'order_mgmt'),
         (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'order_mgmt'),
         (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'order_mgmt')
$$;

-- 1. a non-superuser creates the schema itself (empty)
SET ROLE regress_om_eve;
CREATE SCHEMA order_mgmt;
RESET ROLE;
CREATE EXTENSION order_mgmt;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.leftovers();

-- 2. ... and puts a create_order(jsonb) of its own in it
SET ROLE regress_om_eve;
CREATE FUNCTION order_mgmt.create_order(command jsonb) RETURNS uuid
LANGUAGE sql AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
RESET ROLE;
CREATE EXTENSION order_mgmt;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.leftovers();
-- the planted function was not adopted, replaced nor changed
SELECT p.proowner::regrole AS owner, p.prosecdef, l.lanname AS language,
       d.objid IS NULL AS not_member_of_an_extension
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
WHERE p.oid = 'order_mgmt.create_order(jsonb)'::regprocedure;
SET ROLE regress_om_eve;
DROP SCHEMA order_mgmt CASCADE;
RESET ROLE;

-- 3. a superuser's schema, where another role (given CREATE on it) has put
-- create_order(jsonb): the installing role owns the schema, but not the
-- object in it
CREATE SCHEMA order_mgmt;
GRANT USAGE, CREATE ON SCHEMA order_mgmt TO regress_om_eve;
SET ROLE regress_om_eve;
CREATE FUNCTION order_mgmt.create_order(command jsonb) RETURNS uuid
LANGUAGE sql AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
RESET ROLE;
\set VERBOSITY terse
CREATE EXTENSION order_mgmt;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.leftovers();
SELECT proowner::regrole AS create_order_owner FROM pg_proc
WHERE oid = 'order_mgmt.create_order(jsonb)'::regprocedure;
DROP FUNCTION order_mgmt.create_order(jsonb);

-- 4. the superuser's own objects of every kind, one at a time, named like
-- the extension's: none is adopted
\set VERBOSITY sqlstate
CREATE SEQUENCE order_mgmt.outbox_position_seq;
CREATE EXTENSION order_mgmt;
DROP SEQUENCE order_mgmt.outbox_position_seq;
CREATE VIEW order_mgmt.currencies AS SELECT 'EUR'::text AS code, 2::smallint AS minor_unit;
CREATE EXTENSION order_mgmt;
DROP VIEW order_mgmt.currencies;
CREATE TYPE order_mgmt.outbox AS (position bigint);
CREATE EXTENSION order_mgmt;
DROP TYPE order_mgmt.outbox;
CREATE FUNCTION order_mgmt.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE sql AS $$ SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR order_mgmt.= (leftarg = uuid, rightarg = uuid, function = order_mgmt.uuid_eq);
CREATE EXTENSION order_mgmt;
SET client_min_messages = warning;
DROP FUNCTION order_mgmt.uuid_eq(uuid, uuid) CASCADE;
RESET client_min_messages;
CREATE TABLE order_mgmt.event_feed (seq bigint, position bigint);
CREATE EXTENSION order_mgmt;
DROP TABLE order_mgmt.event_feed;
\set VERBOSITY default
SELECT * FROM pg_temp.leftovers();

-- 5. a superuser's empty schema in which another role may create objects:
-- that role could add objects next to the extension's after the install
-- (for instance a get_order(text) that calls with an untyped literal would
-- reach instead of get_order(uuid)), so it is not a schema the extension
-- can adopt either
\set VERBOSITY sqlstate
CREATE EXTENSION order_mgmt;
\set VERBOSITY default
SELECT * FROM pg_temp.leftovers();
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS order_mgmt;
RESET client_min_messages;
REVOKE ALL ON SCHEMA order_mgmt FROM regress_om_eve;
-- the same when PUBLIC may create in it
GRANT CREATE ON SCHEMA order_mgmt TO PUBLIC;
\set VERBOSITY sqlstate
CREATE EXTENSION order_mgmt;
\set VERBOSITY default
SELECT * FROM pg_temp.leftovers();
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS order_mgmt;
RESET client_min_messages;
REVOKE ALL ON SCHEMA order_mgmt FROM PUBLIC;

-- 6. default privileges of the installing role must not leak the
-- extension's tables and functions to anyone: either the install refuses,
-- or nobody but the owner ends up with privileges beyond the documented
-- ones (the check is written so that both are accepted)
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO regress_om_eve;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO regress_om_eve;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO regress_om_eve;
ALTER DEFAULT PRIVILEGES IN SCHEMA order_mgmt GRANT ALL ON TABLES TO regress_om_eve;
DO $$
BEGIN
  CREATE EXTENSION order_mgmt;
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  NULL;  -- refusing is one acceptable outcome
END
$$;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'order_mgmt')
    OR (NOT EXISTS (SELECT FROM pg_class c
                     WHERE c.relnamespace = 'order_mgmt'::regnamespace
                       AND (has_table_privilege('regress_om_eve', c.oid, 'SELECT')
                            OR has_table_privilege('regress_om_eve', c.oid, 'INSERT')
                            OR has_table_privilege('regress_om_eve', c.oid, 'UPDATE')
                            OR has_table_privilege('regress_om_eve', c.oid, 'DELETE')
                            OR has_table_privilege('regress_om_eve', c.oid, 'TRUNCATE')))
        AND NOT EXISTS (SELECT FROM pg_proc p
                         WHERE p.pronamespace = 'order_mgmt'::regnamespace
                           AND has_function_privilege('regress_om_eve', p.oid, 'EXECUTE')
                           AND NOT has_function_privilege('public', p.oid, 'EXECUTE')))
       AS no_privileges_leaked;
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS order_mgmt;
RESET client_min_messages;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM regress_om_eve;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM regress_om_eve;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM regress_om_eve;
ALTER DEFAULT PRIVILEGES IN SCHEMA order_mgmt REVOKE ALL ON TABLES FROM regress_om_eve;

-- 7. and the control: the empty schema of the installing role is adopted,
-- as is no schema at all
CREATE EXTENSION order_mgmt;
SELECT extname, extnamespace::regnamespace AS schema FROM pg_extension WHERE extname = 'order_mgmt';
DROP EXTENSION order_mgmt;
DROP SCHEMA order_mgmt;
CREATE EXTENSION order_mgmt;
SELECT nspowner::regrole::name = current_user AS schema_owned_by_installer
FROM pg_namespace WHERE nspname = 'order_mgmt';

\c :origdb
DROP DATABASE regress_om_install;
DROP ROLE regress_om_eve;
