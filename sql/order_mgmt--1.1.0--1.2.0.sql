/* order_mgmt--1.1.0--1.2.0.sql: maintenance that runs itself, and the views an operator watches */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION order_mgmt UPDATE TO '1.2.0'" to load this file. \quit

-- As in the base script, every name is schema-qualified and every operator
-- is written as OPERATOR(pg_catalog.x).

------------------------------------------------------------------------
-- order_mgmt.notifications: 1.1.0's "on" is now "in_process" and its
-- "background" is "worker" (the new default).  The old names still work;
-- settings stored with ALTER ROLE / ALTER DATABASE ... SET are renamed here
-- so that the catalogs show the names the documentation uses.  Values in
-- postgresql.conf cannot be rewritten from here; they keep working.
------------------------------------------------------------------------

DO $rename$
DECLARE
	s record;
BEGIN
	FOR s IN
		SELECT d.datname, r.rolname,
			   CASE pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 2))
				   WHEN 'on' THEN 'in_process' ELSE 'worker' END AS value
		  FROM pg_catalog.pg_db_role_setting st
		  CROSS JOIN LATERAL pg_catalog.unnest(st.setconfig) AS c (setting)
		  LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) st.setdatabase
		  LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) st.setrole
		 WHERE pg_catalog.split_part(c.setting, '=', 1) OPERATOR(pg_catalog.=) 'order_mgmt.notifications'
		   AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 2))
			   OPERATOR(pg_catalog.=) ANY (ARRAY['on', 'background']::pg_catalog.text[])
		   AND (st.setdatabase OPERATOR(pg_catalog.=) 0::pg_catalog.oid OR d.datname IS NOT NULL)
		   AND (st.setrole OPERATOR(pg_catalog.=) 0::pg_catalog.oid OR r.rolname IS NOT NULL)
	LOOP
		IF s.rolname IS NULL THEN
			EXECUTE pg_catalog.format('ALTER DATABASE %I SET order_mgmt.notifications = %L',
									  s.datname, s.value);
		ELSIF s.datname IS NULL THEN
			EXECUTE pg_catalog.format('ALTER ROLE %I SET order_mgmt.notifications = %L',
									  s.rolname, s.value);
		ELSE
			EXECUTE pg_catalog.format('ALTER ROLE %I IN DATABASE %I SET order_mgmt.notifications = %L',
									  s.rolname, s.datname, s.value);
		END IF;
	END LOOP;
END
$rename$;

------------------------------------------------------------------------
-- Maintenance runs: refresh_reports() and purge_events() record each run
------------------------------------------------------------------------

-- One row per task, written by the maintenance worker (shared_preload_libraries)
-- after each run: a successful run in the task's own transaction, a failed
-- one in a transaction of its own.  Not dumped: it describes this server.
CREATE TABLE @extschema@.maintenance_runs (
	task					text NOT NULL,
	runs					bigint NOT NULL,
	failures				bigint NOT NULL,
	consecutive_failures	integer NOT NULL,
	last_started_at			timestamptz NOT NULL,
	last_finished_at		timestamptz NOT NULL,
	last_status				text NOT NULL,
	last_rows				bigint,
	last_success_at			timestamptz,
	last_error				text,
	last_error_at			timestamptz,
	CONSTRAINT maintenance_runs_pkey PRIMARY KEY (task),
	CONSTRAINT maintenance_runs_task_check
		CHECK (task OPERATOR(pg_catalog.=) ANY (ARRAY['refresh_reports', 'purge_events']::pg_catalog.text[])),
	CONSTRAINT maintenance_runs_status_check
		CHECK (last_status OPERATOR(pg_catalog.=) ANY (ARRAY['succeeded', 'failed']::pg_catalog.text[]))
);

COMMENT ON TABLE @extschema@.maintenance_runs IS
	'The last runs of refresh_reports() and purge_events() by the maintenance worker';

-- The notification queue of the current database, as one row; NULLs where
-- no notify worker serves it (the library is not preloaded, or no slot).
CREATE FUNCTION @extschema@.notification_queue(
	OUT worker_pid integer, OUT capacity integer, OUT depth bigint,
	OUT sent bigint, OUT overflows bigint, OUT prepared integer)
