# Crash recovery under load: nothing acknowledged is lost, nothing is torn.
#
# Four writer clients create orders with random carts and cancel or complete
# random orders of theirs that are still CREATED, while a polling consumer
# fetches and acknowledges events and pg_recvlogical streams the outbox
# through wal2json.  In the middle of this the whole server is killed with
# SIGKILL (the postmaster is frozen, then it and every backend are killed:
# no shutdown checkpoint, no backend gets to finish anything) and started
# again; by default three times.
#
# Each client is a psql running a generated script with ON_ERROR_STOP: every
# transaction is BEGIN ... COMMIT followed by an \echo of what it did, so a
# line "ACK ..." in psql's output means COMMIT returned to the client.  The
# crash comes when every writer is in the middle of its script; the
# transaction it cuts off is "in doubt" (it may or may not have committed),
# the ones after it never ran.  A create cut off is sent again, unchanged,
# after the restart: create_order is idempotent on cartId, so the retry
# returns the order if the first attempt committed.  A cancel or complete in
# doubt may or may not have happened.
#
# To be sure that some transactions commit without their client ever
# hearing of it (the case the idempotent retry is for), the server names a
# synchronous standby that never connects, with synchronous_commit = local;
# before each crash two writers run one transaction with synchronous_commit
# = on: its commit record is written and flushed, then COMMIT waits for the
# standby, and the crash comes while it waits.
#
# After the last crash the test proves:
#   - every acknowledged order exists, once per cart, with exactly the lines
#     the client sent (line count, product ids, quantities, prices, total,
#     currency), and no order exists that no client sent;
#   - every acknowledged cancel or complete happened; an order in doubt is
#     CREATED or in the state the client asked for; every other order is
#     CREATED;
#   - a create committed but never acknowledged is found by its retry (the
#     order created before the crash is returned, no second order), and a
#     cancel or complete committed but never acknowledged is in effect;
#   - every order has exactly the events its status implies (CREATED:
#     OrderCreated v1; COMPLETED: OrderCreated v1 + OrderCompleted v2;
#     CANCELLED: OrderCreated v1 + OrderCancelled v2), none missing, none
#     extra, versions contiguous, and no event exists without its order;
#   - the polling consumer, which records each fetched batch in a table and
#     acknowledges it in the same transaction, reconnecting after every
#     crash, ends with every outbox event exactly once;
#   - the CDC stream (pg_recvlogical on a slot created before the load,
#     started again after every crash) received every outbox event at least
#     once (PostgreSQL 15 may send again what a crash made it forget was
#     confirmed; a consumer skips event ids already processed), with the
#     outbox row's content, and no event that does not exist;
#   - amcheck finds every B-tree index of the extension's tables consistent
#     with its table (bt_index_parent_check with heapallindexed and
#     rootdescend) and verify_heapam finds no corruption in the tables.
#
# ORDER_MGMT_LONG_TESTS=1 makes the run longer: more crashes, longer load
# between them (ORDER_MGMT_CRASHES overrides the number of crashes).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $long = $ENV{ORDER_MGMT_LONG_TESTS} ? 1 : 0;
my $crashes = $ENV{ORDER_MGMT_CRASHES} // ($long ? 10 : 3);
# seconds of load before each crash, and at least this many acknowledged
# writer transactions since the last restart (so each crash hits a loaded
# server, however slow the machine)
my $phase_seconds = $long ? 8 : 2.5;
my $phase_min_acks = $long ? 400 : 60;
my $n_writers = 4;
my $txns_per_script = 100;
my $slot = 'order_mgmt_crash';
my $consumer = 'crash_test';

my $json = JSON::PP->new->canonical;

# (the child processes are OrderMgmt::Test's spawn: none outlives the test)

# The settings of the pg_regress and isolation instances, and: a crash may
# come during a checkpoint, and autovacuum may be working; commits wait for
# nothing (local), except in transactions that set synchronous_commit = on:
# they wait for a standby that never comes.
my $node = start_node(
	'crash', conf => q{
autovacuum_naptime = 1s
synchronous_commit = local
synchronous_standby_names = 'om_test_never_connects'
});
$node->safe_psql(
	'postgres', qq{
	CREATE EXTENSION amcheck;
	-- what the polling consumer processed: no unique key, so that a
	-- duplicate would be visible
	CREATE TABLE consumed (n bigserial PRIMARY KEY, id uuid NOT NULL,
						   seq bigint NOT NULL);
	-- a table the CDC slot does not send; see cdc_barrier
	CREATE TABLE om_test_barrier (n integer);
	SELECT order_mgmt.register_consumer('$consumer', from_beginning => true);
});

my $tempdir = PostgreSQL::Test::Utils::tempdir;

