# Hostile input: thousands of malformed and adversarial calls.
#
# A seeded generator throws calls at create_order, cancel_order,
# complete_order, get_order and the polling-consumer functions: mutations of
# valid CreateOrder commands (keys dropped, replaced, duplicated, retyped,
# added), deep nesting, huge arrays (1000 lines exactly, more than
# max_lines_per_order), huge and fractional numbers, wrong types, very long
# strings (over max_command_bytes), odd Unicode (NUL escapes, lone
# surrogates, RTL marks, emoji), non-canonical uuids, broken JSON text, and
# valid commands, replays and conflicting replays mixed in.
#
# Proves:
# - every call either succeeds correctly or fails with a SQLSTATE the README
#   documents for that function; input the jsonb (or uuid, integer, boolean)
#   parser refuses before the function runs is counted separately;
# - cases whose outcome the documentation fixes (valid commands, replays,
#   conflicts, the boundary cases generated first) get exactly that;
# - a successful create_order made an order whose get_order content is the
#   command's (the last of duplicate keys wins, as jsonb keeps it), a replay
#   returns the first id;
# - the backend never dies: the one session that runs every call survives,
#   the postmaster was not restarted and the log has no crash;
# - afterwards there is no partial state: every order has its lines and the
#   right total, and the outbox holds exactly one OrderCreated per order and
#   one terminal event per final order, nothing from failed calls.
#
# Reproduce a run with ORDER_MGMT_FUZZ_SEED=<seed printed below>; change the
# number of calls with ORDER_MGMT_FUZZ_CALLS (default 10000).
#
# Execution: the cases are loaded into a table with COPY and run by one
# procedure in one session; each call is its own transaction (the procedure
# commits after each one) and its outcome (SQLSTATE, result) is recorded in
# a table, so after a crash the results show which case was running.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

my $seed = $ENV{ORDER_MGMT_FUZZ_SEED};
$seed = int(Time::HiRes::time() * 1000) % 2147483647
  unless defined $seed && $seed ne '';
die "ORDER_MGMT_FUZZ_SEED must be an integer\n" unless $seed =~ /^\d+$/;
my $ncalls = $ENV{ORDER_MGMT_FUZZ_CALLS} || 10000;
die "ORDER_MGMT_FUZZ_CALLS must be a positive integer\n" unless $ncalls =~ /^\d+$/;
diag("hostile input: ORDER_MGMT_FUZZ_SEED=$seed ORDER_MGMT_FUZZ_CALLS=$ncalls");
srand($seed);

my $started = Time::HiRes::time();

########################################################################
# A small JSON model that can also say what a real encoder cannot:
#   undef                  null
#   \'token'               a raw token: numbers as written, true, false, or
#                          any text (broken JSON)
#   ['O', [k, v], ...]     an object, keys in this order, duplicates allowed
#   ['A', v, ...]          an array
#   ['S', 'raw']           a string whose inner text is written as is
#                          (for escapes such as \u0000 or \ud800)
#   'text'                 a string (Perl characters, encoded as UTF-8)
########################################################################