RETURNS record
AS 'MODULE_PATHNAME', 'order_mgmt_notification_queue'
LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION @extschema@.notification_queue() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.notification_queue() IS
	'The notification queue of the current database: its worker, depth, notifications sent and overflows';

------------------------------------------------------------------------
-- Watching it: the stats views
------------------------------------------------------------------------

-- What an operator or a dashboard (postgres_exporter with
-- docs/monitoring/postgres_exporter.yml) reads.  Each view is cheap enough to
-- read every 15 seconds on a store of millions of orders; the views run with
-- their owner's rights, so a reader needs SELECT on them and nothing on the
-- tables.  They are granted to the predefined role pg_monitor only (below).
-- Ages are in seconds (double precision), measured from now().

-- Orders per status, exact and cheap: the report rollup holds how many orders
-- were created, completed and cancelled before its horizon, and what happened
-- since is read through the BRIN index on created_at and the partial indexes
-- on completed_at and cancelled_at, as sales_daily does.  Every order is
-- created once and leaves CREATED at most once, for COMPLETED or CANCELLED.
-- The horizon is taken once per count, as a scalar subquery: a BRIN scan
-- rechecks its condition on every row of the ranges it reads, and calling
-- reports_closed_until() there costs microseconds a row.  The sum over the
-- rollup grows with its buckets (a quarter hour and currency each), not with
-- the orders.  Without refresh_reports() the horizon is -infinity and this
-- reads the whole table.
CREATE VIEW @extschema@.stats_orders AS
SELECT s.status,
	   CASE WHEN s.n OPERATOR(pg_catalog.=) 1
			THEN t.created OPERATOR(pg_catalog.-) t.completed OPERATOR(pg_catalog.-) t.cancelled
			WHEN s.n OPERATOR(pg_catalog.=) 2 THEN t.completed
			ELSE t.cancelled END AS orders
  FROM (VALUES (1, CAST('CREATED' AS pg_catalog.text)), (2, 'COMPLETED'), (3, 'CANCELLED')) AS s (n, status)
 CROSS JOIN
	   (SELECT COALESCE(CAST(pg_catalog.sum(b.orders_created) AS bigint), 0) OPERATOR(pg_catalog.+)
				   (SELECT pg_catalog.count(*) FROM @extschema@.orders o
					 WHERE o.created_at OPERATOR(pg_catalog.>=)
						   (SELECT @extschema@.reports_closed_until())) AS created,
			   COALESCE(CAST(pg_catalog.sum(b.orders_completed) AS bigint), 0) OPERATOR(pg_catalog.+)
				   (SELECT pg_catalog.count(*) FROM @extschema@.orders o
					 WHERE o.completed_at OPERATOR(pg_catalog.>=)
						   (SELECT @extschema@.reports_closed_until())) AS completed,
			   COALESCE(CAST(pg_catalog.sum(b.orders_cancelled) AS bigint), 0) OPERATOR(pg_catalog.+)
				   (SELECT pg_catalog.count(*) FROM @extschema@.orders o
					 WHERE o.cancelled_at OPERATOR(pg_catalog.>=)
						   (SELECT @extschema@.reports_closed_until())) AS cancelled
		  FROM @extschema@.sales_buckets b
		 OFFSET 0) t
 ORDER BY s.n;

COMMENT ON VIEW @extschema@.stats_orders IS
	'Orders per status (CREATED, COMPLETED, CANCELLED), exact; from the report rollup plus the orders since its horizon';

-- Where the report rollup ends and how old that is.  Before the first
-- refresh_reports() the horizon is -infinity and its age infinite.
CREATE VIEW @extschema@.stats_reports AS
SELECT h.closed_until,
	   (SELECT pg_catalog.max(r.refreshed_at) FROM @extschema@.report_horizon r) AS refreshed_at,
	   GREATEST(CAST(0 AS double precision),
				pg_catalog.date_part('epoch', pg_catalog.now())
				OPERATOR(pg_catalog.-) pg_catalog.date_part('epoch', h.closed_until)) AS horizon_age_seconds
  FROM (SELECT @extschema@.reports_closed_until() AS closed_until) h;

