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

use File::Basename qw(dirname);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('notifications');
$node->init;
# the same settings as the pg_regress and isolation instances
$node->append_conf('postgresql.conf',
	slurp_file(dirname(__FILE__) . '/../test.conf'));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION order_mgmt');

my $json = JSON::PP->new;

my $listener = $node->background_psql('postgres');
$listener->query_safe(
	'LISTEN order_created; LISTEN order_completed; LISTEN order_cancelled; '
	  . 'LISTEN om_test_barrier');

my $writer = $node->background_psql('postgres');
my $writer_pid = $writer->query_safe('SELECT pg_backend_pid()');

# the channel each event type is announced on
my %channel_of = (
	OrderCreated => 'order_created',
	OrderCompleted => 'order_completed',
	OrderCancelled => 'order_cancelled');

# A CreateOrder v1.0.0 command for cart number $n (one line of $quantity).
sub command
{
	my ($n, $quantity) = @_;
	$quantity //= 1;
	my $cart = sprintf('ca000000-0000-4000-8000-%012d', $n);
	my $total = $quantity * 250;
	return
	    qq('{"cartId": "$cart", "customerId": "c0000000-0000-4000-8000-000000000001", )
	  . qq("items": [{"productId": "b0000000-0000-4000-8000-000000000001", )
	  . qq("quantity": $quantity, "unitPrice": 250}], )
	  . qq("total": $total, "currency": "EUR"}');
}

# Everything the listener has received on the order channels since the last
# call: a list of { channel, raw, payload (decoded), pid }.
my $barrier = 0;

sub received
{
	$barrier++;
	$node->safe_psql('postgres', "NOTIFY om_test_barrier, 'barrier $barrier'");

	my $output = '';
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	until ($output =~
		  /^Asynchronous notification "om_test_barrier" with payload "barrier $barrier" /m)
	{
		die "barrier $barrier did not arrive; listener printed:\n$output"
		  if time() > $deadline;
		usleep(50_000) if $output ne '';
		$output .= $listener->query_safe('SELECT 1') . "\n";
	}

	my @got;
	for my $line (split /\n/, $output)
	{
		next
		  unless $line =~
		  /^Asynchronous notification "([^"]*)"(?: with payload "(.*)")? received from server process with PID (\d+)\.$/;
		my ($channel, $raw, $pid) = ($1, $2 // '', $3);
		next if $channel eq 'om_test_barrier';
		my $payload = eval { $json->decode($raw) };
		push @got,
		  { channel => $channel, raw => $raw, payload => $payload, pid => $pid };
	}
	return @got;
}

# Check that notification $n announces the outbox event of $type for order
# $order_id: right channel, sent by the writer, and a payload of exactly
# eventId, orderId, type and position, equal to the outbox row's.
sub is_announcement_of
{
	my ($n, $type, $order_id, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my ($id, $aggregateid, $event_type, $position) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT id, aggregateid, type, position FROM order_mgmt.outbox "
		  . "WHERE aggregateid = '$order_id' AND type = '$type'");

	is($n->{channel}, $channel_of{$type}, "$what: channel is $channel_of{$type}");
	is($n->{pid}, $writer_pid, "$what: sent by the writer's backend");
	ok(defined $n->{payload} && ref $n->{payload} eq 'HASH',
		"$what: payload is a JSON object")
	  or diag("payload: $n->{raw}");
	is( join(',', sort keys %{ $n->{payload} // {} }),
		'eventId,orderId,position,type',
		"$what: payload has only eventId, orderId, type and position");
	is($n->{payload}{eventId}, $id, "$what: eventId is the outbox row's id");
	is($n->{payload}{orderId}, $aggregateid,
		"$what: orderId is the outbox row's aggregateid");
	is($n->{payload}{orderId}, $order_id, "$what: orderId is the order's id");
	is($n->{payload}{type}, $event_type, "$what: type is the outbox row's type");
	like($n->{raw}, qr/"position":\d+[,}]/, "$what: position is a JSON number");
	is($n->{payload}{position}, $position,
		"$what: position is the outbox row's position");
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
@got = received();
is(scalar @got, 0, 'no notification before any change');

# A committed create_order notifies order_created once.
my $order1 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(1) . ')');
@got = received();
is(scalar @got, 1, 'committed create_order: exactly one notification');
is_announcement_of($got[0], 'OrderCreated', $order1, 'create_order');

# Replaying the same command returns the order and announces nothing.
my $replayed = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(1) . ')');
is($replayed, $order1, 'replayed create_order returns the same order id');
@got = received();
is(scalar @got, 0, 'replayed create_order: no notification');
is(events_of($order1), 1, 'replayed create_order: still one event');

