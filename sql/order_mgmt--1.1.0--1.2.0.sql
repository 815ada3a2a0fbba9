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
	renamed integer := 0;
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
		renamed := renamed OPERATOR(pg_catalog.+) 1;
	END LOOP;
	IF renamed OPERATOR(pg_catalog.>) 0 THEN
		RAISE NOTICE 'renamed % stored order_mgmt.notifications settings to in_process or worker', renamed;
	END IF;
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

GRANT SELECT ON @extschema@.stats_notifications, @extschema@.stats_maintenance TO pg_monitor;
