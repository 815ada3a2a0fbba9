# order_mgmt.notifications = worker (the default): the notify worker sends them.
#
# The server preloads order_mgmt and sets nothing else but a small queue
# (order_mgmt.notify_queue_size = 64, so that it can be made to overflow) and
# two worker slots (order_mgmt.max_databases = 2).  The launcher gives
# database "postgres" a notify worker as soon as the extension is created
# there.  A real LISTEN client (a long-running psql
# session, as in 001_notifications.pl) checks what arrives: one notification
# per committed event, with the channel and payload the outbox row says, in
# commit order, sent by the worker's process and not by the writer's.
#
# "Everything has arrived" is known from a barrier: another session commits
# a barrier order, whose notification goes through the same queue after
# everything committed before it; the listener polls until it has printed
# that one.  While the worker is stopped (overflow test), the barrier is a
# direct NOTIFY om_test_barrier instead, which shows what the writers sent
# themselves.
#
# Also: rolled-back transactions and savepoints announce nothing; a writer
# can PREPARE TRANSACTION, and its notifications arrive when COMMIT
# PREPARED commits (never after ROLLBACK PREPARED); a full queue makes the
# committing transaction notify in-process; the worker is restarted after
# SIGTERM and after SIGKILL (a crash restart of the server) and delivery
# resumes.  The launcher follows the databases: one created later with the
# extension gets its own worker; one beyond the slots is notified in-process
# (and logged) until a slot frees; DROP DATABASE, ALTER DATABASE RENAME and
# CREATE DATABASE ... TEMPLATE work on a database with workers; DROP
# EXTENSION stops them.  Without the preload, "worker" notifies in-process.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $queue_size = 64;

# the same settings as the pg_regress and isolation instances, plus the
# preload (1.1.0's order_mgmt.worker_databases is ignored, with a log line)
my $node = start_node(
	'notify_background',
	preload => 1,
	conf => qq(
order_mgmt.worker_databases = 'postgres'
order_mgmt.notify_queue_size = $queue_size
order_mgmt.max_databases = 2
restart_after_crash = on
));

# A CreateOrder v1.0.0 command for cart number $n (one line of $quantity),
# as an SQL literal.
sub command
{
	my ($n, $quantity) = @_;
	return sql_literal(order_command($n, quantity => $quantity));
}

# The PID of the notify worker of database postgres, once it runs (and is
# not $old_pid).
sub worker_pid
{
	my ($old_pid) = @_;
	return notify_worker_pid($node, 'postgres', $old_pid);
}

my ($listener, $writer, $writer_pid, $worker);

# A listener on the three order channels and the barrier channel, and a writer.
sub connect_sessions
{
	$listener = OrderMgmt::Test::Listener->new($node, 'postgres');
	$writer = $node->background_psql('postgres');
	$writer_pid = $writer->query_safe('SELECT pg_backend_pid()');
	return;
}

connect_sessions();
$worker = worker_pid();
isnt($worker, $writer_pid, 'the notify worker is a process of its own');

# Everything the listener has received on the order channels since the last
# call, up to a barrier: by default a barrier order committed by another
# session (it goes through the worker's queue); with direct => 1 a plain
# NOTIFY om_test_barrier (what the writers sent in-process).
sub received
{
	my (%opt) = @_;
	return $listener->received if $opt{direct};
	return $listener->received(
		barrier => sub {
			my ($n) = @_;
			my $barrier_order = $node->safe_psql('postgres',
				'SELECT order_mgmt.create_order(' . command(900000 + $n) . ')');
			return
			  qr/^Asynchronous notification "order_created" with payload "[^\n]*"orderId":"$barrier_order"[^\n]*\n/m;
		});
}

