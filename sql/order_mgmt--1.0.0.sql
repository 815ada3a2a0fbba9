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
	-- nobody else may create objects beside the extension's later on
	IF EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
				WHERE n.oid OPERATOR(pg_catalog.=) target
				  AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
				  AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner) THEN
		RAISE EXCEPTION 'schema "%" was not prepared for order_mgmt', pg_catalog.current_schema()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Roles other than its owner may create objects in it.',
				  HINT = 'Revoke CREATE on the schema from everyone but its owner, or let CREATE EXTENSION create it.';
	END IF;
END
$$;

-- The installing role's default privileges would hand the new tables and
-- functions to other roles, past the privileges set at the end of this
-- script: refuse rather than install them open.
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a
				WHERE d.defaclrole OPERATOR(pg_catalog.=)
					  (SELECT r.oid FROM pg_catalog.pg_roles r
						WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
				  AND (d.defaclnamespace OPERATOR(pg_catalog.=) 0
					   OR d.defaclnamespace OPERATOR(pg_catalog.=)
						  (SELECT n.oid FROM pg_catalog.pg_namespace n
							WHERE n.nspname OPERATOR(pg_catalog.=) pg_catalog.current_schema()))
				  AND a.grantee OPERATOR(pg_catalog.<>) d.defaclrole) THEN
		RAISE EXCEPTION 'default privileges of role "%" would grant order_mgmt''s objects to other roles', CURRENT_USER
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'ALTER DEFAULT PRIVILEGES of the installing role grant new tables, sequences or functions to other roles.',
				  HINT = 'Install as a role without such default privileges, or revoke them first.';
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
)
-- retention deletes from the head all the time: vacuum after a fixed number
-- of dead rows rather than a fraction of the table, so no vacuum debt builds up
WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

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
-- Polling consumers: a commit-ordered feed over the outbox
------------------------------------------------------------------------

-- Outbox positions are drawn when an event is written, not when its
-- transaction commits, so "position > last seen" skips an event whose
-- transaction commits late.  The feed gives each event a second number,
-- seq, when it first becomes visible to a sequencing round; rounds run one
-- at a time, so seq follows commit order and a consumer that reads
-- seq > acked never skips an event.  An order's events are sequenced in
-- version order: a later version is only ever written after the earlier
-- one committed, so both are visible together and sorted by position.
CREATE TABLE @extschema@.event_feed (
	seq		bigint NOT NULL,
	position	bigint NOT NULL,
	CONSTRAINT event_feed_pkey PRIMARY KEY (seq),
	CONSTRAINT event_feed_position_key UNIQUE (position)
)
WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

CREATE SEQUENCE @extschema@.event_feed_seq AS bigint OWNED BY @extschema@.event_feed.seq;

COMMENT ON TABLE @extschema@.event_feed IS
	'Commit-ordered numbering of outbox events for polling consumers';

-- Where the next round starts.  Every position up to low_position is
-- sequenced or will never exist.  A position drawn but not visible is a
-- gap: its transaction is running or aborted.  Gaps up to pending_until are
-- known dead once every transaction older than pending_horizon (the next
-- xid at the time) has ended.
CREATE TABLE @extschema@.feed_state (
	singleton	boolean NOT NULL DEFAULT true,
	low_position	bigint NOT NULL DEFAULT 0,
	pending_until	bigint,
	pending_horizon	xid8,
	CONSTRAINT feed_state_pkey PRIMARY KEY (singleton),
	CONSTRAINT feed_state_singleton_check CHECK (singleton)
)
-- one row, updated by every fetch: keep room for HOT updates
WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

INSERT INTO @extschema@.feed_state DEFAULT VALUES;

CREATE TABLE @extschema@.consumers (
	name		text NOT NULL,
	acked_seq	bigint NOT NULL,
	registered_at	timestamptz NOT NULL,
	acked_at	timestamptz,
	CONSTRAINT consumers_pkey PRIMARY KEY (name),
	CONSTRAINT consumers_name_check CHECK (name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.:-]{1,63}$')
);

