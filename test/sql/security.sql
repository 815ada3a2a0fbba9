-- Security: a role allowed to change an order's status gets its event written
-- without being able to write events itself; COPY into the tables is only for
-- their owner; the install refuses a schema another role prepared.
--
-- Carts of this file are 90000000-..., customers c9000000-..., products a9000000-...

CREATE ROLE regress_om_ops;
GRANT USAGE ON SCHEMA order_mgmt TO regress_om_ops;
GRANT SELECT, UPDATE ON order_mgmt.orders TO regress_om_ops;
-- even with INSERT on the outbox, the role cannot write events of its own
GRANT SELECT, INSERT ON order_mgmt.outbox, order_mgmt.orders TO regress_om_ops;

SELECT order_mgmt.create_order('{"cartId": "90000000-0000-4000-8000-000000000001", "customerId": "c9000000-0000-4000-8000-000000000001", "items": [{"productId": "a9000000-0000-4000-8000-000000000001", "quantity": 1, "unitPrice": 900}], "total": 900, "currency": "CHF"}') AS s1 \gset

SET ROLE regress_om_ops;
-- a legal direct status change: the event is written as the table's owner
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = :'s1';
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'s1' ORDER BY position;
-- no forged events, neither by INSERT nor by COPY (COPY is for the owner only)
INSERT INTO order_mgmt.outbox (id, aggregatetype, aggregateid, type, payload, order_version,
                               schema_version, occurred_at, xact_id)
VALUES ('90000000-eeee-4000-8000-000000000001', 'order', :'s1', 'OrderCancelled', '{}', 3,
        '1.0.0', now(), pg_current_xact_id());
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
COPY order_mgmt.outbox (id, aggregatetype, aggregateid, type, payload, order_version, schema_version, occurred_at, xact_id) FROM stdin;
90000000-eeee-4000-8000-000000000002	order	90000000-0000-4000-8000-000000000001	OrderCancelled	{}	3	1.0.0	2026-01-01 00:00:00+00	1
\.
COPY order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at, command_digest) FROM stdin;
90000000-eeee-4000-8000-000000000003	90000000-0000-4000-8000-000000000099	c9000000-0000-4000-8000-000000000001	CREATED	1	CHF	1	2026-01-01 00:00:00+00	\\x00
\.
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS forged_events FROM order_mgmt.outbox WHERE id::text LIKE '90000000-eeee-%';
SELECT count(*) AS forged_orders FROM order_mgmt.orders WHERE order_id::text LIKE '90000000-eeee-%';

-- a transition never predates the order's creation, even from an older transaction
SELECT (completed_at >= created_at) AS completed_not_before_created
FROM order_mgmt.orders WHERE order_id = :'s1';

REVOKE ALL ON order_mgmt.orders, order_mgmt.outbox FROM regress_om_ops;
REVOKE ALL ON SCHEMA order_mgmt FROM regress_om_ops;
DROP ROLE regress_om_ops;

------------------------------------------------------------------------
-- the install refuses a schema that another role prepared, or one that
-- already holds objects (this part drops and recreates the extension)
------------------------------------------------------------------------
DROP EXTENSION order_mgmt;
DROP SCHEMA order_mgmt;
CREATE ROLE regress_om_mallory;
CREATE SCHEMA order_mgmt AUTHORIZATION regress_om_mallory;
CREATE EXTENSION order_mgmt;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS extension_installed FROM pg_extension WHERE extname = 'order_mgmt';
DROP SCHEMA order_mgmt;
-- owned by the installing role, but not empty
CREATE SCHEMA order_mgmt;
CREATE TABLE order_mgmt.orders (x int);
CREATE EXTENSION order_mgmt;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA order_mgmt CASCADE;
-- empty and owned by the installing role: accepted
CREATE SCHEMA order_mgmt;
CREATE EXTENSION order_mgmt;
SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt';
DROP ROLE regress_om_mallory;
