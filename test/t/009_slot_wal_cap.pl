# A CDC consumer that stops for good: max_slot_wal_keep_size caps the WAL its
# slot holds, the slot is lost, order processing never stops, and the
# documented recovery gives the consumer every event exactly once.
#
# A logical slot retains every WAL segment from its restart_lsn on; if its
# consumer never comes back, pg_wal grows until the disk is full and the
# database stops.  With max_slot_wal_keep_size set, a checkpoint instead
# invalidates a slot that lags more than that: pg_wal stays bounded and the
# writes go on, at the price of the slot (the consumer can no longer read
# from it).  The test runs with 1 MB WAL segments, max_wal_size = 2MB and
# max_slot_wal_keep_size = 6MB, and proves:
#   - while the consumer is away, pg_replication_slots.wal_status goes from
#     'reserved' to 'extended' (the slot holds WAL beyond max_wal_size),
#     maybe 'unreserved' (past the cap, until the next checkpoint), and on to
#     'lost', never backwards, with safe_wal_size shrinking to NULL, and the
#     server log says the slot was invalidated;
#   - pg_wal stays bounded while far more WAL than the cap is written;
#   - create_order, cancel_order and complete_order work throughout;
#   - reading the lost slot fails: pg_logical_slot_get_changes() with
#     SQLSTATE 55000 "can no longer get changes from replication slot",
#     pg_recvlogical with "cannot read from logical replication slot ...
#     This slot has been invalidated because it exceeded the maximum reserved
#     size.";
#   - the recovery (docs/operations.md: "When a CDC slot is lost") works: drop the lost
#     slot, create a new one, read the outbox for the events not yet
#     processed, then stream from the new slot skipping event ids already
#     processed; while orders keep being written during the recovery, the
#     consumer ends with every outbox event exactly once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $slot = 'order_mgmt_cdc';
my @wal2json_options = wal2json_options();
my $json = JSON::PP->new->canonical;

# the settings of the pg_regress and isolation instances, 1 MB WAL segments
# and a slot allowed to keep 6 MB of WAL
my $node = start_node(
	'slot_cap',
	init => { extra => ['--wal-segsize=1'] },
	conf => q{
min_wal_size = 2MB
max_wal_size = 2MB
max_slot_wal_keep_size = 6MB
wal_keep_size = 0
});
my $tempdir = PostgreSQL::Test::Utils::tempdir;

##########################################################################
# The consumer: it processes each outbox event once, by event id.

my (%processed, @processed);
my $duplicates_skipped = 0;

sub process
{
	my ($event) = @_;
	if (exists $processed{ $event->{id} })
	{
		$duplicates_skipped++;
		return;
	}
	$processed{ $event->{id} } = $json->encode($event);
	push @processed, $event->{id};
	return;
}

# Run pg_recvlogical on $slot until $endpos; process the events it wrote.
# Returns the number of event lines.
my $runs = 0;

sub stream_until
{
	my ($endpos) = @_;
	$runs++;
	my $file = "$tempdir/stream$runs.jsonl";
	$node->command_ok(
		[
			'pg_recvlogical', '-d', $node->connstr('postgres'),
			'--slot', $slot, '--start', '--no-loop', '--endpos', $endpos,
			'-f', $file, map { ('-o', $_) } @wal2json_options
		],
		"pg_recvlogical streams the slot up to $endpos");
	my $n = 0;
	for my $line (split /\n/, slurp_file($file))
	{
		my $rec = $json->decode($line);
		next unless $rec->{action} eq 'I';
		my $col = wal2json_row($rec);
		process({ map { $_ => $col->{$_} } qw(id aggregateid type order_version position) });
		$n++;
	}
	return $n;
}

# The consumer's view of the outbox, to compare with what it processed.
sub outbox_events
{
	my ($where) = @_;
	$where //= 'true';
	return map { $json->decode($_) } split /\n/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT json_build_object('id', id, 'aggregateid', aggregateid,
			'type', type, 'order_version', order_version, 'position', position)
		FROM order_mgmt.outbox WHERE $where ORDER BY position});
}