sub enc_str
{
	my ($s) = @_;
	return '"' . $s->[1] . '"' if ref $s eq 'ARRAY';
	$s =~ s/(["\\])/\\$1/g;
	$s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord($1))/ge;
	return '"' . $s . '"';
}

sub enc
{
	my ($v) = @_;
	return 'null' unless defined $v;
	return $$v if ref $v eq 'SCALAR';
	if (ref $v eq 'ARRAY')
	{
		my ($t, @rest) = @$v;
		return enc_str($v) if $t eq 'S';
		return '[' . join(', ', map { enc($_) } @rest) . ']' if $t eq 'A';
		return '{'
		  . join(', ', map { enc_str($_->[0]) . ': ' . enc($_->[1]) } @rest)
		  . '}';
	}
	return enc_str($v);
}

sub num { my ($n) = @_; return \"$n"; }

sub clone
{
	my ($v) = @_;
	return $v unless ref $v;
	return \"${$v}" if ref $v eq 'SCALAR';
	return [ map { clone($_) } @$v ];
}

########################################################################
# random helpers
########################################################################

sub rint { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }
sub pick { return $_[ int(rand(scalar @_)) ]; }
sub chance { return rand() < $_[0]; }

sub ruuid
{
	return sprintf('%08x-%04x-4%03x-%04x-%04x%08x',
		int(rand(2**32)), int(rand(2**16)), int(rand(2**12)),
		0x8000 | int(rand(2**14)), int(rand(2**16)), int(rand(2**32)));
}

sub shuffle
{
	my @a = @_;
	for (my $i = $#a; $i > 0; $i--)
	{
		my $j = int(rand($i + 1));
		@a[ $i, $j ] = @a[ $j, $i ];
	}
	return @a;
}

my @currencies = qw(EUR USD GBP JPY CHF SEK KWD BHD CLF NOK);

# odd characters and strings
my @odd_chars = (
	"\x{200F}", "\x{200E}", "\x{202E}", "\x{2066}", "\x{1F600}", "\x{1F1EA}\x{1F1FA}",
	"\x{FEFF}", "\x{0301}", "\x{FF10}", "\x{10FFFF}", "\x{FFFD}", "\x{200D}",
	"\x{00A0}", "\x{2028}", "\x{0663}", "\x{0130}", "\x{212A}", "\x7f", "\t", "\n");
my @odd_escapes = (
	'\u0000', '\ud800', '\udc00', '\ud83d\ude00', '\ud83d', '\u00e9', '\u200f',
	'\uffff', '\ude00\ud83d', '\u0041', '\/', '\b\f\n\r\t');

sub odd_string
{
	my $r = rand();
	if ($r < 0.45)
	{
		return join('', map { pick(@odd_chars, 'a', 'Z', '9', '-', ' ') } 1 .. rint(1, 12));
	}
	elsif ($r < 0.8)
	{
		return [ 'S', join('', map { pick(@odd_escapes, 'x', '-', '0') } 1 .. rint(1, 6)) ];
	}
	else
	{
		return pick('', ' ', 'null', 'true', '0', '-1', '1e400', 'NaN', 'Infinity',
			'EUR', 'eur', 'FRAUD', '{}', '[]', '"', '\\', "'; DROP TABLE x; --",
			'%s%s%n', "ctl\x{1}\x{1f}");
	}
}

my @special_numbers = (
	'1e400', '-1e400', '9223372036854775808', '9223372036854775807',
	'-9223372036854775808', '-9223372036854775809', '2147483647', '2147483648',
	'-2147483649', '-0', '0', '1.0', '1e2', '1E+2', '0.5', '-0.5', '1.5e0',
	'2.50e1', '1e-400', '0.000000000000000000001', '100000000000000000000000000000',
	'-1', '1', '3', '1e0', '10e-1', '0e10', '123456789012345678901234567890.0',
	'1' . ('0' x 1000), '0.' . ('0' x 1000) . '1');

sub uuid_variant
{
	my ($u) = @_;
	my $r = rint(0, 19);
	return uc($u) if $r == 0;
	return "{$u}" if $r == 1;
	return $u =~ s/-//gr if $r == 2;
	return " $u" if $r == 3;
	return "$u " if $r == 4;
	return "urn:uuid:$u" if $r == 5;
	return substr($u, 0, 35) if $r == 6;
	return $u . '0' if $r == 7;
	return substr($u, 0, 4) . "\x{200F}" . substr($u, 4) if $r == 8;
	return substr($u, 0, 9) . "\x{FF10}" . substr($u, 10) if $r == 9;
	return substr($u, 0, 9) . 'g' . substr($u, 10) if $r == 10;
	# dashes in the wrong places (PostgreSQL's uuid type would take this)
	return join('-', unpack('(A4)*', $u =~ s/-//gr)) if $r == 11;
	return num(rint(0, 99999)) if $r == 12;
	return [ 'A', $u ] if $r == 13;
	return [ 'O', [ 'uuid', $u ] ] if $r == 14;
	return undef if $r == 15;
	return '' if $r == 16;
	return '00000000-0000-0000-0000-000000000000' if $r == 17;
	return [ 'S', join('', map { sprintf('\\u%04x', ord($_)) } split //, $u) ]
	  if $r == 18;    # every character escaped: the same uuid after parsing
	return ucfirst($u);
}

sub deep
{
	my ($depth) = @_;
	return chance(0.5)
	  ? \(('[' x $depth) . (']' x $depth))
	  : \(('{"a": ' x $depth) . '1' . ('}' x $depth));
}

sub long_string
{
	my $r = rand();
	return 'x' x rint(250, 300) if $r < 0.5;
	return "\x{1F600}" x rint(60, 70) if $r < 0.8;
	return 'y' x rint(1_048_576, 1_100_000) if $r < 0.83;
	return 'z' x rint(1000, 70000);
}

# a hostile JSON value of any kind
sub hostile_value
{
	my $r = rint(0, 15);
	return undef if $r == 0;
	return num(pick(@special_numbers)) if $r <= 3;
	return odd_string() if $r <= 5;
	return uuid_variant(ruuid()) if $r <= 7;
	return \'true' if $r == 8;
	return \'false' if $r == 9;
	return [ 'A', map { hostile_value_flat() } 1 .. rint(0, 3) ] if $r == 10;
	return [ 'O', map { [ odd_key(), hostile_value_flat() ] } 1 .. rint(0, 3) ] if $r == 11;
	return deep(rint(chance(0.9) ? 100 : 1000, chance(0.9) ? 3000 : 20000)) if $r == 12;
	return chance(0.1) ? long_string() : 'x' x rint(0, 40) if $r == 13;
	return num(rint(-5, 100)) if $r == 14;
	return [ 'A' ];
}

sub hostile_value_flat
{
	return pick(undef, num(pick(@special_numbers)), odd_string(), ruuid(), \'true',
		[ 'A' ], [ 'O' ], num(rint(0, 9)));
}

sub odd_key
{
	return pick('extra', 'cartid', 'CartId', 'cartId ', '', ' ', "cart\x{200F}Id",
		"\x{1F600}", [ 'S', '\u0000' ], [ 'S', 'cart\u0049d' ], 'items', 'total',
		'__proto__', 'constructor', 'x' x rint(1, 300));
}

########################################################################
# valid commands
########################################################################

# A model of a valid command: cart, customer, lines [productId, quantity,
# unitPrice], total, currency, optional paymentAuthorizationId.
sub new_model
{
	my ($nlines) = @_;
	$nlines //= chance(0.9) ? rint(1, 4) : rint(5, 40);
	my @lines;
	my $total = 0;
	for (1 .. $nlines)
	{
		my $q = chance(0.9) ? rint(1, 20) : rint(1, 2147483647);
		my $p = chance(0.9) ? rint(0, 100000) : rint(0, 9999);
		push @lines, [ ruuid(), $q, $p ];
		$total += $q * $p;
	}
	my %m = (
		cart => ruuid(),
		customer => ruuid(),
		lines => \@lines,
		total => $total,
		currency => pick(@currencies));
	if (chance(0.4))
	{
		$m{pa} = chance(0.8)
		  ? 'pa_' . rint(1, 1e9)
		  : pick("auth \x{1F600} \x{200F}\x{05D0}", 'x' x 255, "\x{20AC}" x 85, '', 'null');
	}
	return \%m;
}

# The command of a model: optionally items in another order, uuids in
# upper case, keys in another order.
sub command_of
{
	my ($m, %opt) = @_;
	my $u = sub { my $s = shift; return $opt{upper} && chance(0.5) ? uc($s) : $s; };
	my @lines = @{ $m->{lines} };
	@lines = shuffle(@lines) if $opt{shuffle};
	my @pairs = (
		[ 'cartId', $u->($m->{cart}) ],
		[ 'customerId', $u->($m->{customer}) ],
		[ 'items', [ 'A', map {
			[ 'O', [ 'productId', $u->($_->[0]) ], [ 'quantity', num($_->[1]) ],
				[ 'unitPrice', num($_->[2]) ] ] } @lines ] ],
		[ 'total', num($m->{total}) ],
		[ 'currency', $m->{currency} ]);
	push @pairs, [ 'paymentAuthorizationId', $m->{pa} ] if defined $m->{pa};
	@pairs = shuffle(@pairs) if $opt{shuffle};
	return [ 'O', @pairs ];
}

########################################################################
# mutations of a command
########################################################################

# every (container, index) slot of the document: object pairs and array elements
sub slots
{
	my ($v, $out) = @_;
	return $out unless ref $v eq 'ARRAY' && ($v->[0] eq 'O' || $v->[0] eq 'A');
	for my $i (1 .. $#$v)
	{
		push @$out, [ $v, $i ];
		slots($v->[0] eq 'O' ? $v->[$i][1] : $v->[$i], $out);
	}
	return $out;
}

sub objects
{
	my ($v, $out) = @_;
	return $out unless ref $v eq 'ARRAY' && ($v->[0] eq 'O' || $v->[0] eq 'A');
	push @$out, $v if $v->[0] eq 'O';
	slots_values($v, sub { objects($_[0], $out) });
	return $out;
}

sub slots_values
{
	my ($v, $f) = @_;
	$f->($v->[0] eq 'O' ? $v->[$_][1] : $v->[$_]) for 1 .. $#$v;
}

sub slot_get
{
	my ($c, $i) = @{ $_[0] };
	return $c->[0] eq 'O' ? $c->[$i][1] : $c->[$i];
}

sub slot_set
{
	my ($slot, $v) = @_;
	my ($c, $i) = @$slot;
	if ($c->[0] eq 'O') { $c->[$i][1] = $v; }
	else { $c->[$i] = $v; }
}

sub mutate
{
	my ($doc) = @_;
	my $op = rint(0, 13);
	my $slots = slots($doc, []);
	return $doc unless @$slots;
	my $slot = pick(@$slots);
	my $objs = objects($doc, []);
	my $obj = @$objs ? pick(@$objs) : undef;

	if ($op == 0 && $obj && @$obj > 1)    # drop a key
	{
		splice(@$obj, rint(1, $#$obj), 1);
	}
	elsif ($op <= 2)    # replace a value
	{
		slot_set($slot, hostile_value());
	}
	elsif ($op == 3 && $obj && @$obj > 1)    # duplicate a key, before or after
	{
		my $i = rint(1, $#$obj);
		my $dup = [ $obj->[$i][0], hostile_value() ];
		splice(@$obj, chance(0.5) ? $i : $i + 1, 0, $dup);
	}
	elsif ($op == 4)    # change a type
	{
		my $v = slot_get($slot);
		if (ref $v eq 'SCALAR') { slot_set($slot, $$v); }    # number -> string
		elsif (!ref $v && defined $v && $v =~ /^-?\d+$/) { slot_set($slot, num($v)); }
		elsif (ref $v eq 'ARRAY' && $v->[0] eq 'O')
		{
			slot_set($slot, [ 'A', map { $_->[1] } @$v[ 1 .. $#$v ] ]);
		}
		elsif (ref $v eq 'ARRAY' && $v->[0] eq 'A')
		{
			slot_set($slot, [ 'O', map { [ "$_", $v->[$_] ] } 1 .. $#$v ]);
		}
		else { slot_set($slot, [ 'A', $v ]); }
	}
	elsif ($op == 5 && $obj)    # an extra field
	{
		push @$obj, [ odd_key(), hostile_value() ];
	}
	elsif ($op == 6)    # a special number where a number is
	{
		my @nums = grep { ref slot_get($_) eq 'SCALAR' } @$slots;
		slot_set(pick(@nums), num(pick(@special_numbers))) if @nums;
	}
	elsif ($op == 7)    # a uuid variant where a uuid is
	{
		my @uuids = grep {
			my $v = slot_get($_);
			!ref $v && defined $v && $v =~ /^[0-9a-f-]{36}$/
		} @$slots;
		slot_set(pick(@uuids), uuid_variant(slot_get(pick(@uuids)))) if @uuids;
	}
	elsif ($op == 8)    # odd strings where strings are
	{
		my @strs = grep { my $v = slot_get($_); !ref $v && defined $v } @$slots;
		if (@strs)
		{
			my $s = pick(@strs);
			my $v = slot_get($s);
			my $pos = rint(0, length $v);
			slot_set($s, chance(0.5)
				? substr($v, 0, $pos) . pick(@odd_chars) . substr($v, $pos)
				: odd_string());
		}
	}
	elsif ($op == 9)    # items: empty, not an array, a duplicate product, a bad line
	{
		my ($items) = grep { $_->[0] eq 'items' } @$doc[ 1 .. $#$doc ];
		if ($items && ref $items->[1] eq 'ARRAY' && $items->[1][0] eq 'A')
		{
			my $arr = $items->[1];
			my $r = rint(0, 4);
			if ($r == 0) { splice(@$arr, 1); }
			elsif ($r == 1 && @$arr > 1) { push @$arr, clone($arr->[ rint(1, $#$arr) ]); }
			elsif ($r == 2) { push @$arr, hostile_value(); }
			elsif ($r == 3) { $items->[1] = [ 'O', map { [ "$_", $arr->[$_] ] } 1 .. $#$arr ]; }
			else { @$arr = ('A', reverse @$arr[ 1 .. $#$arr ]); }    # valid: another order
		}
	}
	elsif ($op == 10)    # total off
	{
		my ($total) = grep { $_->[0] eq 'total' } @$doc[ 1 .. $#$doc ];
		$total->[1] = num(${ $total->[1] } + pick(-1, 1, 100, -1e6))
		  if $total && ref $total->[1] eq 'SCALAR' && ${ $total->[1] } =~ /^\d+$/;
	}
	elsif ($op == 11)    # currency
	{
		my ($cur) = grep { $_->[0] eq 'currency' } @$doc[ 1 .. $#$doc ];
		$cur->[1] = pick('eur', 'Eur', 'EURO', 'EU', 'XXX', 'XTS', 'ZZZ', 'E UR', "EU\x{200F}R",
			"\x{0415}UR", ' EUR', 'EUR ', '€', '', num(978), [ 'A', 'EUR' ], undef)
		  if $cur;
	}
	elsif ($op == 12)    # deep nesting somewhere
	{
		slot_set($slot, deep(rint(500, chance(0.9) ? 5000 : 30000)));
	}
	else    # a long string somewhere
	{
		slot_set($slot, long_string());
	}
	return $doc;
}

# Damage the text of a command: most results are not JSON at all.
sub mutate_text
{
	my ($t) = @_;
	my $r = rint(0, 6);
	my $pos = rint(0, length $t);
	return substr($t, 0, $pos) if $r == 0;
	return substr($t, 0, $pos) . pick('{', '}', '[', ']', '"', ',', ':', '\\', "'", "\x{0}", 'x', ' ', "\n")
	  . substr($t, $pos) if $r == 1;
	return substr($t, 0, $pos) . substr($t, $pos + 1) if $r == 2;
	return $t . pick(',', '}', ' {}', ' x', '//', '/* */') if $r == 3;
	return pick('', ' ', '{', '[', 'nul', 'tru', '{"cartId"}', "{'cartId': 1}", '{,}', '[,]',
		'{"a":1,}', '01', '+1', '.5', '1.', '0x10', 'NaN', '-Infinity', '"\x"', '"\u12"',
		"\"\t\"", '{"a" 1}', '[1 2]', '{"a":1}{"b":2}') if $r == 4;
	return $t =~ s/"/'/gr if $r == 5;
	return $t =~ s/:/=/r;
}

########################################################################
# the cases
########################################################################

# Each case: fn, a1, a2, a3 (texts cast by the runner), ref_cart (a1 then
# names the order of that cart: ORDER, ORDER_UPPER or ORDER_BRACES), limits
# ('max_lines_per_order,max_command_bytes' for this call only), expect
# ('valid', 'replay', 'conflict', 'any', or a list of SQLSTATEs, 00000 for
# success, 'input' for a refusal by the input parser), replay_of (a case
# number), what (a label for the summary).
my @cases;
my @valid;    # [case number, model] of valid commands, for replays and references

sub add_case
{
	my (%c) = @_;
	$c{n} = scalar(@cases) + 1;
	push @cases, \%c;
	return $c{n};
}

sub add_create
{
	my ($text, $expect, $what, %more) = @_;
	return add_case(fn => 'create_order', a1 => $text, expect => $expect, what => $what, %more);
}

sub add_valid
{
	my ($m, %opt) = @_;
	my $n = add_create(enc(command_of($m, %opt)), 'valid', $opt{what} // 'valid');
	push @valid, [ $n, $m ];
	return $n;
}

# -- boundary cases whose outcome the README (Errors) and docs/orders.md fix -
{
	my ($m, $c, $n);
	# 1000 lines exactly (max_lines_per_order) is accepted, 1001 is 54000
	add_valid(new_model(1000), what => 'special: 1000 lines');
	$m = new_model(1001);
	add_create(enc(command_of($m)), '54000', 'special: 1001 lines');

	my $one = sub {
		my ($q, $p, $total, %extra) = @_;
		my $c = command_of(new_model(1));
		my $items = $c->[3][1];
		$items->[1][2][1] = num($q);
		$items->[1][3][1] = num($p);
		$c->[4][1] = num($total);
		push @$c, map { [ $_, $extra{$_} ] } sort keys %extra;
		return $c;
	};
	my @numeric = (
		# quantity, unitPrice, total, expected
		[ '1e400', '1', '1', '22003' ],
		[ '-1e400', '1', '1', '22023' ],
		[ '2147483648', '1', '2147483648', '22003' ],
		[ '2147483647', '1', '2147483647', '00000' ],
		[ '2147483647', '9223372036854775807', '1', '22003' ],    # the sum overflows
		[ '1', '9223372036854775808', '1', '22003' ],
		[ '1', '9223372036854775807', '9223372036854775807', '00000' ],
		[ '1', '1', '9223372036854775808', '22003' ],
		[ '1', '1', '1e400', '22003' ],
		[ '1', '1', '-1', '22023' ],
		[ '-0', '1', '0', '22023' ],
		[ '0', '1', '0', '22023' ],
		[ '1', '-0', '0', '00000' ],     # -0 is zero, not negative
		[ '1', '-1', '-1', '22023' ],
		[ '1.0', '100', '100', '00000' ],    # integral values are integers
		[ '1e2', '1', '100', '00000' ],
		[ '1E+2', '1', '1e2', '00000' ],
		[ '2.50e1', '4', '100', '00000' ],
		[ '0.5', '2', '1', '22023' ],
		[ '1.5e0', '2', '3', '22023' ],
		[ '1', '0.5', '0.5', '22023' ],
		[ '1', '1', '1.5', '22023' ],
		[ '1e-400', '1', '0', '22023' ],
		[ '1', '1', '2', '22023' ],    # total mismatch
	);
	for my $c (@numeric)
	{
		add_create(enc($one->(@$c[ 0 .. 2 ])), [ $c->[3] ],
			"special: quantity $c->[0] unitPrice $c->[1] total $c->[2]");
	}

	# paymentAuthorizationId: 255 bytes, not characters
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => 'a' x 255)), ['00000'], 'special: pa 255 bytes');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => 'a' x 256)), ['22001'], 'special: pa 256 bytes');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => "\x{20AC}" x 85)), ['00000'], 'special: pa 85 euro signs (255 bytes)');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => "\x{20AC}" x 86)), ['22001'], 'special: pa 86 euro signs (258 bytes)');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => "\x{1F600}\x{200F}\x{202E}\x{05D0} \x{0301}")), ['00000'], 'special: pa emoji and RTL marks');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => [ 'S', 'pa \ud83d\ude00 escaped' ])), ['00000'], 'special: pa escaped surrogate pair');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => [ 'S', 'pa\u0000' ])), ['input'], 'special: pa NUL escape');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => [ 'S', 'pa\ud800' ])), ['input'], 'special: pa lone high surrogate');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => [ 'S', 'pa\udc00x' ])), ['input'], 'special: pa lone low surrogate');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => 'p' x 1_100_000)), ['54000'], 'special: pa 1.1 MB');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => num(5))), ['22023'], 'special: pa a number');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => undef)), ['22023', '00000'], 'special: pa null');
	# unknown fields are ignored, unless they make the command too large
	add_create(enc($one->(1, 5, 5, extra => deep(3000))), ['00000'], 'special: extra field 3000 levels deep');
	add_create(enc($one->(1, 5, 5, extra => 'e' x 1_100_000)), ['54000'], 'special: extra field 1.1 MB');
	add_create(enc($one->(1, 5, 5, "\x{1F600}" => "\x{202E}", cartid => 'x')), ['00000'], 'special: odd extra keys');
	add_create(\(('[' x 200000) . (']' x 200000)), ['input'], 'special: 200000 levels of arrays');
	# many items: the limit is checked before the items are read
	$c = command_of(new_model(1));
	$c->[3][1] = [ 'A', map { num($_) } 1 .. 100000 ];
	add_create(enc($c), ['54000'], 'special: 100000 numbers as items');
	$m = new_model(1000);
	$c = command_of($m);
	$c->[3][1][1000][1][1] = 'not a uuid';
	add_create(enc($c), ['22P02'], 'special: 1000 lines, the last one bad');

	# the limits are settings (set for the one call here)
	add_create(enc(command_of(new_model(3))), ['54000'], 'special: 3 lines, max_lines_per_order 2',
		limits => '2,1048576');
	add_create(enc(command_of(new_model(2))), ['00000'], 'special: 2 lines, max_lines_per_order 2',
		limits => '2,1048576');
	add_create(enc(command_of(new_model(1001))), ['00000'], 'special: 1001 lines, max_lines_per_order 100000',
		limits => '100000,1048576');
	add_create(enc(command_of(new_model(20))), ['54000'], 'special: 20 lines, max_command_bytes 1024',
		limits => '1000,1024');
	add_create(enc($one->(1, 5, 5, paymentAuthorizationId => 'p' x 1_100_000)), ['22001'],
		'special: pa 1.1 MB, max_command_bytes 64MB', limits => '1000,67108864');

	# uuids: canonical 8-4-4-4-12 hex, in either case
	for my $variant (
		[ 'upper case', sub { uc $_[0] }, '00000' ],
		[ 'braces', sub { "{$_[0]}" }, '22P02' ],
		[ 'no dashes', sub { $_[0] =~ s/-//gr }, '22P02' ],
		[ 'urn', sub { "urn:uuid:$_[0]" }, '22P02' ],
		[ 'leading space', sub { " $_[0]" }, '22P02' ],
		[ 'RTL mark', sub { "\x{200F}$_[0]" }, '22P02' ],
		[ 'fullwidth digit', sub { substr($_[0], 0, 9) . "\x{FF11}" . substr($_[0], 10) }, '22P02' ],
		[ 'dashes moved', sub { join('-', unpack('(A4)*', $_[0] =~ s/-//gr)) }, '22P02' ])
	{
		for my $field (qw(cartId customerId productId))
		{
			my $c = command_of(new_model(1));
			if ($field eq 'productId') { $c->[3][1][1][1][1] = $variant->[1]->($c->[3][1][1][1][1]); }
			else
			{
				my ($pair) = grep { $_->[0] eq $field } @$c[ 1 .. $#$c ];
				$pair->[1] = $variant->[1]->($pair->[1]);
			}
			add_create(enc($c), [ $variant->[2] ], "special: $field $variant->[0]");
		}
	}
	# wrong types
	$c = command_of(new_model(1));
	$c->[1][1] = num(42);
	add_create(enc($c), ['22023'], 'special: cartId a number');
	$c = command_of(new_model(1));
	$c->[3][1] = [ 'O', [ '0', $c->[3][1][1] ] ];
	add_create(enc($c), ['22023'], 'special: items an object');
	$c = command_of(new_model(1));
	$c->[3][1][1] = [ 'A', map { $_->[1] } @{ $c->[3][1][1] }[ 1 .. 3 ] ];
	add_create(enc($c), ['22023'], 'special: an item an array');
	$c = command_of(new_model(1));
	$c->[3][1][1][2][1] = '1';
	add_create(enc($c), ['22023'], 'special: quantity a string');
	$c = command_of(new_model(1));
	$c->[3][1] = [ 'A' ];
	add_create(enc($c), ['22023'], 'special: no items');
	$c = command_of(new_model(1));
	$c->[3][1] = undef;
	add_create(enc($c), ['22023'], 'special: items null');
	$c = command_of(new_model(2));
	$c->[3][1][2][1][1] = $c->[3][1][1][1][1];
	add_create(enc($c), ['22023'], 'special: a product twice');
	$c = command_of(new_model(1));
	$c->[5][1] = 'eur';
	add_create(enc($c), ['22023'], 'special: currency lower case');
	$c = command_of(new_model(1));
	$c->[5][1] = 'ZZZ';
	add_create(enc($c), ['22023'], 'special: currency not ISO 4217');
	$c = command_of(new_model(1));
	splice(@$c, 1, 1);
	add_create(enc($c), ['22023'], 'special: cartId missing');
	add_create(undef, ['22004'], 'special: SQL NULL');
	add_create('null', ['22023'], 'special: JSON null');
	add_create('[]', ['22023'], 'special: an array');
	add_create('"{}"', ['22023'], 'special: a string');
	add_create('{}', ['22023'], 'special: an empty object');
	add_create('{"cartId": 1e400}', ['22023'], 'special: cartId 1e400');

	# duplicate keys: jsonb keeps the last one
	$m = new_model(1);
	$c = command_of($m);
	splice(@$c, 1, 0, [ 'cartId', 'not a uuid' ]);
	$n = add_create(enc($c), 'valid', 'special: duplicate cartId, the valid one last');
	push @valid, [ $n, $m ];
	$c = command_of(new_model(1));
	push @$c, [ 'cartId', 'not a uuid' ];
	add_create(enc($c), ['22P02'], 'special: duplicate cartId, the invalid one last');
	$c = command_of(new_model(1));
	push @$c, [ 'items', [ 'A' ] ];
	add_create(enc($c), ['22023'], 'special: duplicate items, the empty one last');
	$m = new_model(1);
	$c = command_of($m);
	splice(@$c, 1, 0, [ 'total', num(-1) ], [ 'items', undef ]);
	$n = add_create(enc($c), 'valid', 'special: duplicate total and items, the valid ones last');
	push @valid, [ $n, $m ];

	# a valid command, its replay with items in another order and uuids in
	# upper case, and a conflicting command for the same cart
	$m = new_model(3);
	$n = add_valid($m, what => 'special: valid, then replayed');
	add_create(enc(command_of($m, shuffle => 1, upper => 1)), 'replay', 'special: replay', replay_of => $n);
	my %other = (%$m, lines => [ map { [@$_] } @{ $m->{lines} } ]);
	$other{lines}[0][1]++;
	$other{total} += $other{lines}[0][2];
	add_create(enc(command_of(\%other)), ['23505'], 'special: same cart, other quantity');
	%other = (%$m, currency => $m->{currency} eq 'EUR' ? 'USD' : 'EUR');
	add_create(enc(command_of(\%other)), ['23505'], 'special: same cart, other currency');

	# lifecycle
	add_case(fn => 'cancel_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => 'fraud',
		expect => ['22023'], what => 'special: cancel, lower-case reason');
	add_case(fn => 'cancel_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => 'FRAUD ',
		expect => ['22023'], what => 'special: cancel, reason with a space');
	add_case(fn => 'cancel_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => undef,
		expect => ['22004'], what => 'special: cancel, NULL reason');
	add_case(fn => 'cancel_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => 'R' x 1_000_000,
		expect => ['22023'], what => 'special: cancel, a 1 MB reason');
	add_case(fn => 'cancel_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => "FRAUD\x{200F}",
		expect => ['22023'], what => 'special: cancel, reason with an RTL mark');
	add_case(fn => 'cancel_order', a1 => undef, a2 => 'FRAUD',
		expect => ['22004'], what => 'special: cancel, NULL id');
	add_case(fn => 'complete_order', a1 => ruuid(),
		expect => ['P0002'], what => 'special: complete, unknown id');
	add_case(fn => 'complete_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => '2',
		expect => ['OM001'], what => 'special: complete, version 2 of a CREATED order');
	add_case(fn => 'complete_order', ref_cart => $m->{cart}, a1 => 'ORDER', a2 => '2147483648',
		expect => ['input'], what => 'special: complete, version beyond int4');
	add_case(fn => 'complete_order', ref_cart => $m->{cart}, a1 => 'ORDER_BRACES', a2 => '1',
		expect => ['00000'], what => 'special: complete, id in braces (the uuid type takes it)');
	add_case(fn => 'cancel_order', ref_cart => $m->{cart}, a1 => 'ORDER_UPPER', a2 => 'FRAUD',
		expect => ['55000'], what => 'special: cancel a completed order');
	add_case(fn => 'get_order', ref_cart => $m->{cart}, a1 => 'ORDER_UPPER',
		expect => ['00000'], what => 'special: get_order, upper-case id');
	add_case(fn => 'get_order', a1 => 'not a uuid',
		expect => ['input'], what => 'special: get_order, not a uuid');
	add_case(fn => 'get_order', a1 => undef,
		expect => ['00000'], what => 'special: get_order, NULL');
	# the replay of a completed order still returns its id
	add_create(enc(command_of($m, shuffle => 1)), 'replay', 'special: replay after completion', replay_of => $n);
}

my $nspecial = scalar @cases;

# -- random cases ------------------------------------------------------------
my @reasons = qw(CUSTOMER_REQUESTED PAYMENT_FAILED OUT_OF_STOCK FRAUD);

# now and then other limits (max_lines_per_order, max_command_bytes) for a call
sub random_limits
{
	return () unless chance(0.05);
	return (limits => pick(1, 2, 3, 1000, 100000) . ',' . pick(1024, 1500, 4096, 1048576, 67108864));
}
my @consumer_names = ('billing', 'audit', 'c.1', 'c-2:x');

sub random_case
{
	my $r = rand();
	if ($r < 0.22)    # a valid command
	{
		my $m = new_model(chance(0.002) ? 1000 : undef);
		return add_valid($m, shuffle => chance(0.3), upper => chance(0.1));
	}
	if ($r < 0.28 && @valid)    # a replay
	{
		my ($n, $m) = @{ pick(@valid) };
		return add_create(enc(command_of($m, shuffle => chance(0.7), upper => chance(0.2))),
			'replay', 'replay', replay_of => $n);
	}
	if ($r < 0.31 && @valid)    # the same cart, different content
	{
		my ($n, $m) = @{ pick(@valid) };
		my %o = (%$m, lines => [ map { [@$_] } @{ $m->{lines} } ]);
		my $k = rint(0, 3);
		if ($k == 0) { $o{customer} = ruuid(); }
		elsif ($k == 1) { $o{currency} = pick(grep { $_ ne $m->{currency} } @currencies); }
		elsif ($k == 2) { $o{pa} = defined $m->{pa} ? undef : 'pa_other'; }
		else
		{
			$o{lines}[0][2]++;
			$o{total} += $o{lines}[0][1];
		}
		return add_create(enc(command_of(\%o, shuffle => chance(0.5))), 'conflict', 'conflict');
	}
	if ($r < 0.74)    # a mutated command
	{
		my $doc = command_of(new_model(), shuffle => chance(0.3));
		# sometimes the cart of an earlier order
		$doc->[1][1] = $valid[ rint(0, $#valid) ][1]{cart} if @valid && chance(0.03);
		$doc = mutate($doc) for 1 .. pick(1, 1, 1, 2, 3);
		return add_create(enc($doc), 'any', 'mutation', random_limits());
	}
	if ($r < 0.80)    # damaged text
	{
		my $t = enc(command_of(new_model()));
		$t = mutate_text($t) for 1 .. pick(1, 1, 2);
		return add_create(\$t, 'any', 'damaged text', random_limits());
	}
	if ($r < 0.84)    # not a command at all
	{
		return add_create(enc(hostile_value()), 'any', 'hostile value');
	}
	if ($r < 0.96)    # lifecycle and get_order
	{
		my $fn = pick('cancel_order', 'complete_order', 'get_order');
		my %c = (fn => $fn, expect => 'any', what => 'lifecycle');
		my $k = rand();
		if ($k < 0.5 && @valid)
		{
			$c{ref_cart} = $valid[ rint(0, $#valid) ][1]{cart};
			$c{a1} = pick('ORDER', 'ORDER', 'ORDER_UPPER', 'ORDER_BRACES');
		}
		elsif ($k < 0.7) { $c{a1} = ruuid(); }
		elsif ($k < 0.75) { $c{a1} = undef; }
		else
		{
			my $v = uuid_variant(ruuid());
			$c{a1} = ref $v ? enc($v) : $v;
		}
		my $version = pick(undef, undef, undef, '1', '1', '2', '0', '-1', '2147483647',
			'2147483648', '1.5', 'one', '', ' 1', '1e2');
		if ($fn eq 'cancel_order')
		{
			$c{a2} = chance(0.7) ? pick(@reasons) : (chance(0.1) ? undef : do {
				my $s = odd_string();
				ref $s ? $s->[1] : $s;
			});
			$c{a2} = lc($c{a2}) if defined $c{a2} && chance(0.05);
			$c{a3} = $version;
		}
		elsif ($fn eq 'complete_order') { $c{a2} = $version; }
		return add_case(%c);
	}
	# polling consumers
	my $fn = pick('register_consumer', 'fetch_events', 'ack_events', 'unregister_consumer');
	my $name = chance(0.8) ? pick(@consumer_names) : pick(undef, '', ' ', 'x' x 64, 'x' x 63,
		"b\x{1F600}", 'a b', "tab\t", 'DROP TABLE', "c\x{200F}");
	my %c = (fn => $fn, a1 => $name, expect => 'any', what => 'consumers');
	$c{a2} = pick(undef, 'true', 'false', 't', 'yes', 'maybe', '') if $fn eq 'register_consumer';
	$c{a2} = pick(undef, '0', '1', '5', '100', '10000', '10001', '-1', '2147483648', 'x')
	  if $fn eq 'fetch_events';
	$c{a2} = pick(undef, '0', '1', '3', '10', '100000', '-1', '9223372036854775807',
		'9223372036854775808', '1.5', 'x') if $fn eq 'ack_events';
	return add_case(%c);
}

random_case() while @cases < $ncalls;
my $generated = Time::HiRes::time();

########################################################################
# run them
########################################################################

my $node = start_node('hostile',
	conf => "log_min_messages = warning\nlog_min_error_statement = panic\n");

$node->safe_psql('postgres', <<'SQL');
CREATE TABLE fuzz_cases (n integer PRIMARY KEY, fn text NOT NULL, a1 text, a2 text, a3 text,
                         ref_cart uuid, limits text, expect text[], replay_of integer, what text);
CREATE TABLE fuzz_results (n integer PRIMARY KEY, phase text NOT NULL, sqlstate text NOT NULL,
                           message text, result text);

-- Run the cases from from_n on, each in its own transaction.  The input
-- casts and the call are separate blocks, so a refusal by a type's input
-- function (phase 'input') is told from an error of the function ('call').
CREATE PROCEDURE fuzz_run(from_n integer) LANGUAGE plpgsql AS $proc$
DECLARE
  r record;
  phase text;
  st text;
  msg text;
  res text;
  cmd jsonb;
  id uuid;
  i1 integer;
  i8 bigint;
  b boolean;
  a1 text;
BEGIN
  FOR r IN SELECT * FROM fuzz_cases WHERE n >= from_n ORDER BY n LOOP
    phase := 'input'; st := '00000'; msg := NULL; res := NULL; cmd := NULL; id := NULL;
    i1 := NULL; i8 := NULL; b := NULL; a1 := r.a1;
    IF r.ref_cart IS NOT NULL THEN
      SELECT CASE r.a1 WHEN 'ORDER_UPPER' THEN upper(o.order_id::text)
                       WHEN 'ORDER_BRACES' THEN '{' || o.order_id || '}'
                       ELSE o.order_id::text END
        INTO a1 FROM order_mgmt.orders o WHERE o.cart_id = r.ref_cart;
    END IF;
    IF r.limits IS NOT NULL THEN
      PERFORM set_config('order_mgmt.max_lines_per_order', split_part(r.limits, ',', 1), true),
              set_config('order_mgmt.max_command_bytes', split_part(r.limits, ',', 2), true);
    END IF;
    BEGIN
      IF r.fn = 'create_order' THEN
        cmd := a1::jsonb;
      ELSIF r.fn IN ('cancel_order', 'complete_order', 'get_order') THEN
        id := a1::uuid;
        i1 := (CASE r.fn WHEN 'cancel_order' THEN r.a3 WHEN 'complete_order' THEN r.a2 END)::integer;
      ELSIF r.fn = 'fetch_events' THEN
        i1 := r.a2::integer;
      ELSIF r.fn = 'ack_events' THEN
        i8 := r.a2::bigint;
      ELSIF r.fn = 'register_consumer' THEN
        b := r.a2::boolean;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      st := SQLSTATE; msg := SQLERRM;
    END;
    IF st = '00000' THEN
      phase := 'call';
      BEGIN
        CASE r.fn
          WHEN 'create_order' THEN res := order_mgmt.create_order(cmd)::text;
          WHEN 'cancel_order' THEN res := order_mgmt.cancel_order(id, r.a2, i1)::text;
          WHEN 'complete_order' THEN res := order_mgmt.complete_order(id, i1)::text;
          WHEN 'get_order' THEN
            res := order_mgmt.get_order(id)::text;
            IF res IS NOT NULL AND (res::jsonb->>'orderId')::uuid IS DISTINCT FROM id THEN
              RAISE EXCEPTION 'get_order returned another order' USING ERRCODE = 'XX001';
            END IF;
          WHEN 'register_consumer' THEN res := order_mgmt.register_consumer(a1, b)::text;
          WHEN 'fetch_events' THEN
            SELECT count(*)::text INTO res FROM order_mgmt.fetch_events(a1, i1);
          WHEN 'ack_events' THEN res := order_mgmt.ack_events(a1, i8)::text;
          WHEN 'unregister_consumer' THEN PERFORM order_mgmt.unregister_consumer(a1);
        END CASE;
      EXCEPTION WHEN OTHERS THEN
        st := SQLSTATE; msg := SQLERRM;
      END;
    END IF;
    INSERT INTO fuzz_results VALUES (r.n, phase, st, left(msg, 300), left(res, 300));
    COMMIT;
  END LOOP;
END
$proc$;
SQL

# load the cases with COPY (text format)
sub copy_field
{
	my ($v) = @_;
	return '\N' unless defined $v;
	$v = $$v if ref $v eq 'SCALAR';
	# characters, not bytes: a string Perl keeps as latin-1 bytes must be
	# upgraded before it is encoded as UTF-8
	utf8::upgrade($v);
	utf8::encode($v);
	$v =~ s/\\/\\\\/g;
	$v =~ s/\n/\\n/g;
	$v =~ s/\r/\\r/g;
	$v =~ s/\t/\\t/g;
	return $v;
}

my $copy_file = $node->basedir . '/fuzz_cases.copy';
open(my $fh, '>:raw', $copy_file) or die "could not write $copy_file: $!";
for my $c (@cases)
{
	my $expect = ref $c->{expect} eq 'ARRAY' ? '{' . join(',', @{ $c->{expect} }) . '}' : "{$c->{expect}}";
	# NUL cannot travel in a text column: it only appears in damaged text,
	# where it stands for a stray byte; write it as the JSON escape instead
	my $a1 = $c->{a1};
	$a1 = $$a1 if ref $a1 eq 'SCALAR';
	$a1 =~ s/\x{0}/\\u0000/g if defined $a1;
	print $fh join("\t",
		$c->{n}, $c->{fn}, copy_field($a1), copy_field($c->{a2}), copy_field($c->{a3}),
		copy_field($c->{ref_cart}), copy_field($c->{limits}), $expect, copy_field($c->{replay_of}), copy_field($c->{what})),
	  "\n";
}
close($fh);

$node->safe_psql('postgres', "COPY fuzz_cases FROM '$copy_file'");
is($node->safe_psql('postgres', 'SELECT count(*) FROM fuzz_cases'), scalar(@cases),
	scalar(@cases) . " cases loaded ($nspecial boundary cases)");

my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $running = Time::HiRes::time();
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'CALL fuzz_run(1)',
	timeout => 3 * $PostgreSQL::Test::Utils::timeout_default);
my $ran = Time::HiRes::time();
is($ret, 0, 'the session that ran every call survived') or diag($stderr);

my $done = $node->safe_psql('postgres', 'SELECT count(*) FROM fuzz_results');
is($done, scalar(@cases), 'every case has an outcome')
  or diag('the first case without an outcome: '
	  . $node->safe_psql('postgres',
		  'SELECT n || E\'\\t\' || fn || E\'\\t\' || what || E\'\\t\' || left(coalesce(a1, \'NULL\'), 2000) '
		  . 'FROM fuzz_cases WHERE n NOT IN (SELECT n FROM fuzz_results) ORDER BY n LIMIT 1'));
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $start_time,
	'the postmaster was not restarted');

########################################################################
# checks
########################################################################

# query returning rows that must not exist; each row is shown on failure
sub none
{
	my ($what, $sql) = @_;
	my $rows = $node->safe_psql('postgres', $sql);
	is($rows, '', $what) or diag(substr($rows, 0, 4000));
}

my %documented = (
	create_order => [qw(00000 22023 22P02 22003 22001 22004 54000 23505)],
	cancel_order => [qw(00000 22023 22004 P0002 55000 OM001)],
	complete_order => [qw(00000 22004 P0002 55000 OM001)],
	get_order => [qw(00000)],
	register_consumer => [qw(00000 22023 22004 42710)],
	fetch_events => [qw(00000 22023 22004 42704)],
	ack_events => [qw(00000 22023 22004 42704)],
	unregister_consumer => [qw(00000 22004 42704)]);
my $documented_values = join(', ',
	map { my $f = $_; map { "('$f', '$_')" } @{ $documented{$f} } } sort keys %documented);

none('every call that ran failed only with a SQLSTATE documented for its function', qq{
	SELECT r.n || ' ' || c.fn || ' ' || r.sqlstate || ' ' || c.what || ': ' || coalesce(r.message, '')
	       || ' <- ' || left(coalesce(c.a1, 'NULL'), 300)
	FROM fuzz_results r JOIN fuzz_cases c USING (n)
	WHERE r.phase = 'call'
	  AND (c.fn, r.sqlstate) NOT IN (VALUES $documented_values)
	ORDER BY r.n});

# input a type refused before the function ran: jsonb syntax (22P02), the
# NUL escape (22P05), nesting beyond the stack (54001), a uuid or number
# that is not one (22P02, 22003)
none('input refused by the parsers only with their own SQLSTATEs', q{
	SELECT r.n || ' ' || c.fn || ' ' || r.sqlstate || ': ' || coalesce(r.message, '')
	FROM fuzz_results r JOIN fuzz_cases c USING (n)
	WHERE r.phase = 'input'
	  AND NOT (r.sqlstate IN ('22P02', '22P05', '54001') AND c.fn = 'create_order'
	           OR r.sqlstate IN ('22P02', '22003') AND c.fn <> 'create_order')
	ORDER BY r.n});

none('cases with a fixed outcome got it', q{
	SELECT r.n || ' ' || c.what || ': expected ' || array_to_string(c.expect, '|') || ', got '
	       || r.phase || ' ' || r.sqlstate || ' ' || coalesce(r.message, '')
	FROM fuzz_results r JOIN fuzz_cases c USING (n)
	WHERE c.expect <> '{any}' AND CASE
	  WHEN c.expect = '{valid}' OR c.expect = '{replay}' THEN r.sqlstate <> '00000'
	  WHEN c.expect = '{conflict}' THEN r.sqlstate <> '23505'
	  WHEN c.expect = '{input}' THEN r.phase <> 'input'
	  ELSE r.phase <> 'call' OR NOT r.sqlstate = ANY (c.expect) END
	ORDER BY r.n});

none('a replay returns the first order id', q{
	SELECT r.n || ' ' || c.what || ' returned ' || coalesce(r.result, 'NULL') || ', not ' || coalesce(f.result, 'NULL')
	FROM fuzz_results r JOIN fuzz_cases c USING (n) JOIN fuzz_results f ON f.n = c.replay_of
	WHERE c.expect = '{replay}' AND r.result IS DISTINCT FROM f.result
	ORDER BY r.n});

# What each successful create_order made: the order get_order returns
# agrees with the command (jsonb keeps the last of duplicate keys), the
# items in command order for the call that made it, as a set for replays.
$node->safe_psql('postgres', q{
	CREATE TABLE created AS
	SELECT r.n, r.result::uuid AS order_id, c.a1::jsonb AS cmd,
	       order_mgmt.get_order(r.result::uuid) AS g,
	       r.n = min(r.n) OVER (PARTITION BY r.result) AS first
	FROM fuzz_results r JOIN fuzz_cases c USING (n)
	WHERE c.fn = 'create_order' AND r.phase = 'call' AND r.sqlstate = '00000'});

none('get_order returns what each successful create_order was given', q{
	SELECT n || ' ' || left(cmd::text, 300) || ' -> ' || coalesce(left(g::text, 300), 'NULL')
	FROM created
	WHERE g IS NULL
	   OR g->>'orderId' <> order_id::text
	   OR g->>'cartId' <> lower(cmd->>'cartId')
	   OR g->>'customerId' <> lower(cmd->>'customerId')
	   OR g->>'currency' <> cmd->>'currency'
	   OR (g->>'total')::numeric <> (cmd->>'total')::numeric
	   OR g->'paymentAuthorizationId' IS DISTINCT FROM cmd->'paymentAuthorizationId'
	   OR jsonb_array_length(g->'items') <> jsonb_array_length(cmd->'items')
	   OR first AND EXISTS (
	        SELECT FROM jsonb_array_elements(g->'items') WITH ORDINALITY gi(item, i)
	        JOIN jsonb_array_elements(cmd->'items') WITH ORDINALITY ci(item, i) USING (i)
	        WHERE gi.item->>'productId' <> lower(ci.item->>'productId')
	           OR (gi.item->>'quantity')::numeric <> (ci.item->>'quantity')::numeric
	           OR (gi.item->>'unitPrice')::numeric <> (ci.item->>'unitPrice')::numeric)
	   OR EXISTS (
	        SELECT lower(item->>'productId'), (item->>'quantity')::numeric, (item->>'unitPrice')::numeric
	        FROM jsonb_array_elements(cmd->'items') item
	        EXCEPT
	        SELECT item->>'productId', (item->>'quantity')::numeric, (item->>'unitPrice')::numeric
	        FROM jsonb_array_elements(g->'items') item)
	ORDER BY n});

is( $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM order_mgmt.orders) = (SELECT count(DISTINCT order_id) FROM created)}),
	't', 'the orders are exactly those successful create_order calls returned');

none('every order has its lines, and they add up to its total', q{
	SELECT o.order_id || ' lines ' || count(l.line_no) || ' sum ' || coalesce(sum(l.quantity::numeric * l.unit_price), -1)
	       || ' total ' || o.total
	FROM order_mgmt.orders o LEFT JOIN order_mgmt.order_lines l USING (order_id)
	GROUP BY o.order_id, o.total
	HAVING count(l.line_no) = 0 OR sum(l.quantity::numeric * l.unit_price) <> o.total
	    OR count(l.line_no) <> max(l.line_no) - min(l.line_no) + 1});

none('the outbox holds one OrderCreated per order, and a terminal event exactly for final orders', q{
	SELECT o.order_id || ' ' || o.status || ' v' || o.version || ': '
	       || coalesce(string_agg(e.type || ' v' || e.order_version, ', ' ORDER BY e.position), 'no events')
	FROM order_mgmt.orders o LEFT JOIN order_mgmt.outbox e ON e.aggregateid = o.order_id
	GROUP BY o.order_id, o.status, o.version
	HAVING count(*) FILTER (WHERE e.type = 'OrderCreated' AND e.order_version = 1) <> 1
	    OR count(e.position) <> o.version
	    OR o.status = 'CREATED' AND o.version <> 1
	    OR o.status <> 'CREATED' AND count(*) FILTER (WHERE e.order_version = 2 AND e.type =
	         CASE o.status WHEN 'COMPLETED' THEN 'OrderCompleted' ELSE 'OrderCancelled' END) <> 1});

none('no event without an order', q{
	SELECT e.position || ' ' || e.type FROM order_mgmt.outbox e
	WHERE NOT EXISTS (SELECT FROM order_mgmt.orders o WHERE o.order_id = e.aggregateid)});

none('each successful cancel or complete returned version 2 and left its status', q{
	SELECT r.n || ' ' || c.fn || ' returned ' || r.result || ', order ' || coalesce(o.status, 'missing')
	FROM fuzz_results r JOIN fuzz_cases c USING (n)
	LEFT JOIN order_mgmt.orders o ON o.order_id = (SELECT x.order_id FROM order_mgmt.orders x WHERE x.cart_id = c.ref_cart)
	WHERE c.fn IN ('cancel_order', 'complete_order') AND r.phase = 'call' AND r.sqlstate = '00000'
	  AND (r.result <> '2' OR o.status IS DISTINCT FROM
	       CASE c.fn WHEN 'cancel_order' THEN 'CANCELLED' ELSE 'COMPLETED' END)});

is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM fuzz_results r JOIN fuzz_cases c USING (n)
		WHERE c.fn IN ('cancel_order', 'complete_order') AND r.sqlstate = '00000'}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM order_mgmt.orders WHERE status <> 'CREATED'}),
	'every final order was made final by one successful call');

none('no consumer acknowledged beyond the feed', q{
	SELECT name || ' ' || acked_seq FROM order_mgmt.consumers
	WHERE acked_seq > (SELECT coalesce(max(seq), 0) FROM order_mgmt.event_feed) OR acked_seq < 0});

# summary
my $summary = $node->safe_psql('postgres', q{
	SELECT rpad(c.fn, 20) || rpad(r.phase, 6) || rpad(r.sqlstate, 6) || lpad(count(*)::text, 7)
	FROM fuzz_results r JOIN fuzz_cases c USING (n)
	GROUP BY c.fn, r.phase, r.sqlstate ORDER BY c.fn, r.phase, r.sqlstate});
my $totals = $node->safe_psql('postgres', q{
	SELECT 'orders ' || (SELECT count(*) FROM order_mgmt.orders) || ', lines '
	       || (SELECT count(*) FROM order_mgmt.order_lines) || ', events '
	       || (SELECT count(*) FROM order_mgmt.outbox)});
diag(sprintf("seed %d: %d calls (generated in %.1f s, run in %.1f s)\n"
	  . "function            phase sqlstate count\n%s\n%s",
	$seed, scalar(@cases), $generated - $started, $ran - $running, $summary, $totals));

# the log covers the calls and the checks: no crash, no warning (such as a
# resource leak reported at commit)
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated|PANIC|TRAP:|
	  terminating any other active server processes|database system was interrupted/x,
	'the server log shows no crash');
my @warnings = $log =~ /^.*(?:WARNING|ERROR|FATAL):.*$/mg;
is(scalar(@warnings), 0, 'the server log has no warnings or errors')
  or diag(join("\n", @warnings[ 0 .. ($#warnings < 20 ? $#warnings : 19) ]));

$node->stop;
done_testing();
