-- The one pgbench script of a created order, used by every section that
-- creates orders: order_mgmt.create_order of the command bench.cart
-- (bench/setup.sql) builds.  Its variables (pgbench -D, from bench_cart of
-- bench/lib.sh): lines, customers, products, currency.  The create_order
-- section's other contenders (create_order_bare.sql, create_order_plpgsql.sql)
-- take their command from the very same call.
SELECT order_mgmt.create_order(bench.cart(:lines, NULL, :customers, :products, :currency, :partitions, :held));