##########################################################################
# Child processes: spawn, exited($pid) (its wait status once it has exited),
# reap($pid, $signal) (a bounded wait for its exit), and file_lines($file)
# (the complete lines written so far), from OrderMgmt::Test

sub run_psql_script
{
	my ($what, $script_file, $out) = @_;
	return spawn(
		$what, $out, 'psql', '-X', '-q', '-A', '-t',
		'-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-f', $script_file);
}

##########################################################################
# The writers

sub random_uuid
{
	my @h = map { sprintf('%04x', int(rand(65536))) } 1 .. 8;
	$h[3] = sprintf('%04x', 0x4000 | (hex($h[3]) & 0x0fff));
	$h[4] = sprintf('%04x', 0x8000 | (hex($h[4]) & 0x3fff));
	return "$h[0]$h[1]-$h[2]-$h[3]-$h[4]-$h[5]$h[6]$h[7]";
}

my @currencies = qw(EUR USD JPY GBP CHF);
my @reasons = qw(CUSTOMER_REQUESTED PAYMENT_FAILED OUT_OF_STOCK FRAUD);

# every cart any client sent: cart id => { command, items, total, currency,
# customer, order (id, once acknowledged) }
my %carts;

# A new random CreateOrder command; returns its cart id.
sub new_cart
{
	my $n_items = 1 + int(rand(rand() < 0.1 ? 40 : 6));
	my @items = map {
		{
			productId => random_uuid(),
			quantity => 1 + int(rand(9)),
			unitPrice => int(rand(100_000))
		}
	} 1 .. $n_items;
	my $total = 0;
	$total += $_->{quantity} * $_->{unitPrice} for @items;
	my $cart = random_uuid();
	my $command = {
		cartId => $cart,
		customerId => random_uuid(),
		items => \@items,
		total => $total,
		currency => $currencies[ int(rand(@currencies)) ]
	};
	$command->{paymentAuthorizationId} = 'auth-' . int(rand(1e9))
	  if rand() < 0.5;
	$carts{$cart} = { command => $command };
	return $cart;
}

sub create_sql
{
	my ($cart, $var) = @_;
	return "SELECT order_mgmt.create_order('"
	  . $json->encode($carts{$cart}{command})
	  . "') AS $var \\gset\n";
}

# order id => { status (acknowledged), doubt (the change in doubt, if any),
# owner (writer number) }
my %orders;
my %acked = (create => 0, cancel => 0, complete => 0);
my $in_doubt = 0;

# Writer state: its CREATED orders (acknowledged, no change pending), the
# carts whose create is in doubt, the script running and what each of its
# transactions does.
my @writers = map {
	{ n => $_, created => [], retry => [], runs => 0, pid => undef }
} 1 .. $n_writers;

# Take a random CREATED order off the writer's list.
sub pick_created
{
	my ($w) = @_;
	return undef unless @{ $w->{created} };
	my $i = int(rand(@{ $w->{created} }));
	return splice(@{ $w->{created} }, $i, 1);
}

