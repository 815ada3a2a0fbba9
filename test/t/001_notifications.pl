# What a real LISTEN client receives from order_mgmt.
#
# A listener is a long-running psql (libpq) session that has run LISTEN on
# the three order channels; psql prints every notification it receives as
#   Asynchronous notification "CHANNEL" with payload "PAYLOAD" received
#   from server process with PID N.
# after each query it runs.  The writes come from another long-running psql
# session (the writer), so the notifying PID is known.
#
# To know that every notification a change could have caused has arrived
# (and so that "nothing arrived" means something), each check ends with a
# barrier: a separate session commits NOTIFY om_test_barrier, and the
# listener runs SELECT 1 until it has printed that barrier.  PostgreSQL
# delivers notifications in commit order, so whatever the writer's earlier
# commits sent has been printed before the barrier.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the same settings as the pg_regress and isolation instances
my $node = start_node('notifications');

# the listener, on the order channels and om_test_barrier; $listener->received
# is everything it received on the order channels since the last call, up
# to a barrier: a list of { channel, raw, payload (decoded), pid }
my $listener = OrderMgmt::Test::Listener->new($node, 'postgres');

my $writer = $node->background_psql('postgres');
my $writer_pid = $writer->query_safe('SELECT pg_backend_pid()');

# A CreateOrder v1.0.0 command for cart number $n (one line of $quantity),
# as an SQL literal.
sub command
{
	my ($n, $quantity) = @_;
	return sql_literal(order_command($n, quantity => $quantity));
}

# Check that notification $n announces the outbox event of $type for order
# $order_id: right channel, sent by the writer, and a payload of exactly
# eventId, orderId, type and position, equal to the outbox row's.
sub is_announcement_of
{
	my ($n, $type, $order_id, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	announcement_ok($node, $n, $type, $order_id, $what,
		pid => $writer_pid,
		sender => "the writer's backend",
		json_object => 1);
	return;
}

# Number of outbox events for an order, and its status.
sub events_of
{
	my ($order_id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.outbox WHERE aggregateid = '$order_id'");
}

sub status_of
{
	my ($order_id) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || ' v' || version FROM order_mgmt.orders WHERE order_id = '$order_id'"
	);
}

my @got;

# nothing is pending before the first change
@got = $listener->received;
is(scalar @got, 0, 'no notification before any change');

# A committed create_order notifies order_created once.
my $order1 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(1) . ')');
@got = $listener->received;
is(scalar @got, 1, 'committed create_order: exactly one notification');
is_announcement_of($got[0], 'OrderCreated', $order1, 'create_order');

# Replaying the same command returns the order and announces nothing.
my $replayed = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(1) . ')');
is($replayed, $order1, 'replayed create_order returns the same order id');
@got = $listener->received;
is(scalar @got, 0, 'replayed create_order: no notification');
is(events_of($order1), 1, 'replayed create_order: still one event');

# complete_order notifies order_completed.
my $order2 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(2) . ')');
@got = $listener->received;
is(scalar @got, 1, 'second order: one notification');
is_announcement_of($got[0], 'OrderCreated', $order2, 'second create_order');

is($writer->query_safe("SELECT order_mgmt.complete_order('$order2')"),
	2, 'complete_order returns version 2');
@got = $listener->received;
is(scalar @got, 1, 'complete_order: exactly one notification');
is_announcement_of($got[0], 'OrderCompleted', $order2, 'complete_order');

# cancel_order notifies order_cancelled.
is($writer->query_safe("SELECT order_mgmt.cancel_order('$order1', 'FRAUD')"),
	2, 'cancel_order returns version 2');
@got = $listener->received;
is(scalar @got, 1, 'cancel_order: exactly one notification');
is_announcement_of($got[0], 'OrderCancelled', $order1, 'cancel_order');

# A rolled-back create_order notifies nobody.
$writer->query_safe('BEGIN');
my $order3 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(3) . ')');
$writer->query_safe('ROLLBACK');
@got = $listener->received;
is(scalar @got, 0, 'rolled-back create_order: no notification');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE order_id = '$order3'"),
	0,
	'rolled-back create_order: no order');

# A rolled-back cancel_order notifies nobody.
my $order4 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(4) . ')');
@got = $listener->received;
is(scalar @got, 1, 'fourth order: one notification');
is_announcement_of($got[0], 'OrderCreated', $order4, 'fourth create_order');

$writer->query_safe('BEGIN');
$writer->query_safe(
	"SELECT order_mgmt.cancel_order('$order4', 'CUSTOMER_REQUESTED')");