COMMENT ON TABLE @extschema@.consumers IS
	'Polling consumers and the feed seq each has acknowledged';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_feed', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_feed_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consumers', '');

CREATE FUNCTION @extschema@.next_xact_id()
RETURNS xid8
AS 'MODULE_PATHNAME', 'order_mgmt_next_xact_id'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.next_xact_id() IS
	'The next transaction id to be assigned (used by the consumer feed)';

-- Number the outbox events that became visible since the last round.
-- Returns how many were numbered, or NULL if another session is numbering.
CREATE FUNCTION @extschema@.sequence_events()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	st		record;
	drawn		bigint;
	next_xid	pg_catalog.xid8;
	own_xid		pg_catalog.xid8;
	snap		pg_catalog.pg_snapshot;
	unlisted	bigint;
	added		bigint;
	dead_until	bigint;
	new_low		bigint;
	first_gap	bigint;
BEGIN
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
		RAISE EXCEPTION 'order_mgmt consumers need READ COMMITTED'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = pg_catalog.format('The transaction runs at %s; the feed is numbered from fresh snapshots.',
											 pg_catalog.current_setting('transaction_isolation')),
				  HINT = 'Fetch events in a READ COMMITTED transaction.';
	END IF;

	SELECT * INTO st FROM @extschema@.feed_state FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;

	-- the last position handed out: every transaction holding a position up
	-- to it had its xid before next_xid (an event's xid is always assigned
	-- before its position is drawn), and the snapshot comes after both
	SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO drawn
	  FROM @extschema@.outbox_position_seq s;
	SELECT @extschema@.next_xact_id() INTO next_xid;
	SELECT pg_catalog.pg_current_snapshot() INTO snap;
	own_xid := pg_catalog.pg_current_xact_id_if_assigned();

	INSERT INTO @extschema@.event_feed (seq, position)
	SELECT pg_catalog.nextval('@extschema@.event_feed_seq'::pg_catalog.regclass), c.position
	  FROM (SELECT o.position
			  FROM @extschema@.outbox o
			 WHERE o.position OPERATOR(pg_catalog.>) st.low_position
			   AND NOT EXISTS (SELECT FROM @extschema@.event_feed f
								WHERE f.position OPERATOR(pg_catalog.=) o.position)
			 ORDER BY o.position) c;
	GET DIAGNOSTICS added = ROW_COUNT;

	-- how far are the gaps known to be dead?
	dead_until := st.low_position;
	IF st.pending_horizon IS NOT NULL
	   AND pg_catalog.pg_snapshot_xmin(snap) OPERATOR(pg_catalog.>=) st.pending_horizon THEN
		dead_until := st.pending_until;
	END IF;
	-- nothing else running below next_xid?  The snapshot lists running xids
	-- below its xmax; every xid from xmax up to next_xid is running too (all
	-- completed xids are below xmax), and one of them may be our own
	unlisted := pg_catalog.int8(next_xid::pg_catalog.text)
		OPERATOR(pg_catalog.-) pg_catalog.int8(pg_catalog.pg_snapshot_xmax(snap)::pg_catalog.text);
	IF own_xid IS NOT NULL
	   AND own_xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmax(snap)
	   AND own_xid OPERATOR(pg_catalog.<) next_xid THEN
		unlisted := unlisted OPERATOR(pg_catalog.-) 1;
	END IF;
	IF unlisted OPERATOR(pg_catalog.<=) 0
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_snapshot_xip(snap)) THEN
		dead_until := drawn;
	END IF;
	new_low := GREATEST(st.low_position, LEAST(dead_until, drawn));

	-- then over numbered positions, up to the first gap
	SELECT pg_catalog.min(g) INTO first_gap
	  FROM pg_catalog.generate_series(new_low OPERATOR(pg_catalog.+) 1, drawn) AS g
	 WHERE NOT EXISTS (SELECT FROM @extschema@.event_feed f
						WHERE f.position OPERATOR(pg_catalog.=) g);
	new_low := CASE WHEN first_gap IS NULL THEN GREATEST(new_low, drawn)
					ELSE first_gap OPERATOR(pg_catalog.-) 1 END;

	IF new_low OPERATOR(pg_catalog.>=) drawn THEN
		st.pending_until := NULL;
		st.pending_horizon := NULL;
	ELSIF st.pending_horizon IS NULL OR dead_until OPERATOR(pg_catalog.=) st.pending_until THEN
		-- wait for everything running now before declaring these gaps dead
		st.pending_until := drawn;
		st.pending_horizon := next_xid;
	END IF;

	UPDATE @extschema@.feed_state
	   SET low_position = new_low, pending_until = st.pending_until,
		   pending_horizon = st.pending_horizon
	 WHERE singleton;
	RETURN added;
