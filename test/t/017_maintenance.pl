# The scheduled maintenance: with the library preloaded, the launcher runs
# refresh_reports() and purge_events() in every database that has
# order_mgmt, on the schedules of order_mgmt.refresh_interval and
# order_mgmt.purge_interval (1 s here, retention 2 s), each run in a
# short-lived maintenance worker, recorded in order_mgmt.maintenance_runs
# and shown by order_mgmt.stats_maintenance.  Nobody in this test calls
# either function.
#
#  1. Runs of both tasks appear and keep coming; old events are purged
#     while their orders stay; a polling consumer's unacknowledged events
#     are kept until it acknowledges them; the report horizon advances past
#     the orders made at the start, which are then in the rollup tables.
#  2. A run is visible in pg_stat_activity: blocked on a lock, its row has
#     backend_type "order_mgmt maintenance", the statement as query and
#     wait_event_type Lock.
#  3. Failure and back-off: with lock_timeout set on the database and the
#     lock held, refresh runs fail (55P03), are recorded and logged, and
#     are retried after growing gaps; the notify worker goes on sending and
#     purge_events goes on succeeding; once the lock is released the next
#     run succeeds and consecutive_failures is 0 again.
#  4. purge_interval = 0 (reload) stops the purge runs while the refresh
#     runs go on; set back, they resume.
#  5. DROP DATABASE of a database with the extension succeeds while its
#     workers run; its slot is freed (max_databases = 2 here), and a
#     database given the extension afterwards gets its maintenance runs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

# the same settings as the pg_regress and isolation instances, plus the
# preload and fast schedules; the log names each line's backend type and
# each error's SQLSTATE; the extension in database shop
my $node = start_node(
	'maintenance',
	preload => 1,
	conf => q(
order_mgmt.max_databases = 2
order_mgmt.refresh_interval = 1
order_mgmt.purge_interval = 1
order_mgmt.event_retention = 2
log_line_prefix = '%m [%p] %b '
log_error_verbosity = verbose
),
	extension => 'shop');

my $refresh_statement = 'SELECT order_mgmt.refresh_reports()::pg_catalog.text';

# A CreateOrder v1.0.0 command for cart number $n, one line of unit price
# $n, in $currency, as an SQL literal.
sub command
{
	my ($n, $currency) = @_;
	return sql_literal(order_command($n, unit_price => $n, currency => $currency));
}

# Create order number $n in database $db; its id.
sub create_order
{
	my ($db, $n, $currency) = @_;
	return $node->safe_psql($db,
		'SELECT order_mgmt.create_order(' . command($n, $currency) . ')');
}

# A row of stats_maintenance in $db for $task, as a hash.
my @stats_columns = qw(run_every runs failures consecutive_failures last_status
  last_started_at last_finished_at last_duration_seconds last_rows
  last_success_at last_error last_error_at);

sub stats
{
	my ($db, $task) = @_;
	my @values = split /\|/,
	  $node->safe_psql($db,
		'SELECT '
		  . join(', ', map { "coalesce(${_}::text, '')" } @stats_columns)
		  . " FROM order_mgmt.stats_maintenance WHERE task = '$task'"),
	  -1;
	my %row;
	@row{@stats_columns} = @values;
	return \%row;
}

# Wait until $task in $db has succeeded more than $runs times in all.
sub wait_for_runs
{
	my ($db, $task, $runs, $what) = @_;
	wait_for_query($node, $db,
		"SELECT runs > $runs AND last_status = 'succeeded' "
		  . "FROM order_mgmt.stats_maintenance WHERE task = '$task'",
		"$what: no run of $task after $runs");
	return;
}

# (notify_worker_pid($node, $db), from OrderMgmt::Test, is the pid of the
# notify worker of database $db, once it runs.)

# --- 1. the runs, the purge, the consumer ------------------------------------

# Orders made at the start, in a currency of their own (USD), so that the
# rollup's share of them can be told apart; one is completed, one cancelled.
my $started_at = time();
my @start_orders = map { create_order('shop', $_, 'USD') } 1 .. 5;
$node->safe_psql('shop',
	"SELECT order_mgmt.complete_order('$start_orders[0]'), "
	  . "order_mgmt.cancel_order('$start_orders[1]', 'OUT_OF_STOCK')");
my $start_orders_end = $node->safe_psql('shop',
	"SELECT greatest(max(created_at), max(completed_at), max(cancelled_at)) "
	  . "FROM order_mgmt.orders WHERE currency = 'USD'");