$writer->query_safe('ROLLBACK');
@got = $listener->received;
is(scalar @got, 0, 'rolled-back cancel_order: no notification');
is(status_of($order4), 'CREATED v1', 'rolled-back cancel_order: order unchanged');
is(events_of($order4), 1, 'rolled-back cancel_order: no event');

# A create_order rolled back to a savepoint notifies nobody; the rest of the
# transaction still does.
$writer->query_safe('BEGIN');
$writer->query_safe('SAVEPOINT before_order');
my $order5 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(5) . ')');
$writer->query_safe('ROLLBACK TO SAVEPOINT before_order');
my $order6 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(6) . ')');
$writer->query_safe('COMMIT');
@got = $listener->received;
is(scalar @got, 1, 'savepoint rolled back: only the kept order notifies');
is_announcement_of($got[0], 'OrderCreated', $order6,
	'create_order after a rolled-back savepoint');

# Several changes in one transaction: one notification each, at commit, in
# outbox order.
$writer->query_safe('BEGIN');
my $order7 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(7) . ')');
$writer->query_safe("SELECT order_mgmt.complete_order('$order7')");
@got = $listener->received;
is(scalar @got, 0, 'nothing is announced before the commit');
$writer->query_safe('COMMIT');
@got = $listener->received;
is(scalar @got, 2, 'create and complete in one transaction: two notifications');
is_announcement_of($got[0], 'OrderCreated', $order7, 'first of a transaction');
is_announcement_of($got[1], 'OrderCompleted', $order7,
	'second of a transaction');

# A direct UPDATE to CANCELLED is announced like cancel_order.
my $order8 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(8) . ')');
$listener->received;
$writer->query_safe(
	"UPDATE order_mgmt.orders SET status = 'CANCELLED', "
	  . "cancellation_reason = 'OUT_OF_STOCK' WHERE order_id = '$order8'");
@got = $listener->received;
is(scalar @got, 1, 'direct UPDATE to CANCELLED: exactly one notification');
is_announcement_of($got[0], 'OrderCancelled', $order8, 'direct UPDATE');

# order_mgmt.notifications = off in the writer's session: the event is
# written, nothing is announced.
$writer->query_safe('SET order_mgmt.notifications = off');
my $order9 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(9) . ')');
$writer->query_safe("SELECT order_mgmt.complete_order('$order9')");
@got = $listener->received;
is(scalar @got, 0, 'notifications off (SET): no notification');
is(events_of($order9), 2, 'notifications off (SET): both events written');
$writer->query_safe('RESET order_mgmt.notifications');

my $order10 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(10) . ')');
@got = $listener->received;
is(scalar @got, 1, 'notifications back on after RESET');
is_announcement_of($got[0], 'OrderCreated', $order10, 'after RESET');

# order_mgmt.notifications = off server-wide (ALTER SYSTEM + reload): a new
# session writes the event and announces nothing.  (ALTER SYSTEM checks the
# value, so the session that runs it loads the library first.)
$node->safe_psql('postgres',
	"LOAD 'order_mgmt'; ALTER SYSTEM SET order_mgmt.notifications = off");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('order_mgmt.notifications') = 'off' "
	  . "FROM (SELECT order_mgmt.uuid_generate_v7() OFFSET 0) AS library_loaded")
  or die 'order_mgmt.notifications = off was not picked up';
my $order11 = $node->safe_psql('postgres',
	'SELECT order_mgmt.create_order(' . command(11) . ')');
@got = $listener->received;
is(scalar @got, 0, 'notifications off (ALTER SYSTEM): no notification');
is(events_of($order11), 1, 'notifications off (ALTER SYSTEM): event written');

$node->safe_psql('postgres',
	"LOAD 'order_mgmt'; ALTER SYSTEM RESET order_mgmt.notifications");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('order_mgmt.notifications') = 'worker' "
	  . "FROM (SELECT order_mgmt.uuid_generate_v7() OFFSET 0) AS library_loaded")
  or die 'the default order_mgmt.notifications = worker was not picked up';
my $order12 = $node->safe_psql('postgres',
	'SELECT order_mgmt.create_order(' . command(12) . ')');
@got = $listener->received;
is(scalar @got, 1, 'notifications on again after ALTER SYSTEM RESET');
is($got[0]{channel}, 'order_created', 'after ALTER SYSTEM RESET: order_created');
is($got[0]{payload}{orderId}, $order12, 'after ALTER SYSTEM RESET: the new order');

$writer->quit;
$listener->quit;
$node->stop;

done_testing();
