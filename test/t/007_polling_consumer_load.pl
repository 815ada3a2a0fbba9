# A polling consumer under concurrent load never skips or repeats an event.
#
# pgbench writers create orders and cancel or complete some, sleeping a
# random moment inside their transactions so that commits happen in another
# order than positions were drawn; some transactions roll back.  Meanwhile a
# consumer polls: each round fetches a batch, records it in a table with a
# unique key, and acknowledges it in the same transaction.  At the end every
# committed event has been seen exactly once, and each order's events were
# seen in version order.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run qw(start finish);
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = start_node('polling');
$node->safe_psql('postgres', q{
	SELECT order_mgmt.register_consumer('load', from_beginning => true);
	CREATE TABLE seen (id uuid PRIMARY KEY, seq bigint NOT NULL UNIQUE,
					   aggregateid uuid NOT NULL, order_version int NOT NULL);
});

my $script = $node->basedir . '/writer.sql';
open(my $fh, '>', $script) or die;
print $fh <<'SQL';
\set sleep_ms random(0, 20)
\set fate random(1, 10)
BEGIN;
SELECT set_config('writer.order_id', order_mgmt.create_order(jsonb_build_object(
  'cartId', gen_random_uuid(), 'customerId', gen_random_uuid(),
  'items', jsonb_build_array(jsonb_build_object('productId', gen_random_uuid(), 'quantity', 2, 'unitPrice', 150)),
  'total', 300, 'currency', 'EUR'))::text, true);
SELECT pg_sleep(:sleep_ms / 1000.0);
SELECT CASE WHEN :fate <= 3 THEN order_mgmt.cancel_order(current_setting('writer.order_id')::uuid, 'OUT_OF_STOCK')
            WHEN :fate <= 6 THEN order_mgmt.complete_order(current_setting('writer.order_id')::uuid) END;
SELECT CASE WHEN :fate = 10 THEN pg_sleep(0.01) END;
\if :fate = 10
ROLLBACK;
\else
COMMIT;
\endif
SQL
close($fh);

my ($out, $err) = ('', '');
my $writers = start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '6', '-f', $script,
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);

my $poller = $node->background_psql('postgres');
my $round = q{
	BEGIN;
	WITH batch AS (SELECT * FROM order_mgmt.fetch_events('load', 200))
	INSERT INTO seen SELECT id, seq, aggregateid, order_version FROM batch;
	SELECT order_mgmt.ack_events('load', coalesce((SELECT max(seq) FROM seen), 0));
	COMMIT;
};
my $rounds = 0;
while ($writers->pumpable)
{
	$poller->query_safe($round);
	$rounds++;
	$writers->pump_nb;
	select(undef, undef, undef, 0.02);
}
finish($writers);
like($out, qr/number of transactions actually processed: \d+/, 'pgbench ran');

# drain what is left
for (1 .. 50)
{
	$poller->query_safe($round);
	last if $node->safe_psql('postgres',
		q{SELECT count(*) = 0 FROM order_mgmt.fetch_events('load', 1)}) eq 't';
}
ok($rounds > 10, "the consumer polled during the load ($rounds rounds)");

my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM order_mgmt.outbox');
cmp_ok($events, '>', 100, "the writers wrote $events events");
is($node->safe_psql('postgres', 'SELECT count(*) FROM seen'), $events,
	'the consumer saw as many events as were committed');
is($node->safe_psql('postgres',
	'SELECT count(*) FROM order_mgmt.outbox o WHERE NOT EXISTS (SELECT FROM seen s WHERE s.id = o.id)'),
	'0', 'no committed event was skipped');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
	  SELECT order_version, lag(order_version) OVER (PARTITION BY aggregateid ORDER BY seq) AS prev
	  FROM seen) s
	WHERE prev IS NOT NULL AND order_version <> prev + 1}),
	'0', "each order's events were seen in version order");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM order_mgmt.orders o
	WHERE (SELECT count(*) FROM seen s WHERE s.aggregateid = o.order_id) <> o.version}),
	'0', 'every order has exactly as many events as its version');
# the point of the feed: commit order differs from position order somewhere
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
	  SELECT o.position, lag(o.position) OVER (ORDER BY s.seq) AS prev
	  FROM seen s JOIN order_mgmt.outbox o ON o.id = s.id) x
	WHERE position < prev}),
	'>', 0, 'some events were delivered out of position order (late commits), none lost');

$poller->quit;
$node->stop;
done_testing();
