# pg_dump and restore reproduce the order system exactly, and the restored
# database goes on working.
#
# The source database holds orders in every status (several lines each,
# some with a payment authorization id, every cancellation reason, historic
# orders loaded with COPY as pg_restore does), events in the outbox with a
# rolled-back position and purged ones at the head, a polling consumer that
# acknowledged part of the feed and another that acknowledged less, the feed
# sequenced up to a point and events written after it.  With version 1.1.0
# the report rollup (refresh_reports) holds closed buckets.
#
# It is dumped as custom (-Fc), plain SQL and directory (-Fd -j2) archives
# and restored into new databases, and the custom archive into a new
# cluster.  What is proven for each restore:
# - every table of the extension (found in the catalog, so tables added by
#   later versions are included) is equal row for row, every sequence has
#   the same state, get_order returns the same jsonb for every order, and
#   with 1.1.0 the reporting views return the same rows;
# - the restored database keeps working: a new order gets a new id and
#   outbox position and feed seq above the restored ones; cancelling and
#   completing restored orders writes their events; a replay of a restored
#   order's command returns its id and writes nothing, a different command
#   for its cart fails with 23505; the consumer fetches exactly the events
#   after its acknowledgement (the same ones, with the same seqs, as the
#   source would deliver), then the new ones.
# feed_state, the cursor of the feed's sequencing rounds, is not dumped: it
# restarts at position 0 and catches up in the first round, and the
# consumers' deliveries show that nothing is skipped or repeated.
# Limitation, asserted so that a change is noticed: a dump made with
# --inserts does not restore, because direct INSERTs into the extension's
# tables are refused (0A000); only COPY by the tables' owner is accepted.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the settings of the pg_regress and isolation instances, the extension in
# a database of its own
my $db = 'orders_src';
my $src = start_node('dump_src', extension => $db);
my $version = $src->safe_psql($db,
	q{SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'});
my $has_reports = $src->safe_psql($db,
	q{SELECT to_regproc('order_mgmt.refresh_reports') IS NOT NULL}) eq 't';
note "extension version $version, reports: " . ($has_reports ? 'yes' : 'no');

# CreateOrder commands: cart n, customer n % 3, n % 3 + 1 lines
sub command
{
	my ($n, %opt) = @_;
	return order_command(
		$n,
		cart_prefix => '12000000',
		customer => numbered_uuid('c1200000', $n % 3),
		items => [ map { [ numbered_uuid('a1200000', $_), $_, 100 * $n + $_ ] } 1 .. ($n % 3) + 1 ],
		currency => (qw(EUR CHF JPY USD))[ $n % 4 ],
		payment => $opt{pay} // ($n % 2 ? "auth-$n" : undef));
}

my %order;    # n => order id
for my $n (1 .. 16)
{
	$order{$n} = $src->safe_psql($db, "SELECT order_mgmt.create_order('" . command($n) . "')");
}
# a rolled-back order leaves a hole in the outbox positions
$src->safe_psql($db,
	"BEGIN; SELECT order_mgmt.create_order('" . command(99) . "'); ROLLBACK;");

# every status, every reason, with and without expected_version, and one
# status change made directly on the table
$src->safe_psql($db, qq{
	SELECT order_mgmt.complete_order('$order{1}');
	SELECT order_mgmt.complete_order('$order{2}', 1);
	SELECT order_mgmt.cancel_order('$order{3}', 'CUSTOMER_REQUESTED');
	SELECT order_mgmt.cancel_order('$order{4}', 'PAYMENT_FAILED', 1);
	SELECT order_mgmt.cancel_order('$order{5}', 'OUT_OF_STOCK');
	SELECT order_mgmt.cancel_order('$order{6}', 'FRAUD');
	UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = '$order{7}';
});

# historic orders, loaded with COPY by the owner as pg_restore loads them
# (they give the report rollup closed buckets to fold)
$src->safe_psql($db, q{
COPY order_mgmt.orders (order_id, cart_id, customer_id, status, total, currency, payment_authorization_id,
                        version, created_at, completed_at, cancelled_at, cancellation_reason, command_digest) FROM stdin;
01890000-0000-7000-8000-000000000001	12000000-0000-4000-8000-000000000901	c1200000-0000-4000-8000-000000000009	COMPLETED	500	EUR	\N	2	2026-01-10 09:03:00+00	2026-01-11 17:40:00+00	\N	\N	\\x01
01890000-0000-7000-8000-000000000002	12000000-0000-4000-8000-000000000902	c1200000-0000-4000-8000-000000000009	CANCELLED	700	EUR	auth-h2	2	2026-01-10 09:10:00+00	\N	2026-01-10 23:59:00+00	FRAUD	\\x02
01890000-0000-7000-8000-000000000003	12000000-0000-4000-8000-000000000903	c1200000-0000-4000-8000-000000000008	CREATED	1200	JPY	\N	1	2026-01-12 12:00:00+00	\N	\N	\N	\\x03
\.
COPY order_mgmt.order_lines (order_id, line_no, product_id, quantity, unit_price) FROM stdin;
01890000-0000-7000-8000-000000000001	1	a1200000-0000-4000-8000-000000000001	5	100
01890000-0000-7000-8000-000000000002	1	a1200000-0000-4000-8000-000000000002	7	100
01890000-0000-7000-8000-000000000003	1	a1200000-0000-4000-8000-000000000003	1	1200
\.
});

# consumers: billing acknowledges part of the feed, audit less; purge then
# removes the events both acknowledged from the head of the outbox
$src->safe_psql($db, q{
	SELECT order_mgmt.register_consumer('billing', from_beginning => true);
	SELECT order_mgmt.register_consumer('audit', from_beginning => true);
	SELECT order_mgmt.ack_events('billing', (SELECT max(seq) FROM order_mgmt.fetch_events('billing', 12)));
	SELECT order_mgmt.ack_events('audit', (SELECT max(seq) FROM order_mgmt.fetch_events('audit', 4)));
	SELECT order_mgmt.purge_events('0');
});
# events written after the last sequencing round
$src->safe_psql($db, qq{
	SELECT order_mgmt.complete_order('$order{8}');
	SELECT order_mgmt.cancel_order('$order{9}', 'OUT_OF_STOCK');
	SELECT order_mgmt.create_order('} . command(17) . q{');
});
$order{17} = $src->safe_psql($db,
	q{SELECT order_id FROM order_mgmt.orders WHERE cart_id = '12000000-0000-4000-8000-000000000017'});
if ($has_reports)
{
	my $closed = $src->safe_psql($db, 'SELECT order_mgmt.refresh_reports()');
	note "report rollup closed until $closed";
}

# the state is what it should be to make the comparison mean something
is($src->safe_psql($db, q{
	SELECT string_agg(status || ':' || n, ' ' ORDER BY status)
	FROM (SELECT status, count(*) AS n FROM order_mgmt.orders GROUP BY status) s}),
	'CANCELLED:6 COMPLETED:5 CREATED:9', 'the source has orders in every status');
is($src->safe_psql($db, q{
	SELECT count(DISTINCT cancellation_reason) FROM order_mgmt.orders}), '4',
	'the source has every cancellation reason');
is($src->safe_psql($db, q{
	SELECT (SELECT count(*) FROM order_mgmt.outbox) > 0
	   AND (SELECT min(position) FROM order_mgmt.outbox) > 1
	   AND (SELECT count(*) FROM order_mgmt.outbox o WHERE NOT EXISTS
	          (SELECT FROM order_mgmt.event_feed f WHERE f.position = o.position)) = 3
	   AND (SELECT count(*) FROM order_mgmt.event_feed) > 0}), 't',
	'the source outbox was purged at the head and has 3 unsequenced events');
is($src->safe_psql($db, q{
	SELECT string_agg(name || ':' || (acked_seq > 0)::text, ' ' ORDER BY name) FROM order_mgmt.consumers}),
	'audit:true billing:true', 'both consumers acknowledged some events');
if ($has_reports)
{
	cmp_ok($src->safe_psql($db, 'SELECT count(*) FROM order_mgmt.sales_buckets'), '>', 0,
		'the report rollup holds closed buckets');
	is($src->safe_psql($db,
		q{SELECT count(*) FROM order_mgmt.cancellation_buckets WHERE bucket_start < '2026-02-01'}), '1',
		'the cancellation rollup holds the historic cancellation');
}

# Everything that must survive a dump, keyed by what it is.
sub snapshot
{
	my ($node, $dbname) = @_;
	my %snap;
	my @rels = split /\n/, $node->safe_psql($dbname, q{
		SELECT c.relname || ' ' || c.relkind::text FROM pg_class c
		WHERE c.relnamespace = 'order_mgmt'::regnamespace AND c.relkind IN ('r', 'S')
		ORDER BY 1});
	for my $rel (@rels)
	{
		my ($name, $kind) = split / /, $rel;
		$snap{"$kind $name"} = $node->safe_psql($dbname,
			$kind eq 'r'
			? "SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))
			   FROM order_mgmt.$name t"
			: "SELECT last_value || ' ' || is_called FROM order_mgmt.$name");
	}
	$snap{'get_order'} = $node->safe_psql($dbname, q{
		SELECT md5(string_agg(order_mgmt.get_order(order_id)::text, E'\n' ORDER BY order_id))
		FROM order_mgmt.orders});
	if ($has_reports)
	{
		for my $view (qw(order_summary customer_orders sales_daily cancellations_by_reason))
		{
			$snap{"view $view"} = $node->safe_psql($dbname,
				"SET TimeZone = 'UTC'; SELECT count(*) || ' rows, md5 '
				   || md5(coalesce(string_agg(v::text, E'\\n' ORDER BY v::text), ''))
				 FROM order_mgmt.$view v");
		}
	}
	return \%snap;
}

my $before = snapshot($src, $db);
my @expected_tables = qw(consumers event_feed feed_state order_lines orders outbox);
push @expected_tables, qw(cancellation_buckets report_horizon sales_buckets) if $has_reports;
for my $t (@expected_tables)
{
	ok(exists $before->{"r $t"}, "table $t is compared");
}
ok(exists $before->{"S outbox_position_seq"} && exists $before->{"S event_feed_seq"},
	'both sequences are compared');

# the dumps
my $dir = $src->basedir;
$src->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/orders.dump", '-d', $db ], 'pg_dump -Fc');
$src->command_ok([ 'pg_dump', '-f', "$dir/orders.sql", '-d', $db ], 'pg_dump (plain SQL)');
$src->command_ok([ 'pg_dump', '-Fd', '-j', '2', '-f', "$dir/orders.dir", '-d', $db ],
	'pg_dump -Fd -j2');
$src->command_ok([ 'pg_dump', '--inserts', '-f', "$dir/orders_inserts.sql", '-d', $db ],
	'pg_dump --inserts');

# what the consumers would get next from the source, and in which order:
# the restored database must hand out the same events with the same seqs
my %next_events;
for my $c (qw(billing audit))
{
	$next_events{$c} = $src->safe_psql($db,
		"SELECT string_agg(seq || ' ' || id, ',' ORDER BY seq) FROM order_mgmt.fetch_events('$c', 1000)");
	my @ev = split /,/, $next_events{$c};
	cmp_ok(scalar(@ev), '>', 3, "consumer $c has events still to come at the time of the dump");
}

# a second cluster for a restore across clusters
my $dst = start_node('dump_dst', extension => []);

my @restores = (
	[ $src, 'restored_custom', [ 'pg_restore', '-d', 'restored_custom', "$dir/orders.dump" ] ],
	[ $src, 'restored_plain',
	  [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'restored_plain', '-f', "$dir/orders.sql" ] ],
	[ $src, 'restored_dir', [ 'pg_restore', '-j', '2', '-d', 'restored_dir', "$dir/orders.dir" ] ],
	[ $dst, 'restored_cluster', [ 'pg_restore', '-d', 'restored_cluster', "$dir/orders.dump" ] ],
);

my $n = 100;
for my $r (@restores)
{
	my ($node, $rdb, $cmd) = @$r;
	my $where = $node == $dst ? "$rdb (new cluster)" : $rdb;
	$node->safe_psql('postgres', "CREATE DATABASE $rdb");
	$node->command_ok($cmd, "restore into $where");

	# the restored database reproduces the source exactly
	my $after = snapshot($node, $rdb);
	is_deeply([ sort keys %$after ], [ sort keys %$before ], "$where: same tables and sequences");
	for my $k (sort keys %$before)
	{
		# feed_state is not dumped: it is the cursor of the sequencing
		# rounds, its row is made by CREATE EXTENSION, and its xid horizon
		# would mean nothing in another cluster.  It restarts from position
		# 0 and catches up in the first round (checked below).
		next if $k eq 'r feed_state';
		is($after->{$k}, $before->{$k}, "$where: $k equal");
	}
	is($node->safe_psql($rdb, q{
		SELECT count(*) = 1 AND bool_and(low_position = 0 AND pending_until IS NULL
		                                 AND pending_horizon IS NULL)
		FROM order_mgmt.feed_state}), 't', "$where: feed_state restarts from its initial row");

	# ... and keeps working: a new order
	my $maxpos = $node->safe_psql($rdb, 'SELECT max(position) FROM order_mgmt.outbox');
	$n++;
	my $new = $node->safe_psql($rdb, "SELECT order_mgmt.create_order('" . command($n) . "')");
	is($node->safe_psql($rdb, qq{
		SELECT count(*) = 1 AND bool_and(status = 'CREATED')
		       AND (SELECT bool_and(o.order_id < '$new') FROM order_mgmt.orders o WHERE o.order_id <> '$new')
		FROM order_mgmt.orders WHERE order_id = '$new'}), 't',
		"$where: a new order is created, its time-ordered id above every restored one");
	is($node->safe_psql($rdb, qq{
		SELECT position > $maxpos FROM order_mgmt.outbox WHERE aggregateid = '$new'}), 't',
		"$where: its event's position continues above the restored ones");

	# restored orders change state and write their events
	$node->safe_psql($rdb, qq{
		SELECT order_mgmt.complete_order('$order{10}', 1);
		SELECT order_mgmt.cancel_order('$order{11}', 'FRAUD', 1);
		SELECT order_mgmt.cancel_order('01890000-0000-7000-8000-000000000003', 'OUT_OF_STOCK');
	});
	is($node->safe_psql($rdb, qq{
		SELECT string_agg(o.type || ' v' || o.order_version || ' '
		                  || (o.payload ->> 'orderId' = o.aggregateid::text), ', ' ORDER BY o.position)
		FROM order_mgmt.outbox o
		WHERE o.position > $maxpos AND o.aggregateid <> '$new'}),
		'OrderCompleted v2 true, OrderCancelled v2 true, OrderCancelled v2 true',
		"$where: cancel and complete of restored orders write their events");
	is($node->safe_psql($rdb, qq{
		SELECT string_agg(status || ' ' || version, ', ' ORDER BY created_at)
		FROM order_mgmt.orders
		WHERE order_id IN ('$order{10}', '$order{11}', '01890000-0000-7000-8000-000000000003')}),
		'CANCELLED 2, COMPLETED 2, CANCELLED 2', "$where: the restored orders moved on");
	my ($ret, $out, $err) = $node->psql($rdb, "SELECT order_mgmt.complete_order('$order{1}')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/55000/, "$where: a restored final order stays final (55000)");

	# idempotency survives: same command, same id, nothing written
	my $events = $node->safe_psql($rdb, 'SELECT count(*) FROM order_mgmt.outbox');
	is($node->safe_psql($rdb, "SELECT order_mgmt.create_order('" . command(12) . "')"),
		$order{12}, "$where: the replay of a restored order's command returns its id");
	is($node->safe_psql($rdb, 'SELECT count(*) FROM order_mgmt.outbox'), $events,
		"$where: ... and writes no event");
	($ret, $out, $err) = $node->psql($rdb,
		"SELECT order_mgmt.create_order('" . command(12, pay => 'auth-other') . "')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/23505/, "$where: another command for a restored cart fails with 23505");

	# the consumers go on from their acknowledgements: first what the source
	# would have delivered next, with the same seqs, then the new events
	for my $c (qw(billing audit))
	{
		# the events new in this database are written after the restored
		# ones, so they are sequenced after them
		my $all = $node->safe_psql($rdb,
			"SELECT string_agg(seq || ' ' || id, ',' ORDER BY seq) FROM order_mgmt.fetch_events('$c', 1000)");
		my $new_events = $node->safe_psql($rdb,
			"SELECT string_agg(id::text, ',' ORDER BY position) FROM order_mgmt.outbox WHERE position > $maxpos");
		my @all = split /,/, $all;
		my @expected = split /,/, $next_events{$c};
		my @head = @all[ 0 .. $#expected ];
		is(join(',', @head), $next_events{$c},
			"$where: consumer $c gets the events after its acknowledgement, as from the source");
		is(join(',', map { (split / /)[1] } @all[ @expected .. $#all ]), $new_events,
			"$where: ... followed by exactly the new events, in the order they were written");
		my $last = (split / /, $all[-1])[0];
		$node->safe_psql($rdb, "SELECT order_mgmt.ack_events('$c', $last)");
		is($node->safe_psql($rdb, "SELECT count(*) FROM order_mgmt.fetch_events('$c')"), '0',
			"$where: consumer $c is up to date after acknowledging them");
	}
	is($node->safe_psql($rdb, q{
		SELECT low_position = (SELECT last_value FROM order_mgmt.outbox_position_seq)
		       AND pending_until IS NULL
		FROM order_mgmt.feed_state}), 't',
		"$where: feed_state caught up with the last position drawn");
	if ($has_reports)
	{
		is($node->safe_psql($rdb, q{
			SET TimeZone = 'UTC';
			SELECT orders_created || ' ' || orders_completed || ' ' || orders_cancelled || ' ' || net_amount
			FROM order_mgmt.sales_daily WHERE day = '2026-01-10' AND currency = 'EUR'}),
			'2 0 1 500', "$where: the restored rollup still counts the historic day");
		$node->safe_psql($rdb, 'SELECT order_mgmt.refresh_reports()');
	}
}

# a dump made of INSERT statements does not restore: the guard triggers
# refuse direct inserts (0A000), and COPY is the only way in
$src->safe_psql('postgres', 'CREATE DATABASE restored_inserts');
my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
	  '-h', $src->host, '-p', $src->port, '-d', 'restored_inserts', '-f', "$dir/orders_inserts.sql" ],
	'>', \$out, '2>', \$err);
ok(!$ok, 'a --inserts dump does not restore (documented limitation)');
like($err, qr/ERROR:\s+0A000/, '... the guard triggers refuse its INSERTs with 0A000');
is($src->safe_psql('restored_inserts', 'SELECT count(*) FROM order_mgmt.orders'), '0',
	'... and no order got in');

$dst->stop;
$src->stop;
done_testing();
