/* order_mgmt--1.0.0.sql: the order system of record, version 1.0.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION order_mgmt" to load this file. \quit

-- Refuse a schema someone else prepared.  CREATE EXTENSION reuses an existing
-- schema of this name; if another role owned it, that role could later swap
-- the tables under the SECURITY DEFINER functions.  The schema must be new
-- (CREATE EXTENSION then makes it, owned by the installing role) or empty and
-- owned by the installing role or a superuser.
DO $$
DECLARE
	target pg_catalog.oid;
	owner_ok boolean;
	objects bigint;
BEGIN
	SELECT n.oid,
		   n.nspowner OPERATOR(pg_catalog.=) r.oid OR owner.rolsuper
	  INTO target, owner_ok
	  FROM pg_catalog.pg_namespace n
	  JOIN pg_catalog.pg_roles owner ON owner.oid OPERATOR(pg_catalog.=) n.nspowner
	  JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) CURRENT_USER
	 WHERE n.nspname OPERATOR(pg_catalog.=) pg_catalog.current_schema();
	SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c
			 WHERE c.relnamespace OPERATOR(pg_catalog.=) target)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc p
			 WHERE p.pronamespace OPERATOR(pg_catalog.=) target)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type t
			 WHERE t.typnamespace OPERATOR(pg_catalog.=) target)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator o
			 WHERE o.oprnamespace OPERATOR(pg_catalog.=) target)
	  INTO objects;
	IF NOT owner_ok OR objects OPERATOR(pg_catalog.>) 0 THEN
		RAISE EXCEPTION 'schema "%" was not prepared for order_mgmt', pg_catalog.current_schema()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('The schema is owned by %s and holds %s objects; '
											 'order_mgmt needs a new or empty schema owned by the installing role or a superuser.',
											 (SELECT r.rolname FROM pg_catalog.pg_roles r
											   WHERE r.oid OPERATOR(pg_catalog.=)
													 (SELECT n.nspowner FROM pg_catalog.pg_namespace n
													   WHERE n.oid OPERATOR(pg_catalog.=) target)),
											 objects),
				  HINT = 'Drop the schema, or let CREATE EXTENSION create it.';
	END IF;
END
$$;

-- Every name below is schema-qualified and every operator is written as
-- OPERATOR(pg_catalog.x): nothing in a caller's search_path, nor anything
-- planted in it, can change what these objects mean.

------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------

CREATE TABLE @extschema@.orders (
	order_id	uuid NOT NULL,
	cart_id		uuid NOT NULL,
	customer_id	uuid NOT NULL,
	status		text NOT NULL,
	total		bigint NOT NULL,
	currency	text NOT NULL,
	payment_authorization_id text,
	version		integer NOT NULL,
	created_at	timestamptz NOT NULL,
	completed_at	timestamptz,
	cancelled_at	timestamptz,
	cancellation_reason text,
	command_digest	bytea NOT NULL,
	CONSTRAINT orders_pkey PRIMARY KEY (order_id),
	CONSTRAINT orders_cart_id_key UNIQUE (cart_id),
	CONSTRAINT orders_status_check CHECK (status OPERATOR(pg_catalog.=) ANY
		(ARRAY['CREATED', 'COMPLETED', 'CANCELLED']::pg_catalog.text[])),
	CONSTRAINT orders_total_check CHECK (total OPERATOR(pg_catalog.>=) 0),
	CONSTRAINT orders_currency_check CHECK (currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$'),
	CONSTRAINT orders_version_check CHECK (version OPERATOR(pg_catalog.>=) 1),
	CONSTRAINT orders_reason_check CHECK (cancellation_reason OPERATOR(pg_catalog.=) ANY
		(ARRAY['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD']::pg_catalog.text[]))
);

COMMENT ON TABLE @extschema@.orders IS
	'Orders, one row each; written only by create_order, cancel_order and complete_order';

CREATE TABLE @extschema@.order_lines (
	order_id	uuid NOT NULL,
	line_no		integer NOT NULL,
	product_id	uuid NOT NULL,
	quantity	integer NOT NULL,
	unit_price	bigint NOT NULL,
	CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, line_no),
	CONSTRAINT order_lines_quantity_check CHECK (quantity OPERATOR(pg_catalog.>=) 1),
	CONSTRAINT order_lines_unit_price_check CHECK (unit_price OPERATOR(pg_catalog.>=) 0)
);

COMMENT ON TABLE @extschema@.order_lines IS
	'The items of each order, numbered from 1 in the order the command listed them';

CREATE SEQUENCE @extschema@.outbox_position_seq AS bigint;

CREATE TABLE @extschema@.outbox (
	position	bigint NOT NULL
		DEFAULT pg_catalog.nextval('@extschema@.outbox_position_seq'::pg_catalog.regclass),
	id		uuid NOT NULL,
	aggregatetype	text NOT NULL,
	aggregateid	uuid NOT NULL,
	type		text NOT NULL,
	payload		jsonb NOT NULL,
	order_version	integer NOT NULL,
	schema_version	text NOT NULL,
	occurred_at	timestamptz NOT NULL,
	xact_id		xid8 NOT NULL,
	CONSTRAINT outbox_pkey PRIMARY KEY (position),
	CONSTRAINT outbox_id_key UNIQUE (id),
	CONSTRAINT outbox_type_check CHECK (type OPERATOR(pg_catalog.=) ANY
		(ARRAY['OrderCreated', 'OrderCompleted', 'OrderCancelled']::pg_catalog.text[]))
);

ALTER SEQUENCE @extschema@.outbox_position_seq OWNED BY @extschema@.outbox.position;

COMMENT ON TABLE @extschema@.outbox IS
	'Lifecycle events, one row per change, written in the transaction that made it';

-- the data are the point of the extension: pg_dump must dump them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.orders', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.order_lines', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox_position_seq', '');

------------------------------------------------------------------------
-- The order functions
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_order(command jsonb)
RETURNS uuid
AS 'MODULE_PATHNAME', 'order_mgmt_create_order'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.create_order(jsonb) IS
	'Creates an order from a CreateOrder v1.0.0 command and returns its id; idempotent on cartId';

CREATE FUNCTION @extschema@.cancel_order(order_id uuid, reason text,
										 expected_version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_cancel_order'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.cancel_order(uuid, text, integer) IS
	'Cancels a CREATED order for a contract reason and returns its new version';

CREATE FUNCTION @extschema@.complete_order(order_id uuid,
										   expected_version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'order_mgmt_complete_order'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.complete_order(uuid, integer) IS
	'Marks a CREATED order fulfilled and completed and returns its new version';

CREATE FUNCTION @extschema@.get_order(order_id uuid)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'order_mgmt_get_order'
LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.get_order(uuid) IS
	'Returns the order as a GetOrder v1.0.0 response, or NULL if there is none';

CREATE FUNCTION @extschema@.cloudevent(event @extschema@.outbox)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'order_mgmt_cloudevent'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cloudevent(@extschema@.outbox) IS
	'Renders an outbox event as a CloudEvents 1.0 structured JSON object';

CREATE FUNCTION @extschema@.uuid_generate_v7()
RETURNS uuid
AS 'MODULE_PATHNAME', 'order_mgmt_uuid_generate_v7'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.uuid_generate_v7() IS
	'Returns a new time-ordered RFC 9562 version 7 uuid, as order and event ids are';

CREATE FUNCTION @extschema@.currency_codes(OUT code text, OUT minor_unit smallint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'order_mgmt_currencies'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 160;

CREATE VIEW @extschema@.currencies AS
	SELECT c.code, c.minor_unit FROM @extschema@.currency_codes() AS c;

COMMENT ON VIEW @extschema@.currencies IS
	'The ISO 4217 codes create_order accepts, with their minor-unit exponents';

------------------------------------------------------------------------
-- The lifecycle triggers
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.guard_insert() RETURNS trigger
AS 'MODULE_PATHNAME', 'order_mgmt_guard_insert' LANGUAGE C;

CREATE FUNCTION @extschema@.forbid_change() RETURNS trigger
AS 'MODULE_PATHNAME', 'order_mgmt_forbid_change' LANGUAGE C;

CREATE FUNCTION @extschema@.orders_before_update() RETURNS trigger
AS 'MODULE_PATHNAME', 'order_mgmt_orders_before_update' LANGUAGE C;

CREATE FUNCTION @extschema@.orders_after_update() RETURNS trigger
AS 'MODULE_PATHNAME', 'order_mgmt_orders_after_update' LANGUAGE C;

CREATE TRIGGER orders_guard_insert BEFORE INSERT ON @extschema@.orders
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_insert();
CREATE TRIGGER orders_forbid_delete BEFORE DELETE OR TRUNCATE ON @extschema@.orders
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.forbid_change();
CREATE TRIGGER orders_before_update BEFORE UPDATE ON @extschema@.orders
	FOR EACH ROW EXECUTE FUNCTION @extschema@.orders_before_update();
CREATE TRIGGER orders_after_update AFTER UPDATE ON @extschema@.orders
	FOR EACH ROW WHEN (OLD.status OPERATOR(pg_catalog.<>) NEW.status)
	EXECUTE FUNCTION @extschema@.orders_after_update();

CREATE TRIGGER order_lines_guard_insert BEFORE INSERT ON @extschema@.order_lines
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_insert();
CREATE TRIGGER order_lines_forbid_change BEFORE UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.order_lines
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.forbid_change();

CREATE TRIGGER outbox_guard_insert BEFORE INSERT ON @extschema@.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_insert();
CREATE TRIGGER outbox_forbid_update BEFORE UPDATE ON @extschema@.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.forbid_change();

------------------------------------------------------------------------
-- Privileges: the order functions and triggers are not open to PUBLIC;
-- uuid_generate_v7(), currency_codes() and cloudevent() are harmless and stay
-- open
------------------------------------------------------------------------

REVOKE ALL ON FUNCTION @extschema@.create_order(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cancel_order(uuid, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.complete_order(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.get_order(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.guard_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forbid_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.orders_before_update() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.orders_after_update() FROM PUBLIC;