END
$$;

COMMENT ON FUNCTION @extschema@.sequence_events() IS
	'Numbers newly visible outbox events in commit order; fetch_events calls it';

-- Register a polling consumer; it starts after the events already
-- committed, or at the oldest event kept when from_beginning.
CREATE FUNCTION @extschema@.register_consumer(consumer text, from_beginning boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	start_seq bigint := 0;
BEGIN
	IF consumer OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_.:-]{1,63}$' THEN
		RAISE EXCEPTION 'invalid consumer name "%"', pg_catalog.left(consumer, 80)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A consumer name has 1 to 63 letters, digits or the characters _ . : -';
	END IF;
	IF NOT from_beginning THEN
		PERFORM @extschema@.sequence_events();
		SELECT COALESCE(pg_catalog.max(f.seq), 0) INTO start_seq FROM @extschema@.event_feed f;
	END IF;
	INSERT INTO @extschema@.consumers (name, acked_seq, registered_at)
	VALUES (consumer, start_seq, pg_catalog.now());
	RETURN start_seq;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'consumer "%" already exists', consumer
		USING ERRCODE = 'duplicate_object';
END
$$;

COMMENT ON FUNCTION @extschema@.register_consumer(text, boolean) IS
	'Registers a polling consumer and returns the feed seq it starts after';

