# What order_mgmt really emits, validated against its published contract.
#
# docs/schemas holds a JSON Schema (draft-07) for every message, the v1.0.0
# contract's faithful copies (with an "$id" added), and docs/asyncapi.yml
# describes how the extension exposes them.  What the v1.0.0 contract says is
# written down in this tree, in test/contract/contract-v1.0.0.facts.json.
# test/contract/validate.js checks both with real validators (Ajv with
# ajv-formats, @asyncapi/parser), checks docs/schemas against the facts, and
# validates samples: JSON lines {"schema": NAME, "value": VALUE}.
#
# The test first has the validator reject copies of docs/ in which one
# contract schema was changed (a required field dropped, an enum value
# changed, a pattern changed, ...): the facts check is known to catch them.
#
# Then it runs a workload that produces every event type in every event
# mode, collects everything that crosses the extension's boundary, and has
# the validator check all of it:
#   - the CreateOrder commands it sends, and CancelOrder-shaped commands for
#     its cancel_order calls;
#   - get_order of CREATED, COMPLETED and CANCELLED orders, as the extended
#     GetOrderResponse and as the contract's GetOrder {request, response};
#   - the notification payloads a real LISTEN client receives;
#   - every outbox row as JSON (to_jsonb), as OutboxEvent, and
#     order_mgmt.cloudevent() of every row, as OrderEventCloudEvent;
#   - the content of every logical decoding message the slot decodes, as
#     OrderEventCloudEvent.
# It counts what it collected, so that every event the workload produced is
# known to have been validated, and runs the validator once more on invalid
# samples, which it must reject.
#
# The validator needs test/contract/node_modules (npm ci; scripts/test.sh
# runs it).  Without it the test is skipped, except under CI (CI set), where
# it fails.  Nothing outside the tree is read; only when ORDER_MGMT_CONTRACT
# is set (to a copy of the published contract) does the validator also check
# that the facts describe that copy exactly.

use strict;
use warnings;

use File::Basename qw(basename);
use File::Copy qw(copy);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use JSON::PP;
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tree = tree_path();
my $validator = "$tree/test/contract/validate.js";

if (!-d "$tree/test/contract/node_modules" && !$ENV{CI})
{
	plan skip_all =>
	  'test/contract/node_modules is missing: run npm ci --prefix test/contract';
}

# under CI the validator must run: a missing node_modules is a failure
ok(-d "$tree/test/contract/node_modules", 'test/contract/node_modules is installed')
  or diag('run npm ci --prefix test/contract (scripts/test.sh does)');

# Runs the validator; returns its exit status and its output.
sub validate
{
	my @args = @_;
	my @contract =
	  $ENV{ORDER_MGMT_CONTRACT} ? ('--contract', $ENV{ORDER_MGMT_CONTRACT}) : ();
	my ($out, $err) = ('', '');
	my @cmd = ('node', $validator, @contract, @args);
	note("running: @cmd");
	eval { IPC::Run::run(\@cmd, '>', \$out, '2>', \$err); };
	my $status = $@ ? -1 : $? >> 8;
	$out .= "could not run node: $@" if $@;
	note($out);
	note($err) if $err ne '';
	return ($status, $out . $err);
}

# Before any server starts: the validator runs, the AsyncAPI document parses,
# the schemas compile, and docs/schemas is what the contract's facts say.
my ($status, $output) = validate();
is($status, 0, 'validator: docs/asyncapi.yml, docs/schemas and the contract are valid')
  or diag($output);
like($output, qr/^ok +docs\/asyncapi\.yml is a valid AsyncAPI 3\.0\.0 document/m,
	'validator: the AsyncAPI document parsed');
like($output,
	qr/^ok +6 contract schemas \(test\/contract\/contract-v1\.0\.0\.facts\.json: EventCatalog examples\/default, commit 728ca67b\) hold in docs\/schemas, which states nothing more$/m,
	'validator: the 6 contract schemas\' facts hold in docs/schemas');
like($output, qr/^ok +test\/contract\/contract-v1\.0\.0\.facts\.json states exactly the 6 contract schemas in /m,
	"validator: the facts are the contract in $ENV{ORDER_MGMT_CONTRACT}")
  if $ENV{ORDER_MGMT_CONTRACT};

# The facts check fails on a docs/schemas copy that is not faithful.  Each case
# is a copy of docs/ with one contract schema changed in one way; the validator
# must fail and name the change.  First the copy unchanged (rewritten by the
# same code), which must pass: the failures are the changes'.
my $json = JSON::PP->new->canonical;
my $mutants = PostgreSQL::Test::Utils::tempdir;

