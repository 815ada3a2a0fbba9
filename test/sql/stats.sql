-- The stats views an operator or postgres_exporter reads: orders per status
-- (exact before and after refresh_reports(), across its horizon), the report
-- horizon, the outbox, polling consumers behind and caught up, logical slots
-- of this database; read by pg_monitor members and nobody else.
--
-- Runs in a database of its own so the figures are exactly this file's.
-- Carts of this file are 94000000-..., customers c9400000-..., products a9400000-...

SELECT current_database() AS regress_db \gset
-- a slot of another database, which stats_slots must not list
SELECT 'init' FROM pg_create_logical_replication_slot('regress_om_stats_other', 'test_decoding');
CREATE DATABASE regress_om_stats;
\c regress_om_stats
CREATE EXTENSION order_mgmt;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('94000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', 'c9400000-0000-4000-8000-000000000001',
    'items', jsonb_build_array(jsonb_build_object(
        'productId', 'a9400000-0000-4000-8000-000000000001', 'quantity', 1, 'unitPrice', 300)),
    'total', 300, 'currency', 'EUR')
$$;
-- the truth, counted from the table, beside what the view says
CREATE FUNCTION pg_temp.orders_check() RETURNS TABLE (status text, orders bigint, counted bigint)
LANGUAGE sql AS $$
  SELECT s.status, s.orders,
         (SELECT count(*) FROM order_mgmt.orders o WHERE o.status = s.status)
  FROM order_mgmt.stats_orders s
$$;

------------------------------------------------------------------------
-- Nothing yet: every status, 0; no horizon; an empty outbox
------------------------------------------------------------------------
SELECT * FROM order_mgmt.stats_orders;
SELECT closed_until, refreshed_at, horizon_age_seconds FROM order_mgmt.stats_reports;
SELECT events, bytes = pg_total_relation_size('order_mgmt.outbox') AS bytes_ok, first_position,
       last_position, positions_drawn, oldest_occurred_at, oldest_age_seconds, unsequenced
FROM order_mgmt.stats_outbox;
SELECT count(*) AS consumers FROM order_mgmt.stats_consumers;
SELECT count(*) AS slots FROM order_mgmt.stats_slots;

------------------------------------------------------------------------
-- Orders through the API: 3 CREATED, 2 COMPLETED, 1 CANCELLED; and a
-- history restored as a dump would be (COPY by the owner, times known):
-- one order in each status, from 2020
------------------------------------------------------------------------
SELECT order_mgmt.create_order(pg_temp.cmd(1)) AS o1, order_mgmt.create_order(pg_temp.cmd(2)) AS o2,
       order_mgmt.create_order(pg_temp.cmd(3)) AS o3, order_mgmt.create_order(pg_temp.cmd(4)) AS o4,
       order_mgmt.create_order(pg_temp.cmd(5)) AS o5, order_mgmt.create_order(pg_temp.cmd(6)) AS o6 \gset
SELECT order_mgmt.complete_order(:'o1'), order_mgmt.complete_order(:'o2'),
       order_mgmt.cancel_order(:'o3', 'OUT_OF_STOCK');
COPY order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, version,
                        created_at, completed_at, cancelled_at, cancellation_reason, command_digest) FROM stdin;
01890000-0000-7000-8000-000000000001	94100000-0000-4000-8000-000000000001	c9400000-0000-4000-8000-000000000002	COMPLETED	1000	GBP	2	2020-03-01 09:00:00+00	2020-03-02 10:00:00+00	\N	\N	\\x00
01890000-0000-7000-8000-000000000002	94100000-0000-4000-8000-000000000002	c9400000-0000-4000-8000-000000000002	CANCELLED	2500	GBP	2	2020-03-01 20:10:00+00	\N	2020-03-01 23:50:00+00	FRAUD	\\x00
01890000-0000-7000-8000-000000000003	94100000-0000-4000-8000-000000000003	c9400000-0000-4000-8000-000000000002	CREATED	400	GBP	1	2020-03-01 23:59:59+00	\N	\N	\N	\\x00
\.

