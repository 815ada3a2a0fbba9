# Change data capture of the outbox through a logical replication
# subscription (pgoutput), set up exactly as docs/events.md ("A logical
# replication subscription") documents it.
#
# The publisher runs the extension and publishes inserts into
# order_mgmt.outbox; the subscriber also runs CREATE EXTENSION order_mgmt,
# so its outbox has the same shape (and the same guard triggers, which stay
# as they are: the apply workers run with session_replication_role =
# replica, where the extension's ordinary triggers do not fire).
#
# What is proven:
# - events committed before the subscription exists arrive by the initial
#   copy, later ones by streaming; the subscriber's outbox equals the
#   publisher's row for row, with each event id once;
# - a rolled-back transaction (or savepoint) and an idempotent replay
#   deliver nothing;
# - events arrive in commit order, not in position order: a transaction
#   that took the lowest position but committed last arrives last.  The
#   arrival order is recorded on the subscriber by a trigger of the test's
#   own, enabled ALWAYS so that it fires in the apply workers;
# - a publisher restart (with a transaction open, which it rolls back) and
#   a subscriber stop (clean, then a crash) lose nothing and repeat nothing:
#   what was committed while the subscriber was down arrives afterwards,
#   once;
# - with publish = 'insert', retention deletes on the publisher leave the
#   subscriber's copy alone.
#
# The publisher's commit order is known because the test makes every commit
# itself, one at a time: after each commit, the events that have just become
# visible on the publisher are that transaction's.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Both with the same settings as the pg_regress and isolation instances
# (wal_level = logical among them) and the extension: on the subscriber so
# that order_mgmt.outbox exists with the publisher's shape.
my $publisher = start_node('publisher');
my $subscriber = start_node('subscriber');

my $subname = 'order_mgmt_sub';

# The publisher: the extension and the publication, as docs/events.md has them.
$publisher->safe_psql('postgres',
	"CREATE PUBLICATION order_mgmt_events FOR TABLE order_mgmt.outbox "
	  . "WITH (publish = 'insert')");

# The subscriber: the extension, so that order_mgmt.outbox exists with the
# publisher's shape, and the test's arrival recorder.  record_arrival is a
# plain trigger of the test, not part of the extension: enabled ALWAYS, it
# fires in the apply and table-sync workers too, and notes each event id in
# the order the inserts reach the subscriber, and the
# session_replication_role it ran under.
$subscriber->safe_psql(
	'postgres', q{
CREATE SEQUENCE public.arrival_seq;
CREATE TABLE public.arrivals (
	arrived_seq bigint PRIMARY KEY,
	id uuid NOT NULL,
	replication_role text NOT NULL
);
CREATE FUNCTION public.record_arrival() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.arrivals (arrived_seq, id, replication_role)
	VALUES (pg_catalog.nextval('public.arrival_seq'), NEW.id,
			pg_catalog.current_setting('session_replication_role'));
	RETURN NULL;
END
$$;
CREATE TRIGGER record_arrival AFTER INSERT ON order_mgmt.outbox
	FOR EACH ROW EXECUTE FUNCTION public.record_arrival();
ALTER TABLE order_mgmt.outbox ENABLE ALWAYS TRIGGER record_arrival;
});

# the extension's own triggers on the subscriber's outbox are left as they
# are: enabled in the default (origin) mode
is( $subscriber->safe_psql(
		'postgres',
		"SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) "
		  . "FROM pg_trigger WHERE tgrelid = 'order_mgmt.outbox'::regclass "
		  . "AND NOT tgisinternal"),
	'outbox_forbid_update:O,outbox_guard_insert:O,record_arrival:A',
	'subscriber: the extension triggers are untouched, only record_arrival fires ALWAYS'
);

# (create_order_sql($n), from OrderMgmt::Test, is the SQL that creates the
# order of cart number $n.)