# Generate and start the writer's next script.  Each transaction ends with
# an ACK line echoed after COMMIT returned.
sub start_writer
{
	my ($w) = @_;
	my (@txns, $sql);
	$sql = '';
	# first the creates a crash left in doubt, unchanged
	my @todo = map { [ 'create', $_ ] } @{ $w->{retry} };
	$w->{retry} = [];
	while (@todo < $txns_per_script)
	{
		my $r = rand();
		my $order;
		if ($r < 0.15 && defined($order = pick_created($w)))
		{
			push @todo,
			  [ 'cancel', $order, $reasons[ int(rand(@reasons)) ],
				rand() < 0.5 ? 1 : undef ];
		}
		elsif ($r < 0.3 && defined($order = pick_created($w)))
		{
			push @todo, [ 'complete', $order, rand() < 0.5 ? 1 : undef ];
		}
		elsif ($r < 0.36)
		{
			# create and complete in one transaction
			push @todo, [ 'create_complete', new_cart() ];
		}
		elsif ($r < 0.42)
		{
			# two creates in one transaction
			push @todo, [ 'create2', new_cart(), new_cart() ];
		}
		else
		{
			push @todo, [ 'create', new_cart() ];
		}
	}
	# Armed: one transaction (the fourth) commits but is never acknowledged.
	# The server runs with synchronous_standby_names naming a standby that
	# never connects and synchronous_commit = local; this transaction sets
	# synchronous_commit = on, so its COMMIT writes and flushes the commit
	# record, then waits for the standby until the crash: the client never
	# hears of a commit that happened.  Writer 1 hangs a create, writer 2 a
	# cancel or complete.
	$w->{hang_index} = undef;
	if ($w->{arm})
	{
		$w->{arm} = 0;
		my $order = $w->{n} == 2 ? pick_created($w) : undef;
		my $hang =
		    !defined $order ? [ 'create', new_cart() ]
		  : rand() < 0.5 ? [ 'cancel', $order, 'PAYMENT_FAILED', undef ]
		  :                [ 'complete', $order, undef ];
		splice(@todo, 3, 0, $hang);
		$w->{hang_index} = 3;
	}
	for my $i (0 .. $#todo)
	{
		my ($kind, @args) = @{ $todo[$i] };
		# a moment inside the transaction: transactions overlap and commit
		# in another order than they began, and a crash finds some open
		my $pause = sprintf("SELECT pg_sleep(%.3f) \\gset\n", rand(0.01));
		$sql .= "BEGIN;\n$pause";
		# (without notifications: a transaction that sent NOTIFY holds
		# PostgreSQL's commit-order lock for notifications until it ends,
		# standby wait included, and every other notifying commit would
		# queue behind it)
		$sql .= "SET LOCAL synchronous_commit = on;\n"
		  . "SET LOCAL order_mgmt.notifications = off;\n"
		  if defined $w->{hang_index} && $i == $w->{hang_index};
		if ($kind eq 'create')
		{
			$sql .= create_sql($args[0], 'a');
			$sql .= "COMMIT;\n\\echo ACK $i :a\n";
		}
		elsif ($kind eq 'create2')
		{
			$sql .= create_sql($args[0], 'a') . create_sql($args[1], 'b');
			$sql .= "COMMIT;\n\\echo ACK $i :a :b\n";
		}
		elsif ($kind eq 'create_complete')
		{
			$sql .= create_sql($args[0], 'a');
			$sql .= "SELECT order_mgmt.complete_order(:'a') AS v \\gset\n";
			$sql .= "COMMIT;\n\\echo ACK $i :a :v\n";
		}
		elsif ($kind eq 'cancel')
		{
			my ($order, $reason, $expected) = @args;
			$sql .=
			    "SELECT order_mgmt.cancel_order('$order', '$reason'"
			  . (defined $expected ? ", expected_version => $expected" : '')
			  . ") AS v \\gset\n";
			$sql .= "COMMIT;\n\\echo ACK $i :v\n";
		}
		elsif ($kind eq 'complete')
		{
			my ($order, $expected) = @args;
			$sql .=
			    "SELECT order_mgmt.complete_order('$order'"
			  . (defined $expected ? ", expected_version => $expected" : '')
			  . ") AS v \\gset\n";
			$sql .= "COMMIT;\n\\echo ACK $i :v\n";
		}
	}
	$w->{runs}++;
	my $base = "$tempdir/writer$w->{n}_$w->{runs}";
	open(my $fh, '>', "$base.sql") or die "$base.sql: $!";
	print $fh $sql;
	close($fh);
	$w->{todo} = \@todo;
	$w->{out} = "$base.out";
	$w->{pid} = run_psql_script("writer $w->{n}", "$base.sql", "$base.out");
	return;
}

# The writer's script has ended (finished, or cut off by a crash): record
# what was acknowledged, and what is in doubt.  Returns the number of
# transactions acknowledged.
my @unexpected_errors;
# [ kind, cart or order ] of the transactions whose COMMIT was flushed but
# never acknowledged
my @hung_commits;

sub finish_writer
{
	my ($w, $status, $crashed) = @_;
	my %ack;
	my @other;
	for my $line (file_lines($w->{out}))
	{
		if ($line =~ /^ACK (\d+)((?: \S+)*)$/)
		{
			$ack{$1} = [ split ' ', $2 ];
		}
		else
		{
			push @other, $line;
		}
	}
	my $todo = $w->{todo};
	# without a crash, every transaction must have been acknowledged
	if (!$crashed && ($status != 0 || keys %ack != @$todo))
	{
		push @unexpected_errors,
		  "writer $w->{n} run $w->{runs} (status $status): "
		  . join("\n", @other);
	}
	# psql runs the transactions one after the other and stops at the first
	# error: the acknowledged ones are the first ones, the next one is in
	# doubt, and the rest never ran
	my $first_unacked = scalar keys %ack;
	push @unexpected_errors,
	  "writer $w->{n} run $w->{runs}: acknowledgements are not a prefix"
	  if grep { !exists $ack{$_} } 0 .. $first_unacked - 1;
	if (defined $w->{hang_index})
	{
		# the crash came while that COMMIT waited: it must have committed
		my ($kind, @args) = @{ $todo->[ $w->{hang_index} ] };
		if ($crashed && $first_unacked == $w->{hang_index})
		{
			push @hung_commits, [ $kind, $args[0] ];
		}
		else
		{
			push @unexpected_errors,
			  "writer $w->{n}: the transaction waiting for the standby was "
			  . 'acknowledged or not reached';
		}
	}
	for my $i (0 .. $#$todo)
	{
		my ($kind, @args) = @{ $todo->[$i] };
		my $a = $ack{$i};
		$in_doubt++ if !$a && $i == $first_unacked;
		if ($kind =~ /^create/)
		{
			if (!$a)
			{
				# in doubt, or never ran: send it again after the restart
				push @{ $w->{retry} }, @args[ 0 .. ($kind eq 'create2' ? 1 : 0) ];
				next;
			}
			my @carts = $kind eq 'create2' ? @args[ 0, 1 ] : ($args[0]);
			for my $j (0 .. $#carts)
			{
				my $order = $a->[$j];
				$carts{ $carts[$j] }{order} = $order;
				$orders{$order} = { status => 'CREATED', owner => $w->{n} };
				$acked{create}++;
			}
			if ($kind eq 'create_complete')
			{
				$orders{ $a->[0] }{status} = 'COMPLETED';
				$orders{ $a->[0] }{version} = $a->[1];
				$acked{complete}++;
			}
			else
			{
				push @{ $w->{created} }, map { $a->[$_] } 0 .. $#carts;
			}
		}
		else
		{
			my $order = $args[0];
			my $target = $kind eq 'cancel' ? 'CANCELLED' : 'COMPLETED';
			if ($a)
			{
				$orders{$order}{status} = $target;
				$orders{$order}{version} = $a->[0];
				$orders{$order}{reason} = $args[1] if $kind eq 'cancel';
				$acked{$kind}++;
			}
			elsif ($i == $first_unacked)
			{
				# in doubt: it may have committed; the order is left alone
				$orders{$order}{doubt} = $target;
			}
			else
			{
				# never ran: the order is still CREATED
				push @{ $w->{created} }, $order;
			}
		}
	}
	$w->{pid} = undef;
	return scalar keys %ack;
}

##########################################################################
# The polling consumer: each round records the fetched batch in a table and
# acknowledges it in the same transaction.

my $consumer_runs = 0;
my ($consumer_pid, $consumer_out);
my $consumer_rounds = 0;
my @consumer_errors;

sub start_consumer
{
	$consumer_runs++;
	my $base = "$tempdir/consumer_$consumer_runs";
	open(my $fh, '>', "$base.sql") or die;
	for my $i (1 .. 50)
	{
		print $fh <<"SQL";
BEGIN;
INSERT INTO consumed (id, seq)
  SELECT id, seq FROM order_mgmt.fetch_events('$consumer', 100) ORDER BY seq;
SELECT order_mgmt.ack_events('$consumer', coalesce((SELECT max(seq) FROM consumed), 0)) AS acked \\gset
COMMIT;
\\echo ROUND :acked
SELECT pg_sleep(0.05) \\gset
SQL
	}
	close($fh);
	$consumer_out = "$base.out";
	$consumer_pid = run_psql_script('consumer', "$base.sql", $consumer_out);
	return;
}

sub finish_consumer
{
	my ($status, $crashed) = @_;
	my @lines = file_lines($consumer_out);
	$consumer_rounds += grep { /^ROUND / } @lines;
	push @consumer_errors, "consumer run $consumer_runs (status $status): "
	  . join("\n", grep { !/^ROUND / } @lines)
	  if !$crashed && $status != 0;
	$consumer_pid = undef;
	return;
}

##########################################################################
# CDC: pg_recvlogical with wal2json, started again after every crash

my @wal2json_options = wal2json_options('include-lsn=1');

$node->command_ok(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'),
		'--slot', $slot, '--plugin', 'wal2json', '--create-slot'
	],
	'the CDC slot is created before the load');

my $cdc_runs = 0;
my ($cdc_pid, $cdc_file);
my @cdc_files;

sub start_cdc
{
	$cdc_runs++;
	$cdc_file = "$tempdir/cdc_$cdc_runs.jsonl";
	push @cdc_files, $cdc_file;
	$cdc_pid = start_recvlogical($node, $slot, $cdc_file, @wal2json_options);
	return;
}

##########################################################################
# Crash: freeze the postmaster so it forks nothing more, then SIGKILL it
# and every process it started.

sub crash
{
	my $pm = $node->{_pid} or die 'no postmaster pid';
	kill 'STOP', $pm or die "cannot stop postmaster $pm";
	my @procs = split ' ', `ps -o pid= --ppid $pm`;
	$node->kill9;    # SIGKILL to the postmaster
	kill 'KILL', @procs;
	# wait until every one of them is gone, so that the new postmaster does
	# not find the old shared memory in use
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	for my $pid ($pm, @procs)
	{
		while (kill(0, $pid))
		{
			die "process $pid survived SIGKILL" if time() > $deadline;
			usleep(10_000);
		}
	}
	return scalar @procs;
}

##########################################################################
# The load, with crashes in the middle

start_cdc();
start_consumer();
start_writer($_) for @writers;

my $acks_since_restart = 0;
my $total_acked_txns = 0;
my $phase_start = time();
my $checkpoint_done = 0;
my $arm_hangs = 0;
my @crash_notes;

# Run the load until $until returns true; restarts whatever script ends.
sub run_load
{
	my ($until) = @_;
	my $deadline = time() + 10 * $PostgreSQL::Test::Utils::timeout_default;
	until ($until->())
	{
		die 'the load made no progress' if time() > $deadline;
		for my $w (@writers)
		{
			my $status = exited($w->{pid});
			next unless defined $status;
			my $n = finish_writer($w, $status, 0);
			$acks_since_restart += $n;
			$total_acked_txns += $n;
			start_writer($w);
		}
		if (defined(my $status = exited($consumer_pid)))
		{
			finish_consumer($status, 0);
			start_consumer();
		}
		if (defined(my $status = exited($cdc_pid)))
		{
			die "pg_recvlogical exited during the load (status $status):\n"
			  . slurp_file("$cdc_file.log");
		}
		# half way, arm writers 1 and 2 for a commit that is never
		# acknowledged (see start_writer)
		if ($arm_hangs && time() - $phase_start > $phase_seconds / 2)
		{
			$writers[$_]{arm} = 1 for 0, 1;
			$arm_hangs = 0;
		}
		# a checkpoint in the middle of some phases, so that recovery
		# starts from a checkpoint taken under load
		if (!$checkpoint_done && time() - $phase_start > $phase_seconds / 2)
		{
			$node->safe_psql('postgres', 'CHECKPOINT');
			$checkpoint_done = 1;
		}
		usleep(20_000);
	}
	return;
}

# Is every writer in the middle of its script (running, and at least one
# transaction acknowledged)?  The crash waits for that, so that it cuts off
# every writer.
sub writers_busy
{
	for my $w (@writers)
	{
		return 0 if defined exited($w->{pid});
		return 0 unless grep { /^ACK / } file_lines($w->{out});
	}
	return 1;
}

# Are the armed transactions waiting for the standby (commit record
# flushed)?
sub hangs_waiting
{
	my $armed = grep { $_->{arm} || defined $_->{hang_index} } @writers;
	my $started = grep { defined $_->{hang_index} } @writers;
	return 0 unless $armed && $started == $armed;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
	  == $armed;
}

for my $crash (1 .. $crashes)
{
	$acks_since_restart = 0;
	$phase_start = time();
	$checkpoint_done = $crash % 2 == 0;
	$arm_hangs = 1;
	run_load(
		sub {
			time() - $phase_start >= $phase_seconds
			  && $acks_since_restart >= $phase_min_acks
			  && writers_busy()
			  && hangs_waiting();
		});

	my $killed = crash();
	# every client loses its connection
	for my $w (@writers)
	{
		my $status = reap($w->{pid});
		my $n = finish_writer($w, $status, 1);
		$total_acked_txns += $n;
	}
	finish_consumer(reap($consumer_pid), 1);
	reap($cdc_pid);
	push @crash_notes,
	  sprintf('crash %d after %.1f s, %d writer transactions acknowledged '
		  . 'since the restart, %d server processes killed',
		$crash, time() - $phase_start, $acks_since_restart, $killed);

	$node->start;
	# creates in doubt are retried after this: an order created before it
	# is one whose first attempt committed
	my $restarted = $node->safe_psql('postgres', 'SELECT extract(epoch FROM now())');
	for my $w (@writers)
	{
		$carts{$_}{retried_after} //= $restarted for @{ $w->{retry} };
	}
	start_cdc();
	start_consumer();
	start_writer($_) for @writers;
}

# a last phase after the last crash, then the scripts run to their end
$acks_since_restart = 0;
$phase_start = time();
$checkpoint_done = 1;
run_load(
	sub {
		time() - $phase_start >= $phase_seconds / 2
		  && $acks_since_restart >= $phase_min_acks / 2
		  && !grep { @{ $_->{retry} } } @writers;
	});
for my $w (@writers)
{
	my $status = reap($w->{pid});
	$total_acked_txns += finish_writer($w, $status, 0);
}

is_deeply(\@unexpected_errors, [],
	'writers: no error other than lost connections at the crashes')
  or diag(join("\n", @unexpected_errors));
is(scalar(grep { !defined $_->{order} } values %carts),
	0, 'every create in doubt was retried until acknowledged');
note "writers: $total_acked_txns transactions acknowledged: "
  . "$acked{create} creates, $acked{cancel} cancels, $acked{complete} "
  . "completes; $in_doubt transactions in doubt at a crash (cut off "
  . 'between BEGIN and the acknowledgement of COMMIT)';
cmp_ok($acked{create}, '>=', $crashes * $phase_min_acks / 2,
	"the writers created $acked{create} orders");

##########################################################################
# Orders: every acknowledged order, with exactly its lines

my %db_orders = map {
	my $o = $json->decode($_);
	$o->{order_id} => $o
  } split /\n/,
  $node->safe_psql(
	'postgres', q{
	SELECT json_build_object(
		'order_id', o.order_id, 'cart_id', o.cart_id,
		'customer_id', o.customer_id, 'status', o.status,
		'version', o.version, 'total', o.total, 'currency', o.currency,
		'payment_authorization_id', o.payment_authorization_id,
		'cancellation_reason', o.cancellation_reason,
		'created_epoch', extract(epoch FROM o.created_at),
		'lines', (SELECT json_agg(json_build_array(l.line_no, l.product_id,
									 l.quantity, l.unit_price) ORDER BY l.line_no)
				  FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id))
	FROM order_mgmt.orders o});

my (@bad_orders, %cart_seen);
for my $cart (sort keys %carts)
{
	my $c = $carts{$cart};
	my $cmd = $c->{command};
	my $o = $db_orders{ $c->{order} // '' };
	if (!$o)
	{
		push @bad_orders, "order of cart $cart is missing";
		next;
	}
	$cart_seen{ $o->{order_id} } = 1;
	my $want_lines = [
		map {
			[
				$_ + 1, $cmd->{items}[$_]{productId},
				$cmd->{items}[$_]{quantity}, $cmd->{items}[$_]{unitPrice}
			]
		} 0 .. $#{ $cmd->{items} }
	];
	my %want = (
		cart_id => $cart,
		customer_id => $cmd->{customerId},
		total => $cmd->{total},
		currency => $cmd->{currency},
		payment_authorization_id => $cmd->{paymentAuthorizationId},
		lines => $want_lines);
	my %got = map { $_ => $o->{$_} } keys %want;
	push @bad_orders,
	  "order $o->{order_id}: " . $json->encode(\%got) . ' instead of '
	  . $json->encode(\%want)
	  unless $json->encode(\%got) eq $json->encode(\%want);
}
is_deeply(\@bad_orders, [],
	scalar(keys %carts)
	  . ' acknowledged orders exist, each with exactly the lines, total, '
	  . 'currency and customer its client sent');
my @retried = grep { defined $carts{$_}{retried_after} } keys %carts;
my $retried_committed = grep {
	$db_orders{ $carts{$_}{order} }{created_epoch} < $carts{$_}{retried_after}
} @retried;
note scalar(@retried) . ' creates cut off by a crash (in doubt or not run) '
  . "were sent again: $retried_committed of them had committed before the "
  . 'crash (the retry returned that order), the others created their order';
# the creates whose COMMIT was flushed but never acknowledged: the retry
# found the order (created before the crash) and returned it
my @hung_creates = map { $_->[1] } grep { $_->[0] eq 'create' } @hung_commits;
is_deeply(
	[
		grep {
			$db_orders{ $carts{$_}{order} }{created_epoch}
			  >= ($carts{$_}{retried_after} // 0)
		} @hung_creates
	],
	[],
	scalar(@hung_creates)
	  . ' creates committed but never acknowledged: the retry after the '
	  . 'restart returned the order committed before the crash');
cmp_ok(scalar(@hung_creates), '>=', $crashes,
	'a create committed without its client hearing of it at every crash');
is_deeply([ sort grep { !$cart_seen{$_} } keys %db_orders ],
	[], 'no order exists that no client sent');
is(scalar(keys %db_orders), scalar(keys %carts), 'one order per cart');

# statuses: acknowledged changes happened; changes in doubt may have
my (@bad_status, %status_count, %doubt_outcome);
for my $id (sort keys %orders)
{
	my $want = $orders{$id};
	my $got = $db_orders{$id} or next;
	$status_count{ $got->{status} }++;
	$doubt_outcome{ $got->{status} eq $want->{doubt} ? 'committed' : 'not committed' }++
	  if $want->{doubt};
	my @allowed = ($want->{status});
	push @allowed, $want->{doubt} if $want->{doubt};
	push @bad_status,
	  "order $id is $got->{status}, expected " . join(' or ', @allowed)
	  unless grep { $_ eq $got->{status} } @allowed;
	push @bad_status,
	  "order $id: version $got->{version} but the client saw $want->{version}"
	  if defined $want->{version} && $got->{version} != $want->{version};
	push @bad_status,
	  "order $id: reason $got->{cancellation_reason} but the client sent $want->{reason}"
	  if $want->{reason} && $got->{status} eq 'CANCELLED'
	  && ($got->{cancellation_reason} // '') ne $want->{reason};
}
my @hung_changes = grep { $_->[0] ne 'create' } @hung_commits;
is_deeply(
	[
		map { "$_->[0] of $_->[1]: $db_orders{ $_->[1] }{status}" }
		grep {
			$db_orders{ $_->[1] }{status} ne
			  ($_->[0] eq 'cancel' ? 'CANCELLED' : 'COMPLETED')
		} @hung_changes
	],
	[],
	scalar(@hung_changes)
	  . ' cancels and completes committed but never acknowledged are in '
	  . 'effect after the restart');
is_deeply(\@bad_status, [],
	'every acknowledged cancel and complete happened, with the version the '
	  . 'client saw; orders in doubt are CREATED or in the state asked for')
  or diag(join("\n", @bad_status));
note 'orders: ' . join(', ', map { "$status_count{$_} $_" } sort keys %status_count);
note 'cancels and completes in doubt at a crash: '
  . join(', ', map { "$doubt_outcome{$_} $_" } sort keys %doubt_outcome);
ok($status_count{CANCELLED} && $status_count{COMPLETED} && $status_count{CREATED},
	'orders in every state');

##########################################################################
# Events: exactly those each order's status implies

is( $node->safe_psql(
		'postgres', q{
	WITH ev AS (
		SELECT aggregateid,
			   array_agg(type || ' v' || order_version ORDER BY order_version, type) AS evs
		FROM order_mgmt.outbox GROUP BY aggregateid)
	SELECT count(*) FROM order_mgmt.orders o
	LEFT JOIN ev ON ev.aggregateid = o.order_id
	WHERE ev.evs IS DISTINCT FROM CASE o.status
		WHEN 'CREATED' THEN ARRAY['OrderCreated v1']
		WHEN 'COMPLETED' THEN ARRAY['OrderCreated v1', 'OrderCompleted v2']
		WHEN 'CANCELLED' THEN ARRAY['OrderCreated v1', 'OrderCancelled v2'] END
	   OR o.version <> CASE o.status WHEN 'CREATED' THEN 1 ELSE 2 END}),
	0,
	'every order has exactly the events its status implies, versions 1..version');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM order_mgmt.outbox e
	WHERE NOT EXISTS (SELECT FROM order_mgmt.orders o WHERE o.order_id = e.aggregateid)}),
	0,
	'no event exists without its order');
# the events carry what the orders hold
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM order_mgmt.outbox e
	JOIN order_mgmt.orders o ON o.order_id = e.aggregateid
	WHERE (e.payload->>'orderId')::uuid <> o.order_id
	   OR (e.type <> 'OrderCancelled'
		   AND (e.payload->>'customerId')::uuid <> o.customer_id)
	   OR (e.type = 'OrderCreated'
		   AND ((e.payload->>'total')::bigint <> o.total
				OR e.payload->>'currency' <> o.currency))
	   OR (e.type = 'OrderCancelled'
		   AND e.payload->>'reason' IS DISTINCT FROM o.cancellation_reason)}),
	0,
	"each event's payload matches its order (id, customer, total, currency, reason)");
