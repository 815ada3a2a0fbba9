/* order_mgmt--1.0.0--1.1.0.sql: reporting views, their rollup, and the role model */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION order_mgmt UPDATE TO '1.1.0'" to load this file. \quit

-- As in the base script, every name is schema-qualified and every operator
-- is written as OPERATOR(pg_catalog.x).

------------------------------------------------------------------------
-- Indexes the reports read through
------------------------------------------------------------------------

-- orders created since the rollup's horizon.  Orders are appended in
-- roughly created_at order, so a BRIN index finds the recent pages while
-- costing create_order almost nothing.  A range that is not summarized
-- matches every query, so autovacuum summarizes each range as soon as it
-- fills (autosummarize): only the range being filled stays open.
CREATE INDEX orders_created_at_brin_idx
	ON @extschema@.orders USING brin (created_at)
	WITH (pages_per_range = 32, autosummarize = on);

-- orders completed or cancelled since the rollup's horizon: these indexes
-- are written by cancel_order and complete_order only
CREATE INDEX orders_completed_at_idx
	ON @extschema@.orders (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX orders_cancelled_at_idx
	ON @extschema@.orders (cancelled_at) WHERE cancelled_at IS NOT NULL;

------------------------------------------------------------------------
-- Rollup of closed quarter hours
------------------------------------------------------------------------

-- Sales are counted on the day each event happened: an order's total is
-- gross on the day it was created, completed on the day it was completed
-- and cancelled on the day it was cancelled.  refresh_reports() folds the
-- minutes that no running transaction can still write into into these
-- tables; the views add what happened since from the orders table.  A
-- bucket covers a quarter hour, or a minute of the quarter hour the rollup
-- ends in; quarter hours line up with every time zone's offset, so days in
-- any session TimeZone are sums of whole buckets.
CREATE TABLE @extschema@.sales_buckets (
	bucket_start	timestamptz NOT NULL,
	currency	text NOT NULL,
	orders_created	bigint NOT NULL,
	orders_completed bigint NOT NULL,
	orders_cancelled bigint NOT NULL,
	gross_amount	numeric NOT NULL,
	completed_amount numeric NOT NULL,
	cancelled_amount numeric NOT NULL,
	CONSTRAINT sales_buckets_pkey PRIMARY KEY (bucket_start, currency)
);

COMMENT ON TABLE @extschema@.sales_buckets IS
	'Orders created, completed and cancelled per closed quarter hour (or minute) and currency (refresh_reports)';

CREATE TABLE @extschema@.cancellation_buckets (
	bucket_start	timestamptz NOT NULL,
	cancellation_reason text NOT NULL,
	currency	text NOT NULL,
	orders_cancelled bigint NOT NULL,
	cancelled_amount numeric NOT NULL,
	CONSTRAINT cancellation_buckets_pkey PRIMARY KEY (bucket_start, cancellation_reason, currency)
);

COMMENT ON TABLE @extschema@.cancellation_buckets IS
	'Cancellations per closed quarter hour (or minute), reason and currency (refresh_reports)';

-- One customer's history: an index of the orders created before the
-- rollup's horizon by customer, filled by refresh_reports() rather than by
-- create_order.  A B-tree on orders (customer_id) would cost every order a
-- random-page insert on the write path (13% of create_order's throughput
-- with 10 million orders stored); filled a minute's orders at a time, in
-- customer order, it costs the refresh a fraction of that.  The orders since
-- the horizon are found through the BRIN index.
CREATE TABLE @extschema@.customer_history (
	customer_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL,
	order_id	uuid NOT NULL,
	CONSTRAINT customer_history_pkey PRIMARY KEY (customer_id, created_at, order_id)
);

COMMENT ON TABLE @extschema@.customer_history IS
	'Orders created before the report horizon, by customer (refresh_reports)';

-- Each refresh adds the end of what it folded (and drops older rows).  The
-- table starts empty, so a dump carries the horizon with the buckets and a
-- restore cannot pair restored buckets with a fresh horizon.
CREATE TABLE @extschema@.report_horizon (
	closed_until	timestamptz NOT NULL,
	refreshed_at	timestamptz NOT NULL,
	CONSTRAINT report_horizon_pkey PRIMARY KEY (closed_until)
);

COMMENT ON TABLE @extschema@.report_horizon IS
	'Where the rollup ends: everything before closed_until is in the bucket tables';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.sales_buckets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.cancellation_buckets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.report_horizon', '');

-- Where the rollup ends.  The views compare order times with it; being a
-- stable function, the planner evaluates it when estimating, so it plans
-- for the few orders since the horizon rather than a third of the table.
CREATE FUNCTION @extschema@.reports_closed_until()
RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.max(h.closed_until), '-infinity')
	  FROM @extschema@.report_horizon h
$$;

COMMENT ON FUNCTION @extschema@.reports_closed_until() IS
	'Where the report rollup ends: events before it are in the bucket tables';

CREATE FUNCTION @extschema@.refresh_reports()
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
		   AND o.created_at OPERATOR(pg_catalog.<) target),
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
		UNION ALL
		SELECT o.cancelled_at, o.currency, 0, 0, 1, 0, 0, o.total
		  FROM @extschema@.orders o
		 WHERE o.cancelled_at OPERATOR(pg_catalog.>=) closed
		   AND o.cancelled_at OPERATOR(pg_catalog.<) target
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