is( $node->safe_psql('shop',
		"SELECT count(*) FROM order_mgmt.outbox o JOIN order_mgmt.orders r "
		  . "ON r.order_id = o.aggregateid WHERE r.currency = 'USD'"),
	7,
	'the start orders wrote 7 events');

wait_for_runs('shop', 'refresh_reports', 0, 'first refresh');
wait_for_runs('shop', 'purge_events', 0, 'first purge');
my $refresh = stats('shop', 'refresh_reports');
my $purge = stats('shop', 'purge_events');
is($refresh->{run_every}, '1s', 'stats_maintenance: refresh_reports runs every 1s');
is($purge->{run_every}, '1s', 'stats_maintenance: purge_events runs every 1s');
is($refresh->{last_status}, 'succeeded', 'refresh_reports ran by itself and succeeded');
is($purge->{last_status}, 'succeeded', 'purge_events ran by itself and succeeded');
is($refresh->{failures} . '/' . $refresh->{consecutive_failures},
	'0/0', 'refresh_reports: no failures');
is($purge->{failures} . '/' . $purge->{consecutive_failures},
	'0/0', 'purge_events: no failures');
ok($refresh->{last_duration_seconds} ne '' && $refresh->{last_duration_seconds} >= 0,
	'refresh_reports: its last duration is shown');
is($refresh->{last_error}, '', 'refresh_reports: no error recorded');
my $first_horizon = $node->safe_psql('shop',
	'SELECT order_mgmt.reports_closed_until()');
isnt($first_horizon, '-infinity', 'the first refresh set a report horizon');

# the runs keep coming
wait_for_runs('shop', 'refresh_reports', $refresh->{runs} + 2, 'refresh runs go on');
wait_for_runs('shop', 'purge_events', $purge->{runs} + 2, 'purge runs go on');
pass('both tasks ran at least twice more');

# events older than the retention (2 s) go; the orders stay
ok( $node->poll_query_until('shop',
		'SELECT count(*) = 0 FROM order_mgmt.outbox'),
	'the outbox is purged without anyone calling purge_events');
is($node->safe_psql('shop', 'SELECT count(*) FROM order_mgmt.orders'),
	5, 'the orders remain');
$purge = stats('shop', 'purge_events');
is($purge->{last_status}, 'succeeded', 'purge_events: last run succeeded');

# A polling consumer that has not acknowledged: its event is kept past the
# retention, through runs that would have purged it without the consumer.
$node->safe_psql('shop', "SELECT order_mgmt.register_consumer('billing')");
my $kept_order = create_order('shop', 101);
my $kept_event = $node->safe_psql('shop',
	"SELECT id FROM order_mgmt.outbox WHERE aggregateid = '$kept_order'");
ok( $node->poll_query_until('shop',
		"SELECT last_status = 'succeeded' AND last_started_at > "
		  . "(SELECT occurred_at + interval '3 s' FROM order_mgmt.outbox WHERE id = '$kept_event') "
		  . "FROM order_mgmt.stats_maintenance WHERE task = 'purge_events'"),
	'a purge ran more than 3 s after the event');
is( $node->safe_psql('shop',
		"SELECT count(*) FROM order_mgmt.outbox WHERE id = '$kept_event'"),
	1,
	'the unacknowledged event of the consumer is kept');
is( $node->safe_psql('shop',
		"SELECT string_agg(id::text, ',') FROM order_mgmt.fetch_events('billing')"),
	$kept_event,
	'the consumer fetches it');
$node->safe_psql('shop',
	"SELECT order_mgmt.ack_events('billing', "
	  . "(SELECT max(seq) FROM order_mgmt.fetch_events('billing')))");
ok( $node->poll_query_until('shop',
		"SELECT count(*) = 0 FROM order_mgmt.outbox WHERE id = '$kept_event'"),
	'once acknowledged, the event is purged');
$node->safe_psql('shop', "SELECT order_mgmt.unregister_consumer('billing')");

# --- 2. a run in pg_stat_activity ----------------------------------------------

# A session holds the lock refresh_reports() takes first: the next run
# waits for it, and pg_stat_activity shows it waiting.
my $locker = $node->background_psql('shop');
my $locker_pid = $locker->query_safe('SELECT pg_backend_pid()');
$locker->query_safe('BEGIN');
$locker->query_safe(
	'LOCK TABLE order_mgmt.report_horizon IN ACCESS EXCLUSIVE MODE');
