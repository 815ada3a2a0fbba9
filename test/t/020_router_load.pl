# A sharded cluster under load, with a shard crashing and coming back: what
# a caller was told is what happened.
#
#  1. The cluster of OrderMgmt::Test's start_cluster (shard A holds
#     partitions {0,2} of 4, shard B {1,3}, a router over PL/Proxy), and a
#     wal2json slot on each shard, made before any order.
#  2. pgbench runs through the router as checkout, four clients: creates,
#     and cancels or completes of a client's own orders (each order gets
#     at most one of those, with expected_version 1).  Each call goes
#     through a PL/pgSQL function of the test's (schema load, on the
#     router, not part of the extension) that records in router tables
#     what the caller got: for a success the order id and the version
#     returned (a routed call commits on its shard on its own, so that
#     record is an acknowledgement), for OM003 the message and hint.  Any
#     other error aborts the pgbench client, and the run with it.
#  3. Mid-load shard B is stopped (immediate: a crash) and started again;
#     the load goes on until pgbench's time is up.
#  4. What OM003 said: "cannot be reached" says the call was not carried
#     out, and it was not: a create left no order on either shard, a cancel
#     or complete left the order CREATED at version 1.  "Stopped answering"
#     says it may have been carried out: each of those is retried (create
#     with the same command, idempotent on cartId; cancel or complete with
#     expected_version 1, which either applies it now or is 55000 because it
#     was applied), and a retried create gives one order.  The refused
#     creates are retried too, and make their order now.
#  5. The end state: every order is found through the router (get_order)
#     with the command's customer, lines, total and currency, and the status,
#     version and reason the acknowledged (or retried) calls gave; each is
#     stored once, on the shard of its cart's partition, and no shard holds
#     an order nobody was told of; each shard's outbox has, per order,
#     OrderCreated v1 and then OrderCancelled or OrderCompleted v2 as its
#     status says; and the two shards' wal2json slots, read once at the end
#     through the SQL interface, carry every outbox event of their own
#     shard exactly once, by event id, and nothing else.  (Read once, the
#     slots cannot send a transaction again; a streaming consumer across a
#     restart can, see 003, and dedupes by event id.)
#
# The waits below only let the load reach each step (acknowledgements
# before the stop, refusals while B is down, acknowledgements from B once
# it is back); nothing asserts how long anything took.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $json = JSON::PP->new;

########################################################################
# 1. The cluster, and a slot on each shard
########################################################################

my $cluster = start_cluster();
my %shard = %{ $cluster->{shard} };
my $router = $cluster->{router};
my %partition_shard = %{ $cluster->{partition_shard} };
my $slot = 'om_load';

for my $s (qw(A B))
{
	$shard{$s}->safe_psql('postgres',
		"SELECT pg_create_logical_replication_slot('$slot', 'wal2json')");
}

# carts 20abcdef-0000-4000-8000-<n>, numbered by a router sequence; 1 to 3
# lines of products numbered from 1, five customers
my $cart_prefix = '20abcdef';