COMMENT ON FUNCTION @extschema@.refresh_reports() IS
	'Folds closed minutes into the report rollup and returns where it now ends; the views are exact without it, only slower';

------------------------------------------------------------------------
-- Reporting views.  Amounts are integers in the currency's minor unit
-- (numeric where they are sums); minor_unit is the ISO 4217 exponent, so
-- 5497 with minor_unit 2 is 54.97.  *_amount columns of one order are
-- numeric in major units.  The views run with their owner's rights: a
-- reader needs SELECT on them, not on the tables.
------------------------------------------------------------------------

CREATE VIEW @extschema@.order_summary AS
SELECT o.order_id, o.cart_id, o.customer_id, o.status, o.currency, c.minor_unit,
	   o.total,
	   pg_catalog.round(CAST(o.total AS pg_catalog.numeric)
						OPERATOR(pg_catalog./) pg_catalog.power(CAST(10 AS pg_catalog.numeric),
																CAST(c.minor_unit AS pg_catalog.numeric)),
						CAST(c.minor_unit AS integer)) AS total_amount,
	   (SELECT pg_catalog.count(*) FROM @extschema@.order_lines l
		 WHERE l.order_id OPERATOR(pg_catalog.=) o.order_id) AS line_count,
	   o.version, o.created_at, o.completed_at, o.cancelled_at, o.cancellation_reason
  FROM @extschema@.orders o
  LEFT JOIN @extschema@.currency_codes() c ON c.code OPERATOR(pg_catalog.=) o.currency;

COMMENT ON VIEW @extschema@.order_summary IS
	'One row per order: status, total (minor units and major units), currency, line count, lifecycle times';

CREATE VIEW @extschema@.customer_orders AS
SELECT h.customer_id, s.order_id, s.status, s.currency, s.minor_unit, s.total, s.total_amount,
	   s.line_count, s.created_at, s.completed_at, s.cancelled_at, s.cancellation_reason
  FROM (SELECT c.customer_id, c.order_id
		  FROM @extschema@.customer_history c
		 WHERE c.created_at OPERATOR(pg_catalog.<) @extschema@.reports_closed_until()
		UNION ALL
		SELECT o.customer_id, o.order_id
		  FROM @extschema@.orders o
		 WHERE o.created_at OPERATOR(pg_catalog.>=) @extschema@.reports_closed_until()) h
  JOIN @extschema@.order_summary s ON s.order_id OPERATOR(pg_catalog.=) h.order_id;

COMMENT ON VIEW @extschema@.customer_orders IS
	'A customer''s order history: query WHERE customer_id = $1 ORDER BY created_at DESC';

CREATE VIEW @extschema@.sales_daily AS
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
		UNION ALL
		SELECT o.completed_at, o.currency, 0, 1, 0, 0, o.total, 0
		  FROM @extschema@.orders o
		 WHERE o.completed_at OPERATOR(pg_catalog.>=)
			   @extschema@.reports_closed_until()
		UNION ALL
		SELECT o.cancelled_at, o.currency, 0, 0, 1, 0, 0, o.total
		  FROM @extschema@.orders o
		 WHERE o.cancelled_at OPERATOR(pg_catalog.>=)
			   @extschema@.reports_closed_until()) e
  LEFT JOIN @extschema@.currency_codes() c ON c.code OPERATOR(pg_catalog.=) e.currency
 GROUP BY 1, 2, 3;

COMMENT ON VIEW @extschema@.sales_daily IS
	'Per day (session TimeZone) and currency: orders created, completed, cancelled; gross, completed, cancelled and net amounts in minor units';

CREATE VIEW @extschema@.cancellations_by_reason AS
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
			   @extschema@.reports_closed_until()) e
  LEFT JOIN @extschema@.currency_codes() c ON c.code OPERATOR(pg_catalog.=) e.currency
 GROUP BY 1, 2, 3, 4;

COMMENT ON VIEW @extschema@.cancellations_by_reason IS
	'Per day (session TimeZone), cancellation reason and currency: orders cancelled and their amount in minor units';

------------------------------------------------------------------------
-- The role model
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_roles(writer name DEFAULT 'order_mgmt_writer',
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
		'GRANT EXECUTE ON FUNCTION %1$I.register_consumer(text, boolean), '
		'%1$I.unregister_consumer(text), %1$I.fetch_events(text, integer), '
		'%1$I.ack_events(text, bigint), %1$I.cloudevent(%1$I.outbox) TO %2$I',
		ext_schema, consumer);
END
$$;

COMMENT ON FUNCTION @extschema@.create_roles(name, name, name) IS
	'Creates (if missing) the checkout writer, reader and consumer roles and grants each its functions and views';

------------------------------------------------------------------------
-- Privileges: PUBLIC gets nothing; create_roles() hands out the rest
------------------------------------------------------------------------

REVOKE ALL ON FUNCTION @extschema@.refresh_reports() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.reports_closed_until() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.create_roles(name, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.uuid_generate_v7() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.currency_codes() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cloudevent(@extschema@.outbox) FROM PUBLIC;