my $lock_taken = $node->safe_psql('shop', 'SELECT now()');
ok( $node->poll_query_until(
		'postgres',
		"SELECT string_agg(concat_ws('|', state, wait_event_type, wait_event, query, "
		  . "$locker_pid = ANY (pg_blocking_pids(pid))), ',') "
		  . "FROM pg_stat_activity "
		  . "WHERE backend_type = 'order_mgmt maintenance' AND datname = 'shop'",
		"active|Lock|relation|$refresh_statement|t"),
	'pg_stat_activity: the run of refresh_reports, waiting for the lock');
my ($blocked_pid, $blocked_since) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT pid, query_start FROM pg_stat_activity "
	  . "WHERE backend_type = 'order_mgmt maintenance' AND datname = 'shop'");
my $refresh_before_release = stats('shop', 'refresh_reports');

# The maintenance worker takes the database's settings when it connects:
# set lock_timeout now, for the runs after the blocked one.
$node->safe_psql('shop', "ALTER DATABASE shop SET lock_timeout = '200ms'");

# released, the blocked run completes and is recorded
my $released_at = $node->safe_psql('shop', 'SELECT clock_timestamp()');
$locker->query_safe('COMMIT');
wait_for_runs('shop', 'refresh_reports', $refresh_before_release->{runs},
	'the blocked run');
$refresh = stats('shop', 'refresh_reports');
is( $node->safe_psql('shop',
		"SELECT '$refresh->{last_started_at}'::timestamptz <= '$blocked_since'::timestamptz "
		  . "AND '$refresh->{last_finished_at}'::timestamptz >= '$released_at'::timestamptz"),
	't',
	'the blocked run finished after the lock was released, and was recorded');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $blocked_pid"),
	'its worker exited');

# --- 3. failure and back-off ------------------------------------------------------

my $notify_pid = notify_worker_pid($node, 'shop');
my $log_offset = -s $node->logfile;
$locker->query_safe('BEGIN');
$locker->query_safe(
	'LOCK TABLE order_mgmt.report_horizon IN ACCESS EXCLUSIVE MODE');

# Each failed run is recorded: follow consecutive_failures to its 4th, with
# the time of each failure.
my $poller = $node->background_psql('shop');
my %failed_at;
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
my $seen = 0;
while ($seen < 4)
{
	die 'refresh_reports did not fail 4 times' if time() > $deadline;
	my ($count, $at) = split /\|/,
	  $poller->query_safe(
		"SELECT consecutive_failures, coalesce(extract(epoch FROM last_error_at)::text, '') "
		  . "FROM order_mgmt.stats_maintenance WHERE task = 'refresh_reports'");
	if ($count > $seen)
	{
		$failed_at{$count} = $at;
		$seen = $count;
	}
	usleep(50_000);
}
is(join(',', sort keys %failed_at), '1,2,3,4',
	'each of the 4 failures in a row was seen');
$refresh = stats('shop', 'refresh_reports');
is($refresh->{last_status}, 'failed', 'stats_maintenance: the last refresh failed');
is($refresh->{consecutive_failures}, 4, 'stats_maintenance: 4 consecutive failures');
is($refresh->{failures}, 4, 'stats_maintenance: 4 failures in all');
is($refresh->{last_error}, 'canceling statement due to lock timeout',
	'stats_maintenance: last_error is the lock timeout');
is($refresh->{last_rows}, '', 'a failed run has no rows');

# the back-off: after n failures in a row the next try waits 2^n s
my @gaps = map { $failed_at{ $_ + 1 } - $failed_at{$_} } 1 .. 3;
note(sprintf('gaps between failed runs: %.2f s, %.2f s, %.2f s', @gaps));
ok($gaps[0] >= 1.95, 'after 1 failure, the next try waits 2 s or more');
ok($gaps[1] >= 3.95, 'after 2 failures, 4 s or more');
ok($gaps[2] >= 7.95, 'after 3 failures, 8 s or more');
ok($gaps[2] > $gaps[0], 'the gaps grow');

# the error went to the server log, from the maintenance worker
my $log = slurp_file($node->logfile, $log_offset);
my @errors = $log =~
  /^\S+ \S+ \S+ \[\d+\] order_mgmt maintenance ERROR:  55P03: canceling statement due to lock timeout$/mg;
