-- lifecycle section: complete_order of an order no other transaction takes
\set k :k + 1
\set n :base + :client_id * :per + :k
SELECT order_mgmt.complete_order(l.order_id) FROM bench.lc l WHERE l.n = :n;