$router->safe_psql(
	'postgres', q{
	CREATE SCHEMA load;
	GRANT USAGE ON SCHEMA load TO checkout;
	CREATE SEQUENCE load.cart_seq;

	-- a cart of the load: its command, its client, and once a create was
	-- acknowledged its order id; open while no cancel or complete has
	-- been tried on it
	CREATE TABLE load.carts (
		cart_n bigint PRIMARY KEY,
		cart_id uuid NOT NULL UNIQUE,
		client integer NOT NULL,
		command jsonb NOT NULL,
		order_id uuid,
		open boolean NOT NULL DEFAULT false);

	-- every call and what the caller got: acknowledged (with the version
	-- returned) or OM003 (with its message and hint)
	CREATE TABLE load.calls (
		call_id bigserial PRIMARY KEY,
		client integer NOT NULL,
		op text NOT NULL CHECK (op IN ('create', 'cancel', 'complete')),
		cart_n bigint NOT NULL REFERENCES load.carts,
		order_id uuid,
		reason text,
		outcome text NOT NULL CHECK (outcome IN ('acknowledged', 'OM003')),
		version integer,
		message text,
		hint text);
	CREATE INDEX ON load.calls (cart_n);

	GRANT SELECT, INSERT, UPDATE ON load.carts, load.calls TO checkout;
	GRANT USAGE ON SEQUENCE load.cart_seq, load.calls_call_id_seq TO checkout;

	-- the CreateOrder command of cart n
	CREATE FUNCTION load.command(n bigint) RETURNS jsonb
	LANGUAGE sql IMMUTABLE AS $$
		SELECT jsonb_build_object(
			'cartId', format('20abcdef-0000-4000-8000-%s', lpad(n::text, 12, '0')),
			'customerId', format('c20abcde-0000-4000-8000-%s', lpad((n % 5 + 1)::text, 12, '0')),
			'items', (SELECT jsonb_agg(jsonb_build_object(
							'productId', format('b0000000-0000-4000-8000-%s', lpad(i::text, 12, '0')),
							'quantity', i,
							'unitPrice', 100 + n % 50) ORDER BY i)
					  FROM generate_series(1, 1 + n % 3) i),
			'total', (SELECT sum(i * (100 + n % 50)) FROM generate_series(1, 1 + n % 3) i),
			'currency', 'EUR')
	$$;

	-- a create for a new cart, recorded
	CREATE FUNCTION load.create_one(caller integer) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		n bigint := nextval('load.cart_seq');
		cmd jsonb := load.command(n);
		id uuid;
		msg text;
		hnt text;
	BEGIN
		INSERT INTO load.carts (cart_n, cart_id, client, command)
		VALUES (n, (cmd ->> 'cartId')::uuid, caller, cmd);
		BEGIN
			id := order_mgmt.create_order(cmd);
		EXCEPTION WHEN SQLSTATE 'OM003' THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
			INSERT INTO load.calls (client, op, cart_n, outcome, message, hint)
			VALUES (caller, 'create', n, 'OM003', msg, hnt);
			RETURN;
		END;
		UPDATE load.carts SET order_id = id, open = true WHERE cart_n = n;
		INSERT INTO load.calls (client, op, cart_n, order_id, outcome, version)
		VALUES (caller, 'create', n, id, 'acknowledged', 1);
	END
	$$;

	-- a cancel (kind 0) or complete (kind 1) of the caller's oldest open
	-- order, recorded; a create when it has none
	CREATE FUNCTION load.transition(caller integer, kind integer) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		c record;
		what text := CASE kind WHEN 0 THEN 'cancel' ELSE 'complete' END;
		why text;
		v integer;
		msg text;
		hnt text;
	BEGIN
		SELECT cart_n, order_id INTO c FROM load.carts
		 WHERE client = caller AND open ORDER BY cart_n LIMIT 1;
		IF NOT FOUND THEN
			PERFORM load.create_one(caller);
			RETURN;
		END IF;
		UPDATE load.carts SET open = false WHERE cart_n = c.cart_n;
		IF what = 'cancel' THEN
			why := (ARRAY['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD'])[1 + c.cart_n % 4];
		END IF;
		BEGIN
			IF what = 'cancel' THEN
				v := order_mgmt.cancel_order(c.order_id, why, 1);
			ELSE
				v := order_mgmt.complete_order(c.order_id, 1);
			END IF;
		EXCEPTION WHEN SQLSTATE 'OM003' THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
			INSERT INTO load.calls (client, op, cart_n, order_id, reason, outcome, message, hint)
			VALUES (caller, what, c.cart_n, c.order_id, why, 'OM003', msg, hnt);
			RETURN;
		END;
		INSERT INTO load.calls (client, op, cart_n, order_id, reason, outcome, version)
		VALUES (caller, what, c.cart_n, c.order_id, why, 'acknowledged', v);
	END
	$$;

	-- a retry, after the load, of a cancel or complete that may have been
	-- carried out: 'version N' when it is applied now, else the SQLSTATE of
	-- the refusal (55000 when it had been applied)
	CREATE FUNCTION load.retry_transition(n bigint) RETURNS text
	LANGUAGE plpgsql AS $$
	DECLARE
		c record;
		v integer;
		code text;
	BEGIN
		SELECT op, order_id, reason INTO STRICT c FROM load.calls
		 WHERE cart_n = n AND op <> 'create';
		BEGIN
			IF c.op = 'cancel' THEN
				v := order_mgmt.cancel_order(c.order_id, c.reason, 1);
			ELSE
				v := order_mgmt.complete_order(c.order_id, 1);
			END IF;
		EXCEPTION WHEN SQLSTATE '55000' OR SQLSTATE 'OM001' THEN
			GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE;
			RETURN code;
		END;
		RETURN 'version ' || v;
	END
	$$;
});

