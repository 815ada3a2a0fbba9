# The stats views through the real Prometheus exporter: Debian's
# prometheus-postgres-exporter, started with docs/monitoring/postgres_exporter.yml
# against a server holding orders in each state, a polling consumer behind
# the feed and an inactive logical slot, logged in as a role whose only
# privilege is membership in pg_monitor.  Its /metrics output carries every
# order_mgmt_* metric with the figures the database holds, typed as the file
# says; after more orders, an acknowledgement and a reader attached to the
# slot, the next scrape shows the new figures; no query of ours failed.
# docs/monitoring/alerts.yml names only metrics that the exporter reported,
# and promtool (Debian's prometheus package) checks it and runs its unit tests,
# docs/monitoring/alerts_test.yml.
#
# The exporter comes from scripts/install-deps.sh.  Without it the test is
# skipped, except under CI (CI set), where a missing exporter is a failure.
# POSTGRES_EXPORTER names another binary.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use HTTP::Tiny;
use IPC::Run;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $exporter = $ENV{POSTGRES_EXPORTER};
if (!defined $exporter)
{
	foreach my $name ('prometheus-postgres-exporter', 'postgres_exporter')
	{
		my $path = `command -v '$name' 2>/dev/null`;
		chomp $path;
		if ($path ne '')
		{
			$exporter = $path;
			last;
		}
	}
}
if (!defined $exporter || !-x $exporter)
{
	plan skip_all => 'prometheus-postgres-exporter is not installed (scripts/install-deps.sh installs it)'
	  unless $ENV{CI};
	BAIL_OUT('prometheus-postgres-exporter is not installed: run scripts/install-deps.sh');
}
my $queries = tree_path('docs/monitoring/postgres_exporter.yml');
ok(-f $queries, "the queries file $queries exists");
note 'exporter: ' . `'$exporter' --version 2>&1`;

# the settings of the pg_regress and isolation instances, and the library
# preloaded, for the notify worker and the maintenance metrics: the purge
# runs every second and keeps a day (it deletes nothing here), the refresh
# is left to the test
my $node = start_node(
	'orders',
	preload => 1,
	conf => q(
order_mgmt.refresh_interval = 0
order_mgmt.purge_interval = 1
order_mgmt.event_retention = '1d'
));

# what was started, stopped at the end whatever happens
my ($exporter_h, $reader_h);
END
{
	foreach my $h ($reader_h, $exporter_h)
	{
		$h->kill_kill if defined $h && $h->pumpable;
	}
}

# a CreateOrder command for cart $n, as an SQL literal
sub command
{
	my ($n) = @_;
	return sql_literal(
		order_command(
			$n,
			cart_prefix => '93000000',
			customer => 'c9300000-0000-4000-8000-000000000001',
			product => 'a9300000-0000-4000-8000-000000000001',
			unit_price => 700));
}

# Orders: 5 created, 1 completed, 2 cancelled (8 events); a consumer that
# registered before them and has acknowledged nothing; a slot nobody reads;
# the monitoring login
$node->safe_psql('postgres', q{
	SELECT order_mgmt.register_consumer('billing');
	SELECT 'init' FROM pg_create_logical_replication_slot('cdc', 'test_decoding');
	CREATE ROLE order_mgmt_monitor LOGIN IN ROLE pg_monitor;
});
my @ids = map { $node->safe_psql('postgres', 'SELECT order_mgmt.create_order(' . command($_) . ')') } 1 .. 5;
$node->safe_psql('postgres', "SELECT order_mgmt.complete_order('$ids[0]')");
$node->safe_psql('postgres', "SELECT order_mgmt.cancel_order('$ids[1]', 'OUT_OF_STOCK')");
$node->safe_psql('postgres', "SELECT order_mgmt.cancel_order('$ids[2]', 'FRAUD')");
$node->safe_psql('postgres', 'SELECT order_mgmt.refresh_reports()');
is($node->safe_psql('postgres', q{SELECT pg_has_role('order_mgmt_monitor', 'pg_monitor', 'MEMBER'),
	has_table_privilege('order_mgmt_monitor', 'order_mgmt.orders', 'SELECT')}),
	"t|f", 'the monitoring login is a pg_monitor member and may not read the tables');

