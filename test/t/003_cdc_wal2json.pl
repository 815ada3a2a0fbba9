# Change data capture of the outbox through wal2json and pg_recvlogical.
#
# A consumer creates a logical replication slot with the wal2json plugin and
# runs pg_recvlogical on it, with these wal2json options:
#   format-version=2               one JSON line per row change, and one line
#                                  {"action":"B",...} / {"action":"C",...} at
#                                  the begin and the commit of a transaction
#   add-tables=order_mgmt.outbox   rows of no other table are sent
#   actions=insert                 only inserts (retention DELETEs of old
#                                  outbox rows are not events)
#   include-xids=1                 "xid" on every line
#   include-lsn=1                  "lsn" on every line; on B and C lines it is
#                                  the commit LSN, "nextlsn" the end of it
# pg_recvlogical writes every line to a file (-f) and confirms to the server
# what it has fsynced (-F, -s); when it starts again, the slot sends the
# transactions whose commit LSN is at or after the slot's confirmed_flush_lsn.
# PostgreSQL 15 writes that position to disk only when the slot's restart_lsn
# or catalog_xmin moves (not at shutdown), so after a restart, clean or not,
# the slot can go back to an older position and send again transactions
# pg_recvlogical had already received and confirmed.
#
# The test plays the consumer: it reads the files pg_recvlogical writes, and
# processes every outbox row once, skipping an event id it has already
# processed (the dedupe rule).  It proves:
#   - every committed event arrives, once, with the outbox row's columns, in
#     commit order, grouped by transaction (two orders in one transaction
#     arrive between one B and one C);
#   - a rolled-back transaction and an idempotent replay send nothing, and no
#     row of orders, order_lines or any other table is sent;
#   - events arrive in commit order, not position order: a transaction that
#     took its position first but committed last arrives last;
#   - after pg_recvlogical stops and the server restarts cleanly, and after a
#     crash of the server (stop immediate) under a running pg_recvlogical, a
#     new pg_recvlogical gets exactly the transactions the slot has not
#     confirmed (commit LSN at or after its confirmed_flush_lsn), first those
#     already received, then new ones: nothing is lost, and whatever is sent
#     again carries the same event ids and contents, so skipping an id
#     already processed leaves each event processed exactly once;
#   - pg_logical_slot_peek_changes() (format-version 2, add-tables) shows
#     the same pending events, without consuming them.
#
# To know that everything committed so far has been received (so that "not
# received" means something), each check first commits a barrier: an insert
# into a table the slot does not send, whose transaction still produces an
# empty B..C pair with its xid.  Logical decoding sends transactions in commit
# order, so once the barrier's C line is in the file, every earlier commit is.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $slot = 'order_mgmt_wal2json';
my @wal2json_options = wal2json_options('include-lsn=1');

# the outbox columns, in table order
my @outbox_columns = qw(position id aggregatetype aggregateid type payload
  order_version schema_version occurred_at xact_id);

# the same settings as the pg_regress and isolation instances (wal_level =
# logical, and wal2json allowed as an output plugin); pg_recvlogical runs
# as a child of OrderMgmt::Test's spawn, so none outlives the test
my $node = start_node('cdc_wal2json');
$node->safe_psql('postgres', 'CREATE TABLE om_test_barrier (n integer)');

my $json = JSON::PP->new->canonical;
my $tempdir = PostgreSQL::Test::Utils::tempdir;

# The consumer's slot, created the way a consumer would.
$node->command_ok(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'),
		'--slot', $slot, '--plugin', 'wal2json', '--create-slot'
	],
	'pg_recvlogical --create-slot with the wal2json plugin');
is( $node->safe_psql('postgres',
		"SELECT plugin || ' ' || slot_type FROM pg_replication_slots "
		  . "WHERE slot_name = '$slot'"),
	'wal2json logical',
	'the slot is a logical slot of wal2json');

# A CreateOrder v1.0.0 command for cart number $n (two of the default
# product), as an SQL literal.
sub command
{
	my ($n) = @_;
	return sql_literal(order_command($n, quantity => 2));
}

sub create_order
{
	my ($n) = @_;
	return $node->safe_psql('postgres',
		'SELECT order_mgmt.create_order(' . command($n) . ')');
}