# complete_order notifies order_completed.
my $order2 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(2) . ')');
@got = received();
is(scalar @got, 1, 'second order: one notification');
is_announcement_of($got[0], 'OrderCreated', $order2, 'second create_order');

is($writer->query_safe("SELECT order_mgmt.complete_order('$order2')"),
	2, 'complete_order returns version 2');
@got = received();
is(scalar @got, 1, 'complete_order: exactly one notification');
is_announcement_of($got[0], 'OrderCompleted', $order2, 'complete_order');

# cancel_order notifies order_cancelled.
is($writer->query_safe("SELECT order_mgmt.cancel_order('$order1', 'FRAUD')"),
	2, 'cancel_order returns version 2');
@got = received();
is(scalar @got, 1, 'cancel_order: exactly one notification');
is_announcement_of($got[0], 'OrderCancelled', $order1, 'cancel_order');

# A rolled-back create_order notifies nobody.
$writer->query_safe('BEGIN');
my $order3 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(3) . ')');
$writer->query_safe('ROLLBACK');
@got = received();
is(scalar @got, 0, 'rolled-back create_order: no notification');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE order_id = '$order3'"),
	0,
	'rolled-back create_order: no order');

# A rolled-back cancel_order notifies nobody.
my $order4 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(4) . ')');
@got = received();
is(scalar @got, 1, 'fourth order: one notification');
is_announcement_of($got[0], 'OrderCreated', $order4, 'fourth create_order');

$writer->query_safe('BEGIN');
$writer->query_safe(
	"SELECT order_mgmt.cancel_order('$order4', 'CUSTOMER_REQUESTED')");
$writer->query_safe('ROLLBACK');
@got = received();
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
@got = received();
is(scalar @got, 1, 'savepoint rolled back: only the kept order notifies');
is_announcement_of($got[0], 'OrderCreated', $order6,
	'create_order after a rolled-back savepoint');

# Several changes in one transaction: one notification each, at commit, in
# outbox order.
$writer->query_safe('BEGIN');
my $order7 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(7) . ')');
$writer->query_safe("SELECT order_mgmt.complete_order('$order7')");
@got = received();
is(scalar @got, 0, 'nothing is announced before the commit');
$writer->query_safe('COMMIT');
@got = received();
is(scalar @got, 2, 'create and complete in one transaction: two notifications');
is_announcement_of($got[0], 'OrderCreated', $order7, 'first of a transaction');
is_announcement_of($got[1], 'OrderCompleted', $order7,
	'second of a transaction');

# A direct UPDATE to CANCELLED is announced like cancel_order.
my $order8 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(8) . ')');
received();
$writer->query_safe(
	"UPDATE order_mgmt.orders SET status = 'CANCELLED', "
	  . "cancellation_reason = 'OUT_OF_STOCK' WHERE order_id = '$order8'");
@got = received();
is(scalar @got, 1, 'direct UPDATE to CANCELLED: exactly one notification');
is_announcement_of($got[0], 'OrderCancelled', $order8, 'direct UPDATE');

# order_mgmt.notifications = off in the writer's session: the event is
# written, nothing is announced.
$writer->query_safe('SET order_mgmt.notifications = off');
my $order9 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(9) . ')');
$writer->query_safe("SELECT order_mgmt.complete_order('$order9')");
@got = received();
is(scalar @got, 0, 'notifications off (SET): no notification');
is(events_of($order9), 2, 'notifications off (SET): both events written');
$writer->query_safe('RESET order_mgmt.notifications');

my $order10 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(10) . ')');
@got = received();
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
@got = received();
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
@got = received();
is(scalar @got, 1, 'notifications on again after ALTER SYSTEM RESET');
is($got[0]{channel}, 'order_created', 'after ALTER SYSTEM RESET: order_created');
is($got[0]{payload}{orderId}, $order12, 'after ALTER SYSTEM RESET: the new order');

$writer->quit;
$listener->quit;
$node->stop;

done_testing();
