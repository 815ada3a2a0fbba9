# A sharded cluster: two shards and a router (order_mgmt_router over the
# real PL/Proxy), each a server of its own.
#
#  1. Shard A holds partitions {0,2} of 4, shard B {1,3}; the router's
#     cluster (foreign server order_mgmt_cluster) sends p0 and p2 to A, p1
#     and p3 to B, as role shop (a member of the shards' writer and reader).
#     Clients call the router as checkout, a member of its writer and reader.
#  2. Routing: create_order through the router puts each cart's order on
#     the one shard of its partition (computed here too, FNV-1a, and by
#     cart_partition_key), its id carries the cart's key, its event is in
#     that shard's outbox; a replay, also with the cart id in upper case,
#     returns the same id; get_order, cancel_order and complete_order act on
#     the right shard and give what a direct call gives.
#  3. Errors: through the router a client gets the SQLSTATE, message,
#     detail and hint a direct call on the shard gives (22004, 22023, 22P02,
#     54000, 23505, OM001, 55000, P0002; those the router's
#     command_partition_key raises and those the shard raises), and a failed
#     call writes nothing; a direct call on the wrong shard is OM002.
#  4. Shard B down: calls for B's partitions are OM003 (not carried out,
#     so a retry is safe) while A's go on; the reports are OM003; a router
#     session that used B before it stopped gets OM003 too, and the same
#     session works again once B is back.
#  5. order_mgmt.router_timeout: a partition sent to a TCP listener that
#     never answers gives OM003 "did not answer within 1000 ms".
#  6. Reports: the router's sales_daily, cancellations_by_reason,
#     customer_orders and customer_orders(customer) equal the sum or union
#     of the shards' own, in two TimeZone settings whose days differ.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IO::Socket::INET;
use Math::BigFloat;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

########################################################################
# 1. The cluster
########################################################################

my $cluster = start_cluster();
my %shard = %{ $cluster->{shard} };
my $router = $cluster->{router};
my %partition_shard = %{ $cluster->{partition_shard} };
my %normal = %{ $cluster->{normal} };
is($router->safe_psql('postgres', 'SELECT order_mgmt.cluster_partitions()'),
	'{0,1,2,3}', 'the router sees 4 partitions');

my $client = $cluster->{client};
my %shard_client = %{ $cluster->{shard_client} };

# $sql run through the router as checkout; dies on an error
sub routed { return routed_sql($cluster, @_); }

# $sql run on shard $s as shop; dies on an error
sub direct { return shard_sql($cluster, @_); }

########################################################################
# 2. Routing
########################################################################

# carts 1..40 of this file: hex letters in them, so that case matters;
# three customers, three currencies, prices that differ
my $cart_prefix = '19abcdef';
my @currencies = qw(EUR USD JPY);
sub cart { return numbered_uuid($cart_prefix, $_[0]); }
sub customer { return numbered_uuid('c19abcde', int($_[0] / 2) % 3 + 1); }

sub command
{
	my ($n, %opt) = @_;
	return order_command(
		$n,
		cart => $opt{cart} // cart($n),
		customer => customer($n),
		unit_price => 100 + 7 * $n,
		quantity => $n % 4 + 1,
		currency => $currencies[ int($n / 6) % 3 ],
		%opt);
}

my @carts = 1 .. 40;
my %partition = map { $_ => cart_partition(cart($_)) } @carts;
my %home = map { $_ => $partition_shard{ $partition{$_} } } @carts;
is( join(',', sort { $a <=> $b } keys %{ { map { $_ => 1 } values %partition } }),
	'0,1,2,3', 'the 40 carts fall into all 4 partitions');
is( routed('SELECT string_agg((order_mgmt.cart_partition_key(c) & 3)::text, \',\' ORDER BY n) '
		  . 'FROM (VALUES '
		  . join(', ', map { "($_, '" . cart($_) . "'::uuid)" } @carts)
		  . ') v(n, c)'),
	join(',', map { $partition{$_} } @carts),
	'cart_partition_key on the router agrees with FNV-1a computed here');

