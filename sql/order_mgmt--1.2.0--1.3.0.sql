/* order_mgmt--1.2.0--1.3.0.sql: partitions, so that a database can be one shard of a cluster */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION order_mgmt UPDATE TO '1.3.0'" to load this file. \quit

-- As in the base script, every name is schema-qualified and every operator
-- is written as OPERATOR(pg_catalog.x).

------------------------------------------------------------------------
-- Partitions: the partition key of carts and order ids, and which
-- partitions this database holds (docs/sharding.md)
------------------------------------------------------------------------

-- A cluster has a power of two of partitions (at most 1024).  A cart's
-- partition key is a hash of its uuid's bytes; the id of every order made
-- from 1.3.0 on carries its cart's key, so a router finds an order's
-- partition from its id alone.  The partition is key & (count - 1).

CREATE FUNCTION @extschema@.cart_partition_key(cart_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_cart_partition_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cart_partition_key(uuid) IS
	'The partition key of a cart (0 to 1023): FNV-1a of the uuid''s 16 bytes; its partition is key & (partition count - 1)';

CREATE FUNCTION @extschema@.order_partition_key(order_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_order_partition_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.order_partition_key(uuid) IS
	'The partition key an order id carries (its cart''s key, for orders made by 1.3.0 or later)';

CREATE FUNCTION @extschema@.command_partition_key(command jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_command_partition_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.command_partition_key(jsonb) IS
	'The partition key of a CreateOrder command''s cart, with create_order''s errors for a bad command or cartId';

-- Which partitions this database holds: no row, every partition (a
-- database that is not a shard).  Written only by assign_partitions(), which
-- tells every backend; read by the owner, and by pg_monitor through
-- stats_partitions.
CREATE TABLE @extschema@.partition_assignment (
	partition_count integer NOT NULL,
	partitions	integer[] NOT NULL,
	assigned_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	assigned_by	name NOT NULL DEFAULT CURRENT_USER,
	singleton	boolean NOT NULL DEFAULT true,
	CONSTRAINT partition_assignment_pkey PRIMARY KEY (singleton),
	CONSTRAINT partition_assignment_singleton_check CHECK (singleton),
	CONSTRAINT partition_assignment_count_check CHECK (
		partition_count OPERATOR(pg_catalog.>=) 1
		AND partition_count OPERATOR(pg_catalog.<=) 1024
		AND (partition_count OPERATOR(pg_catalog.&) (partition_count OPERATOR(pg_catalog.-) 1))
			OPERATOR(pg_catalog.=) 0)
);

COMMENT ON TABLE @extschema@.partition_assignment IS
	'The cluster''s partition count and the partitions this database holds (assign_partitions); no row: all of them';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.partition_assignment', '');

CREATE FUNCTION @extschema@.partition_assignment_guard() RETURNS trigger
AS 'MODULE_PATHNAME', 'order_mgmt_partition_assignment_guard' LANGUAGE C;

CREATE TRIGGER partition_assignment_guard
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.partition_assignment
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.partition_assignment_guard();

REVOKE ALL ON FUNCTION @extschema@.partition_assignment_guard() FROM PUBLIC;

CREATE FUNCTION @extschema@.assign_partitions(partition_count integer, partitions integer[])
RETURNS void
AS 'MODULE_PATHNAME', 'order_mgmt_assign_partitions'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.assign_partitions(integer, integer[]) IS
	'Records the cluster''s partition count and the partitions this database holds; the order functions refuse the others (OM002)';

REVOKE ALL ON FUNCTION @extschema@.assign_partitions(integer, integer[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.partition_held(order_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'order_mgmt_partition_held'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.partition_held(uuid) IS
	'Whether this database holds the partition of an order id (true when no partitions are assigned)';

-- The assignment, for an operator (pg_monitor): no row when the database is
-- not a shard.
CREATE VIEW @extschema@.stats_partitions AS
SELECT a.partition_count, a.partitions,
	   pg_catalog.cardinality(a.partitions) AS partitions_held,
	   a.assigned_at, a.assigned_by
  FROM @extschema@.partition_assignment a;

COMMENT ON VIEW @extschema@.stats_partitions IS
	'The cluster''s partition count and the partitions this database holds, when it is a shard';

GRANT SELECT ON @extschema@.stats_partitions TO pg_monitor;

-- The reports of a shard count the orders of the partitions it holds, and
-- only those: while a partition moves, its orders are stored on two shards
-- but held by one, and a router that adds up the shards' reports counts
-- each order once.  Without an assignment every order is held, and the
-- reports are what they were.

CREATE OR REPLACE FUNCTION @extschema@.refresh_reports()
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	closed timestamptz;
	oldest_running timestamptz;
	target timestamptz;
	minute_width CONSTANT interval := '1 minute';
	quarter_width CONSTANT interval := '15 minutes';
	origin CONSTANT timestamptz := '2000-01-01 00:00:00+00';
	whole_quarters timestamptz;
	reopened timestamptz;
BEGIN
	-- each statement below must see what committed before it started
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
		RAISE EXCEPTION 'refresh_reports() must run at the READ COMMITTED isolation level'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = pg_catalog.format('The transaction runs at %s.',
											 pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
				  HINT = 'Call it in a transaction of its own.';
	END IF;

	-- one refresh at a time: the next one waits and starts from our horizon
	LOCK TABLE @extschema@.report_horizon IN SHARE ROW EXCLUSIVE MODE;
	SELECT COALESCE(pg_catalog.max(h.closed_until), '-infinity') INTO closed
	  FROM @extschema@.report_horizon h;

	-- A transaction stamps its orders with its start time but they become
	-- visible only when it commits, so a minute is closed only when no
	-- transaction that started in it or before can still commit.  Every
	-- transaction that started before ours and has not ended is listed in
	-- pg_stat_activity (the minute of margin covers one that had not yet
	-- reported its start); one that ended is visible to the next statement.
	-- A prepared transaction's start is unknown: none may be pending.
	SELECT pg_catalog.min(a.xact_start) INTO oldest_running
	  FROM pg_catalog.pg_stat_activity a
	 WHERE a.xact_start IS NOT NULL
	   AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
	   AND (a.backend_type OPERATOR(pg_catalog.=) ANY
			(ARRAY['client backend', 'background worker']::pg_catalog.text[])
			OR a.backend_xid IS NOT NULL);
	IF EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts p
				WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()) THEN
		RETURN closed;
	END IF;
	target := pg_catalog.date_bin(minute_width,
								  LEAST(pg_catalog.now() OPERATOR(pg_catalog.-) minute_width, oldest_running),
								  origin);
	IF target OPERATOR(pg_catalog.<=) closed THEN
		RETURN closed;
	END IF;

	-- Buckets before the quarter hour the new horizon falls in are whole
	-- quarter hours; after it, minutes.  The minutes the last refresh left
	-- in its quarter hour are taken back and folded again with the new
	-- events, so a closed quarter hour ends as one row.
	whole_quarters := pg_catalog.date_bin(quarter_width, target, origin);
	reopened := CASE WHEN closed OPERATOR(pg_catalog.=) '-infinity' THEN closed
				ELSE pg_catalog.date_bin(quarter_width, closed, origin) END;

	-- the orders created in the range, read once: their creation goes into
	-- the sales buckets, and each into its customer's history
	WITH created AS MATERIALIZED (
		SELECT o.customer_id, o.order_id, o.created_at, o.currency, o.total
		  FROM @extschema@.orders o
		 WHERE o.created_at OPERATOR(pg_catalog.>=) closed
		   AND o.created_at OPERATOR(pg_catalog.<) target
		   AND @extschema@.partition_held(o.order_id)),
	history AS (
		INSERT INTO @extschema@.customer_history (customer_id, created_at, order_id)
		SELECT c.customer_id, c.created_at, c.order_id
		  FROM created c
		 ORDER BY 1, 2, 3
		ON CONFLICT DO NOTHING),
	taken AS (
		DELETE FROM @extschema@.sales_buckets b
		 WHERE b.bucket_start OPERATOR(pg_catalog.>=) reopened
		   AND b.bucket_start OPERATOR(pg_catalog.<) closed
		RETURNING b.*),
	events AS (
		SELECT c.created_at AS at, c.currency, 1 AS created, 0 AS completed, 0 AS cancelled,
			   c.total AS gross, 0 AS completed_amount, 0 AS cancelled_amount
		  FROM created c
		UNION ALL
		SELECT o.completed_at, o.currency, 0, 1, 0, 0, o.total, 0
		  FROM @extschema@.orders o
		 WHERE o.completed_at OPERATOR(pg_catalog.>=) closed
		   AND o.completed_at OPERATOR(pg_catalog.<) target
		   AND @extschema@.partition_held(o.order_id)
		UNION ALL
		SELECT o.cancelled_at, o.currency, 0, 0, 1, 0, 0, o.total
		  FROM @extschema@.orders o
		 WHERE o.cancelled_at OPERATOR(pg_catalog.>=) closed
		   AND o.cancelled_at OPERATOR(pg_catalog.<) target
		   AND @extschema@.partition_held(o.order_id)
		UNION ALL
		SELECT t.bucket_start, t.currency, t.orders_created, t.orders_completed, t.orders_cancelled,
			   t.gross_amount, t.completed_amount, t.cancelled_amount
		  FROM taken t)
	INSERT INTO @extschema@.sales_buckets
		(bucket_start, currency, orders_created, orders_completed, orders_cancelled,
		 gross_amount, completed_amount, cancelled_amount)
	SELECT pg_catalog.date_bin(CASE WHEN e.at OPERATOR(pg_catalog.<) whole_quarters
								   THEN quarter_width ELSE minute_width END, e.at, origin),
		   e.currency, pg_catalog.sum(e.created), pg_catalog.sum(e.completed),
		   pg_catalog.sum(e.cancelled), pg_catalog.sum(e.gross),
		   pg_catalog.sum(e.completed_amount), pg_catalog.sum(e.cancelled_amount)
	  FROM events e
	 GROUP BY 1, 2;

	WITH taken AS (
		DELETE FROM @extschema@.cancellation_buckets b
		 WHERE b.bucket_start OPERATOR(pg_catalog.>=) reopened
		   AND b.bucket_start OPERATOR(pg_catalog.<) closed
		RETURNING b.*),
	events AS (
		SELECT o.cancelled_at AS at, o.cancellation_reason, o.currency, 1 AS cancelled,
			   o.total AS amount
		  FROM @extschema@.orders o
		 WHERE o.cancelled_at OPERATOR(pg_catalog.>=) closed
		   AND o.cancelled_at OPERATOR(pg_catalog.<) target
		   AND @extschema@.partition_held(o.order_id)
		UNION ALL
		SELECT t.bucket_start, t.cancellation_reason, t.currency, t.orders_cancelled,
			   t.cancelled_amount
		  FROM taken t)
	INSERT INTO @extschema@.cancellation_buckets
		(bucket_start, cancellation_reason, currency, orders_cancelled, cancelled_amount)
	SELECT pg_catalog.date_bin(CASE WHEN e.at OPERATOR(pg_catalog.<) whole_quarters
								   THEN quarter_width ELSE minute_width END, e.at, origin),
		   e.cancellation_reason, e.currency, pg_catalog.sum(e.cancelled), pg_catalog.sum(e.amount)
	  FROM events e
	 GROUP BY 1, 2, 3;

	DELETE FROM @extschema@.report_horizon;
	INSERT INTO @extschema@.report_horizon (closed_until, refreshed_at)
	VALUES (target, pg_catalog.clock_timestamp());
	RETURN target;
END
$$;


CREATE OR REPLACE VIEW @extschema@.customer_orders AS
SELECT h.customer_id, s.order_id, s.status, s.currency, s.minor_unit, s.total, s.total_amount,
	   s.line_count, s.created_at, s.completed_at, s.cancelled_at, s.cancellation_reason
  FROM (SELECT c.customer_id, c.order_id
		  FROM @extschema@.customer_history c
		 WHERE c.created_at OPERATOR(pg_catalog.<) @extschema@.reports_closed_until()
		   AND @extschema@.partition_held(c.order_id)
		UNION ALL
		SELECT o.customer_id, o.order_id
		  FROM @extschema@.orders o
		 WHERE o.created_at OPERATOR(pg_catalog.>=) @extschema@.reports_closed_until()
		   AND @extschema@.partition_held(o.order_id)) h
  JOIN @extschema@.order_summary s ON s.order_id OPERATOR(pg_catalog.=) h.order_id;


CREATE OR REPLACE VIEW @extschema@.sales_daily AS
SELECT CAST(e.at AS pg_catalog.date) AS day, e.currency, c.minor_unit,
	   CAST(pg_catalog.sum(e.orders_created) AS bigint) AS orders_created,
	   CAST(pg_catalog.sum(e.orders_completed) AS bigint) AS orders_completed,
	   CAST(pg_catalog.sum(e.orders_cancelled) AS bigint) AS orders_cancelled,
	   pg_catalog.sum(e.gross_amount) AS gross_amount,
	   pg_catalog.sum(e.completed_amount) AS completed_amount,
	   pg_catalog.sum(e.cancelled_amount) AS cancelled_amount,
	   pg_catalog.sum(e.gross_amount) OPERATOR(pg_catalog.-) pg_catalog.sum(e.cancelled_amount) AS net_amount
  FROM (SELECT b.bucket_start AS at, b.currency, b.orders_created, b.orders_completed,
			   b.orders_cancelled, b.gross_amount, b.completed_amount, b.cancelled_amount
		  FROM @extschema@.sales_buckets b
		UNION ALL
		SELECT o.created_at, o.currency, 1, 0, 0, o.total, 0, 0
		  FROM @extschema@.orders o
		 WHERE o.created_at OPERATOR(pg_catalog.>=)
			   @extschema@.reports_closed_until()
		   AND @extschema@.partition_held(o.order_id)
		UNION ALL
		SELECT o.completed_at, o.currency, 0, 1, 0, 0, o.total, 0
		  FROM @extschema@.orders o
		 WHERE o.completed_at OPERATOR(pg_catalog.>=)
			   @extschema@.reports_closed_until()
		   AND @extschema@.partition_held(o.order_id)
		UNION ALL
		SELECT o.cancelled_at, o.currency, 0, 0, 1, 0, 0, o.total
		  FROM @extschema@.orders o
		 WHERE o.cancelled_at OPERATOR(pg_catalog.>=)
			   @extschema@.reports_closed_until()
		   AND @extschema@.partition_held(o.order_id)) e
  LEFT JOIN @extschema@.currency_codes() c ON c.code OPERATOR(pg_catalog.=) e.currency
 GROUP BY 1, 2, 3;


CREATE OR REPLACE VIEW @extschema@.cancellations_by_reason AS
SELECT CAST(e.at AS pg_catalog.date) AS day, e.cancellation_reason, e.currency, c.minor_unit,
	   CAST(pg_catalog.sum(e.orders_cancelled) AS bigint) AS orders_cancelled,
	   pg_catalog.sum(e.cancelled_amount) AS cancelled_amount
  FROM (SELECT b.bucket_start AS at, b.cancellation_reason, b.currency, b.orders_cancelled,
			   b.cancelled_amount
		  FROM @extschema@.cancellation_buckets b
		UNION ALL
		SELECT o.cancelled_at, o.cancellation_reason, o.currency, 1, o.total
		  FROM @extschema@.orders o
		 WHERE o.cancelled_at OPERATOR(pg_catalog.>=)
			   @extschema@.reports_closed_until()
		   AND @extschema@.partition_held(o.order_id)) e
  LEFT JOIN @extschema@.currency_codes() c ON c.code OPERATOR(pg_catalog.=) e.currency
 GROUP BY 1, 2, 3, 4;



------------------------------------------------------------------------
-- Router reports: what a router gathers from every shard
------------------------------------------------------------------------

-- A router (extension order_mgmt_router) builds its sales_daily,
-- cancellations_by_reason and customer_orders from these, calling each
-- with the partitions it routes to this database.  A shard answers only
-- the call whose partitions include the lowest partition it holds, with
-- its figures for every partition it holds, so each shard is counted once
-- however the router's configuration spreads its partitions over
-- connection strings.  The caller's time zone is passed in: PL/Proxy does
-- not pass session settings on, and days are days in that zone (set for
-- the view's query, then put back).  They run with the caller's
-- privileges (the views' readers).

CREATE FUNCTION @extschema@.shard_answers(partitions integer[])
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE((SELECT pg_catalog.min(p)
					   FROM @extschema@.partition_assignment a,
							pg_catalog.unnest(a.partitions) AS p), 0)
		   OPERATOR(pg_catalog.=) ANY (partitions)
$$;

COMMENT ON FUNCTION @extschema@.shard_answers(integer[]) IS
	'True when a router call for these partitions is the one this shard answers: they include the lowest partition it holds';

CREATE FUNCTION @extschema@.shard_sales_daily(partitions integer[], time_zone text)
RETURNS SETOF @extschema@.sales_daily
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller_zone text := pg_catalog.current_setting('TimeZone');
BEGIN
	IF time_zone IS NULL THEN
		RAISE EXCEPTION 'time zone must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF @extschema@.shard_answers(partitions) THEN
		PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
		RETURN QUERY SELECT * FROM @extschema@.sales_daily;
		PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
	END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.shard_sales_daily(integer[], text) IS
	'This shard''s sales_daily in a time zone, for a router call that includes its lowest held partition';

CREATE FUNCTION @extschema@.shard_cancellations_by_reason(partitions integer[], time_zone text)
RETURNS SETOF @extschema@.cancellations_by_reason
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller_zone text := pg_catalog.current_setting('TimeZone');
BEGIN
	IF time_zone IS NULL THEN
		RAISE EXCEPTION 'time zone must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF @extschema@.shard_answers(partitions) THEN
		PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
		RETURN QUERY SELECT * FROM @extschema@.cancellations_by_reason;
		PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
	END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.shard_cancellations_by_reason(integer[], text) IS
	'This shard''s cancellations_by_reason in a time zone, for a router call that includes its lowest held partition';

CREATE FUNCTION @extschema@.shard_customer_orders(partitions integer[], customer_id uuid)
RETURNS SETOF @extschema@.customer_orders
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF @extschema@.shard_answers(partitions) THEN
		RETURN QUERY SELECT * FROM @extschema@.customer_orders c
					  WHERE shard_customer_orders.customer_id IS NULL
						 OR c.customer_id OPERATOR(pg_catalog.=) shard_customer_orders.customer_id;
	END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.shard_customer_orders(integer[], uuid) IS
	'This shard''s customer_orders, of one customer or (NULL) all, for a router call that includes its lowest held partition';

-- Like the views, the report functions are for the reader role: a
-- router's user mapping names a role that is a member of the writer and
-- the reader.  create_roles() now grants them too (run it again after
-- the update to grant them to roles it made before).
REVOKE ALL ON FUNCTION @extschema@.shard_answers(integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.shard_sales_daily(integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.shard_cancellations_by_reason(integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.shard_customer_orders(integer[], uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.create_roles(writer name DEFAULT 'order_mgmt_writer',
										 reader name DEFAULT 'order_mgmt_reader',
										 consumer name DEFAULT 'order_mgmt_consumer')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target name;
	ext_schema name;
BEGIN
	IF writer IS NULL OR reader IS NULL OR consumer IS NULL THEN
		RAISE EXCEPTION 'role names must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT n.nspname INTO ext_schema
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
	 WHERE e.extname OPERATOR(pg_catalog.=) 'order_mgmt';

	FOREACH target IN ARRAY ARRAY[writer, reader, consumer] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) target) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', target);
		END IF;
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', ext_schema, target);
	END LOOP;

	EXECUTE pg_catalog.format(
		'GRANT EXECUTE ON FUNCTION %1$I.create_order(jsonb), %1$I.cancel_order(uuid, text, integer), '
		'%1$I.complete_order(uuid, integer) TO %2$I', ext_schema, writer);
	EXECUTE pg_catalog.format(
		'GRANT EXECUTE ON FUNCTION %1$I.get_order(uuid), %1$I.currency_codes(), '
		'%1$I.reports_closed_until() TO %2$I',
		ext_schema, reader);
	EXECUTE pg_catalog.format(
		'GRANT SELECT ON %1$I.order_summary, %1$I.customer_orders, %1$I.sales_daily, '
		'%1$I.cancellations_by_reason, %1$I.currencies TO %2$I', ext_schema, reader);
	EXECUTE pg_catalog.format(
		'GRANT EXECUTE ON FUNCTION %1$I.shard_answers(integer[]), '
		'%1$I.shard_sales_daily(integer[], text), %1$I.shard_cancellations_by_reason(integer[], text), '
		'%1$I.shard_customer_orders(integer[], uuid) TO %2$I', ext_schema, reader);
	EXECUTE pg_catalog.format(
		'GRANT EXECUTE ON FUNCTION %1$I.register_consumer(text, boolean), '
		'%1$I.unregister_consumer(text), %1$I.fetch_events(text, integer), '
		'%1$I.ack_events(text, bigint), %1$I.cloudevent(%1$I.outbox) TO %2$I',
		ext_schema, consumer);
END
$$;




------------------------------------------------------------------------
-- Moving partitions: the sanctioned copy and retirement of a partition
------------------------------------------------------------------------

-- (moving partitions)
