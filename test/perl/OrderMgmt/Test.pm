# OrderMgmt::Test: what the TAP tests in test/t share.
#
# Loaded by each test relative to its own file:
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use OrderMgmt::Test;
#
# It holds the pieces that were copied from test to test:
#   - start_node: a PostgreSQL::Test::Cluster with test/test.conf (the
#     settings of the pg_regress and isolation instances), optionally the
#     library preloaded and more settings, and the extension created;
#   - order_command and friends: CreateOrder v1.0.0 commands for numbered
#     carts, and the SQL that sends them;
#   - OrderMgmt::Test::Listener: a real LISTEN client (a long-running psql
#     session), what it received up to a barrier, and parse_notifications
#     for psql's "Asynchronous notification ..." lines; announcement_ok
#     checks one notification against its outbox row;
#   - logical decoding: wal2json options and rows, slot_changes (the SQL
#     interface), start_recvlogical and cdc_barrier (pg_recvlogical);
#   - child processes (spawn, exited, reap; none outlives the test) and
#     polling helpers (wait_for_query, notify_worker_pid);
#   - sql_outcome: what a psql client got for a statement, the error's
#     SQLSTATE, message, detail and hint taken apart;
#   - a sharded cluster: start_cluster (two shards and a router over
#     PL/Proxy), routed_sql and shard_sql, cart_partition (FNV-1a computed
#     here), shard_connstr and partition_options.
#
# Nothing here asserts anything except announcement_ok; the tests keep
# their own checks.

package OrderMgmt::Test;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  tree_path test_conf start_node
  numbered_uuid order_command sql_literal create_order_sql
  channel_of parse_notifications announcement_ok
  wal2json_options wal2json_row slot_changes start_recvlogical cdc_barrier
  spawn exited reap file_lines
  wait_for_query notify_worker_pid
  sql_outcome
  start_cluster routed_sql shard_sql cart_partition shard_connstr partition_options
);

# the root of the source tree (this file is test/perl/OrderMgmt/Test.pm)
my $tree = abs_path(dirname(__FILE__) . '/../../..');

# The absolute path of a file of the tree, given relative to its root.
sub tree_path
{
	my (@parts) = @_;
	return join('/', $tree, @parts);
}

# The settings every test server starts from: test/test.conf, the same the
# pg_regress and isolation instances use (wal_level = logical, wal2json
# allowed, ...).
sub test_conf
{
	return slurp_file(tree_path('test', 'test.conf'));
}

# A new node $name, initialised, configured and started, with the extension
# created.  Options:
#   init => { ... }       arguments for $node->init (e.g. extra => [...])
#   test_conf => 0        without test/test.conf (default: with it)
#   preload => 1          shared_preload_libraries = 'order_mgmt'
#   conf => TEXT or SUB   more postgresql.conf lines, after the above (a SUB
#                         gets the node, before it starts, and returns them)
#   extension => DB or [DB, ...]
#                         where to CREATE EXTENSION order_mgmt (default
#                         postgres; [] for nowhere); a database other than
#                         postgres is created first
sub start_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });
	$node->append_conf('postgresql.conf', test_conf())
	  if $opt{test_conf} // 1;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'order_mgmt'\n")
	  if $opt{preload};
	if (defined $opt{conf})
	{
		my $conf = ref $opt{conf} eq 'CODE' ? $opt{conf}->($node) : $opt{conf};
		$node->append_conf('postgresql.conf', $conf);
	}
	$node->start;
	my $dbs = $opt{extension} // 'postgres';
	for my $db (ref $dbs ? @$dbs : ($dbs))
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db")
		  unless $db eq 'postgres';
		$node->safe_psql($db, 'CREATE EXTENSION order_mgmt');
	}
	return $node;
}

########################################################################
# Commands

# A test uuid: 8 hex digits of $prefix (the file's own range), then the
# number $n in the last group.
sub numbered_uuid
{
	my ($prefix, $n) = @_;
	return sprintf('%s-0000-4000-8000-%012d', $prefix, $n);
}

