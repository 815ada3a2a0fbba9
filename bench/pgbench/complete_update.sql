-- lifecycle section: the direct path, a plain UPDATE of the status (the
-- extension's trigger checks it, bumps the version, writes the event)
\set k :k + 1
\set n :base + :client_id * :per + :k
UPDATE order_mgmt.orders SET status = 'COMPLETED'
WHERE order_id = (SELECT l.order_id FROM bench.lc l WHERE l.n = :n);