# A copy of docs/ in $mutants/$case with $mutate applied to the parsed
# docs/schemas/$schema.schema.json; returns the copy's path.
sub docs_copy
{
	my ($case, $schema, $mutate) = @_;
	my $dir = "$mutants/$case";
	mkdir $dir or die "$dir: $!";
	mkdir "$dir/schemas" or die "$dir/schemas: $!";
	copy("$tree/docs/asyncapi.yml", "$dir/asyncapi.yml") or die "asyncapi.yml: $!";
	for my $src (glob "$tree/docs/schemas/*.schema.json")
	{
		my $dst = "$dir/schemas/" . basename($src);
		if (basename($src) ne "$schema.schema.json")
		{
			copy($src, $dst) or die "$src: $!";
			next;
		}
		my $s = $json->decode(slurp_file($src));
		$mutate->($s);
		open my $out, '>', $dst or die "$dst: $!";
		print $out JSON::PP->new->canonical->pretty->encode($s);
		close $out;
	}
	return $dir;
}

my $unchanged = docs_copy('unchanged', 'CreateOrder', sub { });
($status, $output) = validate('--docs', $unchanged, '--only-contract');
is($status, 0, 'facts check: an unchanged copy of docs/ passes') or diag($output);

my @mutations = (
	[
		'a required field dropped', 'CreateOrder',
		sub { $_[0]{required} = [ grep { $_ ne 'currency' } @{ $_[0]{required} } ] },
		qr/CreateOrder\.schema\.json: \$: required lacks "currency", the contract's has it$/m
	],
	[
		'a required field added', 'OrderCancelled',
		sub { push @{ $_[0]{required} }, 'customerId' },
		qr/OrderCancelled\.schema\.json: \$: required has "customerId", the contract's does not$/m
	],
	[
		'an enum value changed', 'CancelOrder',
		sub { $_[0]{properties}{reason}{enum}[3] = 'FRAUD_SUSPECTED' },
		qr/CancelOrder\.schema\.json: \$\.reason: enum lacks "FRAUD", the contract's has it\n.*enum has "FRAUD_SUSPECTED", the contract's does not$/m
	],
	[
		'an enum value added (nested)', 'GetOrder',
		sub { push @{ $_[0]{properties}{response}{properties}{status}{enum} }, 'ARCHIVED' },
		qr/GetOrder\.schema\.json: \$\.response\.status: enum has "ARCHIVED", the contract's does not$/m
	],
	[
		'a pattern changed', 'OrderCreated',
		sub { $_[0]{properties}{currency}{pattern} = '^[A-Za-z]{3}$' },
		qr/OrderCreated\.schema\.json: \$\.currency: pattern is "\^\[A-Za-z\]\{3\}\$", the contract's is "\^\[A-Z\]\{3\}\$"$/m
	],
	[
		'an item minimum changed', 'GetOrder',
		sub { $_[0]{properties}{response}{properties}{items}{items}{properties}{quantity}{minimum} = 0 },
		qr/GetOrder\.schema\.json: \$\.response\.items\[\]\.quantity: minimum is 0, the contract's is 1$/m
	],
	[
		'an item format dropped', 'CreateOrder',
		sub { delete $_[0]{properties}{items}{items}{properties}{productId}{format} },
		qr/CreateOrder\.schema\.json: \$\.items\[\]\.productId: lacks the contract's format "uuid"$/m
	],
	[
		'extra properties forbidden', 'CreateOrder',
		sub { $_[0]{additionalProperties} = JSON::PP::false },
		qr/CreateOrder\.schema\.json: \$: additionalProperties is false, the contract's is true$/m
	],
	[
		'a field added', 'OrderCompleted',
		sub { $_[0]{properties}{total} = { type => 'integer' } },
		qr/OrderCompleted\.schema\.json: \$\.total: not a field of the contract$/m
	],
	[
		'a type changed', 'CancelOrder',
		sub { $_[0]{properties}{orderId}{type} = 'integer'; delete $_[0]{properties}{orderId}{format} },
		qr/CancelOrder\.schema\.json: \$\.orderId: type is "integer", the contract's is "string"$/m
	]);