# The JSON text of a CreateOrder v1.0.0 command for cart number $n.
# Options (defaults: the carts most tests use):
#   cart => UUID          (default numbered_uuid($cart_prefix, $n))
#   cart_prefix => HEX8   (default ca000000)
#   customer => UUID      (default c0000000-0000-4000-8000-000000000001)
#   items => [[productId, quantity, unitPrice], ...]
#                         (default one line: product, quantity, unit_price)
#   product => UUID       (default b0000000-0000-4000-8000-000000000001)
#   quantity => N         (default 1)
#   unit_price => N       (default 250)
#   total => N            (default the sum of the lines)
#   currency => CODE      (default EUR)
#   payment => TEXT       paymentAuthorizationId (default none)
sub order_command
{
	my ($n, %opt) = @_;
	my $cart = $opt{cart}
	  // numbered_uuid($opt{cart_prefix} // 'ca000000', $n);
	my $customer = $opt{customer} // 'c0000000-0000-4000-8000-000000000001';
	my $items = $opt{items} // [
		[
			$opt{product} // 'b0000000-0000-4000-8000-000000000001',
			$opt{quantity} // 1,
			$opt{unit_price} // 250
		]
	];
	my $total = $opt{total};
	if (!defined $total)
	{
		$total = 0;
		$total += $_->[1] * $_->[2] for @$items;
	}
	my $currency = $opt{currency} // 'EUR';
	return
	    qq({"cartId": "$cart", "customerId": "$customer", "items": [)
	  . join(', ',
		map { sprintf('{"productId": "%s", "quantity": %d, "unitPrice": %d}', @$_) }
		  @$items)
	  . qq(], "total": $total, "currency": "$currency")
	  . (defined $opt{payment} ? qq(, "paymentAuthorizationId": "$opt{payment}") : '')
	  . '}';
}

# $text as an SQL string literal.
sub sql_literal
{
	my ($text) = @_;
	$text =~ s/'/''/g;
	return "'$text'";
}

# SELECT order_mgmt.create_order(...) of order_command($n, %opt).
sub create_order_sql
{
	my ($n, %opt) = @_;
	return 'SELECT order_mgmt.create_order('
	  . sql_literal(order_command($n, %opt)) . ')';
}

########################################################################
# Notifications

my %channel_of = (
	OrderCreated => 'order_created',
	OrderCompleted => 'order_completed',
	OrderCancelled => 'order_cancelled');

# The channel an event type is announced on.
sub channel_of
{
	my ($type) = @_;
	return $channel_of{$type};
}

my $json = JSON::PP->new;

# psql's notification lines in $output, as a list of { channel, raw (the
# payload text), payload (decoded, undef if it is not JSON), pid }.
sub parse_notifications
{
	my ($output) = @_;
	my @got;
	for my $line (split /\n/, $output)
	{
		next
		  unless $line =~
		  /^Asynchronous notification "([^"]*)"(?: with payload "(.*)")? received from server process with PID (\d+)\.$/;
		my ($channel, $raw, $pid) = ($1, $2 // '', $3);
		my $payload = eval { $json->decode($raw) };
		push @got,
		  { channel => $channel, raw => $raw, payload => $payload, pid => $pid };
	}
	return @got;
}