my $basedir = $router->basedir;
my %script = (
	create => "SELECT load.create_one(:client_id);\n",
	transition => "\\set kind random(0, 1)\nSELECT load.transition(:client_id, :kind);\n");
for my $name (keys %script)
{
	open(my $fh, '>', "$basedir/$name.sql") or die "cannot write $name.sql: $!";
	print $fh $script{$name};
	close($fh);
}

########################################################################
# 2. and 3. The load, and shard B crashing under it
########################################################################

my $pgbench_log = "$basedir/pgbench.log";
my @pgbench = (
	'pgbench', '-n', '-c', '4', '-j', '2', '-T', '10',
	'-f', "$basedir/create.sql\@3", '-f', "$basedir/transition.sql\@2",
	$cluster->{client});
note "running: @pgbench";
my $pgbench = spawn('pgbench', $pgbench_log, @pgbench);

# Waits, while pgbench runs, until $sql on the router is true.
sub wait_under_load
{
	my ($sql, $what) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	until ($router->safe_psql('postgres', $sql) eq 't')
	{
		die "pgbench ended before $what:\n" . slurp_file($pgbench_log)
		  if defined exited($pgbench);
		die "$what did not happen" if time() > $deadline;
		usleep(50_000);
	}
	return;
}

# the acknowledged calls for B's partitions after call $after
sub acknowledged_on_b
{
	my ($after) = @_;
	return "(SELECT count(*) FROM load.calls l JOIN load.carts c USING (cart_n) "
	  . "WHERE l.call_id > $after AND l.outcome = 'acknowledged' "
	  . "AND order_mgmt.cart_partition_key(c.cart_id) & 3 IN (1, 3))";
}

wait_under_load('SELECT ' . acknowledged_on_b(0) . ' >= 60',
	'60 acknowledged calls for shard B');
my $before_stop = $router->safe_psql('postgres', 'SELECT max(call_id) FROM load.calls');
$shard{B}->stop('immediate');
wait_under_load(
	"SELECT count(*) >= 20 FROM load.calls WHERE outcome = 'OM003' AND call_id > $before_stop",
	'20 OM003 while shard B is down');
$shard{B}->start;
my $after_start = $router->safe_psql('postgres', 'SELECT max(call_id) FROM load.calls');
wait_under_load('SELECT ' . acknowledged_on_b($after_start) . ' >= 40',
	'40 acknowledged calls for shard B once it is back');

my $status = reap($pgbench);
my $pgbench_out = slurp_file($pgbench_log);
is($status, 0, 'pgbench ran to its end: no client got an error other than OM003')
  or diag($pgbench_out);
like($pgbench_out, qr/^number of failed transactions: 0 /m, 'pgbench counted no failed transaction')
  or diag($pgbench_out);

my %count = map { split /\|/ } split /\n/,
  $router->safe_psql('postgres',
	"SELECT op || ' ' || outcome, count(*) FROM load.calls GROUP BY 1");
