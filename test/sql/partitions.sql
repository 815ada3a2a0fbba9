-- Partitions (issue 11): the partition keys of carts, commands and order ids, assign_partitions()
-- with its errors, and the OM002 refusals of the order functions for partitions not held.
--
-- Carts of this file are 5b000000-..., customers c5b00000-..., products a5b00000-...
-- The database starts with no assignment (every partition held) and is left so at the end.
-- Messages that name a (random) order id are shown with VERBOSITY sqlstate.

-- the command for cart 5b000000-0000-4000-8000-0000000000NN
CREATE FUNCTION pg_temp.pt_command(cart text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', cart,
    'customerId', 'c5b00000-0000-4000-8000-000000000001',
    'items', jsonb_build_array(jsonb_build_object(
      'productId', 'a5b00000-0000-4000-8000-000000000001', 'quantity', 1, 'unitPrice', 700)),
    'total', 700, 'currency', 'EUR')
$$;

------------------------------------------------------------------------
-- cart_partition_key: FNV-1a (32 bits) of the 16 bytes, & 1023
------------------------------------------------------------------------
-- The expected keys were computed independently of the extension, in Python:
--   h = 2166136261
--   for b in uuid.UUID(u).bytes: h = ((h ^ b) * 16777619) & 0xffffffff
--   key = h & 1023
-- (full hashes: 1768495365, 906459637, 3786953841, 3736620984, 3753398603,
--  3837286698, 3854064317, 3803731460, 934861779)
SELECT u AS cart_id, order_mgmt.cart_partition_key(u::uuid) AS key
FROM (VALUES ('00000000-0000-0000-0000-000000000000'),
             ('ffffffff-ffff-ffff-ffff-ffffffffffff'),
             ('5b000000-0000-4000-8000-000000000001'),
             ('5b000000-0000-4000-8000-000000000002'),
             ('5b000000-0000-4000-8000-000000000003'),
             ('5b000000-0000-4000-8000-000000000004'),
             ('5b000000-0000-4000-8000-000000000005'),
             ('5b000000-0000-4000-8000-000000000006'),
             ('5b000000-0000-4000-8000-0000000000ab')) v(u)
ORDER BY u;
-- upper- and lower-case text of one uuid: the same bytes, the same key
SELECT order_mgmt.cart_partition_key('5B000000-0000-4000-8000-0000000000AB') AS upper_key,
       order_mgmt.cart_partition_key('5b000000-0000-4000-8000-0000000000ab') AS lower_key;
-- STRICT
SELECT order_mgmt.cart_partition_key(NULL) IS NULL AS null_key;
SELECT order_mgmt.order_partition_key(NULL) IS NULL AS null_order_key;

