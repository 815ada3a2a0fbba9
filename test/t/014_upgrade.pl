# Upgrades: from every version the extension has shipped, ALTER EXTENSION
# ... UPDATE walks the update scripts one version at a time up to the
# default version, keeps the data and the running parts working, and ends
# with exactly the objects, definitions and privileges of a fresh install.
#
# The versions come from the installed files (pg_available_extension_versions),
# so a new version is walked as soon as its scripts exist.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use OrderMgmt::Test;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the settings of the pg_regress and isolation instances; the extension is
# created below, at each version
my $node = start_node('upgrade', extension => []);

# versions oldest first, and the one CREATE EXTENSION installs
my @versions = split /\n/, $node->safe_psql('postgres',
	"SELECT version FROM pg_available_extension_versions WHERE name = 'order_mgmt' "
	  . "ORDER BY string_to_array(version, '.')::int[]");
my $default = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'order_mgmt'");
ok(scalar(@versions) >= 2, 'more than one version is installed: ' . join(', ', @versions));
is($versions[-1], $default, "the newest version $default is the default");

# Everything that makes up the installed extension, one line per fact:
# members, function definitions with their privileges and settings,
# relations with their options and privileges, columns in order with
# types and defaults, constraints, indexes, triggers, view definitions,
# sequence parameters, the tables pg_dump dumps and the schema's privileges.
my $fingerprint_sql = <<'SQL';
WITH members AS (
	SELECT d.classid, d.objid FROM pg_depend d
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'order_mgmt')),
rels AS (
	SELECT c.* FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid)
SELECT line FROM (
	SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) AS line FROM members m
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || ' acl=' || coalesce(p.proacl::text, '-')
	       || E'\n' || pg_get_functiondef(p.oid)
	  FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	UNION ALL
	SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
	       || ' options=' || coalesce(c.reloptions::text, '-') || ' acl=' || coalesce(c.relacl::text, '-')
	  FROM rels c
	UNION ALL
	SELECT 'column ' || a.attrelid::regclass || ' #' || a.attnum || ' ' || a.attname || ' '
	       || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
	       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
	       || ' acl=' || coalesce(a.attacl::text, '-')
	  FROM pg_attribute a JOIN rels c ON c.oid = a.attrelid
	  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	 WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'constraint ' || con.conrelid::regclass || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
	  FROM pg_constraint con JOIN rels c ON c.oid = con.conrelid
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	       || ' options=' || coalesce((SELECT ic.reloptions::text FROM pg_class ic WHERE ic.oid = i.indexrelid), '-')
	  FROM pg_index i JOIN rels c ON c.oid = i.indrelid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid)
	  FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
	UNION ALL
	SELECT 'view ' || c.oid::regclass || E'\n' || pg_get_viewdef(c.oid) FROM rels c WHERE c.relkind = 'v'
	UNION ALL
	SELECT 'sequence ' || s.seqrelid::regclass || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart
	       || ' ' || s.seqincrement || ' ' || s.seqmax || ' ' || s.seqmin || ' ' || s.seqcache || ' ' || s.seqcycle
	  FROM pg_sequence s JOIN rels c ON c.oid = s.seqrelid
	UNION ALL
	SELECT 'dumped ' || cfg::regclass || ' ' || coalesce(cond, '')
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
	 WHERE e.extname = 'order_mgmt'
	UNION ALL
	SELECT 'schema ' || n.nspname || ' acl=' || coalesce(n.nspacl::text, '-')
	  FROM pg_namespace n WHERE n.nspname = 'order_mgmt') f
ORDER BY line;
SQL

# fingerprint of the extension in database $db, as a list of lines
sub fingerprint
{
	my ($db) = @_;
	return [ split /\n(?=(?:member|function|relation|column|constraint|index|trigger|view|sequence|dumped|schema) )/,
		$node->safe_psql($db, $fingerprint_sql) ];
}

# a CreateOrder command for cart $n of the database numbered $d, as an SQL
# literal
sub command
{
	my ($d, $n) = @_;
	return sql_literal(
		order_command(
			$n,
			cart_prefix => sprintf('e%07d', $d),
			customer => "c7000000-0000-4000-8000-00000000000$d",
			items => [
				[ 'a7000000-0000-4000-8000-000000000001', 2, 450 ],
				[ 'a7000000-0000-4000-8000-000000000002', 1, 100 ]
			],
			currency => 'GBP'));
}