##########################################################################
# The writers: one batch creates orders, cancels and completes some.

my $batches = 0;
my ($created, $cancelled, $completed) = (0, 0, 0);

sub write_batch
{
	my ($n) = @_;
	$batches++;
	my ($c, $x, $k) = split /\|/, $node->safe_psql(
		'postgres', qq{
		SELECT count(order_mgmt.create_order(jsonb_build_object(
			'cartId', gen_random_uuid(), 'customerId', gen_random_uuid(),
			'items', jsonb_build_array(
				jsonb_build_object('productId', gen_random_uuid(), 'quantity', 1 + g % 3, 'unitPrice', 100 * g),
				jsonb_build_object('productId', gen_random_uuid(), 'quantity', 1, 'unitPrice', 999)),
			'total', (1 + g % 3) * 100 * g + 999, 'currency', 'EUR')))
		FROM generate_series(1, $n) g;
		WITH pick AS (SELECT order_id, row_number() OVER () AS r
					  FROM order_mgmt.orders WHERE status = 'CREATED' LIMIT $n / 2)
		SELECT (SELECT count(order_mgmt.cancel_order(order_id, 'OUT_OF_STOCK')) FROM pick WHERE r % 2 = 0),
			   (SELECT count(order_mgmt.complete_order(order_id, 1)) FROM pick WHERE r % 2 = 1);
	}) =~ s/\n/|/r;
	$created += $c;
	$cancelled += $x;
	$completed += $k;
	return $c + $x + $k;
}

sub slot_state
{
	my ($status, $safe, $restart) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT wal_status, coalesce(safe_wal_size::text, 'NULL'), "
		  . "coalesce(restart_lsn::text, 'NULL') "
		  . "FROM pg_replication_slots WHERE slot_name = '$slot'");
	return ($status, $safe, $restart);
}

sub pg_wal_bytes
{
	my $dir = $node->data_dir . '/pg_wal';
	opendir(my $dh, $dir) or die "$dir: $!";
	my $bytes = 0;
	for my $f (readdir $dh)
	{
		$bytes += -s "$dir/$f" if -f "$dir/$f";
	}
	closedir $dh;
	return $bytes;
}

##########################################################################
# The consumer runs for a while, then stops for good.

$node->command_ok(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'),
		'--slot', $slot, '--plugin', 'wal2json', '--create-slot'
	],
	'the consumer creates its slot');
is((slot_state())[0], 'reserved', "a new slot's wal_status is 'reserved'");