# Numeric value of an LSN written as X/Y.
sub lsn
{
	my ($text) = @_;
	die "not an LSN: " . ($text // 'undef')
	  unless defined $text && $text =~ m{^([0-9A-F]+)/([0-9A-F]+)$}i;
	return (hex($1) << 32) | hex($2);
}

# The slot's confirmed_flush_lsn, numerically.
sub confirmed_flush
{
	return lsn(
		$node->safe_psql('postgres',
			"SELECT confirmed_flush_lsn FROM pg_replication_slots "
			  . "WHERE slot_name = '$slot'"));
}

# Wait until pg_recvlogical has confirmed everything up to $lsn.
sub wait_confirmed
{
	my ($lsn) = @_;
	wait_for_query($node, 'postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots "
		  . "WHERE slot_name = '$slot'",
		"the slot did not confirm $lsn");
	return;
}

sub wait_slot_inactive
{
	wait_for_query($node, 'postgres',
		"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$slot'",
		"slot $slot stayed active");
	return;
}

# Start pg_recvlogical on the slot, writing the stream to $file; its own
# messages (-v) go to $file.log.  (reap($pid, $signal) waits for it to exit,
# file_lines($file) are the complete lines it has written so far.)
sub start_recvlogical_on_slot
{
	my ($file) = @_;
	return start_recvlogical($node, $slot, $file, @wal2json_options);
}

# Parse the lines of one pg_recvlogical run into transactions:
# { xid, lsn (commit LSN text), complete (C line seen), events => [ {column
# name => value} ] }, and a list of problems with the shape of the stream.
sub parse_stream
{
	my @lines = @_;
	my (@txns, @problems, $cur);
	for my $line (@lines)
	{
		my $rec = eval { $json->decode($line) };
		if (!defined $rec || ref $rec ne 'HASH')
		{
			push @problems, "not a JSON object: $line";
			next;
		}
		my $action = $rec->{action} // '';
		if ($action eq 'B')
		{
			push @problems, "B inside a transaction: $line" if $cur;
			push @problems, "B without xid or commit lsn: $line"
			  unless defined $rec->{xid} && defined $rec->{lsn};
			$cur = {
				xid => $rec->{xid},
				lsn => $rec->{lsn},
				complete => 0,
				events => []
			};
			push @txns, $cur;
		}
		elsif ($action eq 'C')
		{
			if (!$cur)
			{
				push @problems, "C outside a transaction: $line";
				next;
			}
			push @problems, "C does not match its B: $line"
			  unless ($rec->{xid} // '') eq $cur->{xid}
			  && ($rec->{lsn} // '') eq $cur->{lsn};
			$cur->{complete} = 1;
			undef $cur;
		}
		elsif ($action eq 'I')
		{
			if (!$cur)
			{
				push @problems, "row outside a transaction: $line";
				next;
			}
			push @problems, "row of another table: $line"
			  unless ($rec->{schema} // '') eq 'order_mgmt'
			  && ($rec->{table} // '') eq 'outbox';
			push @problems, "row xid is not its transaction's: $line"
			  unless ($rec->{xid} // '') eq $cur->{xid};
			my @names = map { $_->{name} } @{ $rec->{columns} // [] };
			push @problems, "row does not have the outbox columns: $line"
			  unless "@names" eq "@outbox_columns";
			push @{ $cur->{events} }, wal2json_row($rec);
		}
		else
		{
			push @problems, "unexpected action '$action': $line";
		}
	}
	return (\@txns, \@problems);
}

# Commit a barrier and wait until pg_recvlogical $pid has written its C line
# to $file; returns the barrier's xid and the LSN after its commit.
sub barrier
{
	my ($pid, $file) = @_;
	return cdc_barrier($node, $pid, $file);
}

# What the test expects: the transactions that wrote events, in commit
# order, each a list of [order id, event type].
my @expected_txns;

# The consumer's state: the ids it has processed, in order, and their
# contents; every transaction it has seen (by commit LSN, in commit order),
# with the event ids of its last copy.
my @processed;
my %seen;
my @seen_txns;
my %txn_by_lsn;
my %xids_seen;

# One event's columns as a canonical string, to compare copies.
sub canonical
{
	my ($event) = @_;
	return $json->encode($event);
}

# Check one pg_recvlogical run and process its events as a consumer would.
# $confirmed is the slot's confirmed_flush_lsn when the run started.
sub consume_run
{
	my ($what, $file, $confirmed) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my ($txns, $problems) = parse_stream(file_lines($file));
	is_deeply($problems, [],
		"$what: only B, C and outbox insert lines, well nested")
	  or diag(join("\n", @$problems));

	my @incomplete = grep { !$_->{complete} } @$txns;
	ok(@incomplete == 0 || (@incomplete == 1 && $incomplete[0] == $txns->[-1]),
		"$what: only the last transaction may be cut off");

	my @lsns = map { lsn($_->{lsn}) } @$txns;
	ok(!grep({ $lsns[$_] <= $lsns[ $_ - 1 ] } 1 .. $#lsns),
		"$what: commit LSNs increase (commit order)");

	# The run first sends again what was not confirmed: every transaction
	# seen before whose commit LSN is at or after confirmed_flush_lsn ...
	my $last_seen = @seen_txns ? lsn($seen_txns[-1]{lsn}) : -1;
	my @unconfirmed = map { $_->{lsn} }
	  grep { lsn($_->{lsn}) >= $confirmed } @seen_txns;
	my @resent = grep { lsn($_->{lsn}) <= $last_seen } @$txns;
	my @new = grep { lsn($_->{lsn}) > $last_seen } @$txns;
	is_deeply([ map { $_->{lsn} } @resent ],
		\@unconfirmed,
		"$what: sends again exactly the transactions not confirmed ("
		  . scalar(@unconfirmed) . ')');
	is_deeply([ @resent, @new ], $txns,
		"$what: transactions sent again come before new ones");

	# ... with the same event ids and contents (a copy cut off by a crash is
	# a prefix of the full one).
	my $resent_events = 0;
	my $dedupe_ok = 1;
	for my $txn (@$txns)
	{
		my $earlier = $txn_by_lsn{ $txn->{lsn} };
		my $n_earlier = $earlier ? scalar @{ $earlier->{ids} } : 0;
		my @ids = map { $_->{id} } @{ $txn->{events} };
		for my $i (0 .. $#ids)
		{
			my $event = $txn->{events}[$i];
			if ($i < $n_earlier)
			{
				# an event already processed: same id, same content
				$resent_events++;
				if ($ids[$i] ne $earlier->{ids}[$i]
					|| !exists $seen{ $ids[$i] }
					|| $seen{ $ids[$i] } ne canonical($event))
				{
					$dedupe_ok = 0;
					diag("$what: event sent again differs: "
						  . canonical($event));
				}
			}
			elsif (exists $seen{ $ids[$i] })
			{
				$dedupe_ok = 0;
				diag("$what: id $ids[$i] seen before in another place");
			}
			else
			{
				$seen{ $ids[$i] } = canonical($event);
				push @processed, $ids[$i];
			}
		}
		if ($earlier && $earlier->{complete} && $n_earlier != scalar @ids)
		{
			$dedupe_ok = 0;
			diag("$what: transaction $txn->{lsn} sent again with "
				  . scalar(@ids)
				  . " events instead of $n_earlier");
		}
		$txn_by_lsn{ $txn->{lsn} } =
		  { ids => \@ids, complete => $txn->{complete}, xid => $txn->{xid} };
		$xids_seen{ $txn->{xid} } = 1;
	}
	ok($dedupe_ok,
		"$what: events sent again ($resent_events) carry the ids and contents "
		  . "already processed; all others are new ids");
	push @seen_txns, @new;

	# every event line, first copy or not, is a row of the outbox
	check_against_table($what, map { @{ $_->{events} } } @$txns);
	note "$what: "
	  . scalar(@$txns)
	  . " transactions, $resent_events events sent again";
	return $txns;
}

# Each streamed event equals its outbox row: the listed fields compared one
# by one, and the whole row (occurred_at included) compared by the server.
sub check_against_table
{
	my ($what, @events) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my %row = map { $_->{id} => $_ } @{
		$json->decode(
			$node->safe_psql(
				'postgres', q{
		SELECT coalesce(json_agg(json_build_object(
			'id', id, 'type', type, 'aggregatetype', aggregatetype,
			'aggregateid', aggregateid, 'order_version', order_version,
			'position', position, 'payload', payload::text,
			'schema_version', schema_version, 'xact_id', xact_id::text)), '[]')
		FROM order_mgmt.outbox}))
	};
	my @fields = qw(id type aggregatetype aggregateid order_version position
	  payload schema_version xact_id);
	my @differ;
	for my $event (@events)
	{
		my $got = { map { $_ => $event->{$_} } @fields };
		my $want = $row{ $event->{id} // '' };
		push @differ, canonical($got) . ' vs ' . canonical($want // {})
		  unless $want && canonical($got) eq canonical($want);
	}
	is_deeply(\@differ, [],
		"$what: each event's fields equal its outbox row's")
	  or diag(join("\n", @differ));

	# the whole row, decoding the payload (wal2json sends jsonb as a string)
	my @rows = map {
		my %r = %$_;
		$r{payload} = $json->decode($r{payload});
		\%r
	} @events;
	my $rows = $json->encode(\@rows);
	$rows =~ s/'/''/g;
	is( $node->safe_psql(
			'postgres', qq{
		SELECT count(*) FROM jsonb_array_elements('$rows') AS e(v)
		WHERE NOT EXISTS (
			SELECT FROM order_mgmt.outbox o
			WHERE o = jsonb_populate_record(NULL::order_mgmt.outbox, e.v))}),
		0,
		"$what: each event is an exact copy of an outbox row");
	return;
}

# The consumer has processed each committed event exactly once, in commit
# order, grouped by transaction as they were committed.
sub check_processed
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my %id_of;
	for my $row (split /\n/,
		$node->safe_psql('postgres',
			'SELECT id, aggregateid, type FROM order_mgmt.outbox'))
	{
		my ($id, $order_id, $type) = split /\|/, $row;
		$id_of{"$order_id $type"} = $id;
	}
	my @want_txns = map {
		[ map { $id_of{"$_->[0] $_->[1]"} // "no event $_->[1] of $_->[0]" }
			  @$_ ]
	} @expected_txns;
	my @got_txns = map { $txn_by_lsn{ $_->{lsn} }{ids} }
	  grep { @{ $txn_by_lsn{ $_->{lsn} }{ids} } } @seen_txns;

	is_deeply(\@got_txns, \@want_txns,
		"$what: all committed events, grouped by transaction, in commit order");
	is_deeply(\@processed, [ map { @$_ } @want_txns ],
		"$what: each event processed once, in commit order");
	is( scalar(@processed),
		$node->safe_psql('postgres', 'SELECT count(*) FROM order_mgmt.outbox'),
		"$what: as many events processed as outbox rows");
	return;
}

# The ids of the events in a list of transactions, in order.
sub event_ids
{
	my ($txns) = @_;
	return map { $_->{id} } map { @{ $_->{events} } } @$txns;
}

my (@order, $pid, $file, $confirmed);

##########################################################################
# Run 1: a live stream of the workload.

$file = "$tempdir/run1.jsonl";
$confirmed = confirmed_flush();
$pid = start_recvlogical_on_slot($file);

# created, completed, cancelled
$order[1] = create_order(1);
push @expected_txns, [ [ $order[1], 'OrderCreated' ] ];
$order[2] = create_order(2);
push @expected_txns, [ [ $order[2], 'OrderCreated' ] ];
is($node->safe_psql('postgres', "SELECT order_mgmt.complete_order('$order[2]')"),
	2, 'complete_order: version 2');
push @expected_txns, [ [ $order[2], 'OrderCompleted' ] ];
is( $node->safe_psql('postgres',
		"SELECT order_mgmt.cancel_order('$order[1]', 'CUSTOMER_REQUESTED')"),
	2,
	'cancel_order: version 2');
push @expected_txns, [ [ $order[1], 'OrderCancelled' ] ];

# two orders in one transaction
my $session = $node->background_psql('postgres');
$session->query_safe('BEGIN');
my $two_xid = $session->query_safe('SELECT pg_current_xact_id()::xid');
$order[3] =
  $session->query_safe('SELECT order_mgmt.create_order(' . command(3) . ')');
$order[4] =
  $session->query_safe('SELECT order_mgmt.create_order(' . command(4) . ')');
$session->query_safe('COMMIT');
push @expected_txns,
  [ [ $order[3], 'OrderCreated' ], [ $order[4], 'OrderCreated' ] ];

# a rolled-back transaction
$session->query_safe('BEGIN');
my $rollback_xid = $session->query_safe('SELECT pg_current_xact_id()::xid');
$order[5] =
  $session->query_safe('SELECT order_mgmt.create_order(' . command(5) . ')');
$session->query_safe('ROLLBACK');

# an idempotent replay of order 1's command
is(create_order(1), $order[1], 'replayed create_order returns the same order');

# Session A takes its outbox position first and commits last; session B
# commits in between.
$session->query_safe('BEGIN');
$order[6] =
  $session->query_safe('SELECT order_mgmt.create_order(' . command(6) . ')');
$order[7] = create_order(7);
$session->query_safe('COMMIT');
push @expected_txns, [ [ $order[7], 'OrderCreated' ] ],
  [ [ $order[6], 'OrderCreated' ] ];
$session->quit;

my ($position6, $position7) = split /\n/,
  $node->safe_psql('postgres',
	    'SELECT position FROM order_mgmt.outbox WHERE aggregateid IN '
	  . "('$order[6]', '$order[7]') ORDER BY aggregateid = '$order[7]'");
cmp_ok($position6, '<', $position7,
	'the order committed last took the earlier outbox position');

my ($barrier_xid, $barrier_end) = barrier($pid, $file);
# everything received so far is confirmed before pg_recvlogical stops
wait_confirmed($barrier_end);
is(reap($pid, 'INT'), 0, 'pg_recvlogical stops cleanly on SIGINT');
my $run1 = consume_run('run 1', $file, $confirmed);
check_processed('run 1');

my @run1_events = map { @{ $_->{events} } } @$run1;
my ($index6) =
  grep { $run1_events[$_]{aggregateid} eq $order[6] } 0 .. $#run1_events;
my ($index7) =
  grep { $run1_events[$_]{aggregateid} eq $order[7] } 0 .. $#run1_events;
ok(defined $index6 && defined $index7 && $index7 < $index6,
	'commit order, not position order: the event committed first arrives first');

my ($two) = grep { $_->{xid} eq $two_xid } @$run1;
is_deeply(
	[ map { $_->{aggregateid} } @{ $two->{events} // [] } ],
	[ $order[3], $order[4] ],
	'two orders in one transaction: both events between one B and one C');
ok(!exists $xids_seen{$rollback_xid},
	'the rolled-back transaction sends nothing (no line with its xid)');
ok(!grep({ $_->{aggregateid} eq $order[5] } @run1_events),
	'no event of the rolled-back order');
is( scalar(
		grep { $_->{aggregateid} eq $order[1] && $_->{type} eq 'OrderCreated' }
		  @run1_events),
	1,
	'the idempotent replay sends no second OrderCreated');
my ($barrier_txn) = grep { $_->{xid} eq $barrier_xid } @$run1;
ok($barrier_txn && $barrier_txn->{complete} && !@{ $barrier_txn->{events} },
	'an insert into another table arrives as an empty B..C pair');

##########################################################################
# Run 2: while no pg_recvlogical runs, more orders are made and the server
# restarts cleanly; pg_recvlogical then starts again from the slot.

wait_slot_inactive();
my $confirmed_at_stop = confirmed_flush();

$order[8] = create_order(8);
push @expected_txns, [ [ $order[8], 'OrderCreated' ] ];
$order[9] = create_order(9);
push @expected_txns, [ [ $order[9], 'OrderCreated' ] ];
$node->safe_psql('postgres', "SELECT order_mgmt.complete_order('$order[8]')");
push @expected_txns, [ [ $order[8], 'OrderCompleted' ] ];

$node->restart;
$confirmed = confirmed_flush();
note sprintf(
	'confirmed_flush_lsn: %X/%X when pg_recvlogical stopped, %X/%X after the restart',
	$confirmed_at_stop >> 32, $confirmed_at_stop & 0xFFFFFFFF,
	$confirmed >> 32, $confirmed & 0xFFFFFFFF);
cmp_ok($confirmed, '<=', $confirmed_at_stop,
	'the restart does not move confirmed_flush_lsn forward');

# The SQL interface shows the pending events, and consumes nothing.
my @peeked = map { $_->{id} } map {
	my $rec = $json->decode($_);
	$rec->{action} eq 'I' ? wal2json_row($rec) : ()
  } slot_changes($node, $slot,
	peek => 1,
	options => [ 'format-version', '2', 'add-tables', 'order_mgmt.outbox' ]);
is(confirmed_flush(), $confirmed, 'peeking does not move the slot');
my @made_offline = split /\n/,
  $node->safe_psql('postgres',
	    'SELECT id FROM order_mgmt.outbox WHERE aggregateid IN '
	  . "('$order[8]', '$order[9]') ORDER BY position");
is_deeply([ @peeked[ -3 .. -1 ] ],
	\@made_offline,
	'pg_logical_slot_peek_changes shows the events made while no consumer ran');

$file = "$tempdir/run2.jsonl";
$pid = start_recvlogical_on_slot($file);
# an order made while the restarted pg_recvlogical streams
$order[10] = create_order(10);
push @expected_txns, [ [ $order[10], 'OrderCreated' ] ];
barrier($pid, $file);
is(reap($pid, 'INT'), 0, 'pg_recvlogical stops cleanly again');
my $run2 = consume_run('run 2 (after a clean restart)', $file, $confirmed);
check_processed('run 2 (after a clean restart)');
my @run2_ids = event_ids($run2);
is_deeply([ @run2_ids[ 0 .. $#run2_ids - 1 ] ],
	\@peeked,
	'run 2 first sends exactly what pg_logical_slot_peek_changes showed');

##########################################################################
# Run 3 streams; the server crashes under it (stop immediate).  Run 4
# resumes from the slot after the crash recovery.

wait_slot_inactive();
$confirmed = confirmed_flush();
$file = "$tempdir/run3.jsonl";
$pid = start_recvlogical_on_slot($file);
# A checkpoint logs the running transactions, which lets the slot's
# restart_lsn advance, and PostgreSQL 15 writes a slot's confirmed_flush_lsn
# to disk only when its restart_lsn or catalog_xmin moves: so the crash
# rewinds the slot to a position confirmed after this checkpoint, not to the
# slot's creation.
$node->safe_psql('postgres', 'CHECKPOINT');
$order[11] = create_order(11);
push @expected_txns, [ [ $order[11], 'OrderCreated' ] ];
# confirmed: the crash may lose that confirmation, never an event
my (undef, $confirmed_before_crash) = barrier($pid, $file);
wait_confirmed($confirmed_before_crash);
# committed (so durable), but maybe not yet sent when the server dies
$order[12] = create_order(12);
push @expected_txns, [ [ $order[12], 'OrderCreated' ] ];
$node->safe_psql('postgres',
	"SELECT order_mgmt.cancel_order('$order[9]', 'FRAUD')");
push @expected_txns, [ [ $order[9], 'OrderCancelled' ] ];
$node->stop('immediate');
isnt(reap($pid), 0,
	'pg_recvlogical --no-loop exits with an error when the server crashes');

$node->start;
consume_run('run 3 (until the crash)', $file, $confirmed);
$confirmed = confirmed_flush();
note sprintf(
	'confirmed_flush_lsn: at least %s before the crash, %X/%X after it',
	$confirmed_before_crash, $confirmed >> 32, $confirmed & 0xFFFFFFFF);
$file = "$tempdir/run4.jsonl";
$pid = start_recvlogical_on_slot($file);
$order[13] = create_order(13);
push @expected_txns, [ [ $order[13], 'OrderCreated' ] ];
barrier($pid, $file);
is(reap($pid, 'INT'), 0, 'pg_recvlogical stops cleanly at the end');
consume_run('run 4 (after the crash)', $file, $confirmed);
check_processed('run 4 (after the crash)');

$node->stop;

done_testing();