# rows of the data tables, in a stable order, as one text per table
sub table_rows
{
	my ($db) = @_;
	my %rows;
	foreach my $t ([ 'orders', 'order_id' ], [ 'order_lines', 'order_id, line_no' ],
		[ 'outbox', 'position' ], [ 'event_feed', 'seq' ], [ 'consumers', 'name' ])
	{
		$rows{ $t->[0] } = $node->safe_psql($db,
			"SELECT string_agg(t::text, E'\\n' ORDER BY $t->[1]) FROM order_mgmt.$t->[0] t");
	}
	return \%rows;
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION order_mgmt');
is($node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'"),
	$default, "a fresh install is at $default");
my $fresh = fingerprint('fresh');
ok(scalar(@$fresh) > 100, 'the fingerprint of a fresh install has ' . scalar(@$fresh) . ' facts');

my $d = 0;
foreach my $from (@versions[ 0 .. $#versions - 1 ])
{
	$d++;
	my $db = "from_$from";
	$db =~ s/\./_/g;
	$node->safe_psql('postgres', qq(CREATE DATABASE "$db"));
	$node->safe_psql($db, "CREATE EXTENSION order_mgmt VERSION '$from'");

	# live data made by version $from: orders in each status, a consumer that
	# has acknowledged part of the feed
	my @ids = map { $node->safe_psql($db, 'SELECT order_mgmt.create_order(' . command($d, $_) . ')') } 1 .. 4;
	$node->safe_psql($db, "SELECT order_mgmt.cancel_order('$ids[0]', 'OUT_OF_STOCK')");
	$node->safe_psql($db, "SELECT order_mgmt.complete_order('$ids[1]')");
	$node->safe_psql($db, "SELECT order_mgmt.register_consumer('billing', true)");
	$node->safe_psql($db,
		"SELECT order_mgmt.ack_events('billing', (SELECT max(seq) FROM order_mgmt.fetch_events('billing', 3)))");
	my $before = table_rows($db);

	# the path exists and is walked one version at a time
	my $path = $node->safe_psql($db,
		"SELECT path FROM pg_extension_update_paths('order_mgmt') WHERE source = '$from' AND target = '$default'");
	isnt($path, '', "an update path from $from to $default: $path");
	foreach my $to (grep { $_ ne $from } split /--/, $path)
	{
		$node->safe_psql($db, "ALTER EXTENSION order_mgmt UPDATE TO '$to'");
		is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'"),
			$to, "$db: updated to $to");
	}

	is_deeply(table_rows($db), $before, "$db: every row of every data table is kept");
	is_deeply(fingerprint($db), $fresh, "$db: after the walk the extension is identical to a fresh install");

	# the updated extension works on the old data and on new data
	is($node->safe_psql($db, 'SELECT order_mgmt.create_order(' . command($d, 1) . ')'),
		$ids[0], "$db: a replayed cart from before the update returns its order");
	my $new = $node->safe_psql($db, 'SELECT order_mgmt.create_order(' . command($d, 5) . ')');
	is($node->safe_psql($db, "SELECT order_mgmt.complete_order('$ids[2]')"), '2',
		"$db: an order created before the update completes");
	is($node->safe_psql($db,
			"SELECT string_agg(type || ':' || order_version, ',' ORDER BY seq) FROM order_mgmt.fetch_events('billing', 100)"),
		'OrderCreated:1,OrderCancelled:2,OrderCompleted:2,OrderCreated:1,OrderCompleted:2',
		"$db: the consumer continues from its acknowledgement, old events then new ones");
	is($node->safe_psql($db,
			"SELECT count(*) || ' orders, ' || sum(line_count) || ' lines, ' || "
			  . "count(*) FILTER (WHERE status = 'CANCELLED' AND cancellation_reason = 'OUT_OF_STOCK') || ' cancelled' "
			  . 'FROM order_mgmt.order_summary'),
		'5 orders, 10 lines, 1 cancelled', "$db: the reports see the orders made before the update");
	is($node->safe_psql($db,
			"SELECT sum(orders_created) || '/' || sum(orders_completed) || '/' || sum(orders_cancelled) || '/' "
			  . "|| sum(net_amount) FROM order_mgmt.sales_daily WHERE currency = 'GBP'"),
		'5/2/1/4000', "$db: sales of the day count old and new orders");
	isnt($new, '', "$db: new orders are created");
}

$node->stop;
done_testing();
