-- The reporting views: one row per order, customer history, sales per day and currency, cancellations by reason; exact whether or not refresh_reports() has folded the history into the rollup, money in minor units with each currency's exponent, days in the session's time zone.
--
-- Runs in a database of its own so the figures are exactly this file's orders.

SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_om_reports;
\c regress_om_reports
CREATE EXTENSION order_mgmt;
SET TimeZone = 'UTC';

-- a command for cart n of customer c: items (quantity, unit price) pairs
CREATE FUNCTION pg_temp.cmd(n integer, c integer, currency text, items integer[][]) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('50000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', format('c5000000-0000-4000-8000-%s', lpad(c::text, 12, '0')),
    'items', (SELECT jsonb_agg(jsonb_build_object(
                'productId', format('a5000000-0000-4000-8000-%s', lpad(i::text, 12, '0')),
                'quantity', items[i][1], 'unitPrice', items[i][2]) ORDER BY i)
              FROM generate_subscripts(items, 1) AS i),
    'total', (SELECT sum(items[i][1] * items[i][2]) FROM generate_subscripts(items, 1) AS i),
    'currency', currency)
$$;

------------------------------------------------------------------------
-- Today's orders, through the order functions
------------------------------------------------------------------------
SELECT order_mgmt.create_order(pg_temp.cmd(1, 1, 'GBP', '{{1,1999},{2,1499},{1,500}}')) AS gbp,
       order_mgmt.create_order(pg_temp.cmd(2, 1, 'JPY', '{{3,500}}')) AS jpy,
       order_mgmt.create_order(pg_temp.cmd(3, 2, 'BHD', '{{1,12345}}')) AS bhd,
       order_mgmt.create_order(pg_temp.cmd(4, 2, 'GBP', '{{1,1000}}')) AS c1,
       order_mgmt.create_order(pg_temp.cmd(5, 3, 'GBP', '{{1,2000}}')) AS c2,
       order_mgmt.create_order(pg_temp.cmd(6, 3, 'EUR', '{{1,3000}}')) AS c3,
       order_mgmt.create_order(pg_temp.cmd(7, 3, 'EUR', '{{2,2000}}')) AS c4,
       order_mgmt.create_order(pg_temp.cmd(8, 4, 'EUR', '{{1,700}}')) AS done \gset
SELECT order_mgmt.cancel_order(:'c1', 'CUSTOMER_REQUESTED'),
       order_mgmt.cancel_order(:'c2', 'PAYMENT_FAILED'),
       order_mgmt.cancel_order(:'c3', 'OUT_OF_STOCK'),
       order_mgmt.cancel_order(:'c4', 'FRAUD'),
       order_mgmt.complete_order(:'done'),
       order_mgmt.complete_order(:'gbp');

-- one row per order: total in minor units and in major units by the
-- currency's exponent (GBP 2, JPY 0, BHD 3), line count, lifecycle times
SELECT s.order_id = :'gbp' AS is_gbp, s.status, s.currency, s.minor_unit, s.total,
       s.total_amount, s.line_count, s.version,
       s.created_at IS NOT NULL AS created, s.completed_at IS NOT NULL AS completed,
       s.cancelled_at IS NOT NULL AS cancelled, s.cancellation_reason
FROM order_mgmt.order_summary s
ORDER BY s.total, s.currency;

-- the summary agrees with get_order for every order
SELECT count(*) AS orders,
       count(*) FILTER (WHERE (g ->> 'total')::bigint = s.total
                          AND g ->> 'status' = s.status
                          AND jsonb_array_length(g -> 'items') = s.line_count
                          AND (g ->> 'version')::integer = s.version) AS agree
FROM order_mgmt.order_summary s, order_mgmt.get_order(s.order_id) AS g;

-- money is never floating point
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid IN ('order_mgmt.order_summary'::regclass, 'order_mgmt.sales_daily'::regclass,
                     'order_mgmt.cancellations_by_reason'::regclass)
  AND (a.attname LIKE '%amount' OR a.attname = 'total')
GROUP BY 1, 2 ORDER BY 1;

-- a customer's history, newest first
SELECT c.customer_id = 'c5000000-0000-4000-8000-000000000003' AS customer_3, c.status,
       c.currency, c.total_amount, c.cancellation_reason
FROM order_mgmt.customer_orders c
WHERE c.customer_id = 'c5000000-0000-4000-8000-000000000003'
ORDER BY c.created_at DESC, c.total DESC;

-- today's sales per currency: every order is gross today; cancelled and
-- completed totals are counted today too; net = gross - cancelled
SELECT s.day = current_date AS today, s.currency, s.minor_unit, s.orders_created,
       s.orders_completed, s.orders_cancelled, s.gross_amount, s.completed_amount,
       s.cancelled_amount, s.net_amount
FROM order_mgmt.sales_daily s ORDER BY s.currency;