my $case = 0;
for my $m (@mutations)
{
	my ($what, $schema, $mutate, $expect) = @$m;
	my $dir = docs_copy('mutant' . ++$case, $schema, $mutate);
	($status, $output) = validate('--docs', $dir, '--only-contract');
	is($status, 1, "facts check: $schema with $what fails");
	like($output, qr/^ok +compiled 11 of 11 schemas/m,
		"facts check: $schema with $what is still a valid schema");
	like($output, $expect, "facts check: $schema with $what is named") or diag($output);
}

# the same settings as the pg_regress and isolation instances
my $node = start_node('contract');

# message mode needs a logical slot on the database: the consumer's, which
# this test reads at the end (wal2json shows messages as JSON)
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('contract_events', 'wal2json')");

# ---------------------------------------------------------------- listener

# $listener->received: everything the listener has received on the order
# channels so far, a list of { channel, raw, ... }.  A barrier notification,
# committed after every change, proves all earlier notifications have been
# printed (see 001).
my $listener = OrderMgmt::Test::Listener->new($node, 'postgres');

# ---------------------------------------------------------------- workload

my @samples;    # JSON lines

# A sample line; $raw is JSON text exactly as the extension produced it.
sub sample_raw
{
	my ($schema, $raw, $label) = @_;
	push @samples,
	    '{"schema":'
	  . $json->encode($schema)
	  . ',"label":'
	  . $json->encode($label)
	  . ',"value":'
	  . $raw . '}';
	return;
}

# A CreateOrder v1.0.0 command: cart $n, the given lines [productNo,
# quantity, unitPrice], currency, optional payment authorization.
sub command
{
	my ($n, $lines, $currency, $payment) = @_;
	return order_command(
		$n,
		cart_prefix => 'c5000000',
		customer => 'a5000000-0000-4000-8000-000000000001',
		items => [ map { [ numbered_uuid('b5000000', $_->[0]), $_->[1], $_->[2] ] } @$lines ],
		currency => $currency,
		payment => $payment);
}

# Runs $sql in event mode $mode, in a session of its own.
sub in_mode
{
	my ($mode, $sql) = @_;
	return $node->safe_psql('postgres',
		"SET order_mgmt.event_mode = $mode; $sql");
}

my %orders;    # letter -> { id, mode, status }

sub create
{
	my ($letter, $mode, $cmd) = @_;
	my $id = in_mode($mode, "SELECT order_mgmt.create_order('$cmd')");
	like($id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
		"order $letter ($mode): created, a UUIDv7");
	sample_raw('CreateOrder', $cmd, "command of order $letter");
	$orders{$letter} = { id => $id, mode => $mode, status => 'CREATED' };
	return $id;
}

sub cancel
{
	my ($letter, $reason) = @_;
	my $o = $orders{$letter};
	is(in_mode($o->{mode}, "SELECT order_mgmt.cancel_order('$o->{id}', '$reason')"),
		2, "order $letter ($o->{mode}): cancelled ($reason), version 2");
	sample_raw('CancelOrder', $json->encode({ orderId => $o->{id}, reason => $reason }),
		"cancel_order of order $letter");
	$o->{status} = 'CANCELLED';
	return;
}

sub complete
{
	my ($letter) = @_;
	my $o = $orders{$letter};
	is(in_mode($o->{mode}, "SELECT order_mgmt.complete_order('$o->{id}')"),
		2, "order $letter ($o->{mode}): completed, version 2");
	$o->{status} = 'COMPLETED';
	return;
}

# event mode outbox (the default): outbox rows only
create('A', 'outbox', command(1, [ [ 1, 2, 1999 ], [ 2, 1, 1499 ] ], 'GBP', 'pa_8842'));
complete('A');
create('B', 'outbox', command(2, [ [ 3, 1, 700 ] ], 'EUR'));
cancel('B', 'CUSTOMER_REQUESTED');
create('C', 'outbox', command(3, [ [ 1, 3, 120 ], [ 2, 1, 0 ], [ 3, 10, 5 ] ], 'JPY', 'pa_3'));
create('D', 'outbox', command(4, [ [ 4, 1, 25000 ] ], 'USD'));
# a direct status change writes the event as complete_order does
in_mode('outbox',
	"UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE order_id = '$orders{D}{id}'");
$orders{D}{status} = 'COMPLETED';
# an idempotent replay writes no event (and is not a new command sample)
is(in_mode('outbox', "SELECT order_mgmt.create_order('" . command(1, [ [ 2, 1, 1499 ], [ 1, 2, 1999 ] ], 'GBP', 'pa_8842') . "')"),
	$orders{A}{id}, 'replayed command (items reordered): the same order, no event');

