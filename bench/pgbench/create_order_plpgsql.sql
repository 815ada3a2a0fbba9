-- create_order section, contender (b): the PL/pgSQL peer (bench/peer_plpgsql.sql)
SELECT bench_plpgsql.create_order(bench.cart(:lines, NULL, :customers, :products, :currency, :partitions, :held));
