-- get_order section, the contender: a hand-written query building the same
-- GetOrder JSON as order_mgmt.get_order (items in line order, the optional
-- keys only when set)
\set n random(1, :orders)
SELECT jsonb_build_object(
		'orderId', o.order_id, 'cartId', o.cart_id, 'customerId', o.customer_id,
		'status', o.status, 'version', o.version,
		'items', (SELECT jsonb_agg(jsonb_build_object('productId', l.product_id,
						'quantity', l.quantity, 'unitPrice', l.unit_price) ORDER BY l.line_no)
				  FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id),
		'total', o.total, 'currency', o.currency, 'createdAt', bench.rfc3339(o.created_at))
	|| jsonb_strip_nulls(jsonb_build_object(
		'completedAt', bench.rfc3339(o.completed_at),
		'cancelledAt', bench.rfc3339(o.cancelled_at),
		'cancellationReason', o.cancellation_reason,
		'paymentAuthorizationId', o.payment_authorization_id))
FROM bench.ids i JOIN order_mgmt.orders o ON o.order_id = i.order_id
WHERE i.n = :n;
