-- The order_mgmt.* settings have their documented defaults, are superuser-only, live under a reserved prefix and reject invalid values; the currencies view is a clean, sorted ISO 4217 list.
--
-- Roles made here are named regress_om_* and dropped at the end.

CREATE ROLE regress_om_plain NOSUPERUSER;
GRANT USAGE ON SCHEMA order_mgmt TO regress_om_plain;

------------------------------------------------------------------------
-- before the library is loaded in a session, PostgreSQL only has
-- placeholders: a role's attempt to set a superuser-only setting, and a
-- misspelt name, are thrown away (with a warning) when the library loads
------------------------------------------------------------------------
SET ROLE regress_om_plain;
SET order_mgmt.notifications = off;
SET order_mgmt.max_lines_per_order = 1;
RESET ROLE;
SET order_mgmt.no_such_setting = 1;
-- any call of an order_mgmt function loads the library
SELECT order_mgmt.uuid_generate_v7() IS NOT NULL AS loaded;
-- the plain role's values did not stick; the misspelt placeholder is gone
SHOW order_mgmt.notifications;
SHOW order_mgmt.max_lines_per_order;
SHOW order_mgmt.no_such_setting;
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- defaults
------------------------------------------------------------------------
SHOW order_mgmt.notifications;
SHOW order_mgmt.max_lines_per_order;
SHOW order_mgmt.max_command_bytes;
SELECT name, setting, unit, boot_val, min_val, max_val, enumvals, context, vartype
FROM pg_settings WHERE name LIKE 'order\_mgmt.%' ORDER BY name;

------------------------------------------------------------------------
-- superuser-only: a plain role can neither set nor store them: 42501
------------------------------------------------------------------------
SET ROLE regress_om_plain;
SET order_mgmt.notifications = off;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_lines_per_order = 100000;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_command_bytes = '64MB';
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('order_mgmt.notifications', 'off', true);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL order_mgmt.notifications = off;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
ALTER ROLE regress_om_plain SET order_mgmt.notifications = off;
\echo :LAST_ERROR_SQLSTATE
-- nothing changed
SHOW order_mgmt.notifications;
SHOW order_mgmt.max_lines_per_order;
RESET ROLE;

-- a superuser can set them
SET order_mgmt.notifications = off;
SHOW order_mgmt.notifications;
SET order_mgmt.notifications = in_process;
SHOW order_mgmt.notifications;
SET order_mgmt.notifications = worker;
SHOW order_mgmt.notifications;
-- the names 1.1.0 used still work: "on" is in_process, "background" worker
SET order_mgmt.notifications = 'ON';
SHOW order_mgmt.notifications;
SET order_mgmt.notifications = background;
SHOW order_mgmt.notifications;
SET order_mgmt.max_lines_per_order = 1;
SHOW order_mgmt.max_lines_per_order;
SET order_mgmt.max_command_bytes = '2kB';
SHOW order_mgmt.max_command_bytes;
SET order_mgmt.max_command_bytes = 4096;
SHOW order_mgmt.max_command_bytes;
RESET order_mgmt.notifications;
RESET order_mgmt.max_lines_per_order;
RESET order_mgmt.max_command_bytes;

------------------------------------------------------------------------
-- the prefix is reserved: an unknown order_mgmt.* name is an error (42602)
------------------------------------------------------------------------
SET order_mgmt.nonexistent = 1;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.notification = off;
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('order_mgmt.foo', '1', false);
\echo :LAST_ERROR_SQLSTATE
-- and showing one is "unrecognized" (42704)
SHOW order_mgmt.nonexistent;
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- invalid values: 22023
------------------------------------------------------------------------
SET order_mgmt.notifications = maybe;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.notifications = '';
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_lines_per_order = 0;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_lines_per_order = 100001;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_lines_per_order = 'many';
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_command_bytes = 1023;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.max_command_bytes = '65MB';
\echo :LAST_ERROR_SQLSTATE
-- the maintenance schedules are read at reload (postgresql.conf, ALTER
-- SYSTEM): a session cannot SET them (55P02)
SET order_mgmt.refresh_interval = '5min';
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.purge_interval = 0;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.event_retention = '1d';
\echo :LAST_ERROR_SQLSTATE
-- still the defaults
SHOW order_mgmt.notifications;
SHOW order_mgmt.max_lines_per_order;
SHOW order_mgmt.max_command_bytes;