-- before any refresh: everything is read from orders
SELECT * FROM pg_temp.orders_check();
CREATE TEMP TABLE before_refresh AS SELECT * FROM order_mgmt.stats_orders;

-- the rollup folds the history; the counts do not change
SELECT order_mgmt.refresh_reports() > '2020-03-04' AS folded_history;
SELECT sum(orders_created) AS folded_created, sum(orders_completed) AS folded_completed,
       sum(orders_cancelled) AS folded_cancelled
FROM order_mgmt.sales_buckets WHERE bucket_start < '2021-01-01';
SELECT * FROM pg_temp.orders_check();
SELECT (SELECT count(*) FROM (SELECT * FROM order_mgmt.stats_orders EXCEPT ALL
                              SELECT * FROM before_refresh) d) AS new_rows,
       (SELECT count(*) FROM (SELECT * FROM before_refresh EXCEPT ALL
                              SELECT * FROM order_mgmt.stats_orders) d) AS lost_rows;

-- the historical CREATED order is completed now: its creation is in the
-- rollup, its completion after the horizon; CREATED 3, COMPLETED 4
SELECT order_mgmt.complete_order('01890000-0000-7000-8000-000000000003');
SELECT * FROM pg_temp.orders_check();
-- and a new order, also after the horizon
SELECT order_mgmt.create_order(pg_temp.cmd(7)) AS o7 \gset
SELECT * FROM pg_temp.orders_check();

-- the horizon: a closed minute, at least a minute old; refreshed just now
SELECT r.closed_until = order_mgmt.reports_closed_until() AS is_reports_closed_until,
       r.horizon_age_seconds >= 60 AS at_least_a_minute,
       r.horizon_age_seconds < 600 AS recent,
       abs(r.horizon_age_seconds - extract(epoch FROM now() - r.closed_until)::float8) < 0.001 AS age_exact,
       r.refreshed_at > now() - interval '10 minutes' AS refreshed_recently
FROM order_mgmt.stats_reports r;

------------------------------------------------------------------------
-- The outbox: the API's 11 events (7 created, 4 transitions); COPY writes
-- none
------------------------------------------------------------------------
SELECT o.events, o.events = (SELECT count(*) FROM order_mgmt.outbox) AS events_exact,
       o.bytes = pg_total_relation_size('order_mgmt.outbox') AS bytes_exact,
       o.first_position = (SELECT min(position) FROM order_mgmt.outbox) AS first_exact,
       o.last_position = (SELECT max(position) FROM order_mgmt.outbox) AS last_exact,
       o.positions_drawn >= o.last_position AS drawn_covers_last,
       o.oldest_occurred_at = (SELECT min(occurred_at) FROM order_mgmt.outbox) AS oldest_exact,
       o.oldest_age_seconds >= 0 AND o.oldest_age_seconds < 600 AS age_plausible,
       o.unsequenced IS NULL AS no_consumer_no_count
FROM order_mgmt.stats_outbox o;
-- the age grows as time passes
SELECT oldest_age_seconds AS age1 FROM order_mgmt.stats_outbox \gset
SELECT pg_sleep(0.1);
SELECT oldest_age_seconds > :age1 AS age_grows FROM order_mgmt.stats_outbox;

------------------------------------------------------------------------
-- Polling consumers
------------------------------------------------------------------------
-- registered now: it starts after the events written so far, caught up
SELECT order_mgmt.register_consumer('regress_stats') AS start_seq \gset
SELECT consumer, acked_seq = :start_seq AS at_start, newest_seq = :start_seq AS newest_is_start,
       events_behind, seconds_behind, acked_at, registered_at > now() - interval '10 minutes' AS registered