# The publisher's commit order: event ids, in the order their transactions
# committed (within a transaction, in position order).  committed() is
# called after each commit and appends the events that have just become
# visible, which are that transaction's.
my @commit_order;
my %known;

sub committed
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my (@new, %xacts);
	for my $row (
		split /\n/,
		$publisher->safe_psql(
			'postgres',
			'SELECT id, xact_id FROM order_mgmt.outbox ORDER BY position'))
	{
		my ($id, $xact) = split /\|/, $row;
		next if $known{$id}++;
		push @new, $id;
		$xacts{$xact} = 1;
	}
	is(scalar keys %xacts, 1,
		"$what: the new events come from one transaction")
	  if @new;
	push @commit_order, @new;
	return scalar @new;
}

# The event id of an order's event of $type, on the publisher, as $session
# sees it (a session with its transaction still open sees its own event).
sub event_id
{
	my ($session, $order_id, $type) = @_;
	my $sql =
	    "SELECT id FROM order_mgmt.outbox WHERE aggregateid = '$order_id' "
	  . "AND type = '$type'";
	return ref $session
	  ? $session->query_safe($sql)
	  : $publisher->safe_psql('postgres', $sql);
}

sub position_of
{
	my ($event_id) = @_;
	return $publisher->safe_psql('postgres',
		"SELECT position FROM order_mgmt.outbox WHERE id = '$event_id'");
}

# Orders and events that were rolled back: they must never appear anywhere.
my (@lost_orders, @lost_events);

# Events that arrived by the initial copy (their order among themselves is
# the copy's, not a commit order).
my @initial;

# Every event as the subscriber must have it.  occurred_at is shown in UTC
# so that the two servers' TimeZone settings do not matter.
my $outbox_rows = q{
SELECT id, position, aggregatetype, aggregateid, type, order_version,
       schema_version, payload::text, occurred_at AT TIME ZONE 'UTC', xact_id
FROM order_mgmt.outbox ORDER BY position};