------------------------------------------------------------------------
-- the currencies view
------------------------------------------------------------------------
-- every code is three capital letters with a sensible exponent, and appears once
SELECT count(*) AS codes, count(DISTINCT code) AS distinct_codes,
       bool_and(code ~ '^[A-Z]{3}$') AS all_three_capitals,
       min(minor_unit) AS min_exponent, max(minor_unit) AS max_exponent
FROM order_mgmt.currencies;
-- in strictly increasing order (so sorted and without duplicates), as the lookup's binary search needs
SELECT bool_and(prev < code COLLATE "C") AS strictly_increasing
FROM (SELECT code, lag(code) OVER (ORDER BY n) AS prev
      FROM order_mgmt.currency_codes() WITH ORDINALITY AS c(code, minor_unit, n)) s
WHERE prev IS NOT NULL;
SELECT array_agg(code) = array_agg(code ORDER BY code COLLATE "C") AS view_sorted FROM order_mgmt.currencies;
-- the usual ones, with their exponents
SELECT code, minor_unit FROM order_mgmt.currencies
WHERE code IN ('USD', 'EUR', 'GBP', 'JPY', 'KWD', 'CLF') ORDER BY code;
-- no-currency and withdrawn codes are absent
SELECT code FROM order_mgmt.currencies WHERE code IN ('XXX', 'XTS', 'XAU', 'XDR', 'HRK', 'SLL', 'ZWL', 'ANG', 'BGN', 'CUC');
-- the view and create_order agree: every listed code is accepted (rolled back)
BEGIN;
SELECT count(*) AS accepted
FROM (SELECT order_mgmt.create_order(jsonb_build_object(
          'cartId', format('70000000-0000-4000-8000-%s', lpad(row_number() OVER (ORDER BY code)::text, 12, '0')),
          'customerId', 'c7000000-0000-4000-8000-000000000001',
          'items', jsonb_build_array(jsonb_build_object('productId', 'a7000000-0000-4000-8000-000000000001',
                                                        'quantity', 1, 'unitPrice', 100)),
          'total', 100, 'currency', code)) AS id
      FROM order_mgmt.currencies) s
WHERE id IS NOT NULL;
ROLLBACK;

-- PostgreSQL refuses to PREPARE a transaction that issued NOTIFY, so an order
-- change takes part in two-phase commit only with notifications off
BEGIN;
SELECT order_mgmt.create_order('{"cartId": "70000000-0000-4000-8000-000000000002", "customerId": "c7000000-0000-4000-8000-000000000001", "items": [{"productId": "a7000000-0000-4000-8000-000000000001", "quantity": 1, "unitPrice": 5}], "total": 5, "currency": "EUR"}'::jsonb) IS NOT NULL AS created;
PREPARE TRANSACTION 'om_2pc_notify';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS orders_of_failed_prepare FROM order_mgmt.orders WHERE cart_id = '70000000-0000-4000-8000-000000000002';
SET order_mgmt.notifications = off;
BEGIN;
SELECT order_mgmt.create_order('{"cartId": "70000000-0000-4000-8000-000000000002", "customerId": "c7000000-0000-4000-8000-000000000001", "items": [{"productId": "a7000000-0000-4000-8000-000000000001", "quantity": 1, "unitPrice": 5}], "total": 5, "currency": "EUR"}'::jsonb) IS NOT NULL AS created;
PREPARE TRANSACTION 'om_2pc_quiet';
SELECT count(*) AS orders_before_commit_prepared FROM order_mgmt.orders WHERE cart_id = '70000000-0000-4000-8000-000000000002';
COMMIT PREPARED 'om_2pc_quiet';
SELECT o.status, e.type, e.order_version
FROM order_mgmt.orders o JOIN order_mgmt.outbox e ON e.aggregateid = o.order_id
WHERE o.cart_id = '70000000-0000-4000-8000-000000000002';
RESET order_mgmt.notifications;

DROP OWNED BY regress_om_plain;
DROP ROLE regress_om_plain;
