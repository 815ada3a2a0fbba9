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
-- tells every backend; readable by all (it is the cluster's layout, not data).
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
GRANT SELECT ON @extschema@.partition_assignment TO PUBLIC;

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



------------------------------------------------------------------------
-- Router reports: what a router gathers from every shard
------------------------------------------------------------------------

-- (router reports)



------------------------------------------------------------------------
-- Moving partitions: the sanctioned copy and retirement of a partition
------------------------------------------------------------------------

-- (moving partitions)