ok(scalar @errors >= 4, 'the server log has each ERROR 55P03 of the maintenance worker');
like(
	$log,
	qr/order_mgmt maintenance ERROR:  55P03: canceling statement due to lock timeout\n(?:.*\n)*?.* order_mgmt maintenance CONTEXT:  .*\n\s*PL\/pgSQL function order_mgmt\.refresh_reports\(\)/,
	'... with its context: refresh_reports()');

# Meanwhile (the next try is 16 s away, the lock still held) the notify
# worker still sends notifications, and purge_events still succeeds.
my $listener = OrderMgmt::Test::Listener->new($node, 'shop', channels => ['order_created']);
my $notified_order = create_order('shop', 102);
my ($sent_by) = map { $_->{pid} }
  grep { $_->{channel} eq 'order_created' && $_->{raw} =~ /"orderId":"$notified_order"/ }
  parse_notifications(
	$listener->wait_for(qr/"orderId":"$notified_order"/, nodie => 1));
is($sent_by, $notify_pid,
	'while refresh fails, an order_created notification arrives from the notify worker');
is(notify_worker_pid($node, 'shop'), $notify_pid, 'the notify worker did not restart');
ok( $node->poll_query_until('shop',
		"SELECT count(*) = 0 FROM order_mgmt.outbox WHERE aggregateid = '$notified_order'"),
	'while refresh fails, purge_events still purges');
$purge = stats('shop', 'purge_events');
is($purge->{last_status} . '/' . $purge->{consecutive_failures},
	'succeeded/0', 'while refresh fails, purge_events succeeds');

# released: the next run succeeds, and the back-off is over
my $failures_before_release = stats('shop', 'refresh_reports')->{failures};
$locker->query_safe('COMMIT');
ok( $node->poll_query_until('shop',
		"SELECT last_status = 'succeeded' AND consecutive_failures = 0 "
		  . "FROM order_mgmt.stats_maintenance WHERE task = 'refresh_reports'"),
	'after the lock is released, refresh_reports succeeds again');
$refresh = stats('shop', 'refresh_reports');
is($refresh->{failures}, $failures_before_release,
	'the failures are still counted');
is( $node->safe_psql('shop',
		"SELECT last_success_at > last_error_at FROM order_mgmt.stats_maintenance "
		  . "WHERE task = 'refresh_reports'"),
	't',
	'its last success is after its last error');
$node->safe_psql('shop', 'ALTER DATABASE shop RESET lock_timeout');
wait_for_runs('shop', 'refresh_reports', $refresh->{runs} + 1,
	'refresh at its normal pace');
pass('refresh_reports runs at its interval again');

# --- 4. turning a task off ----------------------------------------------------------

$node->safe_psql('postgres',
	'ALTER SYSTEM SET order_mgmt.purge_interval = 0');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( $node->poll_query_until('shop',
		"SELECT run_every FROM order_mgmt.stats_maintenance WHERE task = 'purge_events'",
		'0'),
	'stats_maintenance: purge_events runs every 0 (off)');
# a refresh run that the launcher started after the reload, and one more:
# any purge run started before the reload is over by then
$refresh = stats('shop', 'refresh_reports');
wait_for_runs('shop', 'refresh_reports', $refresh->{runs} + 1, 'after the reload');
my $purge_runs_off = stats('shop', 'purge_events')->{runs};
my $unpurged_order = create_order('shop', 103);
ok( $node->poll_query_until('shop',
		"SELECT last_status = 'succeeded' AND last_started_at > "
		  . "(SELECT occurred_at + interval '3 s' FROM order_mgmt.outbox "
		  . " WHERE aggregateid = '$unpurged_order') "
		  . "FROM order_mgmt.stats_maintenance WHERE task = 'refresh_reports'"),
	'refresh runs go on while purge is off');
is(stats('shop', 'purge_events')->{runs},
	$purge_runs_off, 'purge off: no more purge runs');
is( $node->safe_psql('shop',
		"SELECT count(*) FROM order_mgmt.outbox WHERE aggregateid = '$unpurged_order'"),
	1,
	'purge off: an event past the retention stays');

$node->safe_psql('postgres', 'ALTER SYSTEM RESET order_mgmt.purge_interval');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
wait_for_runs('shop', 'purge_events', $purge_runs_off, 'purge back on');
ok( $node->poll_query_until('shop',
		"SELECT count(*) = 0 FROM order_mgmt.outbox WHERE aggregateid = '$unpurged_order'"),
	'purge back on: the event is purged');

# --- 5. DROP DATABASE, and a database given the extension later -------------------

