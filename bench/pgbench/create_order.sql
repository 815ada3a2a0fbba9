-- create_order section: order_mgmt.create_order of a :lines-line cart
SELECT order_mgmt.create_order(bench.cart(:lines));
