-- create_order rejects every invalid CreateOrder command with its documented SQLSTATE, and a rejected call writes nothing.
--
-- Carts of this file are 20000000-..., customers c2000000-..., products a2000000-...
-- :good is a valid command for a cart that never gets an order; each case below
-- breaks it in one way.  Cart ...0001 holds the one order this file creates, for
-- the conflict cases.

\set good '{"cartId": "20000000-0000-4000-8000-000000000002", "customerId": "c2000000-0000-4000-8000-000000000002", "items": [{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 2, "unitPrice": 500}, {"productId": "a2000000-0000-4000-8000-000000000022", "quantity": 1, "unitPrice": 250}], "total": 1250, "currency": "USD"}'
\set original '{"cartId": "20000000-0000-4000-8000-000000000001", "customerId": "c2000000-0000-4000-8000-000000000001", "items": [{"productId": "a2000000-0000-4000-8000-000000000011", "quantity": 2, "unitPrice": 500}, {"productId": "a2000000-0000-4000-8000-000000000012", "quantity": 1, "unitPrice": 250}], "total": 1250, "currency": "USD", "paymentAuthorizationId": "pa_2001"}'

-- the order the conflict cases collide with
SELECT order_mgmt.create_order(:'original') AS original_id \gset
SELECT command_digest AS original_digest FROM order_mgmt.orders WHERE order_id = :'original_id' \gset

-- what the tables hold before any failing call
SELECT (SELECT count(*) FROM order_mgmt.orders) AS orders_before,
       (SELECT count(*) FROM order_mgmt.order_lines) AS lines_before,
       (SELECT count(*) FROM order_mgmt.outbox) AS events_before \gset

-- the unchanged :good command is valid: proven inside a transaction that is rolled back
BEGIN;
SELECT order_mgmt.create_order(:'good') IS NOT NULL AS good_is_valid;
ROLLBACK;