# Check that notification $n announces the outbox event of $type for order
# $order_id, sent by process $pid: right channel, and a payload of exactly
# eventId, orderId, type and position, equal to the outbox row's.
sub is_announcement_of
{
	my ($n, $type, $order_id, $pid, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	announcement_ok($node, $n, $type, $order_id, $what,
		pid => $pid,
		sender => 'the expected process');
	return;
}

# The orderIds of a list of notifications, comma-separated.
sub order_ids
{
	return join(',', map { $_->{payload}{orderId} // '?' } @_);
}

sub position_of
{
	my ($order_id) = @_;
	return $node->safe_psql('postgres',
		"SELECT position FROM order_mgmt.outbox WHERE aggregateid = '$order_id' "
		  . "AND type = 'OrderCreated'");
}

my @got;
my $cart = 0;

is($writer->query_safe('SHOW order_mgmt.notifications'),
	'worker', 'the default mode is worker');
$node->wait_for_log(qr/order_mgmt.worker_databases is ignored/);
pass('1.1.0\'s order_mgmt.worker_databases is ignored, and the log says so');

@got = received();
is(scalar @got, 0, 'no notification before any change');

# --- committed changes: one notification each, sent by the worker --------

my $order1 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
@got = received();
is(scalar @got, 1, 'committed create_order: exactly one notification');
is_announcement_of($got[0], 'OrderCreated', $order1, $worker, 'create_order');
isnt($got[0]{pid}, $writer_pid, 'create_order: not sent by the writer');

my $replayed = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command($cart) . ')');
is($replayed, $order1, 'replayed create_order returns the same order');
@got = received();
is(scalar @got, 0, 'replayed create_order: no notification');

my $order2 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe("SELECT order_mgmt.complete_order('$order2')");
$writer->query_safe("SELECT order_mgmt.cancel_order('$order1', 'FRAUD')");
@got = received();
is(scalar @got, 3, 'create, complete, cancel: three notifications');
is_announcement_of($got[0], 'OrderCreated', $order2, $worker, 'second create_order');
is_announcement_of($got[1], 'OrderCompleted', $order2, $worker, 'complete_order');
is_announcement_of($got[2], 'OrderCancelled', $order1, $worker, 'cancel_order');

# --- rolled back: nothing ---------------------------------------------------

$writer->query_safe('BEGIN');
$writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('ROLLBACK');
@got = received();
is(scalar @got, 0, 'rolled-back create_order: no notification');

# A savepoint rolled back drops what was queued in it, nested savepoints
# included; what was queued before it, and after, is sent.
$writer->query_safe('BEGIN');
my $kept_before = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('SAVEPOINT a');
$writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('SAVEPOINT b');
$writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('RELEASE SAVEPOINT b');
$writer->query_safe('ROLLBACK TO SAVEPOINT a');
$writer->query_safe('SAVEPOINT c');
my $kept_released = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('RELEASE SAVEPOINT c');
$writer->query_safe('SAVEPOINT d');
$writer->query_safe("SELECT order_mgmt.complete_order('$kept_before')");
$writer->query_safe('ROLLBACK TO SAVEPOINT d');
my $kept_after = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
@got = received();
is(scalar @got, 0, 'nothing is announced before the commit');
$writer->query_safe('COMMIT');
@got = received();
is(scalar @got, 3, 'savepoints: only the three kept events are announced');
is(order_ids(@got), "$kept_before,$kept_released,$kept_after",
	'savepoints: the kept orders, in the order they were written');
is_announcement_of($got[0], 'OrderCreated', $kept_before, $worker,
	'created before the savepoints');
is_announcement_of($got[1], 'OrderCreated', $kept_released, $worker,
	'created in a released savepoint');
is_announcement_of($got[2], 'OrderCreated', $kept_after, $worker,
	'created after a rolled-back savepoint');
is( $node->safe_psql('postgres',
		"SELECT status FROM order_mgmt.orders WHERE order_id = '$kept_before'"),
	'CREATED',
	'savepoints: the rolled-back completion did not happen');

# A transaction that fails at commit (deferred constraint) announces nothing.
$node->safe_psql('postgres',
	'CREATE TABLE om_deferred (id int, CONSTRAINT om_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)'
);
my ($rc, $out, $err) = $node->psql('postgres',
	"SET order_mgmt.notifications = worker;\n"
	  . "BEGIN;\n"
	  . 'SELECT order_mgmt.create_order(' . command(++$cart) . ");\n"
	  . "INSERT INTO om_deferred VALUES (1), (1);\n"
	  . "COMMIT;\n");
like($err, qr/duplicate key value violates unique constraint "om_u"/,
	'a transaction failing at commit');
@got = received();
is(scalar @got, 0, 'failed at a deferred constraint: no notification');

# A transaction that fails after its notifications were queued (a
# serialization failure found during its commit, after the pre-commit step)
# announces nothing either: its queue entries are marked rolled back.
$node->safe_psql('postgres', 'CREATE TABLE om_ssi (k int, v int)');
my $t1 = $node->background_psql('postgres');
my $t2 = $node->background_psql('postgres');
$t1->query_safe('BEGIN ISOLATION LEVEL SERIALIZABLE');
$t1->query_safe('SELECT count(*) FROM om_ssi WHERE k = 1');
$t2->query_safe('BEGIN ISOLATION LEVEL SERIALIZABLE');
$t2->query_safe('SELECT count(*) FROM om_ssi WHERE k = 2');
$t1->query_safe('INSERT INTO om_ssi VALUES (2, 1)');
$t2->query_safe('INSERT INTO om_ssi VALUES (1, 1)');
my $ssi_order = $t2->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$t1->query_safe('COMMIT');
# (background psql stops at an error, so this session ends here)
eval { $t2->query('COMMIT') };
like($t2->{stderr}, qr/could not serialize access due to read\/write dependencies/,
	'a serialization failure at commit');
like($t2->{stderr}, qr/during commit attempt/, '... found during the commit');
$t1->quit;
eval { $t2->quit };
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE order_id = '$ssi_order'"),
	0,
	'serialization failure at commit: no order');
@got = received();
is(scalar @got, 0, 'serialization failure at commit: no notification');

# --- commit order ------------------------------------------------------------

# Two transactions that commit in the opposite order to the one in which
# they wrote their events: the notifications follow the commits.
my $writer2 = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
my $first_written = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer2->query_safe('BEGIN');
my $second_written = $writer2->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer2->query_safe('COMMIT');
$writer->query_safe('COMMIT');
ok(position_of($first_written) < position_of($second_written),
	'the first-written event has the lower outbox position');
@got = received();
is(order_ids(@got), "$second_written,$first_written",
	'notifications arrive in commit order, not position order');

# Many commits from three sessions, interleaved: each arrives exactly once,
# each session's in its order, and the whole in commit order.
my $writer3 = $node->background_psql('postgres');
my @sessions = ($writer, $writer2, $writer3);
my @committed;
for my $round (1 .. 20)
{
	for my $session (@sessions)
	{
		push @committed,
		  $session->query_safe(
			'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
	}
}
@got = received();
is(scalar @got, scalar @committed, '60 commits from 3 sessions: 60 notifications');
is(order_ids(@got), join(',', @committed),
	'60 commits from 3 sessions: in commit order');
is(scalar(grep { $_->{pid} == $worker } @got),
	scalar @committed, '60 commits from 3 sessions: all sent by the worker');

# --- two-phase commit --------------------------------------------------------

# A change can be prepared (there is no NOTIFY in the transaction); its
# notification is sent when COMMIT PREPARED commits, in commit order.
$writer->query_safe('BEGIN');
my $prepared1 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe("PREPARE TRANSACTION 'om_p1'");
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'om_p1'"),
	1,
	'PREPARE TRANSACTION of an order change succeeds in background mode');
my $after_prepare = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
@got = received();
is(order_ids(@got), $after_prepare,
	'a prepared change announces nothing before COMMIT PREPARED');
$node->safe_psql('postgres', "COMMIT PREPARED 'om_p1'");
@got = received();
is(scalar @got, 1, 'COMMIT PREPARED: one notification');
is_announcement_of($got[0], 'OrderCreated', $prepared1, $worker,
	'committed prepared create_order');

# ROLLBACK PREPARED announces nothing.
$writer->query_safe('BEGIN');
$writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe("PREPARE TRANSACTION 'om_p2'");
$node->safe_psql('postgres', "ROLLBACK PREPARED 'om_p2'");
@got = received();
is(scalar @got, 0, 'ROLLBACK PREPARED: no notification');

# A prepared transaction's notifications wait in an area as large as the
# queue; a PREPARE that does not fit fails (53400) and changes nothing.
$writer->query_safe('BEGIN');
my @prepared3;
push @prepared3,
  $writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')')
  for 1 .. $queue_size - 1;