# the exporter, on a free port of the loopback interface
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = "$PostgreSQL::Test::Utils::log_path/016_exporter_postgres_exporter.log";
my $dsn = sprintf('host=%s port=%d user=order_mgmt_monitor dbname=postgres sslmode=disable',
	$node->host, $node->port);
$exporter_h = IPC::Run::start(
	[
		$exporter, "--web.listen-address=127.0.0.1:$port",
		"--extend.query-path=$queries", '--log.level=info'
	],
	'<', \undef, '>', $log, '2>&1',
	init => sub { $ENV{DATA_SOURCE_NAME} = $dsn; });
my $http = HTTP::Tiny->new(timeout => 30);
my $url = "http://127.0.0.1:$port/metrics";

# scrape: { 'name{label="value",...}' => value } without the server label,
# and { name => type }
sub scrape
{
	my $res;
	foreach my $try (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		$res = $http->get($url);
		last if $res->{success};
		die "the exporter exited: " . slurp_file($log) unless $exporter_h->pumpable;
		usleep(100_000);
	}
	die "no metrics from $url: $res->{status} $res->{content}" unless $res->{success};
	my (%values, %types);
	foreach my $line (split /\n/, $res->{content})
	{
		if ($line =~ /^# TYPE (\S+) (\S+)$/)
		{
			$types{$1} = $2;
			next;
		}
		next if $line =~ /^#/ || $line !~ /\S/;
		$line =~ /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/ or die "unexpected metrics line: $line";
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my @labels = sort grep { !/^server=/ } ($labels =~ /([A-Za-z_]+="(?:[^"\\]|\\.)*")/g);
		$values{ $name . (@labels ? '{' . join(',', @labels) . '}' : '') } = $value;
	}
	return (\%values, \%types);
}

my ($m, $t) = scrape();
is($m->{pg_up}, 1, 'the exporter reaches the server');
# (pg_exporter_last_scrape_error is that of the scrape before: checked below)
ok((grep { /^pg_exporter_user_queries_load_error\{/ && $m->{$_} == 0 } keys %$m) == 1,
	'the queries file loaded');

my %gauges = map { $_ => 'gauge' } qw(order_mgmt_orders order_mgmt_reports_horizon_age_seconds
  order_mgmt_outbox_events order_mgmt_outbox_bytes order_mgmt_outbox_oldest_age_seconds
  order_mgmt_outbox_unsequenced_events order_mgmt_consumer_acked_seq order_mgmt_consumer_newest_seq
  order_mgmt_consumer_events_behind order_mgmt_consumer_seconds_behind
  order_mgmt_consumer_last_ack_time_seconds order_mgmt_slot_active order_mgmt_slot_lag_bytes
  order_mgmt_slot_retained_bytes order_mgmt_slot_safe_wal_size_bytes order_mgmt_slot_wal_status
  order_mgmt_notifications_worker_running order_mgmt_notifications_queue_capacity
  order_mgmt_notifications_queue_depth order_mgmt_maintenance_consecutive_failures
  order_mgmt_maintenance_last_success_time_seconds order_mgmt_maintenance_last_duration_seconds
  order_mgmt_maintenance_last_rows);
my %expected_types = (%gauges,
	map { $_ => 'counter' } qw(order_mgmt_outbox_positions_drawn_total order_mgmt_notifications_sent_total
	  order_mgmt_notifications_overflows_total order_mgmt_maintenance_runs_total
	  order_mgmt_maintenance_failures_total));
is_deeply({ map { $_ => $t->{$_} } grep { /^order_mgmt_/ } keys %$t }, \%expected_types,
	'every order_mgmt metric is there, typed as the queries file says');

# orders per status, from the rollup and the orders since its horizon
is($m->{'order_mgmt_orders{status="CREATED"}'}, 2, 'orders CREATED');
is($m->{'order_mgmt_orders{status="COMPLETED"}'}, 1, 'orders COMPLETED');
is($m->{'order_mgmt_orders{status="CANCELLED"}'}, 2, 'orders CANCELLED');
my $horizon_age = $m->{order_mgmt_reports_horizon_age_seconds};
ok($horizon_age >= 60 && $horizon_age < 600, "the report horizon is a closed minute: $horizon_age s old");

# the outbox: 8 events, none numbered yet for the consumer
is($m->{order_mgmt_outbox_events}, 8, 'outbox events');
is($m->{order_mgmt_outbox_positions_drawn_total}, 8, 'outbox positions drawn');
is($m->{order_mgmt_outbox_unsequenced_events}, 8, 'outbox events not numbered yet');
my $bytes = $node->safe_psql('postgres', q{SELECT pg_total_relation_size('order_mgmt.outbox')});
is($m->{order_mgmt_outbox_bytes} + 0, $bytes, "outbox bytes: $bytes");
ok($m->{order_mgmt_outbox_oldest_age_seconds} > 0 && $m->{order_mgmt_outbox_oldest_age_seconds} < 600,
	'the oldest event\'s age');

# the consumer: behind by the 8 events, acknowledged nothing yet
is($m->{'order_mgmt_consumer_events_behind{consumer="billing"}'}, 8, 'consumer events behind');
ok($m->{'order_mgmt_consumer_seconds_behind{consumer="billing"}'} > 0, 'consumer seconds behind');
is($m->{'order_mgmt_consumer_acked_seq{consumer="billing"}'}, 0, 'consumer acknowledged seq');
is($m->{'order_mgmt_consumer_last_ack_time_seconds{consumer="billing"}'}, 0, 'consumer never acknowledged');

# the slot: inactive, lagging, WAL reserved, no cap
my $slot = 'plugin="test_decoding",slot_name="cdc"';
is($m->{"order_mgmt_slot_active{$slot}"}, 0, 'slot inactive');
my $lag1 = $m->{"order_mgmt_slot_lag_bytes{$slot}"};
ok($lag1 > 0, "slot lag after the orders: $lag1 bytes");
ok($m->{"order_mgmt_slot_retained_bytes{$slot}"} >= $lag1, 'slot retains at least its lag');
is($m->{"order_mgmt_slot_safe_wal_size_bytes{$slot}"}, -1, 'no max_slot_wal_keep_size: -1');
is(join(',', map { $m->{"order_mgmt_slot_wal_status{slot_name=\"cdc\",wal_status=\"$_\"}"} }
	  qw(reserved extended unreserved lost)),
	'1,0,0,0', 'slot WAL reserved, and in no other state');

# the notify worker announced the 8 events, and its queue is empty
is($m->{order_mgmt_notifications_worker_running}, 1, 'a notify worker serves the database');
is($m->{order_mgmt_notifications_queue_capacity}, 4096, 'queue capacity: the default');
is($m->{order_mgmt_notifications_queue_depth}, 0, 'queue drained');
is($m->{order_mgmt_notifications_sent_total}, 8, 'the worker sent 8 notifications');
is($m->{order_mgmt_notifications_overflows_total}, 0, 'no overflow');

# the maintenance: the purge ran (and deleted nothing), the refresh is off
ok($m->{'order_mgmt_maintenance_runs_total{task="purge_events"}'} >= 1, 'purge_events ran');
is($m->{'order_mgmt_maintenance_failures_total{task="purge_events"}'}, 0, 'purge_events never failed');
is($m->{'order_mgmt_maintenance_consecutive_failures{task="purge_events"}'}, 0, 'no failure in a row');
is($m->{'order_mgmt_maintenance_last_rows{task="purge_events"}'}, 0, 'the purge deleted nothing');
ok(abs($m->{'order_mgmt_maintenance_last_success_time_seconds{task="purge_events"}'} - time()) < 600,
	'the last purge succeeded recently');
is($m->{'order_mgmt_maintenance_runs_total{task="refresh_reports"}'}, 0, 'refresh_reports is off: no run');

# More orders (2 created, 1 of them cancelled: 3 events), the consumer reads
# and acknowledges everything, a reader attaches to the slot
$node->safe_psql('postgres', 'SELECT order_mgmt.create_order(' . command($_) . ')') foreach 6 .. 7;
$node->safe_psql('postgres', "SELECT order_mgmt.cancel_order('$ids[3]', 'CUSTOMER_REQUESTED')");
my $acked = $node->safe_psql('postgres',
	q{SELECT order_mgmt.ack_events('billing', (SELECT max(seq) FROM order_mgmt.fetch_events('billing', 1000)))});
is($acked, 11, 'the consumer acknowledged all 11 events');
$reader_h = IPC::Run::start(
	[
		$node->installed_command('pg_recvlogical'), '-d', $node->connstr('postgres'),
		'-S', 'cdc', '--start', '-f', '/dev/null', '-F', '1'
	],
	'<', \undef, '>', "$PostgreSQL::Test::Utils::log_path/016_exporter_pg_recvlogical.log", '2>&1');
$node->poll_query_until('postgres', q{SELECT active FROM pg_replication_slots WHERE slot_name = 'cdc'})
  or die 'pg_recvlogical did not attach to the slot';

($m, $t) = scrape();
is($m->{pg_exporter_last_scrape_error}, 0, 'the first scrape had no error');
is($m->{'order_mgmt_orders{status="CREATED"}'}, 3, 'orders CREATED after more orders');
is($m->{'order_mgmt_orders{status="COMPLETED"}'}, 1, 'orders COMPLETED unchanged');
is($m->{'order_mgmt_orders{status="CANCELLED"}'}, 3, 'orders CANCELLED after a cancellation');
is($m->{order_mgmt_outbox_events}, 11, 'outbox events after more orders');
is($m->{order_mgmt_outbox_positions_drawn_total}, 11, 'outbox positions drawn after more orders');
is($m->{order_mgmt_outbox_unsequenced_events}, 0, 'every event numbered');
is($m->{'order_mgmt_consumer_events_behind{consumer="billing"}'}, 0, 'consumer caught up');
is($m->{'order_mgmt_consumer_seconds_behind{consumer="billing"}'}, 0, 'consumer 0 seconds behind');
is($m->{'order_mgmt_consumer_acked_seq{consumer="billing"}'}, 11, 'consumer acknowledged seq 11');
is($m->{'order_mgmt_consumer_newest_seq{consumer="billing"}'}, 11, 'newest seq 11');
my $ack_time = $m->{'order_mgmt_consumer_last_ack_time_seconds{consumer="billing"}'};
ok(abs($ack_time - time()) < 600, "consumer's last acknowledgement is recent: $ack_time");
is($m->{"order_mgmt_slot_active{$slot}"}, 1, 'slot active with a reader attached');
my $sent = $node->safe_psql('postgres', 'SELECT sent FROM order_mgmt.stats_notifications');
is($sent, 11, 'the worker has announced all 11 events');
ok($m->{order_mgmt_notifications_sent_total} > 8 && $m->{order_mgmt_notifications_sent_total} <= 11,
	'notifications sent grows with the orders');

# the alert rules name only metrics the exporter reports, are valid, and
# pass their unit tests
my $alerts = tree_path('docs/monitoring/alerts.yml');
my %named = map { $_ => 1 } (join("\n", grep { !/^\s*#/ } split /\n/, slurp_file($alerts)) =~ /\b(order_mgmt_[a-z_]+)\b/g);
my @unknown = grep { !exists $t->{$_} } sort keys %named;
ok(keys(%named) >= 6 && !@unknown,
	'the alert rules use ' . join(', ', sort keys %named) . ' and nothing the exporter does not report'
	  . (@unknown ? ' (unknown: ' . join(', ', @unknown) . ')' : ''));
my $promtool = $ENV{PROMTOOL} // 'promtool';
SKIP:
{
	if (system("command -v '$promtool' >/dev/null 2>&1") != 0)
	{
		die 'promtool is not installed: run scripts/install-deps.sh' if $ENV{CI};
		skip 'promtool is not installed (Debian package prometheus; scripts/install-deps.sh installs it)', 2;
	}
	foreach my $cmd ([ 'check', 'rules', $alerts ], [ 'test', 'rules', $alerts =~ s/alerts\.yml$/alerts_test.yml/r ])
	{
		my ($out, $err) = ('', '');
		my $ok = IPC::Run::run([ $promtool, @$cmd ], '<', \undef, '>', \$out, '2>', \$err);
		ok($ok, "promtool @$cmd[0..1]") or diag("$out$err");
	}
}

# none of our queries failed in any scrape
($m, $t) = scrape();
is($m->{pg_exporter_last_scrape_error}, 0, 'the second scrape had no error');
$reader_h->kill_kill;
$exporter_h->kill_kill;
my $exporter_log = slurp_file($log);
unlike($exporter_log, qr/Error running query|level=error/, 'the exporter logged no error');

$node->stop;
done_testing();
