-- A hostile search_path changes nothing the extension does.
--
-- An unprivileged role that may call the order functions plants, in a schema
-- of its own that it puts FIRST in search_path (before pg_catalog, and also
-- after pg_temp), functions named like the pg_catalog functions the
-- extension's SQL and SPI use, operators on uuid/text/bigint/integer/jsonb
-- and tables and views named like the extension's tables.  Every planted
-- function and operator records its call in a log table (and returns the
-- right answer, so a call could not hide behind an error).  Then the role
-- calls every function it was granted, and changes an order's status directly
-- (the lifecycle triggers, which are not SECURITY DEFINER, write the event as
-- the table's owner under the caller's search_path).  The results are right,
-- the events land in order_mgmt.outbox, and the log and the planted tables
-- stay empty.
--
-- Carts of this file are 96000000-..., customers c9600000-..., products a9600000-...

CREATE ROLE regress_om_hostile;
CREATE SCHEMA hostile AUTHORIZATION regress_om_hostile;
GRANT USAGE ON SCHEMA order_mgmt TO regress_om_hostile;
GRANT EXECUTE ON FUNCTION order_mgmt.create_order(jsonb),
  order_mgmt.cancel_order(uuid, text, integer),
  order_mgmt.complete_order(uuid, integer),
  order_mgmt.get_order(uuid),
  order_mgmt.register_consumer(text, boolean),
  order_mgmt.fetch_events(text, integer),
  order_mgmt.ack_events(text, bigint),
  order_mgmt.unregister_consumer(text)
  TO regress_om_hostile;
-- for the direct status change through the lifecycle triggers
GRANT SELECT, UPDATE ON order_mgmt.orders TO regress_om_hostile;

SET ROLE regress_om_hostile;