$writer->query_safe("PREPARE TRANSACTION 'om_p3'");
my $too_many_cart = $cart + 1;
($rc, $out, $err) = $node->psql(
	'postgres',
	"BEGIN;\n"
	  . 'SELECT order_mgmt.create_order(' . command(++$cart) . ");\n"
	  . 'SELECT order_mgmt.create_order(' . command(++$cart) . ");\n"
	  . "PREPARE TRANSACTION 'om_p4';\n",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  53400: no room to keep the order notifications of a prepared transaction/,
	'PREPARE with no room left for its notifications: 53400');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'om_p4'"),
	0,
	'the PREPARE that did not fit prepared nothing');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM order_mgmt.orders WHERE cart_id = '"
		  . sprintf('ca000000-0000-4000-8000-%012d', $too_many_cart) . "'"),
	0,
	'the PREPARE that did not fit created no order');
$node->safe_psql('postgres', "COMMIT PREPARED 'om_p3'");
@got = received();
is(order_ids(@got), join(',', @prepared3),
	'COMMIT PREPARED of many changes: one notification each, in order');
is(scalar(grep { $_->{pid} == $worker } @got),
	$queue_size - 1, '... sent by the worker');
# the area is free again
$writer->query_safe('BEGIN');
my $prepared5 = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe("PREPARE TRANSACTION 'om_p5'");
$node->safe_psql('postgres', "COMMIT PREPARED 'om_p5'");
@got = received();
is(order_ids(@got), $prepared5, 'after COMMIT PREPARED the area has room again');

