-- get_order section: order_mgmt.get_order of a random stored order
-- (variables: orders = how many; bench.ids numbers them 1..orders)
\set n random(1, :orders)
SELECT order_mgmt.get_order(i.order_id) FROM bench.ids i WHERE i.n = :n;