# Checks that notification $n (from parse_notifications) announces the
# outbox event of $type for order $order_id in database postgres of $node:
# the right channel, sent by process $opt{pid} ($opt{sender} names it in
# the test names), and a payload of exactly eventId, orderId, type and
# position, equal to the outbox row's.  With json_object => 1 it also
# checks, third, that the payload is a JSON object.
sub announcement_ok
{
	my ($node, $n, $type, $order_id, $what, %opt) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my ($id, $aggregateid, $event_type, $position) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT id, aggregateid, type, position FROM order_mgmt.outbox "
		  . "WHERE aggregateid = '$order_id' AND type = '$type'");

	is($n->{channel}, $channel_of{$type}, "$what: channel is $channel_of{$type}");
	is($n->{pid}, $opt{pid}, "$what: sent by $opt{sender}");
	if ($opt{json_object})
	{
		ok(defined $n->{payload} && ref $n->{payload} eq 'HASH',
			"$what: payload is a JSON object")
		  or diag("payload: $n->{raw}");
	}
	is( join(',', sort keys %{ $n->{payload} // {} }),
		'eventId,orderId,position,type',
		"$what: payload has only eventId, orderId, type and position");
	is($n->{payload}{eventId}, $id, "$what: eventId is the outbox row's id");
	is($n->{payload}{orderId}, $aggregateid,
		"$what: orderId is the outbox row's aggregateid");
	is($n->{payload}{orderId}, $order_id, "$what: orderId is the order's id");
	is($n->{payload}{type}, $event_type, "$what: type is the outbox row's type");
	like($n->{raw}, qr/"position":\d+[,}]/, "$what: position is a JSON number");
	is($n->{payload}{position}, $position,
		"$what: position is the outbox row's position");
	return;
}

########################################################################
# Logical decoding

# pg_recvlogical -o options for wal2json: format 2, the outbox's inserts
# only, with xids; @more added (e.g. include-lsn=1).
sub wal2json_options
{
	my (@more) = @_;
	return ('format-version=2', 'add-tables=order_mgmt.outbox',
		'actions=insert', 'include-xids=1', @more);
}