CREATE FUNCTION @extschema@.unregister_consumer(consumer text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.consumers c WHERE c.name OPERATOR(pg_catalog.=) consumer;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'consumer "%" does not exist', consumer USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.unregister_consumer(text) IS
	'Removes a polling consumer, so retention no longer waits for it';

-- The consumer's next events, in commit order.  The consumer's row stays
-- locked until the transaction ends, so two workers of one consumer take
-- turns; acknowledging in the same transaction as the work done with the
-- events makes that work exactly-once.
CREATE FUNCTION @extschema@.fetch_events(consumer text, max_events integer DEFAULT 100)
RETURNS TABLE (seq bigint, id uuid, event_position bigint, type text, aggregateid uuid,
			   order_version integer, payload jsonb, occurred_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	acked bigint;
BEGIN
	IF consumer IS NULL OR max_events IS NULL THEN
		RAISE EXCEPTION 'null value not allowed for argument "%" of fetch_events()',
			CASE WHEN consumer IS NULL THEN 'consumer' ELSE 'max_events' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF max_events OPERATOR(pg_catalog.<) 1 OR max_events OPERATOR(pg_catalog.>) 10000 THEN
		RAISE EXCEPTION 'max_events must be between 1 and 10000'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('max_events is %s.', max_events);
	END IF;
	SELECT c.acked_seq INTO acked FROM @extschema@.consumers c
	 WHERE c.name OPERATOR(pg_catalog.=) consumer FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'consumer "%" does not exist', consumer
			USING ERRCODE = 'undefined_object',
				  HINT = 'Register it with order_mgmt.register_consumer().';
	END IF;
	PERFORM @extschema@.sequence_events();
	RETURN QUERY
		SELECT f.seq, o.id, o.position, o.type, o.aggregateid, o.order_version, o.payload, o.occurred_at
		  FROM @extschema@.event_feed f
		  JOIN @extschema@.outbox o ON o.position OPERATOR(pg_catalog.=) f.position
		 WHERE f.seq OPERATOR(pg_catalog.>) acked
		 ORDER BY f.seq
		 LIMIT max_events;
END
$$;

COMMENT ON FUNCTION @extschema@.fetch_events(text, integer) IS
	'Returns a consumer''s next events after its acknowledged seq, in commit order';

CREATE FUNCTION @extschema@.ack_events(consumer text, upto_seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	acked bigint;
	newest bigint;
BEGIN
	IF consumer IS NULL OR upto_seq IS NULL THEN
		RAISE EXCEPTION 'null value not allowed for argument "%" of ack_events()',
			CASE WHEN consumer IS NULL THEN 'consumer' ELSE 'upto_seq' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT COALESCE(pg_catalog.max(f.seq), 0) INTO newest FROM @extschema@.event_feed f;
	IF upto_seq OPERATOR(pg_catalog.>) newest THEN
		RAISE EXCEPTION 'cannot acknowledge events that were not delivered'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('upto_seq is %s; the newest delivered seq is %s.', upto_seq, newest);
	END IF;
	UPDATE @extschema@.consumers c
	   SET acked_seq = GREATEST(c.acked_seq, upto_seq), acked_at = pg_catalog.now()
	 WHERE c.name OPERATOR(pg_catalog.=) consumer
	RETURNING c.acked_seq INTO acked;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'consumer "%" does not exist', consumer USING ERRCODE = 'undefined_object';
	END IF;
	RETURN acked;
END
$$;

COMMENT ON FUNCTION @extschema@.ack_events(text, bigint) IS
	'Acknowledges a consumer''s events up to a seq (never moves backwards); returns the acknowledged seq';

-- Retention: remove events every consumer has acknowledged (all events,
-- when there are no consumers) that are older than keep.
CREATE FUNCTION @extschema@.purge_events(keep interval DEFAULT '1 hour')
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	limit_seq bigint;
	low bigint;
	removed bigint;
BEGIN
	IF keep OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
		RAISE EXCEPTION 'keep must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT pg_catalog.min(c.acked_seq) INTO limit_seq FROM @extschema@.consumers c;
	IF limit_seq IS NULL THEN
		-- no polling consumers: CDC readers took the events from the WAL
		DELETE FROM @extschema@.outbox o
		 WHERE o.occurred_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep);
		GET DIAGNOSTICS removed = ROW_COUNT;
		DELETE FROM @extschema@.event_feed f
		 WHERE NOT EXISTS (SELECT FROM @extschema@.outbox o
							WHERE o.position OPERATOR(pg_catalog.=) f.position);
		RETURN removed;
	END IF;
	SELECT s.low_position INTO low FROM @extschema@.feed_state s;
	WITH gone AS (
		DELETE FROM @extschema@.event_feed f
		 USING @extschema@.outbox o
		 WHERE o.position OPERATOR(pg_catalog.=) f.position
		   AND f.seq OPERATOR(pg_catalog.<=) limit_seq
		   AND f.position OPERATOR(pg_catalog.<=) low
		   AND o.occurred_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep)
		RETURNING f.position)
	DELETE FROM @extschema@.outbox o USING gone g
	 WHERE o.position OPERATOR(pg_catalog.=) g.position;
	GET DIAGNOSTICS removed = ROW_COUNT;
	RETURN removed;
END
$$;

COMMENT ON FUNCTION @extschema@.purge_events(interval) IS
	'Deletes events older than keep that every polling consumer has acknowledged';

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
REVOKE ALL ON FUNCTION @extschema@.sequence_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.next_xact_id() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.register_consumer(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unregister_consumer(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.fetch_events(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ack_events(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.purge_events(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.guard_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.forbid_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.orders_before_update() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.orders_after_update() FROM PUBLIC;