write_batch(20);
my $n = stream_until($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()'));
is($n, scalar(outbox_events()), "the consumer processed the first $n events");

##########################################################################
# The consumer is gone; orders keep coming.

my $start_lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my @statuses = ((slot_state())[0]);
my @safe_sizes;
my $max_wal_bytes = 0;
my $max_wal_bytes_after_lost = 0;
my $order = { reserved => 0, extended => 1, unreserved => 2, lost => 3 };
for my $i (1 .. 400)
{
	ok(write_batch(100), "batch $batches: orders created, cancelled and completed")
	  if $i % 25 == 0;
	write_batch(100) unless $i % 25 == 0;
	my ($status, $safe) = slot_state();
	push @statuses, $status unless $status eq $statuses[-1];
	push @safe_sizes, $safe;
	my $wal = pg_wal_bytes();
	$max_wal_bytes = $wal if $wal > $max_wal_bytes;
	if ($status eq 'lost')
	{
		$max_wal_bytes_after_lost = $wal if $wal > $max_wal_bytes_after_lost;
		last;
	}
	# once the slot is past the cap, a checkpoint invalidates it (automatic
	# checkpoints come often with max_wal_size = 2MB; ask for one anyway)
	$node->safe_psql('postgres', 'CHECKPOINT') if $status eq 'unreserved';
}
note 'wal_status seen: ' . join(' -> ', @statuses);
note 'safe_wal_size seen: ' . join(' ', @safe_sizes);
is($statuses[-1], 'lost', "wal_status ends 'lost'");
# 'extended' lasts 3 MB here (from max_wal_size + 1 segment to
# max_slot_wal_keep_size), far more than one batch writes; 'unreserved'
# lasts until the next checkpoint, which may come within the batch
ok((grep { $_ eq 'extended' } @statuses),
	"wal_status was 'extended' (the slot held WAL beyond max_wal_size) before 'lost'");
is_deeply(
	\@statuses,
	[ sort { $order->{$a} <=> $order->{$b} } @statuses ],
	'wal_status only moves forward (reserved, extended, unreserved, lost)');
my @numeric_safe = grep { $_ ne 'NULL' } @safe_sizes;
ok(!grep({ $numeric_safe[$_] > $numeric_safe[ $_ - 1 ] } 1 .. $#numeric_safe),
	'safe_wal_size only shrinks while the consumer is away');
is($safe_sizes[-1], 'NULL', 'safe_wal_size is NULL once the slot is lost');
ok($node->log_contains(qr/invalidating slot "$slot" because its restart_lsn [0-9A-F\/]+ exceeds max_slot_wal_keep_size/),
	'the server log says why the slot was invalidated');

# Writes go on after the slot is lost, and pg_wal stays bounded: write
# until three times the bound has been written since the consumer left.
my $bound = 16 * 2**20;
my $written;
for (1 .. 200)
{
	write_batch(300);
	my $wal = pg_wal_bytes();
	$max_wal_bytes_after_lost = $wal if $wal > $max_wal_bytes_after_lost;
	$written = $node->safe_psql('postgres',
		"SELECT pg_current_wal_lsn() - '$start_lsn'::pg_lsn");
	last if $written > 3 * $bound;
}
$max_wal_bytes = $max_wal_bytes_after_lost if $max_wal_bytes_after_lost > $max_wal_bytes;
note sprintf('%.1f MB of WAL written while the consumer was away; pg_wal '
	  . 'at most %.1f MB (%.1f MB after the slot was lost)',
	$written / 2**20, $max_wal_bytes / 2**20, $max_wal_bytes_after_lost / 2**20);
# max_slot_wal_keep_size (6 MB) + max_wal_size (2 MB) + the segments being
# written and recycled, with room for a checkpoint that runs late on a busy
# machine: a bound of 16 MB, while three times that is written
cmp_ok($written, '>', 3 * $bound, 'three times the bound written');
cmp_ok($max_wal_bytes, '<=', $bound,
	'pg_wal stays bounded (at most 16 MB) while the slot holds WAL and after it is lost');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE status = 'CREATED') > 0
		   AND count(*) FILTER (WHERE status = 'CANCELLED') > 0
		   AND count(*) FILTER (WHERE status = 'COMPLETED') > 0
		FROM order_mgmt.orders}),
	't', "orders were created, cancelled and completed ($created, $cancelled, $completed)");
is( $node->safe_psql('postgres',
		'SELECT count(*) FROM order_mgmt.outbox'),
	$created + $cancelled + $completed,
	'one event per change: nothing was lost on the write side');

# What the lost slot still holds: PostgreSQL 15 keeps its catalog_xmin,
# which holds back the vacuum of the system catalogs until it is dropped.
note 'the lost slot: '
  . $node->safe_psql('postgres',
	"SELECT format('restart_lsn %s, catalog_xmin %s, active %s, invalidation: wal_status %s', "
	  . "coalesce(restart_lsn::text, 'NULL'), coalesce(catalog_xmin::text, 'NULL'), active, wal_status) "
	  . "FROM pg_replication_slots WHERE slot_name = '$slot'");

##########################################################################
# The consumer comes back: the lost slot cannot be read.

