-- bench/sql/scale_gen.sql: deterministic generators of stored orders for bench/scale.sh
--
-- Order i (1..n) of a store of n orders is a pure function of i, n and t0
-- (the load's "now"): created_at spreads the n orders evenly over the 365
-- days before t0, in i order (so the heap is in created_at order, as if the
-- orders had arrived over the year); order_id is a UUIDv7 of created_at;
-- every other value comes from hashint8extended(i, seed).  Mix: 1 to 5 lines
-- (3 on average), customers 1..n/10 (10 orders each on average), currencies
-- EUR 55% / USD 25% / GBP 15% / JPY 5%; 10% cancelled (1 to 48 h after
-- creation, 4 reasons), the rest completed 1 to 72 h after creation, except
-- where that would be after t0 and 40% of the orders of the last 2 days:
-- those are still CREATED.  Lines: product ids from 10000 products, distinct
-- within an order; quantity 1..3, unit price 100..9999; total = their sum.
-- The functions are STABLE SQL so the planner inlines them.
CREATE SCHEMA IF NOT EXISTS bench;

CREATE OR REPLACE FUNCTION bench.h(i bigint, seed bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT abs(hashint8extended(i, seed)) $$;

CREATE OR REPLACE FUNCTION bench.created_at(i bigint, n bigint, t0 timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT t0 - interval '365 days' * (1 - (i - 0.5) / n::float8) $$;

CREATE OR REPLACE FUNCTION bench.order_id(i bigint, n bigint, t0 timestamptz) RETURNS uuid
LANGUAGE sql STABLE AS $$
SELECT (lpad(to_hex(floor(extract(epoch FROM bench.created_at(i, n, t0)) * 1000)::bigint), 12, '0') || '7' ||
        lpad(to_hex(hashint8extended(i, 11) & 4095), 3, '0') || to_hex(8 | (hashint8extended(i, 12) & 3)) ||
        lpad(to_hex(hashint8extended(i, 13) & 1152921504606846975), 15, '0'))::uuid $$;

CREATE OR REPLACE FUNCTION bench.customer_id(c bigint) RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT ('c0000000-0000-4000-8000-' || lpad(c::text, 12, '0'))::uuid $$;

CREATE OR REPLACE FUNCTION bench.line_count(i bigint) RETURNS int
LANGUAGE sql STABLE AS $$ SELECT (1 + bench.h(i, 5) % 5)::int $$;

CREATE OR REPLACE FUNCTION bench.quantity(i bigint, l int) RETURNS int
LANGUAGE sql STABLE AS $$ SELECT (1 + bench.h(i * 8 + l, 6) % 3)::int $$;

CREATE OR REPLACE FUNCTION bench.unit_price(i bigint, l int) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT 100 + bench.h(i * 8 + l, 7) % 9900 $$;

-- the orders lo..hi of a store of n orders (inlined: the function is one SELECT)
CREATE OR REPLACE FUNCTION bench.gen_orders(lo bigint, hi bigint, n bigint, t0 timestamptz)
RETURNS SETOF order_mgmt.orders
LANGUAGE sql STABLE AS $$
SELECT bench.order_id(g.i, n, t0), md5('cart' || g.i)::uuid,
       bench.customer_id(1 + bench.h(g.i, 1) % greatest(n / 10, 1)),
       s.status, t.total,
       CASE WHEN c.cur < 55 THEN 'EUR' WHEN c.cur < 80 THEN 'USD' WHEN c.cur < 95 THEN 'GBP' ELSE 'JPY' END,
       'pa_' || to_hex(bench.h(g.i, 8)),
       CASE WHEN s.status = 'CREATED' THEN 1 ELSE 2 END,
       c.created,
       CASE WHEN s.status = 'COMPLETED' THEN c.completed END,
       CASE WHEN s.status = 'CANCELLED' THEN c.cancelled END,
       CASE WHEN s.status = 'CANCELLED'
            THEN (ARRAY['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD'])[1 + c.hrs % 4] END,
       sha256(int8send(g.i))
  FROM generate_series(lo, hi) g(i)
 CROSS JOIN LATERAL (
       SELECT x.created, x.r, x.hrs, x.cur,
              x.created + interval '1 hour' * x.hrs AS completed,
              x.created + interval '1 hour' * (1 + x.hrs % 48) AS cancelled
         FROM (SELECT bench.created_at(g.i, n, t0) AS created, bench.h(g.i, 2) % 100 AS r,
                      1 + bench.h(g.i, 3) % 72 AS hrs, bench.h(g.i, 4) % 100 AS cur) x) c
 CROSS JOIN LATERAL (
       SELECT CASE WHEN c.r < 10 AND c.cancelled <= t0 THEN 'CANCELLED'
                   WHEN c.r >= 10 AND c.completed <= t0
                        AND NOT (c.created > t0 - interval '2 days' AND c.r >= 60) THEN 'COMPLETED'
                   ELSE 'CREATED' END AS status) s
 CROSS JOIN LATERAL (
       SELECT sum(bench.quantity(g.i, l) * bench.unit_price(g.i, l))::bigint AS total
         FROM generate_series(1, bench.line_count(g.i)) l) t
$$;

-- the lines of orders lo..hi
CREATE OR REPLACE FUNCTION bench.gen_lines(lo bigint, hi bigint, n bigint, t0 timestamptz)
RETURNS SETOF order_mgmt.order_lines
LANGUAGE sql STABLE AS $$
SELECT o.id, l,
       ('a0000000-0000-4000-8000-' || lpad(((bench.h(g.i, 9) + l) % 10000)::text, 12, '0'))::uuid,
       bench.quantity(g.i, l), bench.unit_price(g.i, l)
  FROM generate_series(lo, hi) g(i)
 -- (OFFSET 0: the order id is computed once per order, not once per line)
 CROSS JOIN LATERAL (SELECT bench.order_id(g.i, n, t0) AS id OFFSET 0) o
 CROSS JOIN LATERAL generate_series(1, bench.line_count(g.i)) l
$$;
