# Maintenance with pg_cron, without preloading order_mgmt: the jobs that
# docs/consumers-and-retention.md gives ("Maintenance with pg_cron") run
# refresh_reports() and purge_events() with the real pg_cron, and do their
# work.
#
# The server preloads pg_cron only (cron.database_name = 'orders'; cron.host
# is the node's socket directory, since the node listens on no TCP port).
# Four orders are written in one minute M (one of them cancelled), and a
# polling consumer fetches their events without acknowledging them.  The
# jobs are scheduled every minute, as that document schedules them (the purge
# keeps '1 second' instead of '1 hour', so that these events are old enough).
# pg_cron runs them at the start of each minute:
#   M+1: refresh_reports() moves the horizon to M but folds nothing, since
#        minute M ended less than a minute ago; purge_events() keeps every
#        event, since the consumer has not acknowledged them.
#   The consumer acknowledges.
#   M+2: refresh_reports() folds minute M: the horizon passes the orders and
#        sales_buckets holds them; purge_events() deletes the acknowledged
#        events, the orders stay.
# A job scheduled by a role that is not the extension's owner (here one
# with order_mgmt_reader) runs as that role and fails (42501), which
# cron.job_run_details shows.  cron.unschedule removes the jobs by name.
# Debian bookworm's pg_cron (1.4) has no seconds schedules, so the test
# waits for two minute boundaries: one to two minutes and a quarter.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# only pg_cron preloaded (not test/test.conf), order_mgmt in database orders
my $node = start_node(
	'pg_cron',
	test_conf => 0,
	conf => sub {
		my ($node) = @_;
		my $socket_dir = $node->host;
		return qq(
shared_preload_libraries = 'pg_cron'
cron.database_name = 'orders'
cron.host = '$socket_dir'
);
	},
	extension => 'orders');
$node->safe_psql('orders', 'CREATE EXTENSION pg_cron');

is( $node->safe_psql(
		'orders',
		"SELECT string_agg(name, ',' ORDER BY name) FROM unnest(string_to_array("
		  . "current_setting('shared_preload_libraries'), ',')) AS l(name)"),
	'pg_cron',
	'order_mgmt is not preloaded');

