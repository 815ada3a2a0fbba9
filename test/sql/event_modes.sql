-- order_mgmt.event_mode: events as outbox rows, as transactional logical
-- decoding messages (CloudEvents, no table write), or both; read back
-- through real wal2json, test_decoding and pgoutput slots.
--
-- Carts of this file are 80000000-..., customers c8000000-..., products a8000000-...

CREATE FUNCTION pg_temp.em_cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('80000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', 'c8000000-0000-4000-8000-000000000001',
    'items', jsonb_build_array(jsonb_build_object(
        'productId', 'a8000000-0000-4000-8000-000000000001', 'quantity', 2, 'unitPrice', 150)),
    'total', 300, 'currency', 'EUR')
$$;

CREATE PUBLICATION order_mgmt_events FOR TABLE order_mgmt.outbox WITH (publish = 'insert');
SELECT 'init' FROM pg_create_logical_replication_slot('em_wal2json', 'wal2json');
SELECT 'init' FROM pg_create_logical_replication_slot('em_test_decoding', 'test_decoding');
SELECT 'init' FROM pg_create_logical_replication_slot('em_pgoutput', 'pgoutput');

-- the settings exist once the library is loaded
LOAD 'order_mgmt';
SHOW order_mgmt.event_mode;
-- BOTH is an SQL keyword, so the value is spelt outbox_and_message
SET order_mgmt.event_mode = both;
\echo :LAST_ERROR_SQLSTATE
SET order_mgmt.event_mode = nonsense;
\echo :LAST_ERROR_SQLSTATE

CREATE TEMP TABLE em_outbox_before AS SELECT count(*) AS n FROM order_mgmt.outbox;

------------------------------------------------------------------------
-- message: no outbox row, one transactional message per event
------------------------------------------------------------------------
SET order_mgmt.event_mode = message;
SELECT order_mgmt.create_order(pg_temp.em_cmd(1)) AS m1 \gset
SELECT order_mgmt.complete_order(:'m1') AS m1_version;
-- rolled back: its message must never be decoded
BEGIN;
SELECT order_mgmt.create_order(pg_temp.em_cmd(2)) IS NOT NULL AS created_then_rolled_back;
ROLLBACK;
SELECT (SELECT count(*) FROM order_mgmt.outbox) - n AS outbox_rows_written FROM em_outbox_before;

-- wal2json sees two messages (one per committed event), no outbox rows
CREATE TEMP TABLE em_w2j AS
SELECT data::jsonb AS change
FROM pg_logical_slot_get_changes('em_wal2json', NULL, NULL, 'format-version', '2',
                                 'add-tables', 'order_mgmt.outbox')
WHERE data::jsonb ->> 'action' IN ('I', 'M');
SELECT change ->> 'action' AS action, change ->> 'prefix' AS prefix,
       (change ->> 'transactional')::boolean AS transactional,
       (change ->> 'content')::jsonb ->> 'type' AS type,
       (change ->> 'content')::jsonb ->> 'subject' = :'m1' AS subject_is_order,
       (change ->> 'content')::jsonb -> 'orderversion' AS orderversion
FROM em_w2j ORDER BY (change ->> 'content')::jsonb -> 'orderversion';

-- each message is a CloudEvents 1.0 structured event wrapping the v1.0.0 payload
SELECT ce ->> 'specversion' AS specversion, ce ->> 'source' AS source,
       ce ->> 'datacontenttype' AS datacontenttype, ce ->> 'dataschema' AS dataschema,
       ce ->> 'id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS id_is_uuidv7,
       ce ->> 'time' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS time_is_rfc3339_utc,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(ce -> 'data') AS k) AS data_keys,
       ce -> 'data' ->> 'orderId' = :'m1' AS data_order_is_order
FROM (SELECT (change ->> 'content')::jsonb AS ce FROM em_w2j) s
ORDER BY ce -> 'orderversion';
-- the payload agrees with the order
SELECT (ce -> 'data' ->> 'completedAt') = (order_mgmt.get_order(:'m1') ->> 'completedAt') AS completed_at_matches,
       (ce ->> 'time') = (ce -> 'data' ->> 'completedAt') AS time_is_completion
FROM (SELECT (change ->> 'content')::jsonb AS ce FROM em_w2j) s
WHERE ce ->> 'type' = 'OrderCompleted';

