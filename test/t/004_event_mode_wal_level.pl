# order_mgmt.event_mode on a server whose wal_level is below logical, and
# what a real listener receives for an event that has no outbox row.
#
# A logical decoding message written at wal_level = replica could never be
# decoded: an order change whose event goes only there would be a change
# without its event.  So message modes refuse the change (55000) and write
# nothing; the outbox mode keeps working.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# not test/test.conf: this server runs at wal_level = replica
my $node = start_node('replica_wal', test_conf => 0, conf => "wal_level = replica\n");

# A CreateOrder command for cart number $n, as an SQL literal.
sub command
{
	my ($n) = @_;
	return sql_literal(
		order_command(
			$n,
			cart_prefix => 'd4000000',
			customer => 'c4000000-0000-4000-8000-000000000001',
			product => 'a4000000-0000-4000-8000-000000000001',
			unit_price => 700,
			currency => 'USD'));
}

# counts of orders and events
sub counts
{
	return $node->safe_psql('postgres',
		'SELECT (SELECT count(*) FROM order_mgmt.orders) || \'/\' || '
		  . '(SELECT count(*) FROM order_mgmt.outbox)');
}

is($node->safe_psql('postgres', 'SHOW wal_level'), 'replica', 'server runs at wal_level replica');

foreach my $mode ('message', 'outbox_and_message')
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET order_mgmt.event_mode = $mode; SELECT order_mgmt.create_order(" . command(1) . ')',
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "create_order fails in mode $mode");
	like($stderr, qr/ERROR:  55000: order_mgmt.event_mode "$mode" needs wal_level = logical/,
		"mode $mode: SQLSTATE 55000 names the setting and wal_level");
	is(counts(), '0/0', "mode $mode: no order and no event were written");
}

# the outbox mode works at any wal_level
my $order = $node->safe_psql('postgres', 'SELECT order_mgmt.create_order(' . command(2) . ')');
like($order, qr/^[0-9a-f-]{36}$/, 'outbox mode creates the order');
is(counts(), '1/1', 'one order, one outbox event');

# a cancel in message mode is refused too, and leaves the order as it was
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET order_mgmt.event_mode = message; SELECT order_mgmt.cancel_order('$order', 'FRAUD')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  55000: /, 'cancel in message mode fails with 55000');
is($node->safe_psql('postgres', "SELECT status || ' v' || version FROM order_mgmt.orders WHERE order_id = '$order'"),
	'CREATED v1', 'the order is unchanged');

# with wal_level = logical but no logical slot on the database, message-only
# mode would still write events nobody can ever read: refused too
$node->append_conf('postgresql.conf', "wal_level = logical\n");
$node->restart;
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET order_mgmt.event_mode = message; SELECT order_mgmt.cancel_order('$order', 'FRAUD')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  55000: order_mgmt.event_mode "message" needs a logical replication slot on this database/,
	'message mode without a slot fails with 55000');
is($node->safe_psql('postgres', "SELECT status FROM order_mgmt.orders WHERE order_id = '$order'"),
	'CREATED', 'the order is unchanged');
# outbox_and_message needs no slot: the outbox row keeps the event
is($node->safe_psql('postgres',
	'SET order_mgmt.event_mode = outbox_and_message; SELECT order_mgmt.create_order(' . command(3) . ') IS NOT NULL'),
	't', 'outbox_and_message works without a slot');
is(counts(), '2/2', 'its outbox row was written');

# with a slot, a message-only event is written and notifies, without a position
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('order_mgmt_test', 'test_decoding')");
my $listener = OrderMgmt::Test::Listener->new($node, 'postgres', channels => ['order_cancelled']);
$node->safe_psql('postgres',
	"SET order_mgmt.event_mode = message; SELECT order_mgmt.cancel_order('$order', 'FRAUD')");
# psql prints notifications on stdout after a query
my ($heard) = grep { $_->{channel} eq 'order_cancelled' }
  parse_notifications(
	$listener->wait_for(qr/Asynchronous notification "order_cancelled"/, nodie => 1));
ok(defined $heard, 'the listener received order_cancelled');
my $note = defined $heard ? $heard->{payload} // {} : {};
is_deeply([ sort keys %$note ], [ 'eventId', 'orderId', 'type' ],
	'a message-only event is announced without a position');
is($note->{orderId}, $order, 'the notification names the order');
is(counts(), '2/2', 'message mode wrote no outbox row for the cancellation');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_logical_slot_get_changes('order_mgmt_test', NULL, NULL) "
	  . "WHERE data LIKE 'message: transactional: 1 prefix: order_mgmt%OrderCancelled%'"),
	'1', 'the slot decodes the OrderCancelled message');
$listener->quit;
$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('order_mgmt_test')");

$node->stop;
done_testing();
