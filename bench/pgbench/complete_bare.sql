-- lifecycle section, the limit: one hand-written statement completing an
-- order of the trigger-free copy (bench_bare) and writing its
-- OrderCompleted event (v1.0.0 payload), nothing checked beyond the status
\set k :k + 1
\set n :base + :client_id * :per + :k
WITH u AS (
	UPDATE bench_bare.orders SET status = 'COMPLETED', version = version + 1, completed_at = now()
	WHERE order_id = (SELECT l.order_id FROM bench.lc l WHERE l.n = :n) AND status = 'CREATED'
	RETURNING order_id, customer_id, version, completed_at
)
INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version,
	schema_version, occurred_at, xact_id)
SELECT order_mgmt.uuid_generate_v7(), 'order', order_id, 'OrderCompleted',
	jsonb_build_object('orderId', order_id, 'customerId', customer_id,
		'completedAt', bench.rfc3339(completed_at)),
	version, '1.0.0', completed_at, pg_current_xact_id()
FROM u;