-- test_decoding shows the same two messages, transactional, prefix order_mgmt
SELECT substring(data FROM '^message: transactional: 1 prefix: order_mgmt, sz: \d+ content:') IS NOT NULL AS is_order_mgmt_message,
       substring(data FROM 'content:(.*)$')::jsonb ->> 'type' AS type
FROM pg_logical_slot_get_changes('em_test_decoding', NULL, NULL)
WHERE data LIKE 'message:%'
ORDER BY substring(data FROM 'content:(.*)$')::jsonb -> 'orderversion';

-- pgoutput with messages = true streams them too (binary protocol: look for the prefix and the event ids)
SELECT count(*) AS pgoutput_messages_with_event_id
FROM pg_logical_slot_get_binary_changes('em_pgoutput', NULL, NULL,
        'proto_version', '1', 'publication_names', 'order_mgmt_events', 'messages', 'true') c,
     em_w2j w
WHERE get_byte(c.data, 0) = ascii('M')
  AND position(convert_to('order_mgmt', 'UTF8') IN c.data) > 0
  AND position(convert_to((w.change ->> 'content')::jsonb ->> 'id', 'UTF8') IN c.data) > 0;

------------------------------------------------------------------------
-- outbox_and_message: the row and the message carry the same event
------------------------------------------------------------------------
SET order_mgmt.event_mode = outbox_and_message;
SELECT order_mgmt.create_order(pg_temp.em_cmd(3)) AS b1 \gset
SELECT order_mgmt.cancel_order(:'b1', 'OUT_OF_STOCK') AS b1_version;
CREATE TEMP TABLE em_both AS
SELECT data::jsonb AS change
FROM pg_logical_slot_get_changes('em_wal2json', NULL, NULL, 'format-version', '2',
                                 'add-tables', 'order_mgmt.outbox')
WHERE data::jsonb ->> 'action' IN ('I', 'M');
SELECT change ->> 'action' AS action, count(*) FROM em_both GROUP BY 1 ORDER BY 1;
-- cloudevent() of each outbox row equals the message content of the same event
SELECT o.type, order_mgmt.cloudevent(o) = (m.change ->> 'content')::jsonb AS cloudevent_equals_message
FROM order_mgmt.outbox o
JOIN em_both m ON m.change ->> 'action' = 'M'
             AND (m.change ->> 'content')::jsonb ->> 'id' = o.id::text
WHERE o.aggregateid = :'b1'
ORDER BY o.position;

------------------------------------------------------------------------
-- outbox (the default): rows only, no messages
------------------------------------------------------------------------
RESET order_mgmt.event_mode;
SELECT order_mgmt.create_order(pg_temp.em_cmd(4)) IS NOT NULL AS created;
SELECT data::jsonb ->> 'action' AS action, count(*)
FROM pg_logical_slot_get_changes('em_wal2json', NULL, NULL, 'format-version', '2',
                                 'add-tables', 'order_mgmt.outbox')
WHERE data::jsonb ->> 'action' IN ('I', 'M')
GROUP BY 1;

-- cloudevent() of an outbox row: envelope fields from the row, data = payload
SELECT ce ->> 'id' = o.id::text AS id, ce ->> 'type' = o.type AS type,
       ce ->> 'subject' = o.aggregateid::text AS subject,
       (ce -> 'orderversion')::int = o.order_version AS orderversion,
       ce -> 'data' = o.payload AS data
FROM order_mgmt.outbox o, order_mgmt.cloudevent(o) AS ce
WHERE o.aggregateid = (SELECT order_id FROM order_mgmt.orders WHERE cart_id = '80000000-0000-4000-8000-000000000004');
SELECT order_mgmt.cloudevent(NULL::order_mgmt.outbox) IS NULL AS null_in_null_out;

-- settings are superuser-only: a plain role cannot move events out of the outbox
CREATE ROLE regress_om_events_plain;
SET ROLE regress_om_events_plain;
SET order_mgmt.event_mode = message;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_om_events_plain;

SELECT pg_drop_replication_slot('em_wal2json'), pg_drop_replication_slot('em_test_decoding'),
       pg_drop_replication_slot('em_pgoutput');
DROP PUBLICATION order_mgmt_events;