# all 40 created through the router in one statement
my %order;
for my $line (split /\n/,
	routed('SELECT n, order_mgmt.create_order(c::jsonb) FROM (VALUES '
		  . join(', ', map { "($_, " . sql_literal(command($_)) . ')' } @carts)
		  . ') v(n, c) ORDER BY n'))
{
	my ($n, $id) = split /\|/, $line;
	$order{$n} = $id;
}
is(scalar(keys %order), 40, 'the router created 40 orders');

# where each order is stored, and its events
my (%stored, %events);
for my $s (qw(A B))
{
	for my $line (split /\n/,
		$shard{$s}->safe_psql('postgres',
			"SELECT cart_id, order_id FROM order_mgmt.orders WHERE cart_id::text LIKE '$cart_prefix-%'"))
	{
		my ($cart, $id) = split /\|/, $line;
		push @{ $stored{$cart} }, "$s $id";
	}
	for my $line (split /\n/,
		$shard{$s}->safe_psql('postgres',
			"SELECT aggregateid, string_agg(type, ',' ORDER BY position) FROM order_mgmt.outbox GROUP BY 1"))
	{
		my ($id, $types) = split /\|/, $line;
		$events{$id}{$s} = $types;
	}
}
my @misplaced = grep {
	join(';', @{ $stored{ cart($_) } // [] }) ne "$home{$_} $order{$_}"
} @carts;
is("@misplaced", '', 'each order is stored once, on the shard of its partition, with the id the router returned');
my @bad_events = grep {
	my $n = $_;
	my $other = $home{$n} eq 'A' ? 'B' : 'A';
	($events{ $order{$n} }{ $home{$n} } // '') ne 'OrderCreated'
	  || defined $events{ $order{$n} }{$other}
} @carts;
is("@bad_events", '', "each order's OrderCreated event is in its own shard's outbox only");
is( routed('SELECT string_agg((order_mgmt.order_partition_key(o) & 3)::text, \',\' ORDER BY n) '
		  . 'FROM (VALUES '
		  . join(', ', map { "($_, '$order{$_}'::uuid)" } @carts)
		  . ') v(n, o)'),
	join(',', map { $partition{$_} } @carts),
	'each order id carries its cart\'s partition');

# replays: the same command, and with the cart id in upper case
my $events_before = join('/', map { $shard{$_}->safe_psql('postgres', 'SELECT count(*) FROM order_mgmt.outbox') } qw(A B));
is( routed('SELECT string_agg(order_mgmt.create_order(c::jsonb)::text, \',\' ORDER BY n) FROM (VALUES '
		  . join(', ', map { "($_, " . sql_literal(command($_)) . ')' } @carts)
		  . ') v(n, c)'),
	join(',', map { $order{$_} } @carts),
	'replaying every command through the router returns the same ids');
is( routed('SELECT string_agg(order_mgmt.create_order(c::jsonb)::text, \',\' ORDER BY n) FROM (VALUES '
		  . join(', ', map { "($_, " . sql_literal(command($_, cart => uc cart($_))) . ')' } @carts)
		  . ') v(n, c)'),
	join(',', map { $order{$_} } @carts),
	'... and so does replaying them with the cart ids in upper case');
is(join('/', map { $shard{$_}->safe_psql('postgres', 'SELECT count(*) FROM order_mgmt.outbox') } qw(A B)),
	$events_before, '... which wrote no event on either shard');

# get_order through the router is what the shard itself answers
my @differs = grep {
	routed("SELECT order_mgmt.get_order('$order{$_}')")
	  ne direct($home{$_}, "SELECT order_mgmt.get_order('$order{$_}')")
} @carts[0 .. 11];
is("@differs", '', 'get_order through the router returns what get_order on the shard returns');
is(routed("SELECT order_mgmt.get_order('$order{1}') ->> 'orderId'"),
	$order{1}, 'get_order through the router: the order asked for');
is(routed("SELECT order_mgmt.get_order(NULL) IS NULL"), 't',
	'get_order(NULL) through the router: NULL');

# lifecycle through the router: n % 3 = 1 completed, n % 3 = 2 cancelled
# (odd carts of this file are on A, even ones on B: every kind on both)
my @reasons = qw(CUSTOMER_REQUESTED OUT_OF_STOCK FRAUD);
my @complete = grep { $_ % 3 == 1 } @carts;
my @cancel = grep { $_ % 3 == 2 } @carts;
my %reason = map { $_ => $reasons[ int($_ / 3) % 3 ] } @cancel;
is( routed('SELECT string_agg(order_mgmt.complete_order(o)::text, \',\') FROM unnest(\'{'
		  . join(',', map { $order{$_} } @complete) . '}\'::uuid[]) o'),
	join(',', map { 2 } @complete),
	'complete_order through the router returns version 2 for each');
is( routed('SELECT string_agg(order_mgmt.cancel_order(o, r)::text, \',\') FROM (VALUES '
		  . join(', ', map { "('$order{$_}'::uuid, '$reason{$_}')" } @cancel) . ') v(o, r)'),
	join(',', map { 2 } @cancel),
	'cancel_order through the router returns version 2 for each');

my (%status, %final_events);
for my $s (qw(A B))
{
	for my $line (split /\n/,
		$shard{$s}->safe_psql('postgres',
			"SELECT order_id, status || ' ' || version || ' ' || coalesce(cancellation_reason, '-') "
			  . "FROM order_mgmt.orders WHERE cart_id::text LIKE '$cart_prefix-%'"))
	{
		my ($id, $st) = split /\|/, $line;
		$status{$id} = "$s $st";
	}
	for my $line (split /\n/,
		$shard{$s}->safe_psql('postgres',
			"SELECT aggregateid, string_agg(type, ',' ORDER BY position) FROM order_mgmt.outbox GROUP BY 1"))
	{
		my ($id, $types) = split /\|/, $line;
		$final_events{$id} .= "$s $types";
	}
}
my @wrong = grep {
	my $n = $_;
	my $want =
	    $n % 3 == 1 ? 'COMPLETED 2 -'
	  : $n % 3 == 2 ? "CANCELLED 2 $reason{$n}"
	  :               'CREATED 1 -';
	$status{ $order{$n} } ne "$home{$n} $want"
} @carts;
is("@wrong", '', 'each order was completed, cancelled or left on its own shard, as asked');
@wrong = grep {
	my $n = $_;
	my $want =
	    $n % 3 == 1 ? 'OrderCreated,OrderCompleted'
	  : $n % 3 == 2 ? 'OrderCreated,OrderCancelled'
	  :               'OrderCreated';
	$final_events{ $order{$n} } ne "$home{$n} $want"
} @carts;
is("@wrong", '', "each order's events are all in its own shard's outbox");

########################################################################
# 3. Errors: the shard's, unchanged
########################################################################

# one order of each kind on each shard, for the cases below
my %pick;
for my $s (qw(A B))
{
	my @mine = grep { $home{$_} eq $s } @carts;
	$pick{$s}{created} = $order{ (grep { $_ % 3 == 0 } @mine)[0] };
	$pick{$s}{completed} = $order{ (grep { $_ % 3 == 1 } @mine)[0] };
	$pick{$s}{cancelled} = $order{ (grep { $_ % 3 == 2 } @mine)[0] };
	$pick{$s}{cart} = (grep { $_ % 3 == 0 } @mine)[0];
	# an unknown order id that carries the key of one of this shard's
	# partitions: a known one with other random bits
	($pick{$s}{unknown} = $pick{$s}{created}) =~ s/[0-9a-f]{12}$/000000000000/;
}
my @missing = grep { !defined $pick{ substr($_, 0, 1) }{ substr($_, 2) } }
  map { ("A $_", "B $_") } qw(created completed cancelled cart);
is("@missing", '', 'each shard holds a created, a completed and a cancelled order of this file');
is( routed(
		"SELECT order_mgmt.order_partition_key('$pick{B}{unknown}') = order_mgmt.order_partition_key('$pick{B}{created}')"),
	't', 'the unknown order id of shard B carries a partition of B');
# a fresh cart of each shard: never created
my %fresh;
for my $n (100 .. 199)
{
	$fresh{ $partition_shard{ cart_partition(cart($n)) } } //= $n;
}

my %counts_before = map {
	$_ => $shard{$_}->safe_psql('postgres',
		'SELECT (SELECT count(*) FROM order_mgmt.orders) || \'/\' || (SELECT count(*) FROM order_mgmt.outbox)')
} qw(A B);

# $sql through the router and directly on shard $s (with $direct_sql if
# given) fail with $sqlstate and the same message, detail and hint
sub same_error
{
	my ($what, $sqlstate, $s, $sql, $direct_sql) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = sql_outcome($router, 'postgres', $sql, connstr => $client);
	my $d = sql_outcome($shard{$s}, 'postgres', $direct_sql // $sql,
		connstr => $shard_client{$s});
	is($d->{sqlstate}, $sqlstate, "$what: directly on shard $s: $sqlstate")
	  or diag($d->{stderr});
	is($r->{sqlstate}, $sqlstate, "$what: through the router: $sqlstate")
	  or diag($r->{stderr});
	is($r->{message}, $d->{message}, "$what: the same message");
	is($r->{detail}, $d->{detail}, "$what: the same detail");
	is($r->{hint}, $d->{hint}, "$what: the same hint");
	return;
}

my $create = 'SELECT order_mgmt.create_order(%s)';
my $b_cmd = sql_literal(command($fresh{B}));
my $a_cmd = sql_literal(command($fresh{A}));

# refused by the router's command_partition_key, as create_order refuses
same_error('a NULL command', '22004', 'A', sprintf($create, 'NULL'));
same_error('a command that is not an object', '22023', 'A', sprintf($create, "'42'"));
same_error('a command without cartId', '22023', 'A', sprintf($create, "${a_cmd}::jsonb - 'cartId'"));
same_error('a cartId that is not canonical', '22P02', 'A',
	sprintf($create, "jsonb_set($a_cmd, '{cartId}', '\"19abcdef-0000-4000-8000-00000000100\"')"));
same_error('a command over max_command_bytes', '54000', 'A',
	sprintf($create, "${a_cmd}::jsonb || jsonb_build_object('note', repeat('n', 1100000))"));

# refused by the shard the router sent the call to
same_error('a currency in lower case', '22023', 'B',
	sprintf($create, "jsonb_set($b_cmd, '{currency}', '\"usd\"')"));
same_error('a customerId that is not canonical', '22P02', 'B',
	sprintf($create, "jsonb_set($b_cmd, '{customerId}', '\"c19abcde00004000800000000000001\"')"));
same_error('more items than max_lines_per_order', '54000', 'B',
	sprintf($create,
		"jsonb_set(jsonb_set($b_cmd, '{items}', (SELECT jsonb_agg(jsonb_build_object("
		  . "'productId', format('b0000000-0000-4000-8000-%s', lpad(i::text, 12, '0')), "
		  . "'quantity', 1, 'unitPrice', 1)) FROM generate_series(1, 1001) i)), '{total}', '1001')"));
same_error('another command for a cart that has an order', '23505', 'B',
	sprintf($create, sql_literal(command($pick{B}{cart}, unit_price => 1))));
same_error('a NULL order id', '22004', 'A', "SELECT order_mgmt.cancel_order(NULL, 'FRAUD')");
same_error('a NULL reason', '22004', 'B', "SELECT order_mgmt.cancel_order('$pick{B}{created}', NULL)");
same_error('a reason outside the contract', '22023', 'B',
	"SELECT order_mgmt.cancel_order('$pick{B}{created}', 'fraud')");
same_error('a stale expected_version', 'OM001', 'B',
	"SELECT order_mgmt.complete_order('$pick{B}{created}', 2)");
same_error('a stale expected_version on shard A', 'OM001', 'A',
	"SELECT order_mgmt.cancel_order('$pick{A}{created}', 'FRAUD', 0)");
same_error('cancelling a completed order', '55000', 'B',
	"SELECT order_mgmt.cancel_order('$pick{B}{completed}', 'FRAUD')");
same_error('completing a cancelled order', '55000', 'A',
	"SELECT order_mgmt.complete_order('$pick{A}{cancelled}')");
same_error('an unknown order of a partition of B', 'P0002', 'B',
	"SELECT order_mgmt.complete_order('$pick{B}{unknown}')");
same_error('an unknown order id from before 1.3.0 (partition 0)', 'P0002', 'A',
	"SELECT order_mgmt.cancel_order('40000000-dead-4000-8000-000000000000', 'FRAUD')");

is( join('/',
		map {
			$shard{$_}->safe_psql('postgres',
				'SELECT (SELECT count(*) FROM order_mgmt.orders) || \'/\' || (SELECT count(*) FROM order_mgmt.outbox)')
		} qw(A B)),
	"$counts_before{A}/$counts_before{B}",
	'no failed call wrote an order or an event on either shard');

# a direct call on the wrong shard: OM002
my $got = sql_outcome($shard{A}, 'postgres', sprintf($create, $b_cmd),
	connstr => $shard_client{A});
is($got->{sqlstate}, 'OM002', 'create_order directly on the shard that does not hold the cart: OM002');
like($got->{message}, qr/^cart \Q@{[cart($fresh{B})]}\E belongs to partition [13], which this database does not hold$/,
	'... saying which partition the cart belongs to');
$got = sql_outcome($shard{B}, 'postgres', "SELECT order_mgmt.get_order('$pick{A}{created}')",
	connstr => $shard_client{B});
is($got->{sqlstate}, 'OM002', 'get_order directly on the shard that does not hold the order: OM002');
$got = sql_outcome($shard{B}, 'postgres', "SELECT order_mgmt.cancel_order('$pick{A}{created}', 'FRAUD')",
	connstr => $shard_client{B});
is($got->{sqlstate}, 'OM002', 'cancel_order directly on the wrong shard: OM002');
is($shard{A}->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE cart_id = '@{[cart($fresh{B})]}'"),
	'0', '... and the wrong shard stored nothing');

########################################################################
# 4. A shard down
########################################################################

# a router session that has used shard B, as a pooled connection would
my $pooled = $router->background_psql('postgres',
	on_error_stop => 0,
	extra_params => [ '-U', 'checkout' ]);
is($pooled->query_safe("SELECT order_mgmt.get_order('$pick{B}{created}') ->> 'status'"),
	'CREATED', 'a long-lived router session reads an order of shard B');

$shard{B}->stop('fast');

# the fresh carts of both shards, one command each
my %fresh_cmd = map { $_ => sql_literal(command($fresh{$_})) } qw(A B);

$got = sql_outcome($router, 'postgres', sprintf($create, $fresh_cmd{B}), connstr => $client);
is($got->{sqlstate}, 'OM003', 'shard B down: create_order for a cart of B fails with OM003');
is($got->{message}, 'the shard for this create_order call cannot be reached',
	'... saying the shard cannot be reached');
like($got->{hint}, qr/^The call was not carried out\./, '... with a hint that it was not carried out');
like($got->{detail}, qr/^PL\/Proxy could not connect: /, '... and PL/Proxy\'s words as the detail');
$got = sql_outcome($router, 'postgres', "SELECT order_mgmt.get_order('$pick{B}{created}')",
	connstr => $client);
is($got->{sqlstate}, 'OM003', 'shard B down: get_order of an order of B: OM003');
$got = sql_outcome($router, 'postgres', "SELECT order_mgmt.complete_order('$pick{B}{created}')",
	connstr => $client);
is($got->{sqlstate}, 'OM003', 'shard B down: complete_order of an order of B: OM003');

# A's partitions go on
my $fresh_a_order = routed(sprintf($create, $fresh_cmd{A}));
is($shard{A}->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE order_id = '$fresh_a_order'"),
	'1', 'shard B down: create_order for a cart of A still works, stored on A');
is(routed("SELECT order_mgmt.get_order('$pick{A}{created}') ->> 'status'"),
	'CREATED', 'shard B down: get_order of an order of A still works');

for my $report (
	[ 'sales_daily', 'SELECT count(*) FROM order_mgmt.sales_daily' ],
	[ 'cancellations_by_reason', 'SELECT count(*) FROM order_mgmt.cancellations_by_reason' ],
	[ 'customer_orders', 'SELECT count(*) FROM order_mgmt.customer_orders' ],
	[ 'customer_orders', "SELECT count(*) FROM order_mgmt.customer_orders('@{[customer(1)]}')" ])
{
	my ($name, $sql) = @$report;
	$got = sql_outcome($router, 'postgres', $sql, connstr => $client);
	is($got->{sqlstate}, 'OM003', "shard B down: $sql fails with OM003");
	is($got->{message}, "the shard for this gather_$name call cannot be reached",
		'... naming the report');
	like($got->{hint}, qr/^A report needs every shard/, '... with a hint that a report needs every shard');
}

# the long-lived session: its connection to B is gone
my $pooled_out = $pooled->query(
	"SELECT order_mgmt.get_order('$pick{B}{created}') ->> 'status';\n"
	  . "\\echo SQLSTATE=:SQLSTATE MESSAGE=:LAST_ERROR_MESSAGE");
like($pooled_out, qr/^SQLSTATE=OM003 /m,
	'shard B down: the long-lived router session gets OM003 for an order of B');
like($pooled_out, qr/MESSAGE=the shard for this get_order call (?:stopped answering|cannot be reached)$/m,
	'... saying the shard stopped answering (its connection was cut) or cannot be reached');

$shard{B}->start;

$pooled_out = $pooled->query(
	"SELECT order_mgmt.get_order('$pick{B}{created}') ->> 'status';\n\\echo SQLSTATE=:SQLSTATE");
like($pooled_out, qr/^CREATED\nSQLSTATE=00000$/m,
	'shard B back: the same long-lived session reads the order of B again');
$pooled->quit;

is($shard{B}->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE cart_id = '@{[cart($fresh{B})]}'"),
	'0', 'shard B back: the create_order refused while it was down did not happen');
my $fresh_b_order = routed(sprintf($create, $fresh_cmd{B}));
is($shard{B}->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE order_id = '$fresh_b_order'"),
	'1', 'shard B back: retried, the create_order for a cart of B is stored on B');
is(routed("SELECT order_mgmt.get_order('$pick{B}{created}') ->> 'status'"),
	'CREATED', 'shard B back: get_order of an order of B works');
is(routed('SELECT count(*) > 0 FROM order_mgmt.sales_daily'), 't',
	'shard B back: the reports work again');

########################################################################
# 5. order_mgmt.router_timeout
########################################################################

# a listener that completes TCP connections and never says a word
my $silent = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto => 'tcp',
	Listen => 16)
  or die "cannot listen: $!";
my $silent_port = $silent->sockport;

# an order and a fresh cart of partition 1 (shard B), a live order of 3
my ($p1_cart) = grep { cart_partition(cart($_)) == 1 } 200 .. 299;
my ($p1_order) = map { $order{$_} } grep { $partition{$_} == 1 } @carts;
my ($p3_order) = map { $order{$_} } grep { $partition{$_} == 3 && $_ % 3 == 0 } @carts;

$router->safe_psql('postgres',
	'ALTER SERVER order_mgmt_cluster OPTIONS ('
	  . partition_options('SET', 1 => "host=127.0.0.1 port=$silent_port dbname=postgres sslmode=disable")
	  . ')');

$got = sql_outcome($router, 'postgres',
	"SET order_mgmt.router_timeout = 1000;\nSELECT order_mgmt.get_order('$p1_order')",
	connstr => $client);
is($got->{sqlstate}, 'OM003', 'a partition whose server never answers: get_order fails with OM003');
is($got->{message}, 'the shard for this get_order call did not answer within 1000 ms',
	'... saying it did not answer within order_mgmt.router_timeout');
$got = sql_outcome($router, 'postgres',
	"SET order_mgmt.router_timeout = 1000;\n"
	  . sprintf($create, sql_literal(command($p1_cart)))
	  . ";\nSELECT order_mgmt.get_order('$p3_order') ->> 'status'",
	connstr => $client,
	on_error_stop => 0);
is($got->{sqlstate}, 'OM003', 'a partition whose server never answers: create_order fails with OM003');
like($got->{message}, qr/did not answer within 1000 ms$/, '... within the timeout');
like($got->{stdout}, qr/^CREATED$/m,
	'... and the same session then reads an order of partition 3 from shard B');

$router->safe_psql('postgres',
	'ALTER SERVER order_mgmt_cluster OPTIONS (' . partition_options('SET', 1 => $normal{1}) . ')');
$silent->close;
is(routed("SELECT order_mgmt.get_order('$p1_order') ->> 'orderId'"),
	$p1_order, 'partition 1 sent to shard B again: get_order works');

########################################################################
# 6. Reports: the sum of the shards'
########################################################################

# the rows of $sql (ORDER BY-free) on the router, or on both shards, in
# time zone $zone
sub router_rows
{
	my ($zone, $sql) = @_;
	return split /\n/, routed("SET TimeZone = '$zone';\n$sql");
}

sub shard_rows
{
	my ($zone, $sql) = @_;
	return map { split /\n/, direct($_, "SET TimeZone = '$zone';\n$sql") } qw(A B);
}

# rows 'k1|k2|...|v1|v2...' added up by their first $nkeys columns, each
# sum normalised (exact decimals, so that 5.50 and 5.5 are one value)
sub added_up
{
	my ($nkeys, @rows) = @_;
	my %sum;
	for my $row (@rows)
	{
		my @f = split /\|/, $row, -1;
		my $key = join('|', @f[ 0 .. $nkeys - 1 ]);
		my @v = @f[ $nkeys .. $#f ];
		my $acc = $sum{$key} //= [ map { Math::BigFloat->new(0) } @v ];
		$acc->[$_]->badd(Math::BigFloat->new($v[$_])) for 0 .. $#v;
	}
	return { map { $_ => join('|', map { $_->bstr } @{ $sum{$_} }) } keys %sum };
}

# a zone in which the date of the latest order event is not its UTC date:
# UTC+14 from 10:00 UTC on (the next day there), else UTC-10 (the day before)
my $utc_hour = routed(
	"SELECT extract(hour FROM max(greatest(created_at, completed_at, cancelled_at)) AT TIME ZONE 'UTC') "
	  . 'FROM order_mgmt.customer_orders');
my $other_zone = $utc_hour < 10 ? 'Pacific/Honolulu' : 'Pacific/Kiritimati';

my $sales = 'SELECT day, currency, minor_unit, orders_created, orders_completed, orders_cancelled, '
  . 'gross_amount, completed_amount, cancelled_amount, net_amount FROM order_mgmt.sales_daily';
my $cancellations = 'SELECT day, cancellation_reason, currency, minor_unit, orders_cancelled, '
  . 'cancelled_amount FROM order_mgmt.cancellations_by_reason';
my $customer_orders = 'SELECT * FROM order_mgmt.customer_orders';

my %days;
for my $zone ('UTC', $other_zone)
{
	my @router_sales = router_rows($zone, $sales);
	is_deeply(added_up(3, @router_sales), added_up(3, shard_rows($zone, $sales)),
		"TimeZone $zone: the router's sales_daily is the sum of the shards' per day and currency");
	is(scalar(@router_sales), scalar(keys %{ added_up(3, @router_sales) }),
		"TimeZone $zone: ... one row per day and currency");
	$days{$zone} = join(',', sort keys %{ { map { (split /\|/)[0] => 1 } @router_sales } });

	my $created = 0;
	$created += (split /\|/)[3] for @router_sales;
	is($created, 42, "TimeZone $zone: ... counting every order created on both shards");

	is_deeply(added_up(4, router_rows($zone, $cancellations)),
		added_up(4, shard_rows($zone, $cancellations)),
		"TimeZone $zone: the router's cancellations_by_reason is the sum of the shards'");

	is_deeply([ sort(router_rows($zone, $customer_orders)) ],
		[ sort(shard_rows($zone, $customer_orders)) ],
		"TimeZone $zone: the router's customer_orders is the union of the shards'");

	my $one = customer(2);
	my @mine = router_rows($zone, "SELECT * FROM order_mgmt.customer_orders('$one')");
	is_deeply([ sort @mine ],
		[ sort(shard_rows($zone, "$customer_orders WHERE customer_id = '$one'")) ],
		"TimeZone $zone: customer_orders(customer) is the union of that customer's orders on the shards");
	ok(@mine > 0 && !grep({ (split /\|/)[0] ne $one } @mine),
		"TimeZone $zone: ... only that customer's, and some");
}
isnt($days{UTC}, $days{$other_zone},
	"the router's days follow the session's TimeZone (UTC $days{UTC}, $other_zone $days{$other_zone})");

done_testing();