# Wait until the subscriber has applied everything the publisher has
# written, then check the subscriber's outbox and arrival record.
sub check_replica
{
	my ($what, %opt) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	$publisher->wait_for_catchup($subname);

	my $published = $publisher->safe_psql('postgres', $outbox_rows);
	my $replicated = $subscriber->safe_psql('postgres', $outbox_rows);
	my $count = () = $published =~ /^/mg;
	is($replicated, $published,
		"$what: the subscriber's outbox equals the publisher's ($count events), row for row"
	) unless $opt{retention};

	is( $subscriber->safe_psql(
			'postgres',
			'SELECT count(*) = count(DISTINCT id) FROM order_mgmt.outbox'),
		't',
		"$what: no event id twice on the subscriber");

	if (@lost_orders)
	{
		my $orders = join(',', map { "'$_'" } @lost_orders);
		my $events = join(',', map { "'$_'" } @lost_events);
		for my $node ($publisher, $subscriber)
		{
			is( $node->safe_psql(
					'postgres',
					"SELECT count(*) FROM order_mgmt.outbox "
					  . "WHERE aggregateid IN ($orders) OR id IN ($events)"),
				0,
				"$what: no event of a rolled-back transaction on the "
				  . $node->name);
		}
		is( $subscriber->safe_psql(
				'postgres',
				"SELECT count(*) FROM public.arrivals WHERE id IN ($events)"),
			0,
			"$what: no event of a rolled-back transaction ever arrived");
	}

	# The arrival record: every event once, in commit order.
	my @arrived = split /\n/,
	  $subscriber->safe_psql('postgres',
		'SELECT id FROM public.arrivals ORDER BY arrived_seq');
	is(scalar @arrived, scalar @commit_order,
		"$what: as many arrivals as committed events");
	my %times;
	$times{$_}++ for @arrived;
	is(scalar(grep { $times{$_} > 1 } keys %times),
		0, "$what: no event arrived twice");

	my $n = @initial;
	is_deeply(
		[ sort @arrived[ 0 .. $n - 1 ] ],
		[ sort @initial ],
		"$what: the events committed before the subscription arrived first, by the initial copy"
	);
	is_deeply(
		[ @arrived[ $n .. $#arrived ] ],
		[ @commit_order[ $n .. $#commit_order ] ],
		"$what: later events arrived in the publisher's commit order");

	is( $subscriber->safe_psql(
			'postgres',
			"SELECT string_agg(DISTINCT replication_role, ',') FROM public.arrivals"
		),
		'replica',
		"$what: every event was applied with session_replication_role = replica"
	);
	return;
}

# Subscription errors so far (connection losses count as apply errors, so
# this is only checked while both servers are up).
sub subscription_errors
{
	return $subscriber->safe_psql('postgres',
		"SELECT apply_error_count || ' apply, ' || sync_error_count || ' sync' "
		  . "FROM pg_stat_subscription_stats WHERE subname = '$subname'");
}

my ($sa, $sb, $sc, $sd) =
  map { $publisher->background_psql('postgres') } 1 .. 4;

########################################################################
# Before the subscription: these events travel by the initial copy.
########################################################################

my $order1 = $publisher->safe_psql('postgres', create_order_sql(1));
committed('order 1 created');
my $order2 = $publisher->safe_psql('postgres', create_order_sql(2));
committed('order 2 created');
my $order3 = $publisher->safe_psql('postgres', create_order_sql(3));
committed('order 3 created');

$publisher->safe_psql('postgres', "SELECT order_mgmt.complete_order('$order1')");
committed('order 1 completed');
$publisher->safe_psql('postgres',
	"SELECT order_mgmt.cancel_order('$order2', 'CUSTOMER_REQUESTED')");
committed('order 2 cancelled');

# a rolled-back create_order
$sa->query_safe('BEGIN');
my $order4 = $sa->query_safe(create_order_sql(4));
push @lost_orders, $order4;
push @lost_events, event_id($sa, $order4, 'OrderCreated');
$sa->query_safe('ROLLBACK');
is(committed('rolled-back create_order'), 0,
	'before the subscription: a rollback commits no event');

# an idempotent replay
is($publisher->safe_psql('postgres', create_order_sql(3)),
	$order3, 'before the subscription: the replay returns the same order');
is(committed('replayed create_order'), 0,
	'before the subscription: the replay writes no event');

@initial = @commit_order;
is(scalar @initial, 5, 'five events before the subscription');

########################################################################
# The subscription, with the initial copy.
########################################################################

my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION $subname CONNECTION '$connstr' "
	  . "PUBLICATION order_mgmt_events WITH (copy_data = true)");
$subscriber->wait_for_subscription_sync($publisher, $subname);

check_replica('initial copy');
is(subscription_errors(), '0 apply, 0 sync',
	'initial copy: the subscription reported no error');

# The subscriber's guard is still in force for ordinary sessions.
my ($ret, $stdout, $stderr) = $subscriber->psql(
	'postgres',
	"INSERT INTO order_mgmt.outbox (id, aggregatetype, aggregateid, type, "
	  . "payload, order_version, schema_version, occurred_at, xact_id) "
	  . "SELECT order_mgmt.uuid_generate_v7(), 'order', aggregateid, type, "
	  . "payload, order_version, schema_version, occurred_at, xact_id "
	  . "FROM order_mgmt.outbox LIMIT 1",
	on_error_stop => 1,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'subscriber: a direct INSERT into the outbox still fails');
like($stderr, qr/ERROR:  0A000: rows cannot be inserted into order_mgmt\.outbox directly/,
	'subscriber: ... with the guard\'s 0A000');

########################################################################
# Streaming, with transactions committing out of position order.
########################################################################

# A takes the lowest position and will commit last.
$sa->query_safe('BEGIN');
my $order_a = $sa->query_safe(create_order_sql(10));
my $event_a = event_id($sa, $order_a, 'OrderCreated');

# D takes the next position and will roll back.
$sd->query_safe('BEGIN');
my $order_d = $sd->query_safe(create_order_sql(11));
push @lost_orders, $order_d;
push @lost_events, event_id($sd, $order_d, 'OrderCreated');

# B creates an order and commits first.
$sb->query_safe('BEGIN');
my $order_b = $sb->query_safe(create_order_sql(12));
$sb->query_safe('COMMIT');
committed('B commits');
my $event_b = event_id(undef, $order_b, 'OrderCreated');

# C creates an order and cancels B's in one transaction, and commits second.
$sc->query_safe('BEGIN');
my $order_c = $sc->query_safe(create_order_sql(13));
is($sc->query_safe("SELECT order_mgmt.cancel_order('$order_b', 'OUT_OF_STOCK')"),
	2, 'C cancels B\'s order');
$sc->query_safe('COMMIT');
is(committed('C commits'), 2, 'C committed two events');

# D rolls back, after others with higher positions committed.
$sd->query_safe('ROLLBACK');
is(committed('D rolls back'), 0, 'D committed nothing');

# A completes its order and commits last.
is($sa->query_safe("SELECT order_mgmt.complete_order('$order_a')"),
	2, 'A completes its order');
$sa->query_safe('COMMIT');
is(committed('A commits'), 2, 'A committed two events');

cmp_ok(position_of($event_a), '<', position_of($event_b),
	"A's OrderCreated has a lower position than B's");

# an idempotent replay of B's command, from another session
is($sd->query_safe(create_order_sql(12)), $order_b,
	'the replay of B\'s command returns B\'s order');
is(committed('replayed create_order'), 0, 'the replay writes no event');

# a rolled-back savepoint: only the kept order's event is committed
$sb->query_safe('BEGIN');
$sb->query_safe('SAVEPOINT before_order');
my $order_x = $sb->query_safe(create_order_sql(14));
push @lost_orders, $order_x;
push @lost_events, event_id($sb, $order_x, 'OrderCreated');
$sb->query_safe('ROLLBACK TO SAVEPOINT before_order');
my $order_y = $sb->query_safe(create_order_sql(15));
$sb->query_safe('COMMIT');
is(committed('savepoint rolled back'), 1, 'only the kept order has an event');

# a direct UPDATE to COMPLETED: the trigger writes the event on the publisher
$publisher->safe_psql('postgres',
	"UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = '$order_c'"
);
is(committed('direct UPDATE'), 1, 'the direct UPDATE wrote one event');

check_replica('streaming');
is(subscription_errors(), '0 apply, 0 sync',
	'streaming: the subscription reported no error');

# the out-of-order case, spelled out: B's event arrived before A's
my $arrival_sql = 'SELECT arrived_seq FROM public.arrivals WHERE id = ';
cmp_ok(
	$subscriber->safe_psql('postgres', "$arrival_sql '$event_b'"),
	'<',
	$subscriber->safe_psql('postgres', "$arrival_sql '$event_a'"),
	"B's OrderCreated arrived before A's, though A's has the lower position");

########################################################################
# A publisher restart, with a transaction open.
########################################################################

my $order_r1 = $publisher->safe_psql('postgres', create_order_sql(20));
committed('created just before the publisher restart');

# the open transaction dies with the server: its event never arrives
$sa->query_safe('BEGIN');
my $order_open = $sa->query_safe(create_order_sql(21));
push @lost_orders, $order_open;
push @lost_events, event_id($sa, $order_open, 'OrderCreated');

$publisher->restart;
$_->reconnect_and_clear for ($sa, $sb, $sc, $sd);

$publisher->safe_psql('postgres',
	"SELECT order_mgmt.cancel_order('$order_r1', 'PAYMENT_FAILED')");
committed('cancelled after the publisher restart');
$publisher->safe_psql('postgres', create_order_sql(22));
committed('created after the publisher restart');

check_replica('after a publisher restart');

########################################################################
# The subscriber stopped (cleanly, then by a crash): what is committed
# meanwhile waits in the publisher's slot and arrives once.
########################################################################

$subscriber->stop;

# out of position order again, while nobody is listening
$sa->query_safe('BEGIN');
my $order_p = $sa->query_safe(create_order_sql(30));
my $event_p = event_id($sa, $order_p, 'OrderCreated');
$sb->query_safe('BEGIN');
my $order_q = $sb->query_safe(create_order_sql(31));
$sb->query_safe("SELECT order_mgmt.complete_order('$order_q')");
$sb->query_safe('COMMIT');
committed('Q created and completed while the subscriber is down');
my $event_q = event_id(undef, $order_q, 'OrderCreated');
$sa->query_safe('COMMIT');
committed('P created while the subscriber is down');
$publisher->safe_psql('postgres',
	"SELECT order_mgmt.cancel_order('$order_y', 'FRAUD')");
committed('Y cancelled while the subscriber is down');

$subscriber->start;
check_replica('after the subscriber was down');
cmp_ok(
	$subscriber->safe_psql('postgres', "$arrival_sql '$event_q'"),
	'<',
	$subscriber->safe_psql('postgres', "$arrival_sql '$event_p'"),
	"after the subscriber was down: Q's event (committed first) arrived before P's (lower position)"
);

# A crash of the subscriber right after events were committed (they may or
# may not have been applied; the subscription's synchronous_commit is off),
# and more events while it is down.
$publisher->safe_psql('postgres', create_order_sql(40));
committed('created just before the subscriber crash');
$subscriber->stop('immediate');
my $order_z = $publisher->safe_psql('postgres', create_order_sql(41));
committed('created while the subscriber is crashed');
$publisher->safe_psql('postgres', "SELECT order_mgmt.complete_order('$order_z')");
committed('completed while the subscriber is crashed');

$subscriber->start;
check_replica('after a subscriber crash');

# Nothing went wrong while applying: the only errors the replication
# workers logged are lost or refused connections around the restarts (no
# duplicate key, no insert refused by a trigger).  The test's own sessions
# (application name 002_cdc_pgoutput.pl) are left out: one of them ran the
# refused direct INSERT above.
my @worker_errors =
  grep { !/ \Q$ENV{PGAPPNAME}\E (?:ERROR|FATAL):/ }
  grep { /\b(?:ERROR|FATAL|PANIC):/ }
  split /\n/, slurp_file($subscriber->logfile);
my @unexpected = grep {
	!/could not (?:send|receive|connect)|server closed the connection|shutting down|is active for PID|terminating logical replication worker due to administrator command/
} @worker_errors;
is(scalar @unexpected, 0,
	'subscriber log: the replication workers had no error but lost connections')
  or diag(join("\n", @unexpected));

########################################################################
# Retention on the publisher: publish = 'insert' does not carry deletes.
########################################################################

my $kept = $subscriber->safe_psql('postgres', $outbox_rows);
my $cutoff = position_of($event_a);
$publisher->safe_psql('postgres',
	"DELETE FROM order_mgmt.outbox WHERE position <= $cutoff");
$publisher->safe_psql('postgres', create_order_sql(50));
committed('created after the retention delete');
check_replica('after a retention delete', retention => 1);

my $new_row = $publisher->safe_psql('postgres',
	"SELECT * FROM ($outbox_rows) AS r ORDER BY position DESC LIMIT 1");
is( $subscriber->safe_psql('postgres', $outbox_rows),
	"$kept\n$new_row",
	'after a retention delete: the subscriber keeps every event and has the new one'
);
is( $publisher->safe_psql(
		'postgres',
		"SELECT count(*) FROM order_mgmt.outbox WHERE position <= $cutoff"),
	0,
	'after a retention delete: the publisher has pruned its outbox');

$_->quit for ($sa, $sb, $sc, $sd);
$subscriber->stop;
$publisher->stop;

done_testing();