SELECT r.day = current_date AS today, r.cancellation_reason, r.currency, r.orders_cancelled,
       r.cancelled_amount
FROM order_mgmt.cancellations_by_reason r ORDER BY r.cancellation_reason;

------------------------------------------------------------------------
-- History: orders of past days, restored as a dump would be (COPY by the
-- owner), so their times are known
------------------------------------------------------------------------
COPY order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, version,
                        created_at, completed_at, cancelled_at, cancellation_reason, command_digest) FROM stdin;
01890000-0000-7000-8000-000000000001	51000000-0000-4000-8000-000000000001	c5000000-0000-4000-8000-000000000009	COMPLETED	1000	GBP	2	2020-03-01 09:00:00+00	2020-03-02 10:00:00+00	\N	\N	\\x00
01890000-0000-7000-8000-000000000002	51000000-0000-4000-8000-000000000002	c5000000-0000-4000-8000-000000000009	CANCELLED	2500	GBP	2	2020-03-01 20:10:00+00	\N	2020-03-01 23:50:00+00	FRAUD	\\x00
01890000-0000-7000-8000-000000000003	51000000-0000-4000-8000-000000000003	c5000000-0000-4000-8000-000000000008	CREATED	400	JPY	1	2020-03-01 23:59:59.999999+00	\N	\N	\N	\\x00
01890000-0000-7000-8000-000000000004	51000000-0000-4000-8000-000000000004	c5000000-0000-4000-8000-000000000008	CANCELLED	700	GBP	2	2020-03-02 00:00:00+00	\N	2020-03-03 18:20:00+00	OUT_OF_STOCK	\\x00
\.
COPY order_mgmt.order_lines (order_id, line_no, product_id, quantity, unit_price) FROM stdin;
01890000-0000-7000-8000-000000000001	1	a5000000-0000-4000-8000-000000000001	1	1000
01890000-0000-7000-8000-000000000002	1	a5000000-0000-4000-8000-000000000001	1	2500
01890000-0000-7000-8000-000000000003	1	a5000000-0000-4000-8000-000000000001	2	200
01890000-0000-7000-8000-000000000004	1	a5000000-0000-4000-8000-000000000001	1	700
\.

-- before any refresh, everything comes from the orders table
CREATE TEMP TABLE before_refresh AS SELECT * FROM order_mgmt.sales_daily;
CREATE TEMP TABLE before_refresh_reasons AS SELECT * FROM order_mgmt.cancellations_by_reason;
SELECT s.day, s.currency, s.orders_created, s.orders_completed, s.orders_cancelled,
       s.gross_amount, s.completed_amount, s.cancelled_amount, s.net_amount
FROM order_mgmt.sales_daily s WHERE s.day < '2021-01-01' ORDER BY 1, 2;

-- the rollup folds every closed minute: the history, not the last minute
SELECT order_mgmt.refresh_reports() AS horizon \gset
SELECT :'horizon'::timestamptz > '2020-03-04' AS folded_history,
       :'horizon'::timestamptz <= now() - interval '1 minute' AS not_the_last_minute,
       date_bin('1 minute', :'horizon'::timestamptz, '2000-01-01') = :'horizon'::timestamptz AS whole_minute,
       (SELECT count(*) FROM order_mgmt.report_horizon) AS horizon_rows;
SELECT b.bucket_start, b.currency, b.orders_created, b.orders_completed, b.orders_cancelled,
       b.gross_amount, b.completed_amount, b.cancelled_amount
FROM order_mgmt.sales_buckets b WHERE b.bucket_start < '2021-01-01' ORDER BY 1, 2;

-- and the views say exactly what they said before
SELECT (SELECT count(*) FROM (SELECT * FROM order_mgmt.sales_daily EXCEPT ALL
                              SELECT * FROM before_refresh) d) AS sales_new_rows,
       (SELECT count(*) FROM (SELECT * FROM before_refresh EXCEPT ALL
                              SELECT * FROM order_mgmt.sales_daily) d) AS sales_lost_rows,
       (SELECT count(*) FROM (SELECT * FROM order_mgmt.cancellations_by_reason EXCEPT ALL
                              SELECT * FROM before_refresh_reasons) d) AS reasons_new_rows,
       (SELECT count(*) FROM (SELECT * FROM before_refresh_reasons EXCEPT ALL
                              SELECT * FROM order_mgmt.cancellations_by_reason) d) AS reasons_lost_rows;

-- a customer's history now comes from customer_history (filled by the
-- refresh) for the folded orders, and from orders for the rest: each order once
SELECT count(*) AS indexed_orders FROM order_mgmt.customer_history;
SELECT c.status, c.total, c.currency, c.cancellation_reason, c.line_count
FROM order_mgmt.customer_orders c
WHERE c.customer_id = 'c5000000-0000-4000-8000-000000000009'
ORDER BY c.created_at DESC;
SELECT count(*) AS orders, count(DISTINCT order_id) AS distinct_orders FROM order_mgmt.customer_orders;