COMMENT ON VIEW @extschema@.stats_reports IS
	'Where the report rollup ends (reports_closed_until()), when it was last refreshed, and the horizon''s age in seconds';

-- The outbox: its size, the range of positions it holds and its oldest
-- event.  events is an exact count (an index-only scan of the outbox: a
-- reader that selects only other columns does not pay for it).  unsequenced
-- counts the committed events the polling consumers' feed has not numbered
-- yet (NULL when no consumer is registered: then nothing numbers them); it
-- reads the outbox from the feed's low position on, which a polled feed
-- keeps close to the end.  (Both bounds of that range are scalar subqueries:
-- the planner then expects a narrow range and probes the feed's index per
-- event rather than reading the whole feed.)
CREATE VIEW @extschema@.stats_outbox AS
SELECT (SELECT pg_catalog.count(*) FROM @extschema@.outbox o) AS events,
	   pg_catalog.pg_total_relation_size(CAST('@extschema@.outbox' AS pg_catalog.regclass)) AS bytes,
	   f.position AS first_position,
	   (SELECT pg_catalog.max(o.position) FROM @extschema@.outbox o) AS last_position,
	   (SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END
		  FROM @extschema@.outbox_position_seq s) AS positions_drawn,
	   f.occurred_at AS oldest_occurred_at,
	   COALESCE(GREATEST(CAST(0 AS double precision),
						 pg_catalog.date_part('epoch', pg_catalog.now())
						 OPERATOR(pg_catalog.-) pg_catalog.date_part('epoch', f.occurred_at)),
				0) AS oldest_age_seconds,
	   CASE WHEN EXISTS (SELECT FROM @extschema@.consumers c) THEN
			(SELECT pg_catalog.count(*)
			   FROM @extschema@.outbox o
			  WHERE o.position OPERATOR(pg_catalog.>) (SELECT st.low_position FROM @extschema@.feed_state st)
				AND o.position OPERATOR(pg_catalog.<=) (SELECT pg_catalog.max(l.position) FROM @extschema@.outbox l)
				AND NOT EXISTS (SELECT FROM @extschema@.event_feed e
								 WHERE e.position OPERATOR(pg_catalog.=) o.position))
	   END AS unsequenced
  FROM (SELECT 1) AS one
  LEFT JOIN (SELECT o.position, o.occurred_at FROM @extschema@.outbox o
			  ORDER BY o.position LIMIT 1) f ON true;

COMMENT ON VIEW @extschema@.stats_outbox IS
	'The outbox: events held, bytes on disk, positions, the oldest event and its age, events not yet numbered for the polling consumers';

-- Per polling consumer: how far behind the feed it is.  events_behind is
-- exact: the numbered events after its acknowledged seq (retention keeps
-- them all) plus the committed events not numbered yet, which every
-- consumer will be handed.  seconds_behind is the age of the older of its
-- next event in feed order and the oldest event not numbered yet; 0 when
-- it has acknowledged everything.  Both read as many feed rows as the
-- consumer is behind.
CREATE VIEW @extschema@.stats_consumers AS
SELECT c.name AS consumer, c.acked_seq,
	   GREATEST(c.acked_seq, n.newest_seq) AS newest_seq,
	   (SELECT pg_catalog.count(*) FROM @extschema@.event_feed f
		 WHERE f.seq OPERATOR(pg_catalog.>) c.acked_seq) OPERATOR(pg_catalog.+) u.events AS events_behind,
	   COALESCE(GREATEST(CAST(0 AS double precision),
						 pg_catalog.date_part('epoch', pg_catalog.now())
						 OPERATOR(pg_catalog.-) pg_catalog.date_part('epoch',
							LEAST((SELECT o.occurred_at
									 FROM @extschema@.event_feed f
									 JOIN @extschema@.outbox o ON o.position OPERATOR(pg_catalog.=) f.position
									WHERE f.seq OPERATOR(pg_catalog.>) c.acked_seq
									ORDER BY f.seq LIMIT 1),
								  u.oldest))),
			 0) AS seconds_behind,
	   c.acked_at, c.registered_at
  FROM @extschema@.consumers c
 CROSS JOIN (SELECT pg_catalog.max(f.seq) AS newest_seq FROM @extschema@.event_feed f) n
 CROSS JOIN (SELECT pg_catalog.count(*) AS events, pg_catalog.min(o.occurred_at) AS oldest
			   FROM @extschema@.outbox o
			  WHERE o.position OPERATOR(pg_catalog.>) (SELECT st.low_position FROM @extschema@.feed_state st)
				AND o.position OPERATOR(pg_catalog.<=) (SELECT pg_catalog.max(l.position) FROM @extschema@.outbox l)
				AND NOT EXISTS (SELECT FROM @extschema@.event_feed e
								 WHERE e.position OPERATOR(pg_catalog.=) o.position)) u;