# outbox_and_message: an outbox row and a logical decoding message per event
create('E', 'outbox_and_message', command(5, [ [ 5, 2, 450 ] ], 'EUR', 'pa_5'));
cancel('E', 'FRAUD');
create('F', 'outbox_and_message', command(6, [ [ 6, 1, 99 ] ], 'CHF'));
complete('F');

# message: only the logical decoding message (no outbox row, no position)
create('G', 'message', command(7, [ [ 7, 4, 250 ] ], 'SEK'));
cancel('G', 'PAYMENT_FAILED');
create('H', 'message', command(8, [ [ 8, 1, 10 ], [ 9, 1, 20 ] ], 'USD', 'pa_8'));
complete('H');
create('I', 'message', command(9, [ [ 1, 1, 5000 ] ], 'GBP'));
cancel('I', 'OUT_OF_STOCK');

my %by_mode = (outbox => 7, outbox_and_message => 4, message => 6);
my $events = 17;

# ---------------------------------------------------------------- get_order

my %status_seen;
for my $letter (sort keys %orders)
{
	my $o = $orders{$letter};
	my $raw = $node->safe_psql('postgres', "SELECT order_mgmt.get_order('$o->{id}')");
	my $got = $json->decode($raw);
	is($got->{status}, $o->{status}, "get_order of order $letter: $o->{status}");
	$status_seen{ $got->{status} }++;
	sample_raw('GetOrderResponse', $raw, "get_order of order $letter");
	sample_raw('GetOrder', qq({"request":{"orderId":"$o->{id}"},"response":$raw}),
		"GetOrder query of order $letter");
}
is_deeply([ sort keys %status_seen ], [ 'CANCELLED', 'COMPLETED', 'CREATED' ],
	'get_order was sampled in every status');
is($node->safe_psql('postgres',
		"SELECT order_mgmt.get_order('00000000-0000-4000-8000-000000000000') IS NULL"),
	't', 'get_order of an unknown order: NULL (no sample)');

# ---------------------------------------------------------------- notifications

my @notes = $listener->received;
is(scalar @notes, $events, "the listener received one notification per event ($events)");
my %channel_of = (
	OrderCreated => 'order_created',
	OrderCompleted => 'order_completed',
	OrderCancelled => 'order_cancelled');