-- a second refresh starts where the first ended (the same horizon unless a
-- minute has closed since) and folds nothing twice
SELECT order_mgmt.refresh_reports() >= :'horizon'::timestamptz AS not_behind;
SELECT count(*) AS history_buckets FROM order_mgmt.sales_buckets WHERE bucket_start < '2021-01-01';

-- Days follow the session's time zone, also over folded buckets: in
-- Kathmandu (UTC+05:45) the order of 2020-03-01 20:10 UTC was created on the
-- 2nd, and its cancellation at 23:50 UTC fell on the 2nd as well
SET TimeZone = 'Asia/Kathmandu';
SELECT s.day, s.currency, s.orders_created, s.orders_completed, s.orders_cancelled,
       s.gross_amount, s.cancelled_amount, s.net_amount
FROM order_mgmt.sales_daily s WHERE s.day < '2021-01-01' ORDER BY 1, 2;
SELECT r.day, r.cancellation_reason, r.currency, r.orders_cancelled, r.cancelled_amount
FROM order_mgmt.cancellations_by_reason r WHERE r.day < '2021-01-01' ORDER BY 1, 2;
RESET TimeZone;

-- The minutes of the quarter hour a refresh ends in stay minute buckets
-- until the quarter hour closes; the next refresh takes them back and folds
-- them into one quarter-hour bucket.  Replay a rollup that ended at 20:12 on
-- the day of the history: the order of 20:10 sits in a minute bucket.
SET TimeZone = 'UTC';
TRUNCATE order_mgmt.sales_buckets, order_mgmt.cancellation_buckets, order_mgmt.customer_history,
  order_mgmt.report_horizon;
INSERT INTO order_mgmt.report_horizon VALUES ('2020-03-01 20:12+00', now());
INSERT INTO order_mgmt.sales_buckets VALUES
  ('2020-03-01 09:00+00', 'GBP', 1, 0, 0, 1000, 0, 0),
  ('2020-03-01 20:10+00', 'GBP', 1, 0, 0, 2500, 0, 0);
-- until the refresh, the views read that rollup plus the orders since 20:12
SELECT (SELECT count(*) FROM (SELECT * FROM order_mgmt.sales_daily EXCEPT ALL
                              SELECT * FROM before_refresh) d) AS sales_new_rows,
       (SELECT count(*) FROM (SELECT * FROM before_refresh EXCEPT ALL
                              SELECT * FROM order_mgmt.sales_daily) d) AS sales_lost_rows;
SELECT order_mgmt.refresh_reports() >= :'horizon'::timestamptz AS refreshed;
SELECT b.bucket_start, b.currency, b.orders_created, b.orders_cancelled, b.gross_amount,
       b.cancelled_amount
FROM order_mgmt.sales_buckets b WHERE b.bucket_start < '2020-03-02' ORDER BY 1, 2;
SELECT (SELECT count(*) FROM (SELECT * FROM order_mgmt.sales_daily EXCEPT ALL
                              SELECT * FROM before_refresh) d) AS sales_new_rows,
       (SELECT count(*) FROM (SELECT * FROM before_refresh EXCEPT ALL
                              SELECT * FROM order_mgmt.sales_daily) d) AS sales_lost_rows;
RESET TimeZone;

------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------
-- the horizon logic needs a fresh snapshot per statement
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT order_mgmt.refresh_reports();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- A pending prepared transaction may hold orders stamped long ago, and its
-- start is not known: the rollup waits for it, and the views stay exact.
-- (Start the rollup afresh, as after an upgrade, to see it wait.)
TRUNCATE order_mgmt.sales_buckets, order_mgmt.cancellation_buckets, order_mgmt.customer_history,
  order_mgmt.report_horizon;
BEGIN;
SET LOCAL order_mgmt.notifications = off;
SELECT order_mgmt.create_order(pg_temp.cmd(9, 5, 'GBP', '{{1,100}}')) IS NOT NULL AS created;
PREPARE TRANSACTION 'regress_om_reports';
SELECT order_mgmt.refresh_reports() AS waiting_horizon;
SELECT count(*) AS buckets FROM order_mgmt.sales_buckets;
COMMIT PREPARED 'regress_om_reports';
SELECT order_mgmt.refresh_reports() >= :'horizon'::timestamptz AS folded_again;
SELECT count(*) AS history_buckets FROM order_mgmt.sales_buckets WHERE bucket_start < '2021-01-01';
SELECT s.currency, s.orders_created FROM order_mgmt.sales_daily s
WHERE s.day = current_date AND s.currency = 'GBP';

-- role names must be given
SELECT order_mgmt.create_roles(NULL);
\echo :LAST_ERROR_SQLSTATE

\c :regress_db
DROP DATABASE regress_om_reports;