my $n_events =
  $node->safe_psql('postgres', 'SELECT count(*) FROM order_mgmt.outbox');
is($n_events,
	scalar(keys %db_orders)
	  + ($status_count{CANCELLED} // 0)
	  + ($status_count{COMPLETED} // 0),
	"$n_events events: one per order plus one per final order");

##########################################################################
# The polling consumer drains the feed; every event exactly once

my $drained = 0;
for (1 .. 200)
{
	if (!defined $consumer_pid)
	{
		start_consumer();
	}
	if ($node->safe_psql('postgres',
			"SELECT count(*) FROM order_mgmt.fetch_events('$consumer', 1)") eq '0'
		&& $node->safe_psql('postgres',
			'SELECT count(*) FROM order_mgmt.outbox e WHERE NOT EXISTS '
			  . '(SELECT FROM consumed c WHERE c.id = e.id)') eq '0')
	{
		$drained = 1;
		last;
	}
	if (defined(my $status = exited($consumer_pid)))
	{
		finish_consumer($status, 0);
		$consumer_pid = undef;
	}
	usleep(100_000);
}
finish_consumer(reap($consumer_pid), 0) if defined $consumer_pid;
ok($drained, 'the polling consumer caught up');
is_deeply(\@consumer_errors, [],
	'the consumer had no error other than lost connections')
  or diag(join("\n", @consumer_errors));
note "polling consumer: $consumer_runs connections, "
  . "$consumer_rounds rounds acknowledged";
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM order_mgmt.outbox e
	WHERE NOT EXISTS (SELECT FROM consumed c WHERE c.id = e.id)}),
	0,
	'polling consumer: no event missing');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM (SELECT id FROM consumed GROUP BY id HAVING count(*) > 1) d}),
	0,
	'polling consumer: no event processed twice');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM consumed c
	WHERE NOT EXISTS (SELECT FROM order_mgmt.outbox e WHERE e.id = c.id)}),
	0,
	'polling consumer: no event that does not exist');
