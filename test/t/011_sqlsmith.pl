# sqlsmith: random SQL over the extension's tables, views and functions.
#
# sqlsmith (Debian package sqlsmith) generates random, type-correct queries
# from the catalog: SELECTs joining the extension's tables and views with
# arbitrary expressions and function calls (the extension's own functions
# among the thousands it picks from), and INSERT, UPDATE, DELETE, MERGE and
# upserts on the tables, which run the lifecycle triggers.  It runs every
# statement in a transaction it rolls back, with statement_timeout = 1s.
# It connects as a superuser, so it can call everything.
#
# Proves, after a bounded run on a database holding created, completed and
# cancelled orders, their events and a polling consumer:
# - no backend crashed: the server log shows no process killed by a signal
#   and no crash restart, the checkpointer is the same process as before,
#   and the server still accepts connections;
# - the data is exactly what it was (every sqlsmith transaction rolled back,
#   so none of its statements left anything behind), and the invariants hold:
#   every order has its lines and their sum is its total, one OrderCreated
#   event per order and as many events as its version, no event without its
#   order;
# - the extension still works afterwards.
#
# Bounded by default (ORDER_MGMT_SQLSMITH_QUERIES=2000 queries, well under a
# minute); a longer run: ORDER_MGMT_SQLSMITH_QUERIES=50000.  The seed is
# ORDER_MGMT_SQLSMITH_SEED (default 1); a failing run names the seed to
# replay it.  Skipped only when sqlsmith is not installed
# (scripts/install-deps.sh installs it).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run qw(run);
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sqlsmith = $ENV{SQLSMITH} // 'sqlsmith';
if (system("command -v '$sqlsmith' >/dev/null 2>&1") != 0)
{
	plan skip_all => 'sqlsmith is not installed (apt-get install sqlsmith; scripts/install-deps.sh does)';
}
my $queries = $ENV{ORDER_MGMT_SQLSMITH_QUERIES} // 2000;
my $seed = $ENV{ORDER_MGMT_SQLSMITH_SEED} // 1;
die "ORDER_MGMT_SQLSMITH_QUERIES must be a positive integer\n" unless $queries =~ /^[1-9][0-9]*$/;
die "ORDER_MGMT_SQLSMITH_SEED must be an integer\n" unless $seed =~ /^[0-9]+$/;
note "sqlsmith: $queries queries, seed $seed";

# the failing random statements stay out of the log (LOG, FATAL and PANIC
# lines such as crash reports stay in); the extension in database smith
my $node = start_node(
	'sqlsmith',
	conf => qq{
log_min_messages = log
log_min_error_statement = panic
},
	extension => 'smith');

# orders in every state, in three currencies, with events and a consumer
$node->safe_psql('smith', q{
	CREATE TEMP TABLE made AS
	SELECT n, order_mgmt.create_order(jsonb_build_object(
		'cartId', gen_random_uuid(), 'customerId', gen_random_uuid(),
		'items', (SELECT jsonb_agg(jsonb_build_object('productId', gen_random_uuid(),
						'quantity', l, 'unitPrice', 100 * n + l)) FROM generate_series(1, 1 + n % 4) l),
		'total', (SELECT sum(l * (100 * n + l)) FROM generate_series(1, 1 + n % 4) l),
		'currency', (ARRAY['EUR', 'JPY', 'GBP'])[1 + n % 3])
		|| CASE WHEN n % 5 = 0 THEN jsonb_build_object('paymentAuthorizationId', 'pa_' || n) ELSE '{}' END) AS id
	FROM generate_series(1, 40) n;
	SELECT order_mgmt.complete_order(id) FROM made WHERE n % 4 = 1;
	SELECT order_mgmt.cancel_order(id, (ARRAY['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD'])[1 + n % 4])
	FROM made WHERE n % 4 = 2;
	SELECT order_mgmt.register_consumer('smith_consumer', from_beginning => true);
});
$node->safe_psql('smith', q{
	SELECT order_mgmt.ack_events('smith_consumer', max(seq))
	FROM order_mgmt.fetch_events('smith_consumer', 50);
});

# what the tables hold, to compare after the run
my $digest_sql = join(" UNION ALL ",
	map { "SELECT '$_', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM order_mgmt.$_ t" }
	  qw(orders order_lines outbox consumers));