------------------------------------------------------------------------
-- not a command at all
------------------------------------------------------------------------
-- NULL command: 22004
SELECT order_mgmt.create_order(NULL);
\echo :LAST_ERROR_SQLSTATE
-- a JSON scalar, a string, JSON null, an array: 22023
SELECT order_mgmt.create_order('42');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order('"{\"cartId\": \"20000000-0000-4000-8000-000000000002\"}"');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order('null');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_build_array(:'good'::jsonb));
\echo :LAST_ERROR_SQLSTATE
-- an empty object: the first required field is reported
SELECT order_mgmt.create_order('{}');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- each required field missing: 22023
------------------------------------------------------------------------
SELECT order_mgmt.create_order(:'good'::jsonb - 'cartId');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb - 'customerId');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb - 'items');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb - 'total');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb - 'currency');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb #- '{items,1,productId}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb #- '{items,0,quantity}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb #- '{items,1,unitPrice}');
\echo :LAST_ERROR_SQLSTATE
-- field names are case-sensitive: "cartid" is an unknown field, so cartId is missing
SELECT order_mgmt.create_order((:'good'::jsonb - 'cartId') || '{"cartid": "20000000-0000-4000-8000-000000000002"}');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- fields of the wrong JSON type: 22023
------------------------------------------------------------------------
-- a number for a uuid
SELECT order_mgmt.create_order(jsonb_set(:'good', '{cartId}', '20000000'));
\echo :LAST_ERROR_SQLSTATE
-- null for a uuid
SELECT order_mgmt.create_order(jsonb_set(:'good', '{customerId}', 'null'));
\echo :LAST_ERROR_SQLSTATE
-- a boolean for a uuid
SELECT order_mgmt.create_order(jsonb_set(:'good', '{customerId}', 'true'));
\echo :LAST_ERROR_SQLSTATE
-- an object for a uuid
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,productId}', '{"id": "a2000000-0000-4000-8000-000000000021"}'));
\echo :LAST_ERROR_SQLSTATE
-- a string for a quantity, even one holding digits
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,quantity}', '"2"'));
\echo :LAST_ERROR_SQLSTATE
-- a boolean for a price
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', 'false'));
\echo :LAST_ERROR_SQLSTATE
-- null for a price
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', 'null'));
\echo :LAST_ERROR_SQLSTATE
-- a string for the total
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '"1250"'));
\echo :LAST_ERROR_SQLSTATE
-- an object for items
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items}', '{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 1, "unitPrice": 1250}'));
\echo :LAST_ERROR_SQLSTATE
-- null for items
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items}', 'null'));
\echo :LAST_ERROR_SQLSTATE
-- null for currency
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', 'null'));
\echo :LAST_ERROR_SQLSTATE
-- a number for currency (ISO numeric code 840)
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '840'));
\echo :LAST_ERROR_SQLSTATE
-- an item that is not an object: a string, a number, an array
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1}', '"a2000000-0000-4000-8000-000000000022"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0}', '7'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0}', '[{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 2, "unitPrice": 500}]'));
\echo :LAST_ERROR_SQLSTATE
-- paymentAuthorizationId not a string: a number, an object, null
SELECT order_mgmt.create_order(:'good'::jsonb || '{"paymentAuthorizationId": 8842}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb || '{"paymentAuthorizationId": {"id": "pa_8842"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'good'::jsonb || '{"paymentAuthorizationId": null}');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- uuids not in canonical 8-4-4-4-12 form: 22P02
------------------------------------------------------------------------
-- too short (35 characters)
SELECT order_mgmt.create_order(jsonb_set(:'good', '{cartId}', '"20000000-0000-4000-8000-00000000002"'));
\echo :LAST_ERROR_SQLSTATE
-- too long (37 characters)
SELECT order_mgmt.create_order(jsonb_set(:'good', '{cartId}', '"20000000-0000-4000-8000-0000000000022"'));
\echo :LAST_ERROR_SQLSTATE
-- no dashes (32 hex digits, which the uuid type itself would accept)
SELECT order_mgmt.create_order(jsonb_set(:'good', '{customerId}', '"c2000000000040008000000000000002"'));
\echo :LAST_ERROR_SQLSTATE
-- braces
SELECT order_mgmt.create_order(jsonb_set(:'good', '{customerId}', '"{c2000000-0000-4000-8000-000000000002}"'));
\echo :LAST_ERROR_SQLSTATE
-- a non-hex digit
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,productId}', '"g2000000-0000-4000-8000-000000000021"'));
\echo :LAST_ERROR_SQLSTATE
-- 36 characters with the dashes in the wrong places
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,productId}', '"a200000-00000-4000-8000-000000000022"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{cartId}', '"20000000-00004-000-8000-000000000002"'));
\echo :LAST_ERROR_SQLSTATE
-- surrounding whitespace
SELECT order_mgmt.create_order(jsonb_set(:'good', '{cartId}', '" 20000000-0000-4000-8000-000000000002"'));
\echo :LAST_ERROR_SQLSTATE
-- the empty string
SELECT order_mgmt.create_order(jsonb_set(:'good', '{cartId}', '""'));
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- items: at least one, quantities integers >= 1, prices integers >= 0
------------------------------------------------------------------------
-- empty items: 22023
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items}', '[]'));
\echo :LAST_ERROR_SQLSTATE
-- quantity 0, -1, 1.5: 22023
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,quantity}', '0'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,quantity}', '-1'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,quantity}', '1.5'));
\echo :LAST_ERROR_SQLSTATE
-- quantity beyond int32 (2147483648): 22003
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,quantity}', '2147483648'));
\echo :LAST_ERROR_SQLSTATE
-- quantity beyond int64 as well: 22003
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,0,quantity}', '1e20'));
\echo :LAST_ERROR_SQLSTATE
-- unitPrice -1, 0.5: 22023
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', '-1'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', '0.5'));
\echo :LAST_ERROR_SQLSTATE
-- a negative price is 22023 however large it is: -1e30, and negative total
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', '-1e30'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '-1e30'));
\echo :LAST_ERROR_SQLSTATE
-- unitPrice 1e30, beyond int64: 22003
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', '1e30'));
\echo :LAST_ERROR_SQLSTATE
-- unitPrice 2^63, one past int64: 22003
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items,1,unitPrice}', '9223372036854775808'));
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- total: a non-negative integer
------------------------------------------------------------------------
-- total -1, 1.5: 22023
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '-1'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '1.5'));
\echo :LAST_ERROR_SQLSTATE
-- total 2^63: 22003
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '9223372036854775808'));
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- each product once
------------------------------------------------------------------------
-- the same productId twice: 22023
SELECT order_mgmt.create_order(jsonb_set(jsonb_set(:'good', '{items,1,productId}', '"a2000000-0000-4000-8000-000000000021"'), '{total}', '1250'));
\echo :LAST_ERROR_SQLSTATE
-- the same uuid spelt in upper case is the same product: 22023
SELECT order_mgmt.create_order(jsonb_set(jsonb_set(:'good', '{items,0,productId}', '"A2000000-0000-4000-8000-0000000000FF"'), '{items,1,productId}', '"a2000000-0000-4000-8000-0000000000ff"'));
\echo :LAST_ERROR_SQLSTATE
-- a duplicate among three items, not adjacent
SELECT order_mgmt.create_order(jsonb_set(jsonb_set(:'good', '{items,2}', '{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 1, "unitPrice": 0}', true), '{total}', '1250'));
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- total equals the sum of quantity x unitPrice, computed without overflow
------------------------------------------------------------------------
-- total one more / one less than the items: 22023
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '1251'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '1249'));
\echo :LAST_ERROR_SQLSTATE
-- total 0 for items that cost something: 22023
SELECT order_mgmt.create_order(jsonb_set(:'good', '{total}', '0'));
\echo :LAST_ERROR_SQLSTATE
-- quantity x unitPrice overflows int64: 22003 (never wrapped into a plausible total)
SELECT order_mgmt.create_order('{"cartId": "20000000-0000-4000-8000-000000000002", "customerId": "c2000000-0000-4000-8000-000000000002", "items": [{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 2, "unitPrice": 9223372036854775807}], "total": 9223372036854775806, "currency": "USD"}');
\echo :LAST_ERROR_SQLSTATE
-- 4 x 2^62 wraps to exactly 0 in 64 bits: a total of 0 must not be accepted: 22003
SELECT order_mgmt.create_order('{"cartId": "20000000-0000-4000-8000-000000000002", "customerId": "c2000000-0000-4000-8000-000000000002", "items": [{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 4, "unitPrice": 4611686018427387904}], "total": 0, "currency": "USD"}');
\echo :LAST_ERROR_SQLSTATE
-- each line fits but their sum overflows int64: 22003
SELECT order_mgmt.create_order('{"cartId": "20000000-0000-4000-8000-000000000002", "customerId": "c2000000-0000-4000-8000-000000000002", "items": [{"productId": "a2000000-0000-4000-8000-000000000021", "quantity": 1, "unitPrice": 9223372036854775807}, {"productId": "a2000000-0000-4000-8000-000000000022", "quantity": 1, "unitPrice": 1}], "total": 9223372036854775807, "currency": "USD"}');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- currency: three capital letters naming an active ISO 4217 code: 22023
------------------------------------------------------------------------
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"usd"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"Usd"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"US"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"USDX"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '""'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"US "'));
\echo :LAST_ERROR_SQLSTATE
-- well formed but not a currency
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"XYZ"'));
\echo :LAST_ERROR_SQLSTATE
-- ISO codes with no minor unit: "no currency" and gold
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"XXX"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"XAU"'));
\echo :LAST_ERROR_SQLSTATE
-- withdrawn: the Croatian kuna (replaced by EUR in 2023)
SELECT order_mgmt.create_order(jsonb_set(:'good', '{currency}', '"HRK"'));
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- paymentAuthorizationId: at most 255 bytes: 22001
------------------------------------------------------------------------
SELECT order_mgmt.create_order(:'good'::jsonb || jsonb_build_object('paymentAuthorizationId', repeat('x', 256)));
\echo :LAST_ERROR_SQLSTATE
-- 128 characters but 256 bytes
SELECT order_mgmt.create_order(:'good'::jsonb || jsonb_build_object('paymentAuthorizationId', repeat('é', 128)));
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- cart conflict: the same cartId with different content: 23505
-- (terse: the detail names the existing order's random id)
------------------------------------------------------------------------
\set VERBOSITY terse
-- a different total (and items to match it)
SELECT order_mgmt.create_order(jsonb_set(jsonb_set(:'original', '{items,1,unitPrice}', '251'), '{total}', '1251'));
\echo :LAST_ERROR_SQLSTATE
-- different items, same total
SELECT order_mgmt.create_order(jsonb_set(jsonb_set(:'original', '{items,0,quantity}', '1'), '{items,1,quantity}', '3'));
\echo :LAST_ERROR_SQLSTATE
-- one item fewer, total adjusted
SELECT order_mgmt.create_order(jsonb_set(:'original'::jsonb #- '{items,1}', '{total}', '1000'));
\echo :LAST_ERROR_SQLSTATE
-- another product
SELECT order_mgmt.create_order(jsonb_set(:'original', '{items,1,productId}', '"a2000000-0000-4000-8000-000000000013"'));
\echo :LAST_ERROR_SQLSTATE
-- another customer
SELECT order_mgmt.create_order(jsonb_set(:'original', '{customerId}', '"c2000000-0000-4000-8000-000000000099"'));
\echo :LAST_ERROR_SQLSTATE
-- another currency
SELECT order_mgmt.create_order(jsonb_set(:'original', '{currency}', '"EUR"'));
\echo :LAST_ERROR_SQLSTATE
-- another paymentAuthorizationId, none, or an empty one
SELECT order_mgmt.create_order(jsonb_set(:'original', '{paymentAuthorizationId}', '"pa_2002"'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(:'original'::jsonb - 'paymentAuthorizationId');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(:'original', '{paymentAuthorizationId}', '""'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- an invalid command for an existing cart is reported as invalid, not as a conflict
SELECT order_mgmt.create_order(jsonb_set(:'original', '{total}', '-5'));
\echo :LAST_ERROR_SQLSTATE
-- the original order is untouched, and the exact replay still returns it
SELECT status, version, total, currency, customer_id, payment_authorization_id,
       command_digest = :'original_digest'::bytea AS same_digest
FROM order_mgmt.orders WHERE order_id = :'original_id';
SELECT line_no, product_id, quantity, unit_price
FROM order_mgmt.order_lines WHERE order_id = :'original_id' ORDER BY line_no;
SELECT type, order_version FROM order_mgmt.outbox WHERE aggregateid = :'original_id';
SELECT order_mgmt.create_order(:'original') = :'original_id' AS replay_still_works;

------------------------------------------------------------------------
-- limits: 54000
------------------------------------------------------------------------
SET order_mgmt.max_lines_per_order = 3;
-- four items are too many
SELECT order_mgmt.create_order('{"cartId": "20000000-0000-4000-8000-000000000002", "customerId": "c2000000-0000-4000-8000-000000000002", "items": [{"productId": "a2000000-0000-4000-8000-000000000031", "quantity": 1, "unitPrice": 1}, {"productId": "a2000000-0000-4000-8000-000000000032", "quantity": 1, "unitPrice": 1}, {"productId": "a2000000-0000-4000-8000-000000000033", "quantity": 1, "unitPrice": 1}, {"productId": "a2000000-0000-4000-8000-000000000034", "quantity": 1, "unitPrice": 1}], "total": 4, "currency": "USD"}');
\echo :LAST_ERROR_SQLSTATE
-- the limit is checked before the items: four broken items still give 54000
SELECT order_mgmt.create_order(jsonb_set(:'good', '{items}', '[1, 2, 3, 4]'));
\echo :LAST_ERROR_SQLSTATE
-- three items are within the limit (rolled back, so nothing stays written)
BEGIN;
SELECT order_mgmt.create_order('{"cartId": "20000000-0000-4000-8000-000000000002", "customerId": "c2000000-0000-4000-8000-000000000002", "items": [{"productId": "a2000000-0000-4000-8000-000000000031", "quantity": 1, "unitPrice": 1}, {"productId": "a2000000-0000-4000-8000-000000000032", "quantity": 1, "unitPrice": 1}, {"productId": "a2000000-0000-4000-8000-000000000033", "quantity": 1, "unitPrice": 1}], "total": 3, "currency": "USD"}') IS NOT NULL AS three_items_accepted;
ROLLBACK;
RESET order_mgmt.max_lines_per_order;

SET order_mgmt.max_command_bytes = 1024;
-- a long unknown field makes the command too large, even though it would otherwise be valid
SELECT order_mgmt.create_order(:'good'::jsonb || jsonb_build_object('note', repeat('n', 2000)));
\echo :LAST_ERROR_SQLSTATE
-- the size is checked first: an oversized non-object is 54000 too
SELECT order_mgmt.create_order(to_jsonb(repeat('n', 2000)));
\echo :LAST_ERROR_SQLSTATE
-- a small command is still accepted (rolled back)
BEGIN;
SELECT order_mgmt.create_order(:'good') IS NOT NULL AS small_command_accepted;
ROLLBACK;
RESET order_mgmt.max_command_bytes;
SHOW order_mgmt.max_lines_per_order;
SHOW order_mgmt.max_command_bytes;

------------------------------------------------------------------------
-- no failed call wrote anything
------------------------------------------------------------------------
SELECT (SELECT count(*) FROM order_mgmt.orders) = :orders_before AS orders_unchanged,
       (SELECT count(*) FROM order_mgmt.order_lines) = :lines_before AS lines_unchanged,
       (SELECT count(*) FROM order_mgmt.outbox) = :events_before AS events_unchanged,
       (SELECT count(*) FROM order_mgmt.orders WHERE cart_id = '20000000-0000-4000-8000-000000000002') AS orders_for_good_cart;