my (%noted, $without_position);
for my $n (@notes)
{
	sample_raw('NotificationPayload', $n->{raw}, "notification on $n->{channel}");
	my $p = eval { $json->decode($n->{raw}) } // {};
	is($n->{channel}, $channel_of{ $p->{type} // '' } // '?',
		"notification of $p->{eventId}: on the channel of its type");
	$noted{ $p->{eventId} // '' } = $p;
	$without_position++ unless exists $p->{position};
}
is($without_position, $by_mode{message},
	'only the message-only events are announced without a position');

# ---------------------------------------------------------------- outbox rows

my @rows = split /\n/,
  $node->safe_psql('postgres',
	'SELECT to_jsonb(o) FROM order_mgmt.outbox AS o ORDER BY position');
my @row_ces = split /\n/,
  $node->safe_psql('postgres',
	'SELECT order_mgmt.cloudevent(o) FROM order_mgmt.outbox AS o ORDER BY position');
my $outbox_events = $by_mode{outbox} + $by_mode{outbox_and_message};
is(scalar @rows, $outbox_events, "one outbox row per event of the outbox modes ($outbox_events)");
is(scalar @row_ces, scalar @rows, 'cloudevent() of every outbox row');
my %row_ce;
for my $i (0 .. $#rows)
{
	my $row = $json->decode($rows[$i]);
	sample_raw('OutboxEvent', $rows[$i], "outbox row $row->{position} ($row->{type})");
	sample_raw('OrderEventCloudEvent', $row_ces[$i],
		"cloudevent() of outbox row $row->{position}");
	$row_ce{ $row->{id} } = $json->decode($row_ces[$i]);
	is(($noted{ $row->{id} } // {})->{position}, $row->{position},
		"outbox row $row->{position}: announced with its position");
}

# ---------------------------------------------------------------- messages

my @changes = slot_changes($node, 'contract_events',
	options => [ 'format-version', '2', 'add-tables', 'order_mgmt.outbox' ]);
my (@messages, $inserts);
for my $c (@changes)
{
	my $change = $json->decode($c);
	$inserts++ if $change->{action} eq 'I';
	next unless $change->{action} eq 'M';
	push @messages, $change;
}
is($inserts, $outbox_events, 'the slot decoded every outbox insert');
my $message_events = $by_mode{outbox_and_message} + $by_mode{message};
is(scalar @messages, $message_events,
	"one logical decoding message per event of the message modes ($message_events)");
my %message_ids;
for my $m (@messages)
{
	ok($m->{prefix} eq 'order_mgmt' && $m->{transactional},
		'message: transactional, prefix order_mgmt');
	my $ce = $json->decode($m->{content});
	sample_raw('OrderEventCloudEvent', $m->{content}, "message $ce->{id} ($ce->{type})");
	$message_ids{ $ce->{id} } = 1;
	# outbox_and_message: the message is the outbox row's CloudEvent
	is_deeply($ce, $row_ce{ $ce->{id} }, "message $ce->{id}: cloudevent() of its outbox row")
	  if $row_ce{ $ce->{id} };
}
is(scalar(grep { $row_ce{$_} } keys %message_ids), $by_mode{outbox_and_message},
	'outbox_and_message events share their id between row and message');

# every event that was announced was sampled as a row or a message, and back
my %sampled = (%row_ce, %message_ids);
is_deeply([ sort keys %noted ], [ sort keys %sampled ],
	'the events announced are exactly the events sampled from the outbox and the slot');

# ---------------------------------------------------------------- validate

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $file = "$tmp/contract_samples.jsonl";
open my $fh, '>:encoding(UTF-8)', $file or die "$file: $!";
print $fh "$_\n" for @samples;
close $fh;

my $expected =
    9    # CreateOrder
  + 4    # CancelOrder
  + 2 * 9    # GetOrderResponse, GetOrder
  + $events    # NotificationPayload
  + 2 * $outbox_events    # OutboxEvent, cloudevent()
  + $message_events;    # message contents
is(scalar @samples, $expected, "collected $expected samples");

($status, $output) = validate('--samples', $file);
is($status, 0, 'every sample is valid') or diag($output);
like($output, qr/^validated samples: (\d+)$/m, 'the validator counted the samples');
my ($count) = $output =~ /^validated samples: (\d+)$/m;
is($count, $expected, "the validator validated all $expected samples");

# The validator rejects what breaks the contract: a valid sample, then three
# invalid ones, each broken in one way.
my $created = $json->decode((grep { /"type": "OrderCreated"/ } @rows)[0]);
my $cancelled_ce = $json->decode((grep { /"OrderCancelled"/ } @row_ces)[0]);
my @bad = (
	'{"schema":"OutboxEvent","value":' . $json->encode($created) . '}',
	# an OrderCreated payload without customerId
	do
	{
		my %r = %$created;
		my %p = %{ $r{payload} };
		delete $p{customerId};
		$r{payload} = \%p;
		'{"schema":"OutboxEvent","value":' . $json->encode(\%r) . '}';
	},
	# a CloudEvent about another order than its data
	do
	{
		my %e = %$cancelled_ce;
		$e{subject} = '00000000-0000-4000-8000-000000000000';
		'{"schema":"OrderEventCloudEvent","value":' . $json->encode(\%e) . '}';
	},
	# a notification whose position is a string
	'{"schema":"NotificationPayload","value":{"eventId":"' . $created->{id}
	  . '","orderId":"' . $created->{aggregateid}
	  . '","type":"OrderCreated","position":"1"}}');
my $bad_file = "$tmp/contract_invalid.jsonl";
open $fh, '>', $bad_file or die "$bad_file: $!";
print $fh "$_\n" for @bad;
close $fh;

($status, $output) = validate('--only-samples', '--samples', $bad_file);
is($status, 1, 'invalid samples: the validator fails');
like($output, qr/^FAIL contract_invalid\.jsonl:2: OutboxEvent is invalid:\n.*customerId/m,
	'invalid samples: the payload without customerId is named');
like($output, qr/^FAIL contract_invalid\.jsonl:3: OrderEventCloudEvent breaks a rule:\n +data\.orderId is not subject/m,
	'invalid samples: the CloudEvent about another order is named');
like($output, qr/^FAIL contract_invalid\.jsonl:4: NotificationPayload is invalid:\n.*\/position must be integer/m,
	'invalid samples: the string position is named');
like($output, qr/^validated samples: 1$/m, 'invalid samples: only the valid one counted');

$listener->quit;
$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('contract_events')");
$node->stop;

done_testing();