is($node->safe_psql('postgres', 'SELECT count(*) FROM consumed'),
	$n_events, 'polling consumer: as many events processed as in the outbox');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM (
	  SELECT e.order_version, lag(e.order_version) OVER (PARTITION BY e.aggregateid ORDER BY c.seq) AS prev
	  FROM consumed c JOIN order_mgmt.outbox e ON e.id = c.id) s
	WHERE prev IS NOT NULL AND order_version <> prev + 1}),
	0,
	"polling consumer: each order's events in version order");

##########################################################################
# CDC: every event at least once, none that does not exist

# A barrier: a transaction the slot sends as an empty B..C pair; once its C
# line is in the file, every earlier commit has been received.
cdc_barrier($node, $cdc_pid, $cdc_file);
is(reap($cdc_pid, 'INT'), 0, 'pg_recvlogical stops cleanly at the end');

my (%cdc, @cdc_problems);
my ($cdc_lines, $cdc_copies) = (0, 0);
for my $file (@cdc_files)
{
	for my $line (file_lines($file))
	{
		my $rec = eval { $json->decode($line) };
		if (!$rec)
		{
			push @cdc_problems, "$file: not JSON: $line";
			next;
		}
		next unless ($rec->{action} // '') eq 'I';
		$cdc_lines++;
		my $col = wal2json_row($rec);
		my $event = $json->encode(
			{
				map { $_ => $col->{$_} }
				  qw(id aggregateid type order_version position)
			});
		if (exists $cdc{ $col->{id} })
		{
			$cdc_copies++;
			push @cdc_problems, "event $col->{id} sent again with other content"
			  if $cdc{ $col->{id} } ne $event;
		}
		$cdc{ $col->{id} } = $event;
	}
}
my %outbox = map {
	my $e = $json->decode($_);
	$e->{id} => $json->encode($e)
  } split /\n/,
  $node->safe_psql(
	'postgres', q{
	SELECT json_build_object('id', id, 'aggregateid', aggregateid, 'type', type,
		'order_version', order_version, 'position', position)
	FROM order_mgmt.outbox});
is_deeply(\@cdc_problems, [], 'CDC: well-formed stream, copies identical');
is_deeply([ sort grep { !exists $cdc{$_} } keys %outbox ],
	[], 'CDC: every outbox event received');
is_deeply([ sort grep { !exists $outbox{$_} } keys %cdc ],
	[], 'CDC: no event received that does not exist');
is_deeply([ sort grep { exists $outbox{$_} && $cdc{$_} ne $outbox{$_} } keys %cdc ],
	[], "CDC: each event received equals its outbox row");
note "CDC: $cdc_runs pg_recvlogical runs, $cdc_lines event lines, "
  . scalar(keys %cdc)
  . " distinct events, $cdc_copies sent again after a crash";

##########################################################################
# amcheck: indexes and tables intact

my $indexes = $node->safe_psql(
	'postgres', q{
	SELECT count(*) FROM (
	  SELECT bt_index_parent_check(i.indexrelid, heapallindexed => true,
								   rootdescend => true)
	  FROM pg_index i
	  JOIN pg_class t ON t.oid = i.indrelid
	  JOIN pg_class c ON c.oid = i.indexrelid
	  JOIN pg_am a ON a.oid = c.relam
	  WHERE a.amname = 'btree'
		AND (t.relnamespace = 'order_mgmt'::regnamespace
			 OR t.oid IN (SELECT reltoastrelid FROM pg_class
						  WHERE relnamespace = 'order_mgmt'::regnamespace))) s});
cmp_ok($indexes, '>=', 8,
	"amcheck: $indexes B-tree indexes of the extension's tables (and their "
	  . 'TOAST tables) pass bt_index_parent_check with heapallindexed');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM pg_class c,
		LATERAL verify_heapam(c.oid, check_toast => true) v
	WHERE c.relnamespace = 'order_mgmt'::regnamespace AND c.relkind = 'r'}),
	0,
	'amcheck: verify_heapam finds no corruption in the tables');

note $_ for @crash_notes;
$node->stop;
done_testing();