# Debian bookworm ships pg_cron 1.4, which refuses seconds schedules
# (pg_cron 1.5 added them); docs/consumers-and-retention.md says which version
# takes them.
my $cron_version =
  $node->safe_psql('orders', "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
my ($major, $minor) = $cron_version =~ /^(\d+)\.(\d+)/;
my ($rc, $out, $err) = $node->psql('orders',
	"SELECT cron.schedule('seconds_probe', '30 seconds', 'SELECT 1')");
if ($major * 100 + $minor < 105)
{
	like($err, qr/invalid schedule: 30 seconds/,
		"pg_cron $cron_version refuses a seconds schedule");
}
else
{
	is($rc, 0, "pg_cron $cron_version takes a seconds schedule");
	$node->safe_psql('orders', "SELECT cron.unschedule('seconds_probe')");
}

# a role that may use pg_cron and read the reports, but does not own
# order_mgmt
$node->safe_psql(
	'orders', q(
SELECT order_mgmt.create_roles();
CREATE ROLE report_scheduler LOGIN IN ROLE order_mgmt_reader;
GRANT USAGE ON SCHEMA cron TO report_scheduler;
));

# Everything from the orders to the scheduling must fall in one minute M:
# wait (setup, not an assertion) while the minute has less than 15 seconds
# left.
$node->poll_query_until('orders', "SELECT extract(second FROM clock_timestamp()) < 45")
  or die 'the clock never reached the first 45 seconds of a minute';

my $setup = $node->safe_psql(
	'orders', q{
CREATE FUNCTION pg_temp.cmd(n integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'cartId', format('15000000-0000-4000-8000-%s', lpad(n::text, 12, '0')),
    'customerId', 'c1500000-0000-4000-8000-000000000001',
    'items', jsonb_build_array(jsonb_build_object(
        'productId', 'a1500000-0000-4000-8000-000000000001', 'quantity', 1, 'unitPrice', 100)),
    'total', 100, 'currency', 'EUR')
$$;
SELECT order_mgmt.register_consumer('billing');
SELECT order_mgmt.create_order(pg_temp.cmd(n)) FROM generate_series(1, 4) n;
SELECT order_mgmt.cancel_order(order_id, 'OUT_OF_STOCK')
  FROM order_mgmt.orders ORDER BY created_at, order_id LIMIT 1;
SELECT max(seq) FROM order_mgmt.fetch_events('billing', 100);
SELECT cron.schedule('order_mgmt_refresh_reports', '* * * * *',
                     'SELECT order_mgmt.refresh_reports()');
SELECT cron.schedule('order_mgmt_purge_events', '* * * * *',
                     $$SELECT order_mgmt.purge_events('1 second')$$);
SET ROLE report_scheduler;
SELECT cron.schedule('refresh_as_non_owner', '* * * * *',
                     'SELECT order_mgmt.refresh_reports()');
RESET ROLE;
SELECT count(*) FROM order_mgmt.outbox;
-- the last event and minute M, and whether the scheduling was still in M
SELECT max(occurred_at), date_trunc('minute', max(occurred_at)),
       date_trunc('minute', max(occurred_at)) = date_trunc('minute', clock_timestamp())
  FROM order_mgmt.outbox;
});
my @setup = split /\n/, $setup;
# the lines from the end: max(seq), three job ids, the event count, the last event
my ($acked_upto, $events) = @setup[ -6, -2 ];
my ($last_event, $minute, $same_minute) = split /\|/, $setup[-1];
like($acked_upto, qr/^\d+$/, "the consumer fetched the events up to seq $acked_upto");
is($events, 5, 'four orders and one cancellation wrote five events');
is($node->safe_psql('orders',
		"SELECT jobname || ' ' || schedule || ' ' || command FROM cron.job ORDER BY jobid"),
	"order_mgmt_refresh_reports * * * * * SELECT order_mgmt.refresh_reports()\n"
	  . "order_mgmt_purge_events * * * * * SELECT order_mgmt.purge_events('1 second')\n"
	  . "refresh_as_non_owner * * * * * SELECT order_mgmt.refresh_reports()",
	'the jobs are scheduled, by name, every minute');
is( $node->safe_psql('orders',
		"SELECT username FROM cron.job WHERE jobname = 'refresh_as_non_owner'"),
	'report_scheduler',
	'a job runs as the role that scheduled it');

# The first finished run of a job that started at or after $after:
# "status|return_message|start_time".
sub run_after
{
	my ($job, $after) = @_;
	my $query = qq{
SELECT d.status || '|' || d.return_message || '|' || d.start_time
  FROM cron.job_run_details d JOIN cron.job j USING (jobid)
 WHERE j.jobname = '$job' AND d.start_time >= '$after'
   AND d.status IN ('succeeded', 'failed')
 ORDER BY d.start_time LIMIT 1};
	$node->poll_query_until('orders', "SELECT EXISTS ($query)")
	  or die "no run of $job after $after";
	return $node->safe_psql('orders', $query);
}

my $sales_sql = q{
SELECT coalesce(sum(orders_created), 0) || ' ' || coalesce(sum(orders_cancelled), 0) || ' '
       || coalesce(sum(gross_amount), 0) || ' ' || coalesce(sum(cancelled_amount), 0)
  FROM order_mgmt.sales_buckets WHERE currency = 'EUR'};

# minute M+1.  pg_cron may start minute M's runs a moment late, after the
# setup's last event when the setup began right at the minute's start; the
# runs of M+1 are the first that start at or after M+1 begins.
my $next_minute =
  $node->safe_psql('orders', "SELECT '$minute'::timestamptz + interval '1 minute'");
my $refresh1 = run_after('order_mgmt_refresh_reports', $next_minute);
like($refresh1, qr/^succeeded\|1 row\|/, "the refresh job ran: $refresh1");
my $purge1 = run_after('order_mgmt_purge_events', $next_minute);
like($purge1, qr/^succeeded\|1 row\|/, "the purge job ran: $purge1");
SKIP:
{
	skip 'the setup spilled over into the next minute', 3 unless $same_minute eq 't';
	is( $node->safe_psql('orders',
			"SELECT order_mgmt.reports_closed_until() = '$minute'"),
		't',
		'the first refresh moved the horizon to minute M, where the orders are');
	is($node->safe_psql('orders', $sales_sql),
		'0 0 0 0', 'and folded none of them: minute M was not closed yet');
	is($node->safe_psql('orders', 'SELECT count(*) FROM order_mgmt.outbox'),
		5, 'the purge kept the events the consumer has not acknowledged');
}

# a non-owner's job fails, with the error in cron.job_run_details
my $failed = run_after('refresh_as_non_owner', $next_minute);
like(
	$failed,
	qr/^failed\|ERROR:  permission denied for function refresh_reports/,
	"a job scheduled by a role that does not own order_mgmt fails: $failed");
$node->safe_psql('orders', "SELECT cron.unschedule('refresh_as_non_owner')",
	extra_params => [ '-U', 'report_scheduler' ]);

my $acked_at = $node->safe_psql('orders',
	"SELECT order_mgmt.ack_events('billing', $acked_upto) = $acked_upto, clock_timestamp()");
my $ack_ok;
($ack_ok, $acked_at) = split /\|/, $acked_at;
is($ack_ok, 't', 'the consumer acknowledged the events');

# minute M+2: the refresh folds minute M, the purge deletes what was acked
my $horizon_passed = "SELECT order_mgmt.reports_closed_until() > '$last_event'";
ok($node->poll_query_until('orders', $horizon_passed),
	'the refresh job moved the horizon past the orders');
is($node->safe_psql('orders', $sales_sql),
	'4 1 400 100', 'sales_buckets holds the four orders and the cancellation');
is( $node->safe_psql(
		'orders', q{
SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
 WHERE j.jobname = 'order_mgmt_refresh_reports' AND d.status <> 'succeeded'}),
	0,
	'every refresh run succeeded');
is( $node->safe_psql(
		'orders', q{
SELECT count(*) >= 2 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
 WHERE j.jobname = 'order_mgmt_refresh_reports' AND d.status = 'succeeded'}),
	't',
	'the refresh job ran at least twice');

my $purge2 = run_after('order_mgmt_purge_events', $acked_at);
like($purge2, qr/^succeeded\|1 row\|/, "the purge job ran after the acknowledgement: $purge2");
is( $node->safe_psql(
		'orders',
		'SELECT (SELECT count(*) FROM order_mgmt.outbox) || \' \' '
		  . '|| (SELECT count(*) FROM order_mgmt.event_feed)'),
	'0 0',
	'the purge deleted the acknowledged events from the outbox and the feed');
is( $node->safe_psql(
		'orders',
		"SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'CANCELLED') FROM order_mgmt.orders"),
	'4 1',
	'the orders stay');

# unscheduling by name, as docs/consumers-and-retention.md does
$node->safe_psql(
	'orders', q{
SELECT cron.unschedule('order_mgmt_refresh_reports');
SELECT cron.unschedule('order_mgmt_purge_events');
});
is($node->safe_psql('orders', 'SELECT count(*) FROM cron.job'), 0, 'the jobs are unscheduled');

$node->stop;
done_testing();
