/* order_mgmt_router--1.0.0.sql: the router of a sharded order_mgmt cluster (docs/sharding.md) */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION order_mgmt_router" to load this file. \quit

-- A router database offers a shard's order functions under the same names
-- and forwards each call, with PL/Proxy, to the shard of its partition.
-- The cluster is PL/Proxy's SQL/MED configuration, made by the operator:
--
--   CREATE SERVER order_mgmt_cluster FOREIGN DATA WRAPPER plproxy
--     OPTIONS (p0 'host=... dbname=... connect_timeout=2', p1 '...', ...);
--   CREATE USER MAPPING FOR PUBLIC SERVER order_mgmt_cluster OPTIONS (user '...');
--
-- Every name is schema-qualified and every operator written as
-- OPERATOR(pg_catalog.x).  The schema is always order_mgmt (the control
-- file fixes it, and it is not relocatable), which is why the PL/Proxy
-- bodies below, which PL/Proxy parses itself, name it as text.

------------------------------------------------------------------------
-- Partition keys: the same functions, from the same module, as a shard's
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cart_partition_key(cart_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_cart_partition_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cart_partition_key(uuid) IS
	'The partition key (0-1023) of a cart: FNV-1a of the uuid''s 16 bytes, low 10 bits';

CREATE FUNCTION @extschema@.order_partition_key(order_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_order_partition_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.order_partition_key(uuid) IS
	'The partition key an order id carries (its cart''s), or 0 for an id made before 1.3.0';

CREATE FUNCTION @extschema@.command_partition_key(command jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_command_partition_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.command_partition_key(jsonb) IS
	'The partition key of a CreateOrder command''s cart, with create_order''s errors for a bad command or cartId';

-- What the forwarding below routes an order id by: its key, and 0 for a
-- NULL id (PL/Proxy refuses a NULL partition), so that partition 0's shard
-- rejects the NULL exactly as a direct call is rejected.
CREATE FUNCTION @extschema@.order_route_key(order_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_order_partition_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.order_route_key(uuid) IS
	'The partition key a router routes an order id by: order_partition_key, or 0 for NULL';

------------------------------------------------------------------------
-- Forwarding: PL/Proxy functions that run a call on its partition's shard
------------------------------------------------------------------------

-- Called only by the order functions below, never by clients (PUBLIC may
-- not): those give the shard's errors without PL/Proxy's wrapping, and
-- OM003 for a shard that cannot be reached.  client_min_messages keeps
-- from callers PL/Proxy's NOTICE about reconnecting after a shard's error
-- and the wrapped WARNING a shard sends as it shuts down ("REMOTE WARNING:
-- terminating connection ..."): the call's outcome is its result or its
-- error.  The shard's server log still has them.

CREATE FUNCTION @extschema@.forward_create_order(command jsonb)
RETURNS uuid
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	RUN ON order_mgmt.command_partition_key(command);
	TARGET order_mgmt.create_order;
$$;

CREATE FUNCTION @extschema@.forward_get_order(order_id uuid)
RETURNS jsonb
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	RUN ON order_mgmt.order_route_key(order_id);
	TARGET order_mgmt.get_order;
$$;

CREATE FUNCTION @extschema@.forward_cancel_order(order_id uuid, reason text,
												 expected_version integer)
RETURNS integer
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	RUN ON order_mgmt.order_route_key(order_id);
	TARGET order_mgmt.cancel_order;
$$;

CREATE FUNCTION @extschema@.forward_complete_order(order_id uuid,
												   expected_version integer)
RETURNS integer
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	RUN ON order_mgmt.order_route_key(order_id);
	TARGET order_mgmt.complete_order;
$$;

REVOKE ALL ON FUNCTION @extschema@.forward_create_order(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forward_get_order(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forward_cancel_order(uuid, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forward_complete_order(uuid, integer) FROM PUBLIC;

------------------------------------------------------------------------
-- The order functions, as on a shard
------------------------------------------------------------------------

-- Each calls forward_<its name> with its arguments (src/router.c).  They
-- run as the extension's owner, so PL/Proxy connects with the owner's
-- user mapping (or PUBLIC's); callers need EXECUTE only.

CREATE FUNCTION @extschema@.create_order(command jsonb)
RETURNS uuid
AS 'MODULE_PATHNAME', 'order_mgmt_router_forward'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.create_order(jsonb) IS
	'Creates an order on the shard of the command''s cart and returns its id; idempotent on cartId';

CREATE FUNCTION @extschema@.get_order(order_id uuid)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'order_mgmt_router_forward'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.get_order(uuid) IS
	'Returns the order, from the shard its id names, as a GetOrder v1.0.0 response, or NULL';

CREATE FUNCTION @extschema@.cancel_order(order_id uuid, reason text,
										 expected_version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_router_forward'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.cancel_order(uuid, text, integer) IS
	'Cancels a CREATED order on its shard for a contract reason and returns its new version';

CREATE FUNCTION @extschema@.complete_order(order_id uuid,
										   expected_version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_router_forward'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.complete_order(uuid, integer) IS
	'Marks a CREATED order on its shard fulfilled and completed and returns its new version';

REVOKE ALL ON FUNCTION @extschema@.create_order(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.get_order(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cancel_order(uuid, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.complete_order(uuid, integer) FROM PUBLIC;

------------------------------------------------------------------------
-- Reports: the shards' figures, gathered and added up
------------------------------------------------------------------------

-- The partitions of the cluster: 0 to N-1, for the N partition options
-- (p0, p1, ...) of server order_mgmt_cluster.
CREATE FUNCTION @extschema@.cluster_partitions()
RETURNS integer[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.array_agg(n OPERATOR(pg_catalog.-) 1 ORDER BY n)
	  FROM pg_catalog.generate_series(1,
			(SELECT pg_catalog.count(*)
			   FROM pg_catalog.pg_foreign_server s,
					pg_catalog.pg_options_to_table(s.srvoptions) o
			  WHERE s.srvname OPERATOR(pg_catalog.=) 'order_mgmt_cluster'
				AND o.option_name OPERATOR(pg_catalog.~) '^(p|partition_)[0-9]+$')::integer) AS n
$$;

COMMENT ON FUNCTION @extschema@.cluster_partitions() IS
	'The partition numbers of the cluster, from the partition options of server order_mgmt_cluster';

-- Each shard gets the partitions the configuration sends it and answers
-- once (see shard_answers on the shards); the caller's TimeZone goes along.

CREATE FUNCTION @extschema@.forward_gather_sales_daily(partitions integer[], time_zone text,
	OUT day date, OUT currency text, OUT minor_unit smallint,
	OUT orders_created bigint, OUT orders_completed bigint, OUT orders_cancelled bigint,
	OUT gross_amount numeric, OUT completed_amount numeric, OUT cancelled_amount numeric,
	OUT net_amount numeric)
RETURNS SETOF record
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	SPLIT partitions;
	RUN ON partitions;
	TARGET order_mgmt.shard_sales_daily;
$$;

CREATE FUNCTION @extschema@.forward_gather_cancellations_by_reason(partitions integer[], time_zone text,
	OUT day date, OUT cancellation_reason text, OUT currency text, OUT minor_unit smallint,
	OUT orders_cancelled bigint, OUT cancelled_amount numeric)
RETURNS SETOF record
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	SPLIT partitions;
	RUN ON partitions;
	TARGET order_mgmt.shard_cancellations_by_reason;
$$;

CREATE FUNCTION @extschema@.forward_gather_customer_orders(partitions integer[], wanted_customer uuid,
	OUT customer_id uuid, OUT order_id uuid, OUT status text, OUT currency text,
	OUT minor_unit smallint, OUT total bigint, OUT total_amount numeric,
	OUT line_count bigint, OUT created_at timestamptz, OUT completed_at timestamptz,
	OUT cancelled_at timestamptz, OUT cancellation_reason text)
RETURNS SETOF record
LANGUAGE plproxy
SET client_min_messages = error
AS $$
	CLUSTER 'order_mgmt_cluster';
	SPLIT partitions;
	RUN ON partitions;
	TARGET order_mgmt.shard_customer_orders;
$$;

REVOKE ALL ON FUNCTION @extschema@.forward_gather_sales_daily(integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forward_gather_cancellations_by_reason(integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forward_gather_customer_orders(integer[], uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cluster_partitions() FROM PUBLIC;

-- What the views read: the forward_gather_ rows of every shard, with a
-- shard's errors unwrapped and OM003 for a shard out of reach (src/router.c).

CREATE FUNCTION @extschema@.gather_sales_daily(partitions integer[], time_zone text,
	OUT day date, OUT currency text, OUT minor_unit smallint,
	OUT orders_created bigint, OUT orders_completed bigint, OUT orders_cancelled bigint,
	OUT gross_amount numeric, OUT completed_amount numeric, OUT cancelled_amount numeric,
	OUT net_amount numeric)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'order_mgmt_router_gather'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.gather_cancellations_by_reason(partitions integer[], time_zone text,
	OUT day date, OUT cancellation_reason text, OUT currency text, OUT minor_unit smallint,
	OUT orders_cancelled bigint, OUT cancelled_amount numeric)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'order_mgmt_router_gather'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.gather_customer_orders(partitions integer[], wanted_customer uuid,
	OUT customer_id uuid, OUT order_id uuid, OUT status text, OUT currency text,
	OUT minor_unit smallint, OUT total bigint, OUT total_amount numeric,
	OUT line_count bigint, OUT created_at timestamptz, OUT completed_at timestamptz,
	OUT cancelled_at timestamptz, OUT cancellation_reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'order_mgmt_router_gather'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.gather_sales_daily(integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gather_cancellations_by_reason(integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gather_customer_orders(integer[], uuid) FROM PUBLIC;

-- The views, with the names and columns they have on a shard.  Sums of
-- numeric stay exact; the days are days in the reader's TimeZone.

CREATE VIEW @extschema@.sales_daily AS
SELECT g.day, g.currency, g.minor_unit,
	   CAST(pg_catalog.sum(g.orders_created) AS bigint) AS orders_created,
	   CAST(pg_catalog.sum(g.orders_completed) AS bigint) AS orders_completed,
	   CAST(pg_catalog.sum(g.orders_cancelled) AS bigint) AS orders_cancelled,
	   pg_catalog.sum(g.gross_amount) AS gross_amount,
	   pg_catalog.sum(g.completed_amount) AS completed_amount,
	   pg_catalog.sum(g.cancelled_amount) AS cancelled_amount,
	   pg_catalog.sum(g.net_amount) AS net_amount
  FROM @extschema@.gather_sales_daily(@extschema@.cluster_partitions(),
									  pg_catalog.current_setting('TimeZone')) g
 GROUP BY 1, 2, 3;

COMMENT ON VIEW @extschema@.sales_daily IS
	'Orders created, completed and cancelled per day (the reader''s time zone) and currency, over every shard';

CREATE VIEW @extschema@.cancellations_by_reason AS
SELECT g.day, g.cancellation_reason, g.currency, g.minor_unit,
	   CAST(pg_catalog.sum(g.orders_cancelled) AS bigint) AS orders_cancelled,
	   pg_catalog.sum(g.cancelled_amount) AS cancelled_amount
  FROM @extschema@.gather_cancellations_by_reason(@extschema@.cluster_partitions(),
												  pg_catalog.current_setting('TimeZone')) g
 GROUP BY 1, 2, 3, 4;

COMMENT ON VIEW @extschema@.cancellations_by_reason IS
	'Cancellations per day (the reader''s time zone), reason and currency, over every shard';

CREATE VIEW @extschema@.customer_orders AS
SELECT g.*
  FROM @extschema@.gather_customer_orders(@extschema@.cluster_partitions(), NULL) g;

COMMENT ON VIEW @extschema@.customer_orders IS
	'Every order with its customer, over every shard (for one customer, customer_orders(customer_id) asks the shards for just those)';

-- One customer's orders, filtered on the shards.
CREATE FUNCTION @extschema@.customer_orders(customer_id uuid)
RETURNS SETOF @extschema@.customer_orders
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT g.*
	  FROM @extschema@.gather_customer_orders(@extschema@.cluster_partitions(),
											  customer_orders.customer_id) g
	 WHERE customer_orders.customer_id IS NOT NULL
$$;

COMMENT ON FUNCTION @extschema@.customer_orders(uuid) IS
	'One customer''s orders over every shard, filtered on the shards';

REVOKE ALL ON @extschema@.sales_daily, @extschema@.cancellations_by_reason,
	@extschema@.customer_orders FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.customer_orders(uuid) FROM PUBLIC;

------------------------------------------------------------------------
-- The role model: as on a shard, PUBLIC gets nothing
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_roles(writer name DEFAULT 'order_mgmt_writer',
										 reader name DEFAULT 'order_mgmt_reader')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target name;
BEGIN
	IF writer IS NULL OR reader IS NULL THEN
		RAISE EXCEPTION 'role names must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH target IN ARRAY ARRAY[writer, reader] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) target) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', target);
		END IF;
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA order_mgmt TO %I', target);
	END LOOP;
	EXECUTE pg_catalog.format(
		'GRANT EXECUTE ON FUNCTION order_mgmt.create_order(jsonb), '
		'order_mgmt.cancel_order(uuid, text, integer), '
		'order_mgmt.complete_order(uuid, integer) TO %I', writer);
	EXECUTE pg_catalog.format(
		'GRANT EXECUTE ON FUNCTION order_mgmt.get_order(uuid), order_mgmt.customer_orders(uuid), '
		'order_mgmt.cluster_partitions(), order_mgmt.gather_sales_daily(integer[], text), '
		'order_mgmt.gather_cancellations_by_reason(integer[], text), '
		'order_mgmt.gather_customer_orders(integer[], uuid) TO %I', reader);
	EXECUTE pg_catalog.format(
		'GRANT SELECT ON order_mgmt.customer_orders, order_mgmt.sales_daily, '
		'order_mgmt.cancellations_by_reason TO %I', reader);
END
$$;

COMMENT ON FUNCTION @extschema@.create_roles(name, name) IS
	'Creates (if missing) the checkout writer and reader roles of a router and grants each its functions and views';

REVOKE ALL ON FUNCTION @extschema@.create_roles(name, name) FROM PUBLIC;