COMMENT ON VIEW @extschema@.stats_consumers IS
	'Per polling consumer: acknowledged and newest seq, events and seconds behind, last acknowledgement';

-- The logical replication slots of this database (CDC readers): whether a
-- reader is attached, how much WAL it has not confirmed (lag_bytes) and how
-- much the slot holds on disk (retained_bytes), against the current WAL
-- position (the replayed one on a standby, where no new WAL is written).
CREATE VIEW @extschema@.stats_slots AS
SELECT s.slot_name, s.plugin, s.active, s.active_pid, s.wal_status,
	   CAST(pg_catalog.pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn) AS bigint) AS lag_bytes,
	   CAST(pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn) AS bigint) AS retained_bytes,
	   s.safe_wal_size
  FROM pg_catalog.pg_replication_slots s
 CROSS JOIN (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
					ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) w
 WHERE s.database OPERATOR(pg_catalog.=) pg_catalog.current_database();

COMMENT ON VIEW @extschema@.stats_slots IS
	'The logical replication slots of this database: plugin, reader attached, WAL status, bytes not confirmed and bytes retained';

-- The notification queue of this database and who sends its notifications.
CREATE VIEW @extschema@.stats_notifications AS
SELECT pg_catalog.current_setting('order_mgmt.notifications', true) AS mode,
	   q.worker_pid IS NOT NULL AS worker_running,
	   q.worker_pid,
	   q.capacity AS queue_capacity,
	   q.depth AS queue_depth,
	   q.sent,
	   q.overflows,
	   q.prepared AS prepared_notifications
  FROM @extschema@.notification_queue() q;

COMMENT ON VIEW @extschema@.stats_notifications IS
	'The notification queue of this database: depth, notifications sent by the worker, overflows sent in-process';

-- The last run of each maintenance task, and whether it is scheduled here.
CREATE VIEW @extschema@.stats_maintenance AS
SELECT t.task,
	   pg_catalog.current_setting(t.setting, true) AS run_every,
	   r.runs, r.failures, r.consecutive_failures,
	   r.last_status, r.last_started_at, r.last_finished_at,
	   pg_catalog.date_part('epoch', r.last_finished_at OPERATOR(pg_catalog.-) r.last_started_at)
		   AS last_duration_seconds,
	   r.last_rows, r.last_success_at, r.last_error, r.last_error_at
  FROM (VALUES ('refresh_reports'::pg_catalog.text, 'order_mgmt.refresh_interval'::pg_catalog.text),
			   ('purge_events', 'order_mgmt.purge_interval')) AS t (task, setting)
  LEFT JOIN @extschema@.maintenance_runs r ON r.task OPERATOR(pg_catalog.=) t.task;

COMMENT ON VIEW @extschema@.stats_maintenance IS
	'The last runs of refresh_reports() and purge_events() by the maintenance worker';

GRANT EXECUTE ON FUNCTION @extschema@.notification_queue() TO pg_monitor;
GRANT SELECT ON @extschema@.stats_notifications, @extschema@.stats_maintenance TO pg_monitor;

-- pg_monitor, and nobody else, reads them: a monitoring login (the
-- exporter's) is made a member of pg_monitor.  The views call
-- reports_closed_until() with the reader's privileges.
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.reports_closed_until() TO pg_monitor;
GRANT SELECT ON @extschema@.stats_orders, @extschema@.stats_reports, @extschema@.stats_outbox,
	@extschema@.stats_consumers, @extschema@.stats_slots TO pg_monitor;
