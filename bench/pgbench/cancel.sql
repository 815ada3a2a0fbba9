-- lifecycle section: cancel_order of an order no other transaction takes
-- (client c's k-th transaction takes order number base + c * per + k)
\set k :k + 1
\set n :base + :client_id * :per + :k
SELECT order_mgmt.cancel_order(l.order_id, 'CUSTOMER_REQUESTED') FROM bench.lc l WHERE l.n = :n;