# --- overflow -----------------------------------------------------------------

# Stop the worker: commits fill the queue ($queue_size entries); then a
# commit that does not fit notifies in-process, from the writer's own
# process, without waiting.  When the worker goes on, it sends what the
# queue held.  Each notification arrives exactly once.
kill 'STOP', $worker;
my @queued;
push @queued,
  $writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')')
  for 1 .. $queue_size;
my $overflowed = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('BEGIN');
my @big;
push @big,
  $writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')')
  for 1 .. $queue_size + 1;
$writer->query_safe('COMMIT');
@got = received(direct => 1);
is(order_ids(@got), join(',', $overflowed, @big),
	'queue full: the committing transactions notified in-process');
is_announcement_of($got[0], 'OrderCreated', $overflowed, $writer_pid,
	'overflowed create_order');
is(scalar(grep { $_->{pid} == $writer_pid } @got),
	scalar @got, 'queue full: sent by the writer');
kill 'CONT', $worker;
@got = received();
is(order_ids(@got), join(',', @queued),
	'worker resumed: the queued notifications, in order, once');
is(scalar(grep { $_->{pid} == $worker } @got),
	$queue_size, 'worker resumed: sent by the worker');
$node->wait_for_log(qr/notification queue of database "postgres" was full: \d+ transactions notified in-process/);
pass('the worker logged the overflow');

# --- the worker is restarted --------------------------------------------------

# SIGTERM: the postmaster starts it again after a second; what was committed
# meanwhile is sent by the new worker.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $worker")
  or die 'the worker did not stop';
my $while_down = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
my $old_worker = $worker;
$worker = worker_pid($old_worker);
isnt($worker, $old_worker, 'SIGTERM: a new worker runs');
@got = received();
is(scalar @got, 1, 'SIGTERM: the change committed meanwhile is announced');
is_announcement_of($got[0], 'OrderCreated', $while_down, $worker,
	'committed while the worker was down');

