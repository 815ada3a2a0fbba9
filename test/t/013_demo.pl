# The live demo (scripts/demo.sh) runs to the end and tells the truth.
#
# The test runs the demo as the postgres account on the build already
# installed (DEMO_SKIP_INSTALL=1: no sudo, no package installation), with
# the pg_config of the PostgreSQL under test and a short load, and reads
# what it printed.  The demo checks every notification and every streamed
# event against the outbox itself; this test checks that it said so, that
# the scripted day came out as scripted (the replay returned the same order,
# the bad command was refused with 22023 and wrote nothing, the reports
# count 10 orders, 5 completed, 4 cancelled, one per reason, with the right
# amounts in major units per currency), that the load made orders and that
# the CDC stream and the listener each saw every outbox event exactly once,
# and that nothing was left behind: no process mentions the demo's work
# directory, and the directory is gone.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = File::Spec->rel2abs(dirname(__FILE__) . '/../..');
my $demo = "$root/scripts/demo.sh";

# the pg_config of the installation under test: the first one on PATH
# (make installcheck puts that installation's bindir first)
my ($pg_config) =
  grep { -x $_ } map { "$_/pg_config" } split /:/, $ENV{PATH};
ok(defined $pg_config, 'pg_config found on PATH') or BAIL_OUT('no pg_config');

local $ENV{PG_CONFIG} = $pg_config;
local $ENV{DEMO_SKIP_INSTALL} = '1';
local $ENV{DEMO_LOAD_SECONDS} = '3';

my ($stdout, $stderr);
my $started = time;
my $ok = IPC::Run::run([ 'bash', $demo ], '<', \undef, '>', \$stdout, '2>', \$stderr,
	IPC::Run::timeout(300));
my $took = time - $started;
note "the demo took ${took}s";
ok($ok, 'the demo exits with status 0')
  or diag("stdout:\n$stdout\nstderr:\n$stderr");
is($stderr, '', 'nothing on stderr');

# every section, in order
my @headings = (
	'Setup',
	'The checkout day',
	'A replayed cart',
	'A rejected command',
	'Refused transitions',
	'What the listener received',
	'What the CDC stream received',
	'What the reports say',
	'Load',
	'Summary',
	'Cleanup');
my @seen = $stdout =~ /^== (.+?) =+$/mg;
is_deeply(\@seen, \@headings, 'every section heading, in order');

# "name: key=value ..." lines
sub facts
{
	my ($name) = @_;
	my ($line) = $stdout =~ /^\Q$name\E: (\S+=.*)$/m;
	return undef unless defined $line;
	return { map { split /=/, $_, 2 } grep { /=/ } split / /, $line };
}

my ($work) = $stdout =~ /^work dir: (\S+)$/m;
ok(defined $work && $work =~ m{^/tmp/order_mgmt-demo\.}, 'the demo names its work directory');

# the day: ten orders
my @created = $stdout =~ /^  #(\d+) +\S+ +created /mg;
is_deeply(\@created, [ 1 .. 10 ], 'ten orders created');
my @cancelled = $stdout =~ /^  #\d+ +\S+ +cancelled +([A-Z_]+) -> version 2$/mg;
is_deeply([ sort @cancelled ],
	[qw(CUSTOMER_REQUESTED FRAUD OUT_OF_STOCK PAYMENT_FAILED)],
	'one cancellation for each reason, each at version 2');
my @completed = $stdout =~ /^  #\d+ +\S+ +completed  -> version 2$/mg;
is(scalar @completed, 5, 'five orders completed, each at version 2');

# the replay returns the same order and writes nothing
my $replay = facts('replay');
ok($replay && $replay->{first} =~ /^[0-9a-f-]{36}$/, 'the replay shows the first order id');
is($replay->{second}, $replay->{first}, 'the replayed cart returns the same order id');
is($replay->{same_id}, 'yes', 'the demo says so');
is($replay->{new_events}, '0', 'the replay writes no event');

# the bad command is refused with its SQLSTATE and writes nothing
like($stdout, qr/^    ERROR:    invalid CreateOrder command: total does not match the items$/m,
	'the rejected command shows its error');
like($stdout, qr/^    DETAIL:   Field "total" is 900, .* adds up to 1000\.$/m,
	'and its DETAIL');
like($stdout, qr/^    SQLSTATE: 22023$/m, 'and its SQLSTATE');
my $rejected = facts('rejected');
is_deeply($rejected, { sqlstate => '22023', orders_written => '0', events_written => '0' },
	'the rejected command wrote no order and no event');