FROM order_mgmt.stats_consumers;
SELECT unsequenced FROM order_mgmt.stats_outbox;

-- three events committed and not numbered yet: behind by 3, the oldest of
-- them aging
SELECT order_mgmt.create_order(pg_temp.cmd(8)) AS o8 \gset
SELECT order_mgmt.complete_order(:'o8'), order_mgmt.cancel_order(:'o7', 'CUSTOMER_REQUESTED');
SELECT pg_sleep(0.1);
SELECT unsequenced FROM order_mgmt.stats_outbox;
SELECT consumer, newest_seq = :start_seq AS nothing_numbered_yet, events_behind,
       seconds_behind > 0 AS aging,
       abs(seconds_behind - extract(epoch FROM now() - (SELECT min(occurred_at)
         FROM order_mgmt.outbox WHERE position > (SELECT max(position) FROM order_mgmt.event_feed)))::float8)
         < 0.001 AS age_of_oldest
FROM order_mgmt.stats_consumers;

-- fetching numbers them (still behind by 3); acknowledging 2 leaves 1
SELECT count(*) AS fetched FROM order_mgmt.fetch_events('regress_stats');
SELECT unsequenced FROM order_mgmt.stats_outbox;
SELECT newest_seq - acked_seq AS seq_span, events_behind FROM order_mgmt.stats_consumers;
SELECT order_mgmt.ack_events('regress_stats', :start_seq + 2) AS acked \gset
SELECT acked_seq = :acked AS acked_kept, events_behind, seconds_behind > 0 AS still_behind,
       abs(seconds_behind - extract(epoch FROM now() - (SELECT o.occurred_at
         FROM order_mgmt.event_feed f JOIN order_mgmt.outbox o USING (position)
         WHERE f.seq > :acked ORDER BY f.seq LIMIT 1))::float8) < 0.001 AS age_of_next,
       acked_at IS NOT NULL AS ack_time_kept
FROM order_mgmt.stats_consumers;
-- caught up: 0 and 0
SELECT order_mgmt.ack_events('regress_stats', (SELECT max(seq) FROM order_mgmt.event_feed)) AS acked \gset
SELECT acked_seq = newest_seq AS at_newest, events_behind, seconds_behind
FROM order_mgmt.stats_consumers;

-- a second consumer from the beginning is behind by every event kept, as
-- old as the first
SELECT order_mgmt.register_consumer('regress_stats_all', from_beginning => true);
SELECT consumer, acked_seq, events_behind, events_behind = (SELECT count(*) FROM order_mgmt.outbox) AS all_events,
       abs(seconds_behind - extract(epoch FROM now() - (SELECT min(occurred_at) FROM order_mgmt.outbox))::float8)
         < 0.001 AS age_of_first
FROM order_mgmt.stats_consumers WHERE consumer = 'regress_stats_all';

------------------------------------------------------------------------
-- Logical slots of this database
------------------------------------------------------------------------
SELECT 'init' FROM pg_create_logical_replication_slot('regress_om_stats', 'test_decoding');
SELECT slot_name, plugin, active, active_pid, wal_status, lag_bytes >= 0 AS lag_known,
       retained_bytes >= lag_bytes AS retains_lag, safe_wal_size
FROM order_mgmt.stats_slots;
SELECT lag_bytes AS lag1 FROM order_mgmt.stats_slots \gset
-- orders written and nobody reading: the lag grows; it is the WAL from the
-- slot's confirmed position to the current one, read between two positions
-- taken before and after
SELECT order_mgmt.create_order(pg_temp.cmd(9)) IS NOT NULL AS created,
       order_mgmt.create_order(pg_temp.cmd(10)) IS NOT NULL AS created_too;