# SIGKILL: the postmaster restarts the whole server (a crash), and the
# worker with it; clients reconnect, and delivery resumes.
kill 'KILL', $worker;
my $back = 0;
my $until = time() + $PostgreSQL::Test::Utils::timeout_default;
while (!$back && time() < $until)
{
	# (psql fails while the server restarts)
	my ($ok, $count) = eval {
		my ($rc, $stdout) = $node->psql('postgres',
			"SELECT count(*) FROM pg_stat_activity "
			  . "WHERE backend_type = 'order_mgmt notify worker' AND pid <> $worker");
		($rc == 0, $stdout);
	};
	$back = $ok && $count eq '1';
	usleep(100_000) unless $back;
}
ok($back, 'SIGKILL: the server restarted, and a new worker runs');
eval { $listener->quit };
eval { $writer->quit };
eval { $writer2->quit };
eval { $writer3->quit };
connect_sessions();
$old_worker = $worker;
$worker = worker_pid($old_worker);
my $after_crash = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
@got = received();
is(scalar @got, 1, 'SIGKILL: after the restart, changes are announced');
is_announcement_of($got[0], 'OrderCreated', $after_crash, $worker,
	'after a crash restart');

# --- the other modes are unchanged ---------------------------------------------

$writer->query_safe('SET order_mgmt.notifications = in_process');
my $order_on = $writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
$writer->query_safe('SET order_mgmt.notifications = off');
$writer->query_safe('SELECT order_mgmt.create_order(' . command(++$cart) . ')');
@got = received();
is(scalar @got, 1, 'in_process, then off: one notification');
is_announcement_of($got[0], 'OrderCreated', $order_on, $writer_pid,
	'"in_process" is sent by the writer');
($rc, $out, $err) = $node->psql(
	'postgres',
	"SET order_mgmt.notifications = in_process;\nBEGIN;\n"
	  . 'SELECT order_mgmt.create_order(' . command(++$cart) . ");\n"
	  . "PREPARE TRANSACTION 'om_on';\n",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  0A000: cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY/,
	'"in_process" still cannot be prepared (0A000)');
$writer->query_safe('RESET order_mgmt.notifications');

# --- the launcher follows the databases -------------------------------------------

# The notify worker of database $db, once it runs (and is not $old_pid).
sub worker_of
{
	my ($db, $old_pid) = @_;
	return notify_worker_pid($node, $db, $old_pid);
}

# How many notify workers run for database $db.
sub workers_of
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity "
		  . "WHERE backend_type = 'order_mgmt notify worker' AND datname = '$db'");
}

