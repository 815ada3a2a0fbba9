-- Polling consumers: register, fetch, acknowledge, unregister, and retention
-- (purge_events), with every error path and its SQLSTATE.
--
-- Carts of this file are 95000000-..., customers c9500000-..., products a9500000-...

CREATE FUNCTION pg_temp.pc_cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('95000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', 'c9500000-0000-4000-8000-000000000001',
    'items', jsonb_build_array(jsonb_build_object(
        'productId', 'a9500000-0000-4000-8000-000000000001', 'quantity', 1, 'unitPrice', 100)),
    'total', 100, 'currency', 'EUR')
$$;

-- a consumer registered now starts after the events already written (one of
-- this file's own: the suite needs nothing before it but setup)
SELECT order_mgmt.create_order(pg_temp.pc_cmd(0)) AS o0 \gset
SELECT count(*) > 0 AS earlier_events_exist FROM order_mgmt.outbox;
SELECT order_mgmt.register_consumer('billing') AS billing_start \gset
SELECT :billing_start = (SELECT max(seq) FROM order_mgmt.event_feed) AS starts_at_newest;
SELECT count(*) AS nothing_yet FROM order_mgmt.fetch_events('billing');
-- one from the beginning sees every event kept, in commit order
SELECT order_mgmt.register_consumer('audit', from_beginning => true) AS audit_starts_at;
SELECT count(*) = (SELECT count(*) FROM order_mgmt.outbox) AS audit_sees_all
FROM order_mgmt.fetch_events('audit', 10000);

SELECT order_mgmt.create_order(pg_temp.pc_cmd(1)) AS o1 \gset
SELECT order_mgmt.complete_order(:'o1') AS o1_version;
SELECT order_mgmt.create_order(pg_temp.pc_cmd(2)) AS o2 \gset

-- fetch is repeatable until acknowledged; max_events limits the batch
SELECT type, aggregateid = :'o1' AS is_o1, order_version, payload ->> 'orderId' = aggregateid::text AS payload_matches
FROM order_mgmt.fetch_events('billing');
SELECT count(*) AS first_two FROM order_mgmt.fetch_events('billing', 2);
SELECT order_mgmt.ack_events('billing', (SELECT max(seq) FROM order_mgmt.fetch_events('billing', 2))) > 0 AS acked_two;
SELECT type, order_version FROM order_mgmt.fetch_events('billing');
-- acknowledging never moves backwards
SELECT order_mgmt.ack_events('billing', 1) = (SELECT acked_seq FROM order_mgmt.consumers WHERE name = 'billing') AS unchanged,
       (SELECT acked_seq FROM order_mgmt.consumers WHERE name = 'billing') > 1 AS still_ahead;

-- errors
SELECT order_mgmt.register_consumer('billing');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.register_consumer('bad name!');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.register_consumer('');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.register_consumer(NULL) IS NULL AS strict_null;
SELECT * FROM order_mgmt.fetch_events('nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.fetch_events(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.fetch_events('billing', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.fetch_events('billing', 10001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM order_mgmt.fetch_events('billing', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.ack_events('nobody', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.ack_events('billing', NULL);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT order_mgmt.ack_events('billing', (SELECT max(seq) FROM order_mgmt.event_feed) + 1);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.unregister_consumer('nobody');
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM order_mgmt.fetch_events('billing');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT order_mgmt.purge_events('-1 second');
\echo :LAST_ERROR_SQLSTATE

-- retention waits for the slowest consumer: audit has acknowledged nothing
SELECT count(*) AS kept_before FROM order_mgmt.outbox \gset
SELECT order_mgmt.purge_events('0') AS purged_while_audit_lags;
-- audit catches up; now what both acknowledged goes
SELECT order_mgmt.ack_events('audit', (SELECT max(seq) FROM order_mgmt.fetch_events('audit', 10000))) > 0 AS audit_acked;
SELECT order_mgmt.ack_events('billing', (SELECT max(seq) FROM order_mgmt.fetch_events('billing', 10000))) > 0 AS billing_acked;
SELECT order_mgmt.purge_events('1 day') AS purged_too_young;
SELECT order_mgmt.purge_events('0') = :kept_before AS purged_all_acknowledged;
SELECT count(*) AS outbox_rows, (SELECT count(*) FROM order_mgmt.event_feed) AS feed_rows FROM order_mgmt.outbox;
-- later events still flow
SELECT order_mgmt.cancel_order(:'o2', 'OUT_OF_STOCK') AS o2_version;
SELECT type, order_version FROM order_mgmt.fetch_events('billing');

-- with no consumers left, retention keeps only what is younger than keep
SELECT order_mgmt.unregister_consumer('billing'), order_mgmt.unregister_consumer('audit');
SELECT order_mgmt.purge_events('0') AS purged_without_consumers;
SELECT count(*) AS outbox_rows_left FROM order_mgmt.outbox;

-- the consumer functions are not for PUBLIC
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
FROM pg_proc p
WHERE p.pronamespace = 'order_mgmt'::regnamespace
  AND p.proname IN ('register_consumer', 'unregister_consumer', 'fetch_events', 'ack_events', 'purge_events', 'sequence_events')
ORDER BY 1;