------------------------------------------------------------------------
-- command_partition_key: the cart's key, with create_order's errors
------------------------------------------------------------------------
SELECT order_mgmt.command_partition_key(pg_temp.pt_command('5b000000-0000-4000-8000-0000000000ab')) AS key;
-- upper-case cartId: the same key (create_order accepts it too)
SELECT order_mgmt.command_partition_key(pg_temp.pt_command('5B000000-0000-4000-8000-0000000000AB')) AS key;
-- only cartId is read: a command with nothing else still has a key
SELECT order_mgmt.command_partition_key('{"cartId": "5b000000-0000-4000-8000-000000000003"}') AS key;
-- NULL: 22004, as create_order
SELECT order_mgmt.command_partition_key(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(NULL);
\echo :LAST_ERROR_SQLSTATE
-- not an object: 22023
SELECT order_mgmt.command_partition_key('42');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order('42');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.command_partition_key('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order('[]');
\echo :LAST_ERROR_SQLSTATE
-- cartId missing: 22023
SELECT order_mgmt.command_partition_key(pg_temp.pt_command('5b000000-0000-4000-8000-000000000001') - 'cartId');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000001') - 'cartId');
\echo :LAST_ERROR_SQLSTATE
-- cartId not a string: 22023
SELECT order_mgmt.command_partition_key('{"cartId": 5}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(jsonb_set(pg_temp.pt_command('5b000000-0000-4000-8000-000000000001'), '{cartId}', '5'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.command_partition_key('{"cartId": null}');
\echo :LAST_ERROR_SQLSTATE
-- cartId not a canonical uuid: 22P02
SELECT order_mgmt.command_partition_key('{"cartId": "5b000000000040008000000000000001"}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000000040008000000000000001'));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.command_partition_key('{"cartId": "{5b000000-0000-4000-8000-000000000001}"}');
\echo :LAST_ERROR_SQLSTATE
-- over order_mgmt.max_command_bytes: 54000
SET order_mgmt.max_command_bytes = 1024;
SELECT order_mgmt.command_partition_key(pg_temp.pt_command('5b000000-0000-4000-8000-000000000001')
                                        || jsonb_build_object('pad', repeat('x', 2000)));
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000001')
                               || jsonb_build_object('pad', repeat('x', 2000)));
\echo :LAST_ERROR_SQLSTATE
RESET order_mgmt.max_command_bytes;

------------------------------------------------------------------------
-- order ids carry their cart's key, are UUIDv7 (variant 10) and increase
------------------------------------------------------------------------
CREATE TEMP TABLE pt_made (n integer PRIMARY KEY, cart uuid NOT NULL, id uuid NOT NULL);
-- no assignment yet: every partition is held, carts 01..06 of partitions 1, 0, 3, 2, 1, 0 of 4
SELECT count(*) AS assignments FROM order_mgmt.stats_partitions;
INSERT INTO pt_made
SELECT n, c::uuid, order_mgmt.create_order(pg_temp.pt_command(c))
FROM (SELECT n, '5b000000-0000-4000-8000-00000000000' || n AS c FROM generate_series(1, 4) n) s
ORDER BY n;
SELECT n, order_mgmt.order_partition_key(id) = order_mgmt.cart_partition_key(cart) AS carries_cart_key,
       order_mgmt.order_partition_key(id) AS key,
       substr(id::text, 15, 1) AS version, substr(id::text, 20, 1) IN ('8', '9', 'a', 'b') AS variant_10,
       id > lag(id) OVER (ORDER BY n) AS increasing
FROM pt_made ORDER BY n;
-- 200 more ids of many carts: every one carries its cart's key, and they increase
CREATE TEMP TABLE pt_many AS
SELECT n, c AS cart, order_mgmt.create_order(pg_temp.pt_command(c::text)) AS id
FROM (SELECT n, ('5b000000-0000-4000-8001-' || lpad(to_hex(n), 12, '0'))::uuid AS c
      FROM generate_series(1, 200) n) s;
SELECT count(*) AS orders,
       count(*) FILTER (WHERE order_mgmt.order_partition_key(id) = order_mgmt.cart_partition_key(cart)) AS carrying_key,
       count(*) FILTER (WHERE substr(id::text, 15, 1) = '7' AND substr(id::text, 20, 1) IN ('8', '9', 'a', 'b')) AS v7_variant_10,
       count(DISTINCT order_mgmt.order_partition_key(id)) > 100 AS many_keys,
       bool_and(inc IS NOT FALSE) AS increasing
FROM (SELECT n, cart, id, id > lag(id) OVER (ORDER BY n) AS inc FROM pt_many) s;
-- order_partition_key reads the ten bits after the variant
SELECT order_mgmt.order_partition_key('01890000-0000-7000-bfff-000000000000') AS all_ones,
       order_mgmt.order_partition_key('01890000-0000-7000-8000-000000000000') AS zero,
       order_mgmt.order_partition_key('01890000-0000-7000-8010-000000000000') AS one,
       order_mgmt.order_partition_key('01890000-0000-7000-a5f0-000000000000') AS b8_25_b9_f;
-- partition_held: true for every id while nothing is assigned
SELECT bool_and(order_mgmt.partition_held(id)) AS all_held FROM pt_made;
SELECT order_mgmt.partition_held(NULL) IS NULL AS strict_held;

------------------------------------------------------------------------
-- assign_partitions: the errors, none of which writes an assignment
------------------------------------------------------------------------
SELECT order_mgmt.assign_partitions(NULL, '{0}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(4, NULL);
\echo :LAST_ERROR_SQLSTATE
-- the count: a power of two from 1 to 1024
SELECT order_mgmt.assign_partitions(0, '{0}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(-4, '{0}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(3, '{0}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(2048, '{0}');
\echo :LAST_ERROR_SQLSTATE
-- partitions out of range, duplicated, NULL, empty, two-dimensional
SELECT order_mgmt.assign_partitions(4, '{4}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(4, '{-1}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(4, '{1,2,1}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(4, '{1,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(4, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT order_mgmt.assign_partitions(4, '{{0,1},{2,3}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS assignments FROM order_mgmt.stats_partitions;
-- a role that is neither superuser nor the extension's owner: EXECUTE is
-- not PUBLIC's (42501), and granted it the function itself refuses (42501)
CREATE ROLE pt_nobody;
SET ROLE pt_nobody;
SELECT order_mgmt.assign_partitions(4, '{1}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT USAGE ON SCHEMA order_mgmt TO pt_nobody;
GRANT EXECUTE ON FUNCTION order_mgmt.assign_partitions(integer, integer[]) TO pt_nobody;
SET ROLE pt_nobody;
SELECT order_mgmt.assign_partitions(4, '{1}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON FUNCTION order_mgmt.assign_partitions(integer, integer[]) FROM pt_nobody;
REVOKE ALL ON SCHEMA order_mgmt FROM pt_nobody;
DROP ROLE pt_nobody;
SELECT count(*) AS assignments FROM order_mgmt.stats_partitions;

-- pre-1.3.0 orders (ids that do not carry their cart's key): 55000 for
-- more than one partition.  Such an order is fabricated by pg_restore's
-- way in, COPY, inside a transaction that is rolled back.
BEGIN;
COPY order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at, command_digest) FROM stdin;
01890000-0000-7000-8000-0000005b0001	5b000000-0000-4000-8000-0000000000cd	c5b00000-0000-4000-8000-000000000001	CREATED	1	EUR	1	2020-01-01 00:00:00+00	\\x00
\.
-- (cart key 741 computed as above: FNV-1a 498643685)
SELECT order_mgmt.order_partition_key('01890000-0000-7000-8000-0000005b0001') AS id_key,
       order_mgmt.cart_partition_key('5b000000-0000-4000-8000-0000000000cd') AS cart_key;
SAVEPOINT s;
SELECT order_mgmt.assign_partitions(2, '{0,1}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- one partition: every order is in it, the stray too
SELECT order_mgmt.assign_partitions(1, '{0}');
SELECT partition_count, partitions FROM order_mgmt.stats_partitions;
ROLLBACK;
SELECT count(*) AS assignments FROM order_mgmt.stats_partitions;

------------------------------------------------------------------------
-- the table is written only by assign_partitions(): 0A000
------------------------------------------------------------------------
INSERT INTO order_mgmt.partition_assignment (partition_count, partitions) VALUES (4, '{1}');
\echo :LAST_ERROR_SQLSTATE
UPDATE order_mgmt.partition_assignment SET partitions = '{0}';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM order_mgmt.partition_assignment;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE order_mgmt.partition_assignment;
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- this database holds partition 1 of 4
------------------------------------------------------------------------
SELECT order_mgmt.assign_partitions(4, '{1}');
SELECT partition_count, partitions, partitions_held, assigned_by = current_user AS by_me
FROM order_mgmt.stats_partitions;
SELECT n, order_mgmt.partition_held(id) AS held FROM pt_made ORDER BY n;
SELECT (SELECT count(*) FROM order_mgmt.orders) AS orders_before,
       (SELECT count(*) FROM order_mgmt.order_lines) AS lines_before,
       (SELECT count(*) FROM order_mgmt.outbox) AS events_before \gset
-- a cart of partition 0: OM002, nothing written
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000006'));
\echo :LAST_ERROR_SQLSTATE
-- an invalid command is still reported as such (validation comes first)
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000006') - 'items');
\echo :LAST_ERROR_SQLSTATE
SELECT (SELECT count(*) FROM order_mgmt.orders) - :orders_before AS new_orders,
       (SELECT count(*) FROM order_mgmt.order_lines) - :lines_before AS new_lines,
       (SELECT count(*) FROM order_mgmt.outbox) - :events_before AS new_events,
       (SELECT count(*) FROM order_mgmt.orders WHERE cart_id = '5b000000-0000-4000-8000-000000000006') AS orders_of_cart;
-- a replay of an existing order of partition 0 is refused too
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000002'));
\echo :LAST_ERROR_SQLSTATE
-- a cart of partition 1 is created, and its id carries its key
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000005')) AS held_id \gset
SELECT order_mgmt.order_partition_key(:'held_id') AS key, order_mgmt.partition_held(:'held_id') AS held,
       order_mgmt.get_order(:'held_id')->>'status' AS status;
-- a replay of an order of partition 1 returns its id
SELECT order_mgmt.create_order(pg_temp.pt_command('5b000000-0000-4000-8000-000000000001')) = id AS replayed
FROM pt_made WHERE n = 1;
-- the other order functions, for an order of partition 0 (cart 02) or 2 (cart 04): OM002
SELECT id AS p0_id FROM pt_made WHERE n = 2 \gset
SELECT id AS p2_id FROM pt_made WHERE n = 4 \gset
\set VERBOSITY sqlstate
SELECT order_mgmt.get_order(:'p0_id');
SELECT order_mgmt.cancel_order(:'p0_id', 'FRAUD');
SELECT order_mgmt.complete_order(:'p2_id');
SELECT order_mgmt.complete_order(:'p2_id', 1);
-- an id that names no order at all, of an unheld partition: OM002 too
SELECT order_mgmt.get_order('01890000-0000-7000-8000-000000000000');
\set VERBOSITY default
-- the message says which partition and which are held
SELECT order_mgmt.get_order('01890000-0000-7000-8000-000000000000');
-- the orders of partitions 0 and 2 are unchanged
SELECT n, o.status, o.version FROM pt_made m JOIN order_mgmt.orders o ON o.order_id = m.id ORDER BY n;
-- an order of partition 1 moves as before
SELECT order_mgmt.cancel_order(id, 'CUSTOMER_REQUESTED') AS version FROM pt_made WHERE n = 1;
SELECT order_mgmt.complete_order(:'held_id') AS version;

------------------------------------------------------------------------
-- a reassignment takes effect at once, in this session and in others
------------------------------------------------------------------------
SELECT order_mgmt.assign_partitions(4, '{0,2}');
SELECT n, order_mgmt.partition_held(id) AS held FROM pt_made ORDER BY n;
SELECT order_mgmt.get_order(:'p0_id')->>'status' AS p0_status;
\set VERBOSITY sqlstate
SELECT order_mgmt.get_order(:'held_id');
\set VERBOSITY default
-- a reassignment that fails leaves the old one, even when a check in the
-- same statement had read the new one (the divisor is volatile, so the
-- division fails only after both calls ran)
SELECT order_mgmt.assign_partitions(4, '{3}'), order_mgmt.partition_held(:'p0_id'), 1 / (random() * 0)::integer;
SELECT order_mgmt.partition_held(:'p0_id') AS p0_held_after_abort,
       partition_count, partitions FROM order_mgmt.stats_partitions;
BEGIN;
SAVEPOINT s;
SELECT order_mgmt.assign_partitions(4, '{3}'), order_mgmt.partition_held(:'p0_id'), 1 / (random() * 0)::integer;
ROLLBACK TO s;
SELECT order_mgmt.partition_held(:'p0_id') AS p0_held_after_subabort;
COMMIT;
-- another session (a new backend) sees {0,2}; a reassignment there is seen here
SELECT id AS p1_id FROM pt_made WHERE n = 1 \gset
\c -
SELECT order_mgmt.partition_held(:'p0_id') AS p0_held, order_mgmt.partition_held(:'p1_id') AS p1_held;
SELECT order_mgmt.assign_partitions(2, '{1}');
\c -
SELECT order_mgmt.partition_held(:'p0_id') AS p0_held, order_mgmt.partition_held(:'p1_id') AS p1_held,
       order_mgmt.partition_held(:'held_id') AS held_id_held;

------------------------------------------------------------------------
-- restore: no assignment, as the suite found the database
------------------------------------------------------------------------
-- assign_partitions(1, '{0}') holds every partition, but leaves a row;
-- there is no function that removes the assignment, so the superuser
-- takes the guard off for the DELETE (ALTER TABLE tells every backend)
SELECT order_mgmt.assign_partitions(1, '{0}');
SELECT order_mgmt.partition_held(:'p0_id') AS p0_held, order_mgmt.partition_held(:'p1_id') AS p1_held;
BEGIN;
ALTER TABLE order_mgmt.partition_assignment DISABLE TRIGGER partition_assignment_guard;
DELETE FROM order_mgmt.partition_assignment;
ALTER TABLE order_mgmt.partition_assignment ENABLE TRIGGER partition_assignment_guard;
COMMIT;
SELECT count(*) AS assignments FROM order_mgmt.stats_partitions;
SELECT order_mgmt.partition_held(:'p0_id') AS p0_held, order_mgmt.partition_held('01890000-0000-7000-bfff-000000000000') AS any_held;