my ($ret, $stdout, $stderr) = $node->psql(
	'postgres',
	"SELECT count(*) FROM pg_logical_slot_get_changes('$slot', NULL, NULL, "
	  . "'format-version', '2', 'add-tables', 'order_mgmt.outbox')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'pg_logical_slot_get_changes on the lost slot fails');
like($stderr,
	qr/ERROR:  55000: can no longer get changes from replication slot "$slot"/,
	'... with SQLSTATE 55000 (object_not_in_prerequisite_state)');
like($stderr,
	qr/DETAIL:  This slot has never previously reserved WAL, or it has been invalidated\./,
	'... and says the slot was invalidated');
note "pg_logical_slot_get_changes: $stderr";

$node->command_fails_like(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'),
		'--slot', $slot, '--start', '--no-loop',
		'-f', "$tempdir/lost.jsonl", map { ('-o', $_) } @wal2json_options
	],
	qr/cannot read from logical replication slot "$slot".*invalidated because it exceeded the maximum reserved size/s,
	'pg_recvlogical on the lost slot fails: cannot read from it, it was '
	  . 'invalidated because it exceeded the maximum reserved size');

##########################################################################
# The recovery, step by step, while orders keep being written.

# Orders committed at every step below, as the writers keep going.
my $write_in_background = sub {
	$node->safe_psql('postgres', q{
		SELECT count(order_mgmt.create_order(jsonb_build_object(
			'cartId', gen_random_uuid(), 'customerId', gen_random_uuid(),
			'items', jsonb_build_array(jsonb_build_object(
				'productId', gen_random_uuid(), 'quantity', 1, 'unitPrice', 500)),
			'total', 500, 'currency', 'EUR')))
		FROM generate_series(1, 10)});
	$created += 10;
};

# 1. drop the lost slot (it is inactive: the consumer failed on it)
$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('$slot')");
$write_in_background->();

# 2. create a new slot: from its consistent point on, every commit is sent
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('$slot', 'wal2json')");
# committed after the slot was created, before the outbox is read: the
# consumer gets these twice (outbox and stream)
$write_in_background->();

# 3. read the outbox, in a snapshot taken after the slot was created: every
# event committed before the slot's consistent point is in it.  The outbox
# keeps every event (purge_events removes only those older than its keep
# interval): read them all and skip the ids already processed.
my @from_outbox = outbox_events();
my $before = scalar @processed;
process($_) for @from_outbox;
my $resynced = scalar(@processed) - $before;
note scalar(@from_outbox) . " outbox rows read, $resynced new events processed";
cmp_ok($resynced, '>', 0, "the outbox gave the $resynced events the lost slot never sent");

# 4. stream from the new slot, skipping ids already processed
$write_in_background->();
$node->safe_psql('postgres', q{SELECT order_mgmt.complete_order(
	(SELECT order_id FROM order_mgmt.orders WHERE status = 'CREATED' ORDER BY created_at DESC LIMIT 1))});
$completed++;
my $skipped_before = $duplicates_skipped;
my $streamed = stream_until($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()'));
my $overlap = $duplicates_skipped - $skipped_before;
note "the new slot sent $streamed events; $overlap of them had already come from the outbox";
cmp_ok($overlap, '>', 0,
	'events committed between the new slot and the outbox read came both ways (and were skipped once)');
cmp_ok($streamed, '>', $overlap, 'the new slot sent the events committed after the outbox read');

##########################################################################
# The consumer has every event exactly once.

my @outbox = outbox_events();
my %outbox = map { $_->{id} => $json->encode($_) } @outbox;
is(scalar(@outbox), $created + $cancelled + $completed, 'outbox: one event per change');
is_deeply([ sort grep { !exists $processed{$_} } keys %outbox ],
	[], 'no event missing');
is_deeply([ sort grep { !exists $outbox{$_} } keys %processed ],
	[], 'no event processed that does not exist');
is(scalar(@processed), scalar(keys %processed), 'no event processed twice');
is_deeply([ grep { $processed{$_} ne $outbox{$_} } grep { exists $outbox{$_} } @processed ],
	[], 'each processed event equals its outbox row');
note scalar(@processed) . " events processed once; $duplicates_skipped copies skipped";
is((slot_state())[0], 'reserved', "the new slot is 'reserved'");

$node->stop;
done_testing();