# The columns of a decoded wal2json (format 2) row, as { name => value }.
sub wal2json_row
{
	my ($rec) = @_;
	return { map { $_->{name} => $_->{value} } @{ $rec->{columns} // [] } };
}

# What logical slot $slot of database postgres decodes through the SQL
# interface, one data text per change; by default consumed
# (pg_logical_slot_get_changes), with peek => 1 left in the slot.  @options
# are the plugin's name/value pairs.
sub slot_changes
{
	my ($node, $slot, %opt) = @_;
	my $fn = $opt{peek} ? 'pg_logical_slot_peek_changes' : 'pg_logical_slot_get_changes';
	my @options = map { sql_literal($_) } @{ $opt{options} // [] };
	return split /\n/,
	  $node->safe_psql('postgres',
		"SELECT data FROM $fn('$slot', NULL, NULL"
		  . join('', map { ", $_" } @options) . ')');
}

# Starts pg_recvlogical on slot $slot of database postgres, streaming into
# $file with its own messages (-v) in $file.log and @options as -o; returns
# its pid (a child of spawn).
sub start_recvlogical
{
	my ($node, $slot, $file, @options) = @_;
	my @cmd = (
		'pg_recvlogical', '-d', $node->connstr('postgres'),
		'--slot', $slot, '--start', '--no-loop', '-v',
		'--fsync-interval', '1', '--status-interval', '1', '-f', $file,
		map { ('-o', $_) } @options);
	note "running: @cmd";
	return spawn('pg_recvlogical', "$file.log", @cmd);
}

# A barrier for a wal2json stream: commits a row into the table
# om_test_barrier (which the test created, and which the slot does not
# send: an empty B..C pair) and waits until pg_recvlogical $pid has written
# that transaction's C line to $file.  Once it has, every earlier commit has
# been received.  Returns the barrier's xid and the LSN after its commit.
my $cdc_barriers = 0;

sub cdc_barrier
{
	my ($node, $pid, $file) = @_;
	$cdc_barriers++;
	my $xid = $node->safe_psql('postgres',
		"INSERT INTO om_test_barrier VALUES ($cdc_barriers) "
		  . 'RETURNING pg_current_xact_id()::xid');
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		for my $line (reverse file_lines($file))
		{
			my $rec = eval { $json->decode($line) } or next;
			return ($xid, $rec->{nextlsn})
			  if ($rec->{action} // '') eq 'C' && ($rec->{xid} // '') eq $xid;
		}
		die "pg_recvlogical exited before barrier $cdc_barriers (xid $xid):\n"
		  . slurp_file("$file.log")
		  if defined exited($pid);
		die "barrier $cdc_barriers (xid $xid) did not arrive; log:\n"
		  . slurp_file("$file.log")
		  if time() > $deadline;
		usleep(20_000);
	}
}

########################################################################
# Child processes

# every child process spawn started and nobody reaped yet: pid => what
my %children;
my %exit_status;

# Whatever happens, no child outlives the test.
END
{
	for my $pid (keys %children)
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
}

# Starts @cmd ($what says what it is) with stdin from /dev/null and stdout
# and stderr appended to $out; returns its pid.
sub spawn
{
	my ($what, $out, @cmd) = @_;
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
		open(STDOUT, '>>', $out) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	$children{$pid} = $what;
	return $pid;
}

# Has child $pid exited?  Returns its wait status, or undef while it runs.
sub exited
{
	my ($pid) = @_;
	return $exit_status{$pid} if exists $exit_status{$pid};
	my $r = waitpid($pid, WNOHANG);
	return undef if $r == 0;
	die "waitpid($pid): $!" if $r < 0;
	delete $children{$pid};
	return $exit_status{$pid} = $?;
}

# Waits (bounded) for child $pid to exit, sending it $signal first if
# given; returns its wait status.
sub reap
{
	my ($pid, $signal) = @_;
	kill $signal, $pid if defined $signal;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		my $status = exited($pid);
		return $status if defined $status;
		if (time() > $deadline)
		{
			my $what = delete $children{$pid} // 'child';
			kill 'KILL', $pid;
			waitpid($pid, 0);
			die "$what $pid did not exit";
		}
		usleep(20_000);
	}
}

# The complete lines of $file so far (a line still being written is left
# out); none if it does not exist yet.
sub file_lines
{
	my ($file) = @_;
	return () unless -e $file;
	my $text = slurp_file($file);
	$text =~ s/[^\n]*\z//;
	return split /\n/, $text;
}

########################################################################
# Polling

# Waits until $query in database $db of $node returns true; dies with
# $what if it never does.
sub wait_for_query
{
	my ($node, $db, $query, $what) = @_;
	$node->poll_query_until($db, $query) or die $what;
	return;
}

# The pid of the notify worker of database $db, once exactly one runs (and
# it is not $old_pid, if given).
sub notify_worker_pid
{
	my ($node, $db, $old_pid) = @_;
	my $not_old = defined $old_pid ? "AND pid <> $old_pid" : '';
	wait_for_query($node, 'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity "
		  . "WHERE backend_type = 'order_mgmt notify worker' AND datname = '$db' $not_old",
		"the notify worker of $db did not start");
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity "
		  . "WHERE backend_type = 'order_mgmt notify worker' AND datname = '$db'");
}

########################################################################
# What a client got

# Runs $sql with psql (VERBOSITY verbose) on database $db of $node, or on
# $opt{connstr}, and returns what the client got: { ret (psql's exit
# code), stdout, stderr } and, for the first error psql printed, sqlstate,
# message, detail, hint and context (undef when the error had none).  psql
# stops at the first error unless on_error_stop => 0.
sub sql_outcome
{
	my ($node, $db, $sql, %opt) = @_;
	my ($ret, $stdout, $stderr) = $node->psql(
		$db, $sql,
		on_error_stop => $opt{on_error_stop} // 1,
		extra_params => [ '-v', 'VERBOSITY=verbose' ],
		(defined $opt{connstr} ? (connstr => $opt{connstr}) : ()));
	my %got = (ret => $ret, stdout => $stdout, stderr => $stderr);
	my $field;
	for my $line (split /\n/, $stderr)
	{
		if ($line =~
			/^(?:psql:[^:]*:\d+: )?(ERROR|FATAL|WARNING|NOTICE|INFO|LOG):  (?:([0-9A-Z]{5}): )?(.*)$/)
		{
			# a later message of any severity ends the first error's fields
			last if defined $got{sqlstate};
			$field = undef;
			next unless $1 eq 'ERROR' || $1 eq 'FATAL';
			($got{sqlstate}, $got{message}) = ($2, $3);
			$field = 'message';
		}
		elsif (defined $field && $line =~ /^(DETAIL|HINT|CONTEXT):  (.*)$/)
		{
			$field = lc $1;
			$got{$field} = $2;
		}
		elsif (defined $field && $line =~ /^(?:LOCATION|QUERY|STATEMENT|LINE \d+):/)
		{
			$field = 'ignored';
		}
		elsif (defined $field && $field ne 'ignored')
		{
			$got{$field} .= "\n$line";
		}
	}
	return \%got;
}

########################################################################
# A sharded cluster

# A libpq connection string for database postgres of $node.
sub shard_connstr
{
	my ($node) = @_;
	return sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port);
}

