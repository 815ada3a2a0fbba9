-- get_order returns exactly the GetOrder v1.0.0 response (plus cartId, version and the optional fields when set) for created, completed and cancelled orders, and NULL when there is no such order.
--
-- Carts of this file are 60000000-..., customers c6000000-..., products a6000000-...
-- Expected answers are built with jsonb_build_object from the known values and
-- the \gset ids and times, and compared with =.

-- the RFC 3339 UTC text the API uses for a timestamptz
CREATE FUNCTION pg_temp.rfc3339(t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- structural check against the GetOrder v1.0.0 response schema
CREATE FUNCTION pg_temp.valid_response(r jsonb) RETURNS boolean LANGUAGE sql AS $$
  SELECT jsonb_typeof(r) = 'object'
     AND r ?& ARRAY['orderId', 'customerId', 'status', 'items', 'total', 'currency']
     AND jsonb_typeof(r->'orderId') = 'string'
     AND r->>'orderId' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
     AND jsonb_typeof(r->'customerId') = 'string'
     AND r->>'customerId' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
     AND jsonb_typeof(r->'status') = 'string'
     AND r->>'status' IN ('CREATED', 'COMPLETED', 'CANCELLED')
     AND jsonb_typeof(r->'items') = 'array'
     AND NOT EXISTS (
           SELECT FROM jsonb_array_elements(r->'items') AS i
           WHERE NOT (jsonb_typeof(i) = 'object'
                      AND i ?& ARRAY['productId', 'quantity', 'unitPrice']
                      AND jsonb_typeof(i->'productId') = 'string'
                      AND i->>'productId' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                      AND jsonb_typeof(i->'quantity') = 'number'
                      AND (i->>'quantity')::numeric = trunc((i->>'quantity')::numeric)
                      AND (i->>'quantity')::numeric >= 1
                      AND jsonb_typeof(i->'unitPrice') = 'number'
                      AND (i->>'unitPrice')::numeric = trunc((i->>'unitPrice')::numeric)))
     AND jsonb_typeof(r->'total') = 'number'
     AND (r->>'total')::numeric = trunc((r->>'total')::numeric)
     AND jsonb_typeof(r->'currency') = 'string'
     AND r->>'currency' ~ '^[A-Z]{3}$'
     AND (NOT r ? 'createdAt' OR (jsonb_typeof(r->'createdAt') = 'string'
          AND r->>'createdAt' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'))
$$;

------------------------------------------------------------------------
-- a CREATED order, three items listed out of product order, with a payment authorization
------------------------------------------------------------------------
BEGIN;
SELECT order_mgmt.create_order('{"cartId": "60000000-0000-4000-8000-000000000001", "customerId": "c6000000-0000-4000-8000-000000000001", "items": [{"productId": "a6000000-0000-4000-8000-000000000013", "quantity": 1, "unitPrice": 2500}, {"productId": "a6000000-0000-4000-8000-000000000011", "quantity": 4, "unitPrice": 125}, {"productId": "a6000000-0000-4000-8000-000000000012", "quantity": 2, "unitPrice": 0}], "total": 3000, "currency": "EUR", "paymentAuthorizationId": "pa_6001"}') AS created \gset
SELECT pg_temp.rfc3339(now()) AS created_at \gset
-- the creating transaction already sees the order
SELECT order_mgmt.get_order(:'created')->>'status' AS status_in_creating_xact;
COMMIT;

SELECT order_mgmt.get_order(:'created') = jsonb_build_object(
         'orderId', :'created',
         'cartId', '60000000-0000-4000-8000-000000000001',
         'customerId', 'c6000000-0000-4000-8000-000000000001',
         'status', 'CREATED',
         'version', 1,
         'items', jsonb_build_array(
             jsonb_build_object('productId', 'a6000000-0000-4000-8000-000000000013', 'quantity', 1, 'unitPrice', 2500),
             jsonb_build_object('productId', 'a6000000-0000-4000-8000-000000000011', 'quantity', 4, 'unitPrice', 125),
             jsonb_build_object('productId', 'a6000000-0000-4000-8000-000000000012', 'quantity', 2, 'unitPrice', 0)),
         'total', 3000,
         'currency', 'EUR',
         'createdAt', :'created_at',
         'paymentAuthorizationId', 'pa_6001') AS created_matches;
-- items come back in command order
SELECT i.n, i.item->>'productId' AS product_id, i.item->'quantity' AS quantity, i.item->'unitPrice' AS unit_price
FROM jsonb_array_elements(order_mgmt.get_order(:'created')->'items') WITH ORDINALITY AS i(item, n)
ORDER BY i.n;
-- numbers are JSON integers, strings are strings
SELECT k, jsonb_typeof(v) AS type
FROM jsonb_each(order_mgmt.get_order(:'created')) AS e(k, v)
ORDER BY k;
SELECT pg_temp.valid_response(order_mgmt.get_order(:'created')) AS valid_response;

------------------------------------------------------------------------
-- a COMPLETED order, without payment authorization: completedAt appears, no absent field is null
------------------------------------------------------------------------
SELECT order_mgmt.create_order('{"cartId": "60000000-0000-4000-8000-000000000002", "customerId": "c6000000-0000-4000-8000-000000000002", "items": [{"productId": "a6000000-0000-4000-8000-000000000021", "quantity": 3, "unitPrice": 700}], "total": 2100, "currency": "JPY"}') AS completed \gset
SELECT pg_temp.rfc3339(created_at) AS completed_created_at FROM order_mgmt.orders WHERE order_id = :'completed' \gset
BEGIN;
SELECT order_mgmt.complete_order(:'completed') AS new_version;
SELECT pg_temp.rfc3339(now()) AS completed_at \gset
-- the completing transaction sees the new state
SELECT order_mgmt.get_order(:'completed')->>'status' AS status_in_completing_xact;
COMMIT;

SELECT order_mgmt.get_order(:'completed') = jsonb_build_object(
         'orderId', :'completed',
         'cartId', '60000000-0000-4000-8000-000000000002',
         'customerId', 'c6000000-0000-4000-8000-000000000002',
         'status', 'COMPLETED',
         'version', 2,
         'items', jsonb_build_array(
             jsonb_build_object('productId', 'a6000000-0000-4000-8000-000000000021', 'quantity', 3, 'unitPrice', 700)),
         'total', 2100,
         'currency', 'JPY',
         'createdAt', :'completed_created_at',
         'completedAt', :'completed_at') AS completed_matches;
SELECT array_agg(k ORDER BY k) AS keys FROM jsonb_object_keys(order_mgmt.get_order(:'completed')) AS k;
SELECT pg_temp.valid_response(order_mgmt.get_order(:'completed')) AS valid_response;

------------------------------------------------------------------------
-- a CANCELLED order: cancelledAt and cancellationReason appear
------------------------------------------------------------------------
SELECT order_mgmt.create_order('{"cartId": "60000000-0000-4000-8000-000000000003", "customerId": "c6000000-0000-4000-8000-000000000003", "items": [{"productId": "a6000000-0000-4000-8000-000000000031", "quantity": 1, "unitPrice": 9223372036854775807}], "total": 9223372036854775807, "currency": "USD", "paymentAuthorizationId": "pa_\"quoted\"_\u00e9"}') AS cancelled \gset
SELECT pg_temp.rfc3339(created_at) AS cancelled_created_at FROM order_mgmt.orders WHERE order_id = :'cancelled' \gset
BEGIN;
SELECT order_mgmt.cancel_order(:'cancelled', 'OUT_OF_STOCK') AS new_version;
SELECT pg_temp.rfc3339(now()) AS cancelled_at \gset
COMMIT;

SELECT order_mgmt.get_order(:'cancelled') = jsonb_build_object(
         'orderId', :'cancelled',
         'cartId', '60000000-0000-4000-8000-000000000003',
         'customerId', 'c6000000-0000-4000-8000-000000000003',
         'status', 'CANCELLED',
         'version', 2,
         'items', jsonb_build_array(
             jsonb_build_object('productId', 'a6000000-0000-4000-8000-000000000031', 'quantity', 1, 'unitPrice', 9223372036854775807)),
         'total', 9223372036854775807,
         'currency', 'USD',
         'createdAt', :'cancelled_created_at',
         'cancelledAt', :'cancelled_at',
         'cancellationReason', 'OUT_OF_STOCK',
         'paymentAuthorizationId', 'pa_"quoted"_é') AS cancelled_matches;
-- the largest amount survives exactly
SELECT (order_mgmt.get_order(:'cancelled')->>'total')::bigint = 9223372036854775807 AS total_exact;
SELECT array_agg(k ORDER BY k) AS keys FROM jsonb_object_keys(order_mgmt.get_order(:'cancelled')) AS k;
SELECT pg_temp.valid_response(order_mgmt.get_order(:'cancelled')) AS valid_response;

------------------------------------------------------------------------
-- get_order agrees with the tables for every order in the database
------------------------------------------------------------------------
SELECT count(*) >= 3 AS several_orders,
       bool_and(pg_temp.valid_response(order_mgmt.get_order(o.order_id))) AS all_valid,
       bool_and(order_mgmt.get_order(o.order_id)->>'status' = o.status
                AND (order_mgmt.get_order(o.order_id)->>'version')::int = o.version
                AND (order_mgmt.get_order(o.order_id)->>'total')::bigint = o.total
                AND jsonb_array_length(order_mgmt.get_order(o.order_id)->'items')
                    = (SELECT count(*) FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id)) AS all_agree
FROM order_mgmt.orders o;

------------------------------------------------------------------------
-- no such order: NULL, not an error
------------------------------------------------------------------------
SELECT order_mgmt.get_order('60000000-dead-4000-8000-000000000000') IS NULL AS unknown_is_null;
-- a cart id is not an order id
SELECT order_mgmt.get_order('60000000-0000-4000-8000-000000000001') IS NULL AS cart_id_is_null;
SELECT order_mgmt.get_order(NULL) IS NULL AS null_is_null;
-- an order created in a transaction that rolled back does not exist
BEGIN;
SELECT order_mgmt.create_order('{"cartId": "60000000-0000-4000-8000-000000000004", "customerId": "c6000000-0000-4000-8000-000000000004", "items": [{"productId": "a6000000-0000-4000-8000-000000000041", "quantity": 1, "unitPrice": 1}], "total": 1, "currency": "USD"}') AS rolled_back \gset
ROLLBACK;
SELECT order_mgmt.get_order(:'rolled_back') IS NULL AS rolled_back_is_null;