# Create an order in database $db and return [order id, the pid of whoever
# sent its notification, as a listener there received it].
sub order_in
{
	my ($db) = @_;
	my $db_listener =
	  OrderMgmt::Test::Listener->new($node, $db, channels => ['order_created']);
	my $order = $node->safe_psql($db,
		'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
	my $output = $db_listener->wait_for(qr/"orderId":"$order"/, nodie => 1);
	$db_listener->quit;
	my @heard = grep { $_->{payload}{orderId} eq $order } parse_notifications($output);
	return [ $order, scalar(@heard) == 1 ? $heard[0]{pid} : undef ];
}

# A database created later: CREATE EXTENSION there gives it a worker of its own.
$node->safe_psql('postgres', 'CREATE DATABASE om_other');
is(workers_of('om_other'), 0, 'a new database without the extension: no worker');
$node->safe_psql('om_other', 'CREATE EXTENSION order_mgmt');
my $other_worker = worker_of('om_other');
my ($other_order, $other_sender) = @{ order_in('om_other') };
is($other_sender, $other_worker,
	'CREATE EXTENSION in another database: its own worker sends its notifications');

# Both slots are taken: a third database is notified in-process, and the
# launcher says so in the log.
$node->safe_psql('postgres', 'CREATE DATABASE om_third');
$node->safe_psql('om_third', 'CREATE EXTENSION order_mgmt');
$node->wait_for_log(qr/order_mgmt has no free worker slot for database \d+/);
pass('no free slot: logged');
is(workers_of('om_third'), 0, 'no free slot: no worker');
my ($third_order, $third_sender) = @{ order_in('om_third') };
ok(defined $third_sender && $third_sender != $other_worker && $third_sender != $worker,
	'no free slot: the notification is sent in-process, by the writer');

# ALTER DATABASE ... RENAME needs the database to itself: the launcher's
# workers step aside and come back under the new name.
my $t0 = time();
$node->safe_psql('postgres', 'ALTER DATABASE om_other RENAME TO om_renamed');
my $renamed_worker = worker_of('om_renamed', $other_worker);
ok(time() - $t0 < 5, 'ALTER DATABASE RENAME does not wait for the workers to time out');
is(order_in('om_renamed')->[1], $renamed_worker,
	'renamed database: served by its worker again');

# CREATE DATABASE ... TEMPLATE of a database with workers: the copy has
# the extension, so it gets a worker too (once a slot is free).
$node->safe_psql('postgres', 'CREATE DATABASE om_copy TEMPLATE om_renamed');
worker_of('om_renamed', $renamed_worker);
pass('CREATE DATABASE ... TEMPLATE a database with workers succeeds');

# DROP EXTENSION: the worker stops and the slot is freed, so the databases
# that waited for one get theirs.
$node->safe_psql('om_renamed', 'DROP EXTENSION order_mgmt');
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity "
	  . "WHERE backend_type = 'order_mgmt notify worker' AND datname = 'om_renamed'")
  or die 'the worker did not stop after DROP EXTENSION';
pass('DROP EXTENSION: the worker stops');
my $third_worker = worker_of('om_third');
is(order_in('om_third')->[1], $third_worker,
	'a freed slot goes to a database that waited for one');

# DROP DATABASE of a database with a worker: dropped at once, like any other.
$t0 = time();
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE om_third');
is($rc, 0, 'DROP DATABASE of a database with a notify worker succeeds');
is($err, '', 'DROP DATABASE: no error (no "being accessed by other users")');
ok(time() - $t0 < 5, 'DROP DATABASE does not wait for the workers to time out');
my $copy_worker = worker_of('om_copy');
is(order_in('om_copy')->[1], $copy_worker,
	'the copy made from a template gets the slot the dropped database freed');
$node->safe_psql('postgres', 'DROP DATABASE om_copy');
$node->safe_psql('postgres', 'DROP DATABASE om_renamed');
is(workers_of('om_copy') + workers_of('om_renamed'), 0, 'no worker is left behind');

# the first database's worker was never disturbed
is(order_in('postgres')->[1], $worker, 'database postgres: still served by its worker');

$listener->quit;
$writer->quit;
$node->stop;

# --- without the preload ---------------------------------------------------------

# "worker" is the default and is accepted, but there is no worker: the
# committing session sends the notifications itself.
my $plain = start_node('no_preload');
is( $plain->safe_psql(
		'postgres',
		"LOAD 'order_mgmt'; SET order_mgmt.notifications = worker; "
		  . 'SHOW order_mgmt.notifications'),
	'worker',
	'without the preload: "worker" is accepted');
my $plain_listener =
  OrderMgmt::Test::Listener->new($plain, 'postgres', channels => ['order_created']);
my $plain_writer = $plain->background_psql('postgres');
my $plain_writer_pid = $plain_writer->query_safe('SELECT pg_backend_pid()');
my $plain_order = $plain_writer->query_safe(
	'SELECT order_mgmt.create_order(' . command(++$cart) . ')');
my $plain_output = $plain_listener->wait_for(qr/"orderId":"$plain_order"/, nodie => 1);
@got = parse_notifications($plain_output);
is(scalar @got, 1, 'without the preload: one notification');
is($got[0]{pid}, $plain_writer_pid,
	'without the preload: sent in-process by the writer');
is( $plain->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'order_mgmt%'"),
	'0',
	'without the preload: no launcher, no worker');
$plain_listener->quit;
$plain_writer->quit;
$plain->stop;

done_testing();