# The partition options of the cluster, as CREATE SERVER (verb '') or
# ALTER SERVER ... OPTIONS (verb SET) take them, for partition => connstr.
sub partition_options
{
	my ($verb, %to) = @_;
	return join(', ',
		map { "$verb p$_ " . sql_literal($to{$_}) } sort keys %to);
}

# The partition of cart $cart (uuid text) among $count partitions (a power
# of two, default 4), computed here: FNV-1a (32 bits) of the uuid's 16
# bytes, the low 10 bits, & ($count - 1).
sub cart_partition
{
	my ($cart, $count) = @_;
	(my $hex = $cart) =~ s/-//g;
	my $hash = 2166136261;
	for my $byte (unpack('C*', pack('H32', $hex)))
	{
		$hash ^= $byte;
		$hash = ($hash * 16777619) & 0xffffffff;
	}
	return ($hash & 1023) & (($count // 4) - 1);
}

# Two shards and a router, each a server of its own (started with the
# library preloaded).  Shard A (node shard_a) holds partitions {0,2} of 4,
# shard B (shard_b) {1,3}; each has order_mgmt's roles and a role shop, a
# member of its writer and reader.  The router (node router) has plproxy,
# order_mgmt_router, the roles and a role checkout (a member of its writer
# and reader), and the cluster: server order_mgmt_cluster sending p0 and p2
# to A, p1 and p3 to B, connecting as shop.  Returns
#   { shard => { A => node, B => node }, router => node,
#     partition_shard => { 0 => 'A', 1 => 'B', ... },
#     normal => { partition => the connstr the server sends it to },
#     client => router connstr as checkout,
#     shard_client => { A => connstr as shop, B => ... } }
sub start_cluster
{
	my %cluster;
	my %holds = (A => '{0,2}', B => '{1,3}');
	for my $s (qw(A B))
	{
		my $node = start_node('shard_' . lc $s, preload => 1);
		$node->safe_psql(
			'postgres', qq{
			SELECT order_mgmt.create_roles();
			SELECT order_mgmt.assign_partitions(4, '$holds{$s}');
			CREATE ROLE shop LOGIN IN ROLE order_mgmt_writer, order_mgmt_reader;
		});
		$cluster{shard}{$s} = $node;
		$cluster{shard_client}{$s} = $node->connstr('postgres') . ' user=shop';
	}
	$cluster{partition_shard} = { 0 => 'A', 1 => 'B', 2 => 'A', 3 => 'B' };
	$cluster{normal} = {
		map { $_ => shard_connstr($cluster{shard}{ $cluster{partition_shard}{$_} }) }
		  0 .. 3
	};

	my $router = start_node('router', preload => 1, extension => []);
	$router->safe_psql(
		'postgres', qq{
		CREATE EXTENSION order_mgmt_router CASCADE;
		SELECT order_mgmt.create_roles();
		CREATE ROLE checkout LOGIN IN ROLE order_mgmt_writer, order_mgmt_reader;
		CREATE SERVER order_mgmt_cluster FOREIGN DATA WRAPPER plproxy
		  OPTIONS (} . partition_options('', %{ $cluster{normal} }) . qq{);
		CREATE USER MAPPING FOR PUBLIC SERVER order_mgmt_cluster OPTIONS (user 'shop');
	});
	$cluster{router} = $router;
	$cluster{client} = $router->connstr('postgres') . ' user=checkout';
	return \%cluster;
}

# $sql run through the router of $cluster as checkout; its output, or
# death on an error.
sub routed_sql
{
	my ($cluster, $sql) = @_;
	my $got = sql_outcome($cluster->{router}, 'postgres', $sql,
		connstr => $cluster->{client});
	die "routed call failed: $got->{stderr}" if $got->{ret} != 0;
	return $got->{stdout};
}

# $sql run on shard $s of $cluster as shop; its output, or death on an
# error.
sub shard_sql
{
	my ($cluster, $s, $sql) = @_;
	my $got = sql_outcome($cluster->{shard}{$s}, 'postgres', $sql,
		connstr => $cluster->{shard_client}{$s});
	die "direct call on shard $s failed: $got->{stderr}" if $got->{ret} != 0;
	return $got->{stdout};
}

########################################################################

package OrderMgmt::Test::Listener;

# A real LISTEN client: a long-running psql session on database $db of
# $node that has run LISTEN on @{ $opt{channels} } (default the three order
# channels and om_test_barrier).  psql prints the notifications it received
# after each query it runs.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

# barriers are numbered across all listeners of the test, so that no two
# are alike (a barrier may be an order of a cart of its own)
my $barriers = 0;

# A listener on $db of $node.
sub new
{
	my ($class, $node, $db, %opt) = @_;
	my @channels = @{ $opt{channels}
		  // [qw(order_created order_completed order_cancelled om_test_barrier)] };
	my $session = $node->background_psql($db);
	$session->query_safe(join(' ', map { "LISTEN $_;" } @channels));
	return bless { node => $node, db => $db, session => $session, leftover => '' },
	  $class;
}

# The psql session (PostgreSQL::Test::BackgroundPsql).
sub session
{
	my ($self) = @_;
	return $self->{session};
}

# Polls (SELECT 1) until what psql printed, after $opt{output}, matches
# $pattern; returns all of it.  When the test's timeout passes: dies, or
# with nodie => 1 returns what there is.
sub wait_for
{
	my ($self, $pattern, %opt) = @_;
	my $output = $opt{output} // '';
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	until ($output =~ $pattern)
	{
		if (time() > $deadline)
		{
			return $output if $opt{nodie};
			die(($opt{what} // 'the notification')
				  . " did not arrive; listener printed:\n$output");
		}
		usleep(20_000);
		$output .= $self->{session}->query_safe('SELECT 1') . "\n";
	}
	return $output;
}

# Everything received since the last call, up to a barrier, as
# parse_notifications gives it, without the barrier channel's.  The barrier
# is by default a NOTIFY om_test_barrier committed by another session
# (notifications are delivered in commit order, so whatever was committed
# before it has been printed before it); with barrier => SUB, SUB->($n)
# commits barrier number $n and returns the pattern of its line.  What came
# after the barrier is kept for the next call.
sub received
{
	my ($self, %opt) = @_;
	my $n = ++$barriers;
	my $pattern;
	if ($opt{barrier})
	{
		$pattern = $opt{barrier}->($n);
	}
	else
	{
		$self->{node}->safe_psql($self->{db}, "NOTIFY om_test_barrier, 'barrier $n'");
		$pattern =
		  qr/^Asynchronous notification "om_test_barrier" with payload "barrier $n" [^\n]*\n/m;
	}
	my $output = $self->wait_for($pattern,
		output => $self->{leftover},
		what => "barrier $n");
	$output =~ $pattern or die 'barrier vanished';
	my ($start, $end) = ($-[0], $+[0]);
	$self->{leftover} = substr($output, $end);
	return grep { $_->{channel} ne 'om_test_barrier' }
	  OrderMgmt::Test::parse_notifications(substr($output, 0, $start));
}

# Ends the session.
sub quit
{
	my ($self) = @_;
	$self->{session}->quit;
	return;
}

1;