my $before = $node->safe_psql('smith', $digest_sql);
my $checkpointer_sql = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'};
my $checkpointer = $node->safe_psql('smith', $checkpointer_sql);
my $start_time = $node->safe_psql('smith', 'SELECT pg_postmaster_start_time()');
my $log_offset = -s $node->logfile;

my $target = sprintf('host=%s port=%d dbname=smith', $node->host, $node->port);
my ($out, $err) = ('', '');
my $ran = run(
	[ $sqlsmith, "--target=$target", "--seed=$seed", "--max-queries=$queries",
	  '--exclude-catalog', '--verbose', '--dump-all-queries' ],
	'>', \$out, '2>', \$err,
	IPC::Run::timeout(10 * $PostgreSQL::Test::Utils::timeout_default));
my ($done) = $err =~ /.*queries: (\d+)/s;
ok($ran, "sqlsmith ran to the end (seed $seed)")
  or diag("sqlsmith exited with status $?:\n" . substr($err, -3000));
is($done // 0, $queries, "sqlsmith sent $queries queries");
my ($error_rate) = $err =~ /error rate: ([0-9.]+)/;
note "sqlsmith error rate: " . ($error_rate // '?');

# no crash
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/terminated by signal|terminating any other active server processes|was terminated|PANIC|TRAP:/,
	"the server log shows no crash (seed $seed)")
  or diag(join("\n", grep { /terminated|PANIC|TRAP:|DETAIL:  Failed process/ } split /\n/, $log));
is($node->safe_psql('smith', $checkpointer_sql), $checkpointer,
	'the checkpointer is the same process (no crash restart)');
is($node->safe_psql('smith', 'SELECT pg_postmaster_start_time()'), $start_time,
	'the postmaster was not restarted');
is($node->safe_psql('smith', 'SELECT 1'), '1', 'the server accepts connections');

# no trace left, nothing broken
is($node->safe_psql('smith', $digest_sql), $before,
	'orders, lines, events and consumers are exactly as before (every sqlsmith transaction rolled back)');
is($node->safe_psql('smith', q{
	SELECT count(*) FROM order_mgmt.orders o
	WHERE NOT EXISTS (SELECT FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id)
	   OR o.total <> (SELECT sum(l.quantity * l.unit_price) FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id)}),
	'0', 'every order has its lines, and they add up to its total');
is($node->safe_psql('smith', q{
	SELECT count(*) FROM order_mgmt.orders o
	WHERE (SELECT count(*) FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id AND e.type = 'OrderCreated') <> 1
	   OR (SELECT count(*) FROM order_mgmt.outbox e WHERE e.aggregateid = o.order_id) <> o.version}),
	'0', 'every order has one OrderCreated event and as many events as its version');
is($node->safe_psql('smith', q{
	SELECT count(*) FROM order_mgmt.outbox e
	WHERE NOT EXISTS (SELECT FROM order_mgmt.orders o WHERE o.order_id = e.aggregateid)}),
	'0', 'every event has its order');

# the extension still works
my $id = $node->safe_psql('smith', q{
	SELECT order_mgmt.create_order('{"cartId": "6f1c7a52-2f0e-4d83-9d1e-0b6a3c1e9a10",
	  "customerId": "0d3b8a8e-5b8f-4d9e-a7a1-2c4b6d8f0e12",
	  "items": [{"productId": "9a7e1f3c-1111-4c2d-8e0f-5a6b7c8d9e01", "quantity": 2, "unitPrice": 1999}],
	  "total": 3998, "currency": "GBP"}')});
is($node->safe_psql('smith', "SELECT order_mgmt.complete_order('$id')"), '2',
	'create_order and complete_order work after the run');
is($node->safe_psql('smith', "SELECT order_mgmt.get_order('$id') ->> 'status'"), 'COMPLETED',
	'get_order shows the completed order');

# how much of the extension sqlsmith reached (information, not a condition):
# the statements it generated that name each function or table
my %reached;
$reached{$1}++ while $out =~ /\border_mgmt\.(\w+)/g;
note "statements naming the extension's objects: "
  . join(', ', map { "$_ $reached{$_}" } sort keys %reached);
cmp_ok(scalar(keys %reached), '>', 0, 'sqlsmith used the extension\'s objects');

$node->stop;
done_testing();
