-- ALTER EXTENSION ... UPDATE to 1.2.0 renames the order_mgmt.notifications
-- values that 1.1.0 named on and background, wherever ALTER ROLE or ALTER
-- DATABASE stored them, and leaves every other setting alone.  The update
-- runs in a database of its own, on a 1.1.0 install.
--
-- Roles and databases made here are named regress_om_* and dropped at the end.
CREATE ROLE regress_om_checkout NOLOGIN;
CREATE ROLE regress_om_batch NOLOGIN;
CREATE DATABASE regress_om_upgrade;
ALTER ROLE regress_om_checkout SET order_mgmt.notifications = on;
ALTER ROLE regress_om_batch IN DATABASE regress_om_upgrade SET order_mgmt.notifications = 'Background';
ALTER DATABASE regress_om_upgrade SET order_mgmt.notifications = off;
ALTER ROLE regress_om_batch SET order_mgmt.max_lines_per_order = 50;

\set regress_db :DBNAME
\c regress_om_upgrade
CREATE EXTENSION order_mgmt VERSION '1.1.0';
ALTER EXTENSION order_mgmt UPDATE TO '1.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt';

-- what is stored now, by database and role
SELECT coalesce(d.datname, '(all)') AS database, coalesce(r.rolname, '(all)') AS role, c.setting
FROM pg_db_role_setting st
CROSS JOIN LATERAL unnest(st.setconfig) AS c (setting)
LEFT JOIN pg_database d ON d.oid = st.setdatabase
LEFT JOIN pg_roles r ON r.oid = st.setrole
WHERE c.setting LIKE 'order\_mgmt.%'
ORDER BY 1, 2, 3;

\c :regress_db
DROP DATABASE regress_om_upgrade;
ALTER ROLE regress_om_checkout RESET ALL;
ALTER ROLE regress_om_batch RESET ALL;
DROP ROLE regress_om_checkout;
DROP ROLE regress_om_batch;