-- the log every planted object writes to
CREATE TABLE hostile.calls (what text NOT NULL);
CREATE FUNCTION hostile.called(what text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog
AS $$ INSERT INTO hostile.calls VALUES (what) $$;

-- look-alike functions (same signature as in pg_catalog, so they win when
-- their schema comes first); each logs and then does the real thing
CREATE FUNCTION hostile.nextval(regclass) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('nextval'); RETURN pg_catalog.nextval($1); END $$;
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION hostile.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION hostile.lower(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('lower'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION hostile.upper(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('upper'); RETURN pg_catalog.upper($1); END $$;
CREATE FUNCTION hostile."left"(text, integer) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('left'); RETURN pg_catalog."left"($1, $2); END $$;
CREATE FUNCTION hostile.format(text, VARIADIC text[]) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('format'); RETURN pg_catalog.format($1, VARIADIC $2); END $$;
CREATE FUNCTION hostile.format(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('format'); RETURN pg_catalog.format($1); END $$;
CREATE FUNCTION hostile.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('jsonb_build_object'); RETURN pg_catalog.jsonb_object($1); END $$;
CREATE FUNCTION hostile.jsonb_build_object() RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('jsonb_build_object'); RETURN '{}'::jsonb; END $$;
CREATE FUNCTION hostile.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('jsonb_array_elements'); RETURN QUERY SELECT pg_catalog.jsonb_array_elements($1); END $$;
CREATE FUNCTION hostile.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('jsonb_typeof'); RETURN pg_catalog.jsonb_typeof($1); END $$;
CREATE FUNCTION hostile.pg_notify(text, text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_notify'); PERFORM pg_catalog.pg_notify($1, $2); END $$;
CREATE FUNCTION hostile.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_current_xact_id'); RETURN pg_catalog.pg_current_xact_id(); END $$;
CREATE FUNCTION hostile.pg_current_xact_id_if_assigned() RETURNS xid8 LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_current_xact_id_if_assigned'); RETURN pg_catalog.pg_current_xact_id_if_assigned(); END $$;
CREATE FUNCTION hostile.txid_current() RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('txid_current'); RETURN pg_catalog.txid_current(); END $$;
CREATE FUNCTION hostile.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_current_snapshot'); RETURN pg_catalog.pg_current_snapshot(); END $$;
CREATE FUNCTION hostile.current_setting(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('current_setting'); RETURN pg_catalog.current_setting($1); END $$;
CREATE FUNCTION hostile.int8(text) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('int8'); RETURN pg_catalog.int8($1); END $$;
CREATE FUNCTION hostile.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('gen_random_uuid'); RETURN pg_catalog.gen_random_uuid(); END $$;
CREATE FUNCTION hostile.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION hostile.generate_series(bigint, bigint) RETURNS SETOF bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('generate_series'); RETURN QUERY SELECT pg_catalog.generate_series($1, $2); END $$;
-- look-alike aggregates
CREATE FUNCTION hostile.count_step(bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('count'); RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE hostile.count(*) (sfunc = hostile.count_step, stype = bigint, initcond = '0');
CREATE FUNCTION hostile.max_step(bigint, bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('max'); RETURN GREATEST($1, $2); END $$;
CREATE AGGREGATE hostile.max(bigint) (sfunc = hostile.max_step, stype = bigint);
CREATE FUNCTION hostile.min_step(bigint, bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('min'); RETURN LEAST($1, $2); END $$;
CREATE AGGREGATE hostile.min(bigint) (sfunc = hostile.min_step, stype = bigint);

-- look-alike operators; each logs and returns the real result
CREATE FUNCTION hostile.op(what text, r anyelement) RETURNS anyelement LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called(what); RETURN r; END $$;
CREATE FUNCTION hostile.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('uuid =', $1 OPERATOR(pg_catalog.=) $2) $$;
CREATE OPERATOR hostile.= (leftarg = uuid, rightarg = uuid, function = hostile.uuid_eq);
CREATE FUNCTION hostile.uuid_ne(uuid, uuid) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('uuid <>', $1 OPERATOR(pg_catalog.<>) $2) $$;
CREATE OPERATOR hostile.<> (leftarg = uuid, rightarg = uuid, function = hostile.uuid_ne);
CREATE FUNCTION hostile.text_eq(text, text) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('text =', $1 OPERATOR(pg_catalog.=) $2) $$;
CREATE OPERATOR hostile.= (leftarg = text, rightarg = text, function = hostile.text_eq);
CREATE FUNCTION hostile.text_ne(text, text) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('text <>', $1 OPERATOR(pg_catalog.<>) $2) $$;
CREATE OPERATOR hostile.<> (leftarg = text, rightarg = text, function = hostile.text_ne);
CREATE FUNCTION hostile.text_re(text, text) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('text ~', $1 OPERATOR(pg_catalog.~) $2) $$;
CREATE OPERATOR hostile.~ (leftarg = text, rightarg = text, function = hostile.text_re);
CREATE FUNCTION hostile.text_nre(text, text) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('text !~', $1 OPERATOR(pg_catalog.!~) $2) $$;
CREATE OPERATOR hostile.!~ (leftarg = text, rightarg = text, function = hostile.text_nre);
CREATE FUNCTION hostile.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint =', $1 OPERATOR(pg_catalog.=) $2) $$;
CREATE OPERATOR hostile.= (leftarg = bigint, rightarg = bigint, function = hostile.int8_eq);
CREATE FUNCTION hostile.int8_lt(bigint, bigint) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint <', $1 OPERATOR(pg_catalog.<) $2) $$;
CREATE OPERATOR hostile.< (leftarg = bigint, rightarg = bigint, function = hostile.int8_lt);
CREATE FUNCTION hostile.int8_gt(bigint, bigint) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint >', $1 OPERATOR(pg_catalog.>) $2) $$;
CREATE OPERATOR hostile.> (leftarg = bigint, rightarg = bigint, function = hostile.int8_gt);
CREATE FUNCTION hostile.int8_le(bigint, bigint) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint <=', $1 OPERATOR(pg_catalog.<=) $2) $$;
CREATE OPERATOR hostile.<= (leftarg = bigint, rightarg = bigint, function = hostile.int8_le);
CREATE FUNCTION hostile.int8_ge(bigint, bigint) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint >=', $1 OPERATOR(pg_catalog.>=) $2) $$;
CREATE OPERATOR hostile.>= (leftarg = bigint, rightarg = bigint, function = hostile.int8_ge);
CREATE FUNCTION hostile.int8_pl(bigint, bigint) RETURNS bigint LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint +', $1 OPERATOR(pg_catalog.+) $2) $$;
CREATE OPERATOR hostile.+ (leftarg = bigint, rightarg = bigint, function = hostile.int8_pl);
CREATE FUNCTION hostile.int8_mi(bigint, bigint) RETURNS bigint LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('bigint -', $1 OPERATOR(pg_catalog.-) $2) $$;
CREATE OPERATOR hostile.- (leftarg = bigint, rightarg = bigint, function = hostile.int8_mi);
CREATE FUNCTION hostile.int4_eq(integer, integer) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('integer =', $1 OPERATOR(pg_catalog.=) $2) $$;
CREATE OPERATOR hostile.= (leftarg = integer, rightarg = integer, function = hostile.int4_eq);
CREATE FUNCTION hostile.int4_lt(integer, integer) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('integer <', $1 OPERATOR(pg_catalog.<) $2) $$;
CREATE OPERATOR hostile.< (leftarg = integer, rightarg = integer, function = hostile.int4_lt);
CREATE FUNCTION hostile.int4_gt(integer, integer) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('integer >', $1 OPERATOR(pg_catalog.>) $2) $$;
CREATE OPERATOR hostile.> (leftarg = integer, rightarg = integer, function = hostile.int4_gt);
CREATE FUNCTION hostile.int4_pl(integer, integer) RETURNS integer LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('integer +', $1 OPERATOR(pg_catalog.+) $2) $$;
CREATE OPERATOR hostile.+ (leftarg = integer, rightarg = integer, function = hostile.int4_pl);
CREATE FUNCTION hostile.jsonb_get(jsonb, text) RETURNS jsonb LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('jsonb ->', $1 OPERATOR(pg_catalog.->) $2) $$;
CREATE OPERATOR hostile.-> (leftarg = jsonb, rightarg = text, function = hostile.jsonb_get);
CREATE FUNCTION hostile.jsonb_get_text(jsonb, text) RETURNS text LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('jsonb ->>', $1 OPERATOR(pg_catalog.->>) $2) $$;
CREATE OPERATOR hostile.->> (leftarg = jsonb, rightarg = text, function = hostile.jsonb_get_text);
CREATE FUNCTION hostile.jsonb_eq(jsonb, jsonb) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('jsonb =', $1 OPERATOR(pg_catalog.=) $2) $$;
CREATE OPERATOR hostile.= (leftarg = jsonb, rightarg = jsonb, function = hostile.jsonb_eq);
CREATE FUNCTION hostile.ts_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('timestamptz <', $1 OPERATOR(pg_catalog.<) $2) $$;
CREATE OPERATOR hostile.< (leftarg = timestamptz, rightarg = timestamptz, function = hostile.ts_lt);
CREATE FUNCTION hostile.ts_mi(timestamptz, interval) RETURNS timestamptz LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('timestamptz -', $1 OPERATOR(pg_catalog.-) $2) $$;
CREATE OPERATOR hostile.- (leftarg = timestamptz, rightarg = interval, function = hostile.ts_mi);

-- look-alike tables, sequences and views
CREATE TABLE hostile.orders (LIKE order_mgmt.orders);
CREATE TABLE hostile.order_lines (order_id uuid, line_no integer, product_id uuid, quantity integer, unit_price bigint);
CREATE SEQUENCE hostile.outbox_position_seq;
CREATE TABLE hostile.outbox (position bigint DEFAULT nextval('hostile.outbox_position_seq'), id uuid,
  aggregatetype text, aggregateid uuid, type text, payload jsonb, order_version integer, schema_version text,
  occurred_at timestamptz, xact_id xid8);
CREATE TABLE hostile.event_feed (seq bigint, position bigint);
CREATE SEQUENCE hostile.event_feed_seq;
CREATE TABLE hostile.feed_state (singleton boolean, low_position bigint, pending_until bigint,
                                 pending_horizon xid8);
CREATE FUNCTION hostile.consumers_read() RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('view consumers'); END $$;
CREATE VIEW hostile.consumers AS SELECT c AS name, 0::bigint AS acked_seq, now() AS registered_at,
                                        now() AS acked_at FROM hostile.consumers_read() c;
CREATE VIEW hostile.currencies AS SELECT c AS code, 2::smallint AS minor_unit FROM hostile.consumers_read() c;
-- and the same tables again in pg_temp
CREATE TEMP TABLE orders (LIKE order_mgmt.orders);
CREATE TEMP TABLE order_lines (LIKE hostile.order_lines);
CREATE TEMP TABLE outbox (LIKE hostile.outbox);
CREATE TEMP TABLE event_feed (seq bigint, position bigint);
CREATE TEMP TABLE feed_state (singleton boolean, low_position bigint, pending_until bigint,
                              pending_horizon xid8);
CREATE TEMP TABLE consumers (name text, acked_seq bigint, registered_at timestamptz, acked_at timestamptz);

-- the planted objects work: with the hostile schema first, pg_catalog's
-- look-alikes lose (this also proves the log catches calls)
SET search_path = hostile, pg_catalog;
SELECT now() IS NOT NULL AS planted_now_runs,
       '1'::bigint + '2'::bigint AS planted_plus,
       lower('A') AS planted_lower;
SELECT what, count(*) AS calls FROM hostile.calls GROUP BY what ORDER BY what;
RESET search_path;
TRUNCATE hostile.calls;
RESET ROLE;

-- the commands, built with the real search_path
SELECT '{"cartId": "96000000-0000-4000-8000-000000000001", "customerId": "c9600000-0000-4000-8000-000000000001", "items": [{"productId": "a9600000-0000-4000-8000-000000000001", "quantity": 2, "unitPrice": 250}, {"productId": "a9600000-0000-4000-8000-000000000002", "quantity": 1, "unitPrice": 99}], "total": 599, "currency": "EUR", "paymentAuthorizationId": "pay-hostile-1"}' AS cmd1 \gset
SELECT '{"cartId": "96000000-0000-4000-8000-000000000002", "customerId": "c9600000-0000-4000-8000-000000000001", "items": [{"productId": "a9600000-0000-4000-8000-000000000003", "quantity": 1, "unitPrice": 1000}], "total": 1000, "currency": "JPY"}' AS cmd2 \gset
SELECT '{"cartId": "96000000-0000-4000-8000-000000000003", "customerId": "c9600000-0000-4000-8000-000000000002", "items": [{"productId": "a9600000-0000-4000-8000-000000000001", "quantity": 3, "unitPrice": 5}], "total": 15, "currency": "CHF"}' AS cmd3 \gset
SELECT '{"cartId": "96000000-0000-4000-8000-000000000004", "customerId": "c9600000-0000-4000-8000-000000000002", "items": [{"productId": "a9600000-0000-4000-8000-000000000002", "quantity": 1, "unitPrice": 7}], "total": 7, "currency": "USD"}' AS cmd4 \gset
SELECT '{"cartId": "96000000-0000-4000-8000-000000000005", "customerId": "c9600000-0000-4000-8000-000000000003", "items": [{"productId": "a9600000-0000-4000-8000-000000000002", "quantity": 4, "unitPrice": 10}], "total": 40, "currency": "GBP"}' AS cmd5 \gset
SELECT '{"cartId": "96000000-0000-4000-8000-000000000006", "customerId": "c9600000-0000-4000-8000-000000000003", "items": [{"productId": "a9600000-0000-4000-8000-000000000003", "quantity": 1, "unitPrice": 1}], "total": 1, "currency": "EUR"}' AS cmd6 \gset
SELECT coalesce(max(position), 0) AS outbox_before FROM order_mgmt.outbox \gset
-- every event path runs: notifications at commit and logical decoding
-- messages besides the outbox rows (set by the superuser for the session)
SET order_mgmt.notifications = in_process;
SET order_mgmt.event_mode = outbox_and_message;

------------------------------------------------------------------------
-- 1. the hostile schema first, then pg_catalog, then the temp schema
------------------------------------------------------------------------
SET ROLE regress_om_hostile;
SET search_path = hostile, pg_catalog, pg_temp;
SELECT order_mgmt.register_consumer('hostile_c') AS c_start \gset
SELECT order_mgmt.create_order(:'cmd1') AS o1 \gset
SELECT order_mgmt.create_order(:'cmd2') AS o2 \gset
SELECT order_mgmt.create_order(:'cmd3') AS o3 \gset
-- replay of the same cart: same id, no second event
SELECT order_mgmt.create_order(:'cmd1') AS o1_again \gset
SELECT order_mgmt.complete_order(:'o1') AS o1_version;
SELECT order_mgmt.cancel_order(:'o2', 'OUT_OF_STOCK', 1) AS o2_version;
-- the errors keep their SQLSTATEs (messages name order ids: show the codes only)
\set VERBOSITY sqlstate
SELECT order_mgmt.complete_order(:'o2');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'o3', 'NOT_A_REASON');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.cancel_order(:'o3', 'FRAUD', 7);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'cmd3'::jsonb || '{"total": 16}');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT order_mgmt.get_order(:'o1')::text AS g1 \gset
SELECT order_mgmt.get_order(:'o2')::text AS g2 \gset
-- a direct status change: the triggers write the event as the table's owner
UPDATE order_mgmt.orders SET status = 'CANCELLED', cancellation_reason = 'PAYMENT_FAILED'
WHERE order_id OPERATOR(pg_catalog.=) :'o3';
SELECT order_mgmt.get_order(:'o3')::text AS g3 \gset
-- the consumer's view of it
SELECT type, order_version FROM order_mgmt.fetch_events('hostile_c');
SELECT order_mgmt.ack_events('hostile_c', (SELECT pg_catalog.max(seq) FROM order_mgmt.fetch_events('hostile_c'))) AS c_acked \gset
SELECT type FROM order_mgmt.fetch_events('hostile_c', 5) AS nothing_left;
SELECT order_mgmt.unregister_consumer('hostile_c');
RESET search_path;
RESET ROLE;

SELECT count(*) AS hostile_calls_1 FROM hostile.calls;
SELECT :'o1' = :'o1_again' AS replay_same_id;
SELECT :c_acked > :c_start AS consumer_acked_forward;
-- what the functions returned is right
SELECT g ->> 'status' AS status, (g ->> 'version')::int AS version, g ->> 'orderId' = :'o1' AS id_ok,
       g ->> 'currency' AS currency, (g ->> 'total')::bigint AS total, g -> 'items' AS items,
       g ->> 'paymentAuthorizationId' AS pay, g ? 'completedAt' AS has_completed_at,
       g = order_mgmt.get_order(:'o1') AS same_as_normal_path
FROM (SELECT :'g1'::jsonb AS g) s;
SELECT g ->> 'status' AS status, (g ->> 'version')::int AS version, g ->> 'cancellationReason' AS reason,
       g = order_mgmt.get_order(:'o2') AS same_as_normal_path
FROM (SELECT :'g2'::jsonb AS g) s;
SELECT g ->> 'status' AS status, (g ->> 'version')::int AS version, g ->> 'cancellationReason' AS reason,
       g = order_mgmt.get_order(:'o3') AS same_as_normal_path
FROM (SELECT :'g3'::jsonb AS g) s;
-- the events are in order_mgmt.outbox, one per change, with the right payloads
SELECT type, order_version, payload ->> 'orderId' = aggregateid::text AS payload_names_order,
       CASE WHEN aggregateid = :'o1' THEN 'o1' WHEN aggregateid = :'o2' THEN 'o2' ELSE 'o3' END AS ord,
       payload ->> 'cancellationReason' AS reason
FROM order_mgmt.outbox WHERE position > :outbox_before ORDER BY position;
SELECT count(*) AS lines FROM order_mgmt.order_lines WHERE order_id IN (:'o1', :'o2', :'o3');
SELECT count(*) AS consumers_left FROM order_mgmt.consumers WHERE name = 'hostile_c';

------------------------------------------------------------------------
-- 2. the temp schema first, then the hostile schema, then pg_catalog
-- (temporary tables shadow everything; functions and operators are never
-- looked up in pg_temp)
------------------------------------------------------------------------
SELECT max(position) AS outbox_before2 FROM order_mgmt.outbox \gset
SET ROLE regress_om_hostile;
SET search_path = pg_temp, hostile, pg_catalog;
SELECT order_mgmt.register_consumer('hostile_d') AS d_start \gset
SELECT order_mgmt.create_order(:'cmd4') AS o4 \gset
SELECT order_mgmt.complete_order(:'o4', 1) AS o4_version;
SELECT order_mgmt.get_order(:'o4')::text AS g4 \gset
SELECT type, order_version FROM order_mgmt.fetch_events('hostile_d');
SELECT order_mgmt.ack_events('hostile_d', (SELECT pg_catalog.max(seq) FROM order_mgmt.fetch_events('hostile_d'))) AS d_acked \gset
SELECT order_mgmt.unregister_consumer('hostile_d');
RESET search_path;
RESET ROLE;
SELECT count(*) AS hostile_calls_2 FROM hostile.calls;
SELECT g ->> 'status' AS status, (g ->> 'version')::int AS version, g ->> 'orderId' = :'o4' AS id_ok,
       g = order_mgmt.get_order(:'o4') AS same_as_normal_path
FROM (SELECT :'g4'::jsonb AS g) s;
SELECT type, order_version, aggregateid = :'o4' AS is_o4
FROM order_mgmt.outbox WHERE position > :outbox_before2 ORDER BY position;

------------------------------------------------------------------------
-- 3. only the hostile schema (pg_catalog is then searched first, so only
-- look-alikes with a better type match could win)
------------------------------------------------------------------------
SELECT max(position) AS outbox_before3 FROM order_mgmt.outbox \gset
SET ROLE regress_om_hostile;
SET search_path = hostile;
SELECT order_mgmt.register_consumer('hostile_e') AS e_start \gset
SELECT order_mgmt.create_order(:'cmd5') AS o5 \gset
SELECT order_mgmt.create_order(:'cmd6') AS o6 \gset
SELECT order_mgmt.cancel_order(:'o5', 'CUSTOMER_REQUESTED') AS o5_version;
UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id OPERATOR(pg_catalog.=) :'o6';
SELECT order_mgmt.get_order(:'o5')::text AS g5 \gset
SELECT type, order_version FROM order_mgmt.fetch_events('hostile_e');
SELECT order_mgmt.ack_events('hostile_e', (SELECT pg_catalog.max(seq) FROM order_mgmt.fetch_events('hostile_e'))) AS e_acked \gset
SELECT order_mgmt.unregister_consumer('hostile_e');
RESET search_path;
RESET ROLE;
SELECT count(*) AS hostile_calls_3 FROM hostile.calls;
SELECT g ->> 'status' AS status, (g ->> 'version')::int AS version, g ->> 'cancellationReason' AS reason,
       g = order_mgmt.get_order(:'o5') AS same_as_normal_path
FROM (SELECT :'g5'::jsonb AS g) s;
SELECT type, order_version, CASE WHEN aggregateid = :'o5' THEN 'o5' ELSE 'o6' END AS ord
FROM order_mgmt.outbox WHERE position > :outbox_before3 ORDER BY position;

------------------------------------------------------------------------
-- 4. the reports (1.1.0): the views and refresh_reports() under the
-- hostile schema first
------------------------------------------------------------------------
GRANT SELECT ON order_mgmt.order_summary, order_mgmt.customer_orders, order_mgmt.sales_daily,
  order_mgmt.cancellations_by_reason TO regress_om_hostile;
-- the views call currency_codes() and reports_closed_until(), with the caller's privileges
GRANT EXECUTE ON FUNCTION order_mgmt.currency_codes(), order_mgmt.reports_closed_until() TO regress_om_hostile;
SELECT md5(string_agg(v::text, ',' ORDER BY v::text)) AS sd_normal FROM order_mgmt.sales_daily v \gset
SELECT md5(string_agg(v::text, ',' ORDER BY v::text)) AS cr_normal FROM order_mgmt.cancellations_by_reason v \gset
SET ROLE regress_om_hostile;
SET search_path = hostile, pg_catalog, pg_temp;
SELECT status, total, total_amount, line_count, version
FROM order_mgmt.order_summary
WHERE order_id OPERATOR(pg_catalog.=) ANY (ARRAY[:'o1', :'o2', :'o3']::uuid[])
ORDER BY total;
SELECT status, currency, total, total_amount, line_count
FROM order_mgmt.customer_orders
WHERE customer_id OPERATOR(pg_catalog.=) 'c9600000-0000-4000-8000-000000000002'::uuid
ORDER BY total;
SELECT pg_catalog.md5(pg_catalog.string_agg(v::text, ',' ORDER BY v::text)) AS sd_hostile
FROM order_mgmt.sales_daily v \gset
SELECT pg_catalog.md5(pg_catalog.string_agg(v::text, ',' ORDER BY v::text)) AS cr_hostile
FROM order_mgmt.cancellations_by_reason v \gset
RESET ROLE;
-- the owner's refresh, with the same search_path
SELECT order_mgmt.refresh_reports() IS NOT NULL AS refreshed;
RESET search_path;
SELECT count(*) AS hostile_calls_reports FROM hostile.calls;
SELECT :'sd_hostile' = :'sd_normal' AS sales_daily_same,
       :'cr_hostile' = :'cr_normal' AS cancellations_by_reason_same;
REVOKE ALL ON ALL TABLES IN SCHEMA order_mgmt FROM regress_om_hostile;
GRANT SELECT, UPDATE ON order_mgmt.orders TO regress_om_hostile;

------------------------------------------------------------------------
-- 5. the stats views (1.2.0), read by a pg_monitor member under the hostile
-- schema first, with look-alikes of what they use planted as well
------------------------------------------------------------------------
SET ROLE regress_om_hostile;
CREATE FUNCTION hostile.date_part(text, timestamptz) RETURNS double precision LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('date_part'); RETURN pg_catalog.date_part($1, $2); END $$;
CREATE FUNCTION hostile.pg_total_relation_size(regclass) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_total_relation_size'); RETURN pg_catalog.pg_total_relation_size($1); END $$;
CREATE FUNCTION hostile.pg_current_wal_lsn() RETURNS pg_lsn LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_current_wal_lsn'); RETURN pg_catalog.pg_current_wal_lsn(); END $$;
CREATE FUNCTION hostile.pg_is_in_recovery() RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_is_in_recovery'); RETURN pg_catalog.pg_is_in_recovery(); END $$;
CREATE FUNCTION hostile.pg_wal_lsn_diff(pg_lsn, pg_lsn) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('pg_wal_lsn_diff'); RETURN pg_catalog.pg_wal_lsn_diff($1, $2); END $$;
CREATE FUNCTION hostile.current_database() RETURNS name LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('current_database'); RETURN pg_catalog.current_database(); END $$;
CREATE FUNCTION hostile.sum_step(bigint, bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
AS $$ BEGIN PERFORM hostile.called('sum'); RETURN COALESCE($1, 0) OPERATOR(pg_catalog.+) $2; END $$;
CREATE AGGREGATE hostile.sum(bigint) (sfunc = hostile.sum_step, stype = bigint);
CREATE FUNCTION hostile.float8_mi(double precision, double precision) RETURNS double precision LANGUAGE sql
SET search_path = pg_catalog
AS $$ SELECT hostile.op('double precision -', $1 OPERATOR(pg_catalog.-) $2) $$;
CREATE OPERATOR hostile.- (leftarg = double precision, rightarg = double precision, function = hostile.float8_mi);
CREATE FUNCTION hostile.ts_ge(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('timestamptz >=', $1 OPERATOR(pg_catalog.>=) $2) $$;
CREATE OPERATOR hostile.>= (leftarg = timestamptz, rightarg = timestamptz, function = hostile.ts_ge);
CREATE FUNCTION hostile.name_eq(name, name) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog
AS $$ SELECT hostile.op('name =', $1 OPERATOR(pg_catalog.=) $2) $$;
CREATE OPERATOR hostile.= (leftarg = name, rightarg = name, function = hostile.name_eq);
CREATE VIEW hostile.pg_replication_slots AS
SELECT c::name AS slot_name, c::name AS plugin, true AS active, 0 AS active_pid, c AS wal_status,
       NULL::pg_lsn AS confirmed_flush_lsn, NULL::pg_lsn AS restart_lsn, 0::bigint AS safe_wal_size,
       c::name AS database
FROM hostile.consumers_read() c;
CREATE TABLE hostile.sales_buckets (bucket_start timestamptz, currency text, orders_created bigint,
  orders_completed bigint, orders_cancelled bigint, gross_amount numeric, completed_amount numeric,
  cancelled_amount numeric);
CREATE TABLE hostile.report_horizon (closed_until timestamptz, refreshed_at timestamptz);
RESET ROLE;
GRANT pg_monitor TO regress_om_hostile;
-- something in each view: a consumer two events behind, a slot of this database
SELECT order_mgmt.register_consumer('hostile_stats', from_beginning => true) IS NOT NULL AS registered;
SELECT order_mgmt.ack_events('hostile_stats', (SELECT max(seq) - 2 FROM order_mgmt.event_feed)) IS NOT NULL AS acked;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_om_hostile', 'test_decoding');
-- what the owner reads with the normal search_path (the ages move on:
-- compared apart)
CREATE FUNCTION pg_temp.stats_now() RETURNS text LANGUAGE sql SET search_path = pg_catalog AS $$
  SELECT pg_catalog.concat_ws(' | ',
    (SELECT pg_catalog.string_agg(s.status OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) s.orders, ',' ORDER BY s.status)
       FROM order_mgmt.stats_orders s),
    (SELECT r.closed_until::text FROM order_mgmt.stats_reports r),
    (SELECT pg_catalog.concat_ws(',', o.events, o.bytes, o.first_position, o.last_position, o.positions_drawn,
                                 o.oldest_occurred_at, o.unsequenced)
       FROM order_mgmt.stats_outbox o),
    (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(',', c.consumer, c.acked_seq, c.newest_seq, c.events_behind,
                                                       c.seconds_behind OPERATOR(pg_catalog.>) 0), ';' ORDER BY c.consumer)
       FROM order_mgmt.stats_consumers c),
    (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(',', l.slot_name, l.plugin, l.active, l.wal_status,
                                                       l.lag_bytes OPERATOR(pg_catalog.>=) 0), ';' ORDER BY l.slot_name)
       FROM order_mgmt.stats_slots l))
$$;
SELECT pg_temp.stats_now() AS stats_normal \gset
SELECT :'stats_normal' ~ 'hostile_stats,[0-9]+,[0-9]+,2,t' AS two_behind,
       :'stats_normal' ~ 'regress_om_hostile,test_decoding,f,reserved,t' AS slot_listed;
SET ROLE regress_om_hostile;
SET search_path = hostile, pg_catalog, pg_temp;
SELECT pg_catalog.concat_ws(' | ',
    (SELECT pg_catalog.string_agg(s.status OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) s.orders, ',' ORDER BY s.status)
       FROM order_mgmt.stats_orders s),
    (SELECT r.closed_until::text FROM order_mgmt.stats_reports r),
    (SELECT pg_catalog.concat_ws(',', o.events, o.bytes, o.first_position, o.last_position, o.positions_drawn,
                                 o.oldest_occurred_at, o.unsequenced)
       FROM order_mgmt.stats_outbox o),
    (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(',', c.consumer, c.acked_seq, c.newest_seq, c.events_behind,
                                                       c.seconds_behind OPERATOR(pg_catalog.>) 0), ';' ORDER BY c.consumer)
       FROM order_mgmt.stats_consumers c),
    (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(',', l.slot_name, l.plugin, l.active, l.wal_status,
                                                       l.lag_bytes OPERATOR(pg_catalog.>=) 0), ';' ORDER BY l.slot_name)
       FROM order_mgmt.stats_slots l)) AS stats_hostile \gset
SELECT r.horizon_age_seconds OPERATOR(pg_catalog.>) 0 AS horizon_age_read,
       o.oldest_age_seconds OPERATOR(pg_catalog.>) 0 AS outbox_age_read
FROM order_mgmt.stats_reports r, order_mgmt.stats_outbox o;
RESET search_path;
RESET ROLE;
SELECT count(*) AS hostile_calls_stats FROM hostile.calls;
SELECT :'stats_hostile' = :'stats_normal' AS stats_same;
SELECT pg_drop_replication_slot('regress_om_hostile');
SELECT order_mgmt.unregister_consumer('hostile_stats');
REVOKE pg_monitor FROM regress_om_hostile;

-- nothing was written to the planted tables
SET ROLE regress_om_hostile;
SELECT (SELECT count(*) FROM hostile.orders) + (SELECT count(*) FROM hostile.order_lines)
     + (SELECT count(*) FROM hostile.outbox) + (SELECT count(*) FROM hostile.event_feed)
     + (SELECT count(*) FROM hostile.feed_state)
     + (SELECT count(*) FROM pg_temp.orders) + (SELECT count(*) FROM pg_temp.order_lines)
     + (SELECT count(*) FROM pg_temp.outbox) + (SELECT count(*) FROM pg_temp.event_feed)
     + (SELECT count(*) FROM pg_temp.feed_state) + (SELECT count(*) FROM pg_temp.consumers)
       AS rows_in_planted_tables;
SELECT (SELECT last_value FROM hostile.outbox_position_seq) AS planted_outbox_seq,
       (SELECT is_called FROM hostile.outbox_position_seq) AS planted_outbox_seq_used,
       (SELECT is_called FROM hostile.event_feed_seq) AS planted_feed_seq_used;
DROP TABLE pg_temp.orders, pg_temp.order_lines, pg_temp.outbox, pg_temp.event_feed,
           pg_temp.feed_state, pg_temp.consumers;
RESET ROLE;

-- the CloudEvents rendering under the hostile search_path, as the owner
SET search_path = hostile, pg_catalog;
SELECT order_mgmt.cloudevent(o)::text AS ce FROM order_mgmt.outbox o
WHERE o.aggregateid OPERATOR(pg_catalog.=) :'o2'::uuid AND o.type OPERATOR(pg_catalog.=) 'OrderCancelled' \gset
RESET search_path;
SELECT count(*) AS hostile_calls_4 FROM hostile.calls;
SELECT ce ->> 'type' AS ce_type, ce ->> 'subject' = :'o2' AS ce_subject_ok,
       ce -> 'data' = (SELECT payload FROM order_mgmt.outbox WHERE aggregateid = :'o2' AND type = 'OrderCancelled') AS ce_data_ok
FROM (SELECT :'ce'::jsonb AS ce) s;

-- clean up
RESET order_mgmt.notifications;
RESET order_mgmt.event_mode;
SET client_min_messages = warning;
DROP SCHEMA hostile CASCADE;
RESET client_min_messages;
REVOKE ALL ON order_mgmt.orders FROM regress_om_hostile;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA order_mgmt FROM regress_om_hostile;
REVOKE ALL ON SCHEMA order_mgmt FROM regress_om_hostile;
DROP ROLE regress_om_hostile;