my $refused = facts('refused');
is($refused->{illegal_transition_sqlstate}, '55000', 'cancelling a completed order: 55000');
is($refused->{stale_version_sqlstate}, 'OM001', 'a stale expected_version: OM001');
is($refused->{orders_unchanged}, 'yes', 'the refused transitions changed nothing');

# the day wrote 19 events: 10 created, 5 completed, 4 cancelled; the
# listener and the stream each got all of them, matching the outbox
my $listener = facts('listener');
is_deeply($listener,
	{ notifications => 19, distinct_events => 19, outbox_events => 19, all_match => 'yes' },
	'the listener received one notification per outbox event of the day, each matching it');
my $cdc = facts('cdc');
is_deeply($cdc,
	{ events => 19, lines => 19, transactions => 19, outbox_events => 19, all_match => 'yes' },
	'the CDC stream received every outbox event of the day, once, each matching its row');
my @cdc_rows = $stdout =~ /^ +\d+ \| (Order(?:Created|Completed|Cancelled)) +\| #\d+ \S+ +\| +[12] \| +\d+ \| t$/mg;
is(scalar @cdc_rows, 19, 'one line per streamed event: type, order, version, all matching');

# the reports
is_deeply(facts('reports'), { orders => 10, CREATED => 1, COMPLETED => 5, CANCELLED => 4 },
	'order_summary: 10 orders, 1 open, 5 completed, 4 cancelled');
my @reports = $stdout =~ /^reports: (.*)$/mg;
ok((grep { $_ eq 'sales_daily created=10 completed=5 cancelled=4' } @reports),
	'sales_daily: 10 created, 5 completed, 4 cancelled');
ok((grep { $_ eq 'net EUR=56.10 GBP=54.97 JPY=6200 KWD=12.345 USD=24.99' } @reports),
	'sales_daily: net amounts per currency in major units (JPY without decimals, KWD with 3)');
ok((grep { $_ eq 'cancellations_by_reason CUSTOMER_REQUESTED=1 FRAUD=1 OUT_OF_STOCK=1 PAYMENT_FAILED=1' } @reports),
	'cancellations_by_reason: one per reason');
ok((grep { $_ eq 'customer_orders alice=2' } @reports), 'customer_orders: alice has 2 orders');
like($stdout, qr/^ +#1 alice +\| COMPLETED \| +5497 \| 54\.97 GBP +\|/m,
	'order_summary: 5497 minor units is 54.97 GBP');
like($stdout, qr/^ +#7 chiyo +\| CANCELLED \| +12800 \| 12800 JPY +\|.*\| OUT_OF_STOCK$/m,
	'order_summary: 12800 JPY has no decimals');
like($stdout, qr/^ +#9 faisal +\| COMPLETED \| +12345 \| 12\.345 KWD +\|/m,
	'order_summary: 12345 is 12.345 KWD');

# the load
my @progress = $stdout =~ /^progress: +\d+\.\d s +orders=(\d+) /mg;
ok(@progress >= 1, 'the load shows progress lines');
my $load = facts('load');
ok($load && $load->{orders} > 0, 'the load made orders');
ok($load->{orders_per_second} > 0, 'at a positive rate');

# the summary: everything the outbox holds was streamed and notified
my $summary = facts('summary');
ok($summary, 'a summary line');
is($summary->{orders}, 10 + $load->{orders}, 'orders: the day and the load');
ok($summary->{orders_per_second} > 0, 'orders per second is positive');
is($summary->{orders_per_second}, $load->{orders_per_second}, 'the same rate as the load');
ok($summary->{outbox_rows} > 19, 'the outbox holds the day and the load');
is($summary->{outbox_events}, $summary->{outbox_rows}, 'one event per outbox row');
is($summary->{events_streamed}, $summary->{outbox_rows},
	'events streamed (distinct ids) = outbox events');
is($summary->{notifications}, $summary->{outbox_rows}, 'notifications = outbox events');
ok($summary->{outbox_bytes} > 0, 'the outbox size in bytes');

# nothing left behind
is_deeply(facts('cleanup'), { work_dir => $work, removed => 'yes', processes_left => 0 },
	'the demo reports its cleanup');
ok(defined $work && !-e $work, 'the work directory is gone');
# processes whose command line mentions the work directory
my @left;
if (defined $work)
{
	for my $dir (glob '/proc/[0-9]*')
	{
		open my $fh, '<', "$dir/cmdline" or next;
		local $/;
		my $cmdline = <$fh> // '';
		close $fh;
		push @left, $dir =~ s{^/proc/}{}r . ": $cmdline" if index($cmdline, $work) >= 0;
	}
}
is_deeply(\@left, [], 'no process mentions the work directory');

done_testing();