SELECT pg_current_wal_lsn() AS lsn_before \gset
SELECT lag_bytes AS lag2 FROM order_mgmt.stats_slots \gset
SELECT pg_current_wal_lsn() AS lsn_after \gset
SELECT :lag2 > :lag1 AS lag_grew,
       :lag2 >= pg_wal_lsn_diff(:'lsn_before', confirmed_flush_lsn) AS from_confirmed,
       :lag2 <= pg_wal_lsn_diff(:'lsn_after', confirmed_flush_lsn) AS to_current,
       active
FROM pg_replication_slots WHERE slot_name = 'regress_om_stats';
-- read the slot up to now: the lag falls back
SELECT count(*) > 0 AS decoded FROM pg_logical_slot_get_changes('regress_om_stats', NULL, NULL);
SELECT lag_bytes < :lag2 AS lag_fell FROM order_mgmt.stats_slots;

------------------------------------------------------------------------
-- Privileges: pg_monitor, and nobody else
------------------------------------------------------------------------
SELECT v AS view,
       has_table_privilege('pg_monitor', v, 'SELECT') AS pg_monitor,
       has_table_privilege('public', v, 'SELECT') AS public,
       (SELECT array_agg(DISTINCT a.grantee::regrole::text ORDER BY a.grantee::regrole::text)
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.oid = v::regclass AND a.grantee <> c.relowner) AS granted_to
FROM unnest(ARRAY['order_mgmt.stats_orders', 'order_mgmt.stats_reports', 'order_mgmt.stats_outbox',
                  'order_mgmt.stats_consumers', 'order_mgmt.stats_slots']) AS v;

CREATE ROLE regress_om_plain NOLOGIN;
CREATE ROLE regress_om_monitor NOLOGIN IN ROLE pg_monitor;
-- what the owner sees, to compare with what the monitor sees
SELECT md5(string_agg(s::text, ',' ORDER BY s.status)) AS orders_owner FROM order_mgmt.stats_orders s \gset
SELECT md5(string_agg(s.consumer || s.events_behind || s.acked_seq, ',' ORDER BY s.consumer)) AS consumers_owner
FROM order_mgmt.stats_consumers s \gset
\set VERBOSITY sqlstate
SET ROLE regress_om_plain;
SELECT * FROM order_mgmt.stats_orders;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- even with USAGE on the schema, each view is refused
GRANT USAGE ON SCHEMA order_mgmt TO regress_om_plain;
SET ROLE regress_om_plain;
SELECT * FROM order_mgmt.stats_orders;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.stats_reports;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.stats_outbox;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.stats_consumers;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.stats_slots;
\echo :LAST_ERROR_SQLSTATE
-- and the tables behind them too
SELECT count(*) FROM order_mgmt.orders;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA order_mgmt FROM regress_om_plain;
\set VERBOSITY default

-- a pg_monitor member reads every view, the same figures as the owner,
-- and still no table
SET ROLE regress_om_monitor;
SELECT md5(string_agg(s::text, ',' ORDER BY s.status)) = :'orders_owner' AS orders_same FROM order_mgmt.stats_orders s;
SELECT md5(string_agg(s.consumer || s.events_behind || s.acked_seq, ',' ORDER BY s.consumer))
       = :'consumers_owner' AS consumers_same
FROM order_mgmt.stats_consumers s;
SELECT horizon_age_seconds >= 60 AS horizon_readable FROM order_mgmt.stats_reports;
SELECT events > 0 AS outbox_readable FROM order_mgmt.stats_outbox;
SELECT slot_name, plugin, lag_bytes >= 0 AS lag_known FROM order_mgmt.stats_slots;
\set VERBOSITY sqlstate
SELECT count(*) FROM order_mgmt.orders;
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.get_order(:'o1');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;

DROP ROLE regress_om_plain, regress_om_monitor;
SELECT pg_drop_replication_slot('regress_om_stats');
SELECT count(*) AS slots FROM order_mgmt.stats_slots;
\c :regress_db
DROP DATABASE regress_om_stats;
SELECT pg_drop_replication_slot('regress_om_stats_other');