note join(', ', map { "$_: $count{$_}" } sort keys %count);
cmp_ok($count{'create acknowledged'} // 0, '>', 100, 'creates were acknowledged');
cmp_ok(($count{'cancel acknowledged'} // 0) + ($count{'complete acknowledged'} // 0),
	'>', 40, 'cancels and completes were acknowledged');
cmp_ok(
	$router->safe_psql('postgres',
		"SELECT count(*) FROM load.calls WHERE outcome = 'OM003' AND call_id <= $before_stop"),
	'==', 0, 'no call got OM003 before shard B stopped');

########################################################################
# 4. What OM003 said, and what happened
########################################################################

# the carts (cart_n => { cart, command, order_id, shard }) and the calls
my (%carts, @calls);
for my $line (split /\n/,
	$router->safe_psql('postgres',
		'SELECT cart_n, cart_id, command, order_id FROM load.carts ORDER BY cart_n'))
{
	my ($n, $cart, $command, $id) = split /\|/, $line;
	$carts{$n} = {
		cart => $cart,
		command => $json->decode($command),
		order_id => $id eq '' ? undef : $id,
		shard => $partition_shard{ cart_partition($cart) }
	};
}
for my $line (split /\n/,
	$router->safe_psql('postgres',
		"SELECT call_id, op, cart_n, coalesce(order_id::text, ''), coalesce(reason, ''), outcome, "
		  . "coalesce(version::text, ''), coalesce(message, ''), "
		  . "coalesce(replace(hint, E'\\n', ' '), '') FROM load.calls ORDER BY call_id"))
{
	my %c;
	@c{qw(id op cart_n order_id reason outcome version message hint)} =
	  split /\|/, $line, -1;
	push @calls, \%c;
}
my @om003 = grep { $_->{outcome} eq 'OM003' } @calls;

# what each OM003 says: not carried out, or may have been
my $not_carried_out = qr/^The call was not carried out\./;
my $may_have = qr/^The shard may have carried out the call\./;
my @odd = grep {
	!(($_->{message} =~ /^the shard for this $_->{op}_order call cannot be reached$/
		  && $_->{hint} =~ $not_carried_out)
		|| ($_->{message} =~ /^the shard for this $_->{op}_order call (?:stopped answering|did not answer within \d+ ms)$/
			&& $_->{hint} =~ $may_have))
} @om003;
is(scalar(@odd), 0,
	'every OM003 says the shard cannot be reached (not carried out) or stopped answering (may have been)')
  or diag(join("\n", map { "$_->{op} $_->{cart_n}: $_->{message} / $_->{hint}" } @odd));
my @wrong_shard = grep { $carts{ $_->{cart_n} }{shard} ne 'B' } @om003;
is(scalar(@wrong_shard), 0, 'only calls for partitions of shard B got OM003');

my @refused = grep { $_->{hint} =~ $not_carried_out } @om003;
my @uncertain = grep { $_->{hint} =~ $may_have } @om003;
note scalar(@refused) . ' calls not carried out, ' . scalar(@uncertain) . ' that may have been';
cmp_ok(scalar(@refused), '>', 0, 'some calls were refused while shard B was down');

# what shard $s holds for the load's carts: cart => [ "order status version reason" ... ]
sub stored
{
	my %held;
	for my $s (qw(A B))
	{
		for my $line (split /\n/,
			$shard{$s}->safe_psql('postgres',
				"SELECT cart_id, order_id || ' ' || status || ' ' || version || ' ' || "
				  . "coalesce(cancellation_reason, '-') FROM order_mgmt.orders "
				  . "WHERE cart_id::text LIKE '$cart_prefix-%'"))
		{
			my ($cart, $what) = split /\|/, $line;
			push @{ $held{$cart} }, "$s $what";
		}
	}
	return \%held;
}

my $held = stored();
my @made = grep { $_->{op} eq 'create' && $held->{ $carts{ $_->{cart_n} }{cart} } } @refused;
is(scalar(@made), 0, 'a create that was not carried out left no order on either shard')
  or diag(join("\n", map { "cart $_->{cart_n}: @{ $held->{ $carts{ $_->{cart_n} }{cart} } }" } @made));
my @changed = grep {
	$_->{op} ne 'create'
	  && join(';', @{ $held->{ $carts{ $_->{cart_n} }{cart} } // [] }) ne "B $_->{order_id} CREATED 1 -"
} @refused;
is(scalar(@changed), 0, 'a cancel or complete that was not carried out left its order CREATED at version 1')
  or diag(join("\n", map { "cart $_->{cart_n}: @{ $held->{ $carts{ $_->{cart_n} }{cart} } // [] }" } @changed));
my @doubled = grep { @{ $held->{ $carts{ $_->{cart_n} }{cart} } // [] } > 1 }
  grep { $_->{op} eq 'create' } @uncertain;
is(scalar(@doubled), 0, 'a create that may have been carried out left at most one order');
note scalar(grep { $_->{op} eq 'create' && $held->{ $carts{ $_->{cart_n} }{cart} } } @uncertain)
  . ' of ' . scalar(grep { $_->{op} eq 'create' } @uncertain)
  . ' creates that may have been carried out were';

# retry every create that got OM003, with the same command
my @retry_create = map { $_->{cart_n} } grep { $_->{op} eq 'create' } @om003;
my %retried_id;
if (@retry_create)
{
	for my $line (split /\n/,
		routed_sql($cluster,
			'SELECT cart_n, order_mgmt.create_order(command) FROM load.carts '
			  . 'WHERE cart_n IN (' . join(',', @retry_create) . ') ORDER BY cart_n'))
	{
		my ($n, $id) = split /\|/, $line;
		$retried_id{$n} = $id;
	}
}
is(scalar(keys %retried_id), scalar(@retry_create), 'every create that got OM003, retried, returned an order id');
my %was_there = map { $_->{cart_n} => $held->{ $carts{ $_->{cart_n} }{cart} } } grep { $_->{op} eq 'create' } @uncertain;
my @other_id = grep { defined $was_there{$_} && $was_there{$_}[0] !~ /^B \Q$retried_id{$_}\E / }
  keys %was_there;
is(scalar(@other_id), 0, 'a retried create that had been carried out returned the order it had made');
$carts{$_}{order_id} = $retried_id{$_} for keys %retried_id;

# retry every cancel or complete that may have been carried out
my %retried_transition;
for my $c (grep { $_->{op} ne 'create' } @uncertain)
{
	$retried_transition{ $c->{cart_n} } = routed_sql($cluster, "SELECT load.retry_transition($c->{cart_n})");
}
my @bad_retry = grep { $retried_transition{$_} !~ /^(?:version 2|55000)$/ } keys %retried_transition;
is(scalar(@bad_retry), 0,
	'a retried cancel or complete that may have been carried out is applied now (version 2) or was (55000)')
  or diag(join("\n", map { "cart $_: $retried_transition{$_}" } @bad_retry));

########################################################################
# 5. The end state
########################################################################

# what each cart's order must be now: status, version, reason
my %want = map { $_ => 'CREATED 1 -' } keys %carts;
for my $c (@calls)
{
	next if $c->{op} eq 'create';
	my $done = "@{[ $c->{op} eq 'cancel' ? 'CANCELLED' : 'COMPLETED' ]} 2 "
	  . ($c->{op} eq 'cancel' ? $c->{reason} : '-');
	if ($c->{outcome} eq 'acknowledged')
	{
		die "cart $c->{cart_n}: $c->{op} acknowledged version $c->{version}"
		  unless $c->{version} eq '2';
		$want{ $c->{cart_n} } = $done;
	}
	elsif ($c->{hint} =~ $may_have)
	{
		$want{ $c->{cart_n} } = $done;
	}
}
my @missing_id = grep { !defined $carts{$_}{order_id} } keys %carts;
is(scalar(@missing_id), 0, 'every cart of the load has an order id, acknowledged or retried');
note scalar(keys %carts) . ' orders: '
  . join(', ', map { my $k = $_; "$k " . scalar(grep { $want{$_} =~ /^$k / } keys %want) }
	  qw(CREATED CANCELLED COMPLETED));

# get_order through the router, for every order
my %got;
for my $line (split /\n/,
	routed_sql($cluster,
		'SELECT n, order_mgmt.get_order(o) FROM (VALUES '
		  . join(', ', map { "($_, '$carts{$_}{order_id}'::uuid)" } sort { $a <=> $b } keys %carts)
		  . ') v(n, o)'))
{
	my ($n, $order) = split /\|/, $line, 2;
	$got{$n} = $json->decode($order);
}
my @differ = grep {
	my ($n, $g, $cmd) = ($_, $got{$_}, $carts{$_}{command});
	my ($st, $version, $reason) = split / /, $want{$n};
	!defined $g
	  || $g->{orderId} ne $carts{$n}{order_id}
	  || $g->{cartId} ne $cmd->{cartId}
	  || $g->{customerId} ne $cmd->{customerId}
	  || $g->{status} ne $st
	  || $g->{version} != $version
	  || ($g->{cancellationReason} // '-') ne $reason
	  || $g->{total} != $cmd->{total}
	  || $g->{currency} ne $cmd->{currency}
	  || join(';', map { "$_->{productId} $_->{quantity} $_->{unitPrice}" } @{ $g->{items} })
	  ne join(';', map { "$_->{productId} $_->{quantity} $_->{unitPrice}" } @{ $cmd->{items} })
} sort { $a <=> $b } keys %carts;
is(scalar(@differ), 0,
	"get_order through the router: every order with its command's lines and the status and version its calls gave")
  or diag(join("\n", map { "cart $_: want $want{$_}, got " . $json->encode($got{$_} // {}) } @differ[ 0 .. ($#differ < 9 ? $#differ : 9) ]));

# the shards: each order once, on its cart's shard, nothing else
$held = stored();
my %cart_n = map { $carts{$_}{cart} => $_ } keys %carts;
my @misplaced = grep {
	join(';', @{ $held->{ $carts{$_}{cart} } // [] })
	  ne "$carts{$_}{shard} $carts{$_}{order_id} $want{$_}"
} sort { $a <=> $b } keys %carts;
is(scalar(@misplaced), 0,
	"each order is stored once, on the shard of its cart's partition, as its calls left it")
  or diag(join("\n", map { "cart $_: want $carts{$_}{shard} $want{$_}, stored @{ $held->{ $carts{$_}{cart} } // [] }" } @misplaced[ 0 .. ($#misplaced < 9 ? $#misplaced : 9) ]));
my @unknown = grep { !exists $cart_n{$_} } keys %$held;
is(scalar(@unknown), 0, 'no shard holds an order for a cart the load did not make');

# the outboxes, and the slots
my %order_cart = map { $carts{$_}{order_id} => $_ } keys %carts;
my (%outbox, %streamed);
for my $s (qw(A B))
{
	for my $line (split /\n/,
		$shard{$s}->safe_psql('postgres',
			'SELECT id, aggregateid, type, order_version FROM order_mgmt.outbox ORDER BY position'))
	{
		my ($id, $order, $type, $version) = split /\|/, $line;
		push @{ $outbox{$s}{events}{$order} }, "$type $version";
		$outbox{$s}{ids}{$id} = "$order $type $version";
	}
	for my $data (slot_changes($shard{$s}, $slot,
		options => [ 'format-version', '2', 'add-tables', 'order_mgmt.outbox',
			'actions', 'insert' ]))
	{
		my $rec = $json->decode($data);
		next unless ($rec->{action} // '') eq 'I';
		my $row = wal2json_row($rec);
		push @{ $streamed{ $row->{id} } },
		  "$s $row->{aggregateid} $row->{type} $row->{order_version}";
	}
}
my %events_want = (
	CREATED => 'OrderCreated 1',
	CANCELLED => 'OrderCreated 1,OrderCancelled 2',
	COMPLETED => 'OrderCreated 1,OrderCompleted 2');
my @bad_events = grep {
	my $n = $_;
	my $s = $carts{$n}{shard};
	my $other = $s eq 'A' ? 'B' : 'A';
	my ($st) = split / /, $want{$n};
	join(',', @{ $outbox{$s}{events}{ $carts{$n}{order_id} } // [] }) ne $events_want{$st}
	  || defined $outbox{$other}{events}{ $carts{$n}{order_id} }
} sort { $a <=> $b } keys %carts;
is(scalar(@bad_events), 0,
	"each order's events are in its own shard's outbox: OrderCreated v1, then OrderCancelled or OrderCompleted v2 as its status says")
  or diag(join("\n", map { "cart $_: $want{$_}, A: @{ $outbox{A}{events}{ $carts{$_}{order_id} } // [] }, B: @{ $outbox{B}{events}{ $carts{$_}{order_id} } // [] }" } @bad_events[ 0 .. ($#bad_events < 9 ? $#bad_events : 9) ]));
my @stray = grep { !exists $order_cart{$_} } map { keys %{ $outbox{$_}{events} } } qw(A B);
is(scalar(@stray), 0, 'no outbox holds an event of an order the load did not make');

my $events = keys(%{ $outbox{A}{ids} }) + keys(%{ $outbox{B}{ids} });
my @twice = grep { @{ $streamed{$_} } > 1 } keys %streamed;
is(scalar(@twice), 0, 'the two slots together carry no event twice')
  or diag(join("\n", map { "$_: @{ $streamed{$_} }" } @twice));
my @lost = map {
	my $s = $_;
	grep { ($streamed{$_}[0] // '') ne "$s $outbox{$s}{ids}{$_}" } keys %{ $outbox{$s}{ids} }
} qw(A B);
is(scalar(@lost), 0,
	"every outbox event of both shards is in its own shard's slot, with its order, type and version")
  or diag(join("\n", @lost[ 0 .. ($#lost < 9 ? $#lost : 9) ]));
is(scalar(keys %streamed), $events, "the slots carry nothing but the outboxes' $events events");

done_testing();