$node->safe_psql('postgres', 'CREATE DATABASE shop2');
$node->safe_psql('shop2', 'CREATE EXTENSION order_mgmt');
wait_for_runs('shop2', 'refresh_reports', 0, 'shop2');
wait_for_runs('shop2', 'purge_events', 0, 'shop2');
pass('a second database gets its maintenance runs');
my $shop2_oid = $node->safe_psql('postgres',
	"SELECT oid FROM pg_database WHERE datname = 'shop2'");
notify_worker_pid($node, 'shop2');

# Drop it the moment one of its maintenance workers is seen running (its
# notify worker runs all along).
my ($rc, $out, $err) = $node->psql(
	'postgres', q{
DO $$
DECLARE
	until timestamptz := clock_timestamp() + interval '60 s';
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN EXISTS (SELECT FROM pg_stat_activity
						   WHERE datname = 'shop2' AND backend_type = 'order_mgmt maintenance');
		IF clock_timestamp() > until THEN
			RAISE EXCEPTION 'no maintenance worker of shop2 was seen';
		END IF;
		PERFORM pg_sleep(0.001);
	END LOOP;
END
$$;
SELECT extract(epoch FROM clock_timestamp()) AS drop_start \gset
DROP DATABASE shop2;
SELECT round((extract(epoch FROM clock_timestamp()) - :drop_start)::numeric, 2);
},
	on_error_stop => 1);
is($rc, 0, 'DROP DATABASE of a database with the extension, while its workers run');
unlike($err, qr/being accessed by other users/, '... not refused for its workers');
note("DROP DATABASE took $out s");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE datid = $shop2_oid"),
	'no process of the dropped database is left');

# only 2 slots: the dropped database's slot must be free for this one
$node->safe_psql('postgres', 'CREATE DATABASE shop3');
$node->safe_psql('shop3', 'CREATE EXTENSION order_mgmt');
wait_for_runs('shop3', 'refresh_reports', 0, 'shop3');
wait_for_runs('shop3', 'purge_events', 0, 'shop3');
pass('a database given the extension afterwards gets its maintenance runs (in the freed slot)');
notify_worker_pid($node, 'shop3');
my $shop3_order = create_order('shop3', 201);
ok( $node->poll_query_until('shop3',
		"SELECT count(*) = 0 FROM order_mgmt.outbox WHERE aggregateid = '$shop3_order'"),
	'its events are purged too');

# --- 1, end: the horizon passed the start orders ------------------------------------

# A minute is folded once it ended a minute ago: within two minutes of the
# start, the horizon is past the start orders.
ok( $node->poll_query_until('shop',
		"SELECT order_mgmt.reports_closed_until() > '$start_orders_end'::timestamptz"),
	'the report horizon advanced past the orders made at the start');
my $horizon = $node->safe_psql('shop', 'SELECT order_mgmt.reports_closed_until()');
is( $node->safe_psql('shop',
		"SELECT '$horizon'::timestamptz > '$first_horizon'::timestamptz"),
	't',
	"the horizon moved on from the first refresh's ($first_horizon to $horizon)");
note(sprintf('the horizon passed them %.0f s after the start', time() - $started_at));
is( $node->safe_psql('shop',
		"SELECT concat_ws('|', sum(orders_created), sum(orders_completed), "
		  . "sum(orders_cancelled), sum(gross_amount), sum(completed_amount), "
		  . "sum(cancelled_amount)) FROM order_mgmt.sales_buckets WHERE currency = 'USD'"),
	'5|1|1|15|1|2',
	'sales_buckets: the start orders are in the rollup');
is( $node->safe_psql('shop',
		"SELECT concat_ws('|', sum(orders_cancelled), sum(cancelled_amount)) "
		  . "FROM order_mgmt.cancellation_buckets "
		  . "WHERE currency = 'USD' AND cancellation_reason = 'OUT_OF_STOCK'"),
	'1|2',
	'cancellation_buckets: the cancelled start order is in the rollup');
is( $node->safe_psql('shop',
		"SELECT concat_ws('|', sum(orders_created), sum(orders_completed), "
		  . "sum(orders_cancelled), sum(gross_amount), sum(net_amount)) "
		  . "FROM order_mgmt.sales_daily WHERE currency = 'USD'"),
	'5|1|1|15|13',
	'sales_daily: the start orders, counted once');
$refresh = stats('shop', 'refresh_reports');
is($refresh->{last_status}, 'succeeded', 'refresh_reports: still succeeding');

$poller->quit;
$listener->quit;
$locker->quit;
$node->stop;

done_testing();
