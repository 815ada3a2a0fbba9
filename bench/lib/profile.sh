# shellcheck shell=bash
# bench/lib/profile.sh: what the callgrind profiles share (sourced, never run)
#
# bench/profile_create_order.sh and bench/profile_lifecycle.sh count the
# instructions one more call of a statement costs, under valgrind's
# callgrind, in single-user backends of a throwaway cluster.  A script that
# sources this file gets:
#
#   bindir, work, data, N, N0, KEEP, TOP  (from PG_CONFIG, WORKDIR, N, N0,
#                           KEEP, TOP; work is created, owned by postgres, and
#                           removed at exit unless KEEP=1)
#   as_pg CMD...            run a command as postgres
#   profile_cluster         initdb in $data with the profile settings (fsync
#                           off, autovacuum off, notifications off, outbox)
#   profile_setup           run the SQL on stdin in database "prof" (created,
#                           with order_mgmt) on a short-lived server, then
#                           CHECKPOINT and stop it
#   profile_bare_tables     print the SQL of schema "bare": copies of the
#                           order tables (LIKE ... INCLUDING ALL: same columns,
#                           defaults, constraints and indexes; no triggers)
#                           with their own position sequence
#   profile_count NAME TAG  total instructions of one single-user backend
#                           reading $work/NAME-TAG.sql (the caller writes it),
#                           callgrind output in $work/callgrind.out.NAME-TAG;
#                           fails on any ERROR in the backend's output
#   profile_top NAME TOTAL  the TOP functions by inclusive instructions per
#                           call: each function's count in
#                           callgrind.out.NAME-big minus NAME-small, over N,
#                           with the frames every statement goes through left
#                           out; TOTAL (Ir per call) gives the percentages
#
# The callers run each contender twice, with N0 and N0 + N calls, and report
# (Ir(N0 + N) - Ir(N0)) / N: what one more call costs, with backend start,
# PREPARE and the first call's catalog reads cancelled out.

if [ "$(id -u)" -ne 0 ] && [ "$(id -un)" != postgres ]; then
	echo "run as root (or as postgres)" >&2
	exit 1
fi

if [ -z "${PG_CONFIG:-}" ]; then
	if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
		PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	else
		PG_CONFIG=$(command -v pg_config)
	fi
fi
bindir=$("$PG_CONFIG" --bindir)
N=${N:-2000}
N0=${N0:-200}
KEEP=${KEEP:-0}
TOP=${TOP:-0}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

work=${WORKDIR:-$(mktemp -d /tmp/order_mgmt-profile.XXXXXX)}
mkdir -p "$work"
chown postgres: "$work"
data=$work/data

# run a command as postgres
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

profile_cleanup() {
	if [ -f "$data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ]; then
		echo "kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap profile_cleanup EXIT

# initdb the throwaway cluster with the profile's settings
profile_cluster() {
	as_pg "$bindir/initdb" -D "$data" -U postgres --no-sync -E UTF8 --locale=C >"$work/initdb.log" 2>&1 ||
		{ cat "$work/initdb.log" >&2; exit 1; }
	cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$work'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
order_mgmt.notifications = off
order_mgmt.event_mode = outbox
EOF
}

# the SQL on stdin, in database prof (made here, with order_mgmt), on a
# short-lived server
profile_setup() {
	as_pg "$bindir/pg_ctl" -D "$data" -l "$work/server.log" -w start >/dev/null
	{
		echo "CREATE DATABASE prof;"
		echo "\\c prof"
		echo "CREATE EXTENSION order_mgmt;"
		cat
		echo "CHECKPOINT;"
	} | as_pg "$bindir/psql" -h "$work" -U postgres -d postgres -qX -v ON_ERROR_STOP=1
	as_pg "$bindir/pg_ctl" -D "$data" -w stop >/dev/null
}

# the SQL of schema bare: trigger-free copies of the order tables
profile_bare_tables() {
	cat <<'EOF'
-- bare copies: same columns, defaults, constraints and indexes; no triggers
CREATE SCHEMA bare;
CREATE TABLE bare.orders (LIKE order_mgmt.orders INCLUDING ALL);
CREATE TABLE bare.order_lines (LIKE order_mgmt.order_lines INCLUDING ALL);
CREATE SEQUENCE bare.outbox_position_seq AS bigint;
CREATE TABLE bare.outbox (LIKE order_mgmt.outbox INCLUDING ALL);
ALTER TABLE bare.outbox ALTER position
	SET DEFAULT nextval('bare.outbox_position_seq'::regclass);

-- RFC 3339 UTC, as the events carry it; STABLE like to_char, as
-- bench.rfc3339 of bench/setup.sql, so the planner inlines it (an IMMUTABLE
-- declaration would keep it a function call of ~74k instructions)
CREATE FUNCTION bare.rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
EOF
}

# total instructions of one single-user backend reading $work/NAME-TAG.sql
profile_count() {
	local name=$1 tag=$2
	local sql=$work/$name-$tag.sql out=$work/callgrind.out.$name-$tag log=$work/$name-$tag.log
	chown postgres: "$sql"
	as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$bindir/postgres" --single -D "$data" prof <"$sql" >"$log" 2>&1 ||
		{ echo "run $name $tag failed; see $log" >&2; tail -5 "$log" >&2; exit 1; }
	if grep -q ERROR "$log"; then
		echo "run $name $tag reported an error:" >&2
		grep -m3 ERROR "$log" >&2
		exit 1
	fi
	awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# The top functions of NAME by inclusive Ir per call: each function's
# inclusive count in the long run minus the short run, over N.
profile_top() {
	local name=$1 total=$2 base=$work/callgrind.out.$1
	callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$base-small" >"$base-small.txt" 2>/dev/null
	callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$base-big" >"$base-big.txt" 2>/dev/null
	awk -v n="$N" -v total="$total" -v top="$TOP" '
		function parse(line,   ir, name) {
			if (line !~ /^ *[0-9,]+ \(/)
				return ""
			ir = line; sub(/^ */, "", ir); sub(/ .*/, "", ir); gsub(/,/, "", ir)
			name = line; sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "", name)
			sub(/ \[.*$/, "", name); sub(/^.*[\/]/, "", name)
			cost[name] = ir
			return name
		}
		FNR == NR { name = parse($0); if (name != "") small[name] = cost[name]; next }
		{ name = parse($0); if (name != "") big[name] = cost[name] }
		END {
			for (f in big)
				d[f] = (big[f] - small[f]) / n
			cnt = 0
			while (cnt < top) {
				best = ""
				for (f in d)
					if (best == "" || d[f] > d[best])
						best = f
				if (best == "" || d[best] <= 0)
					break
				if (d[best] <= total * 1.001 && best !~ /^(\?\?\?:0x|PROGRAM TOTALS|.*\(below main\)|.*libc_start|\?\?\?:main$|\?\?\?:PostgresMain|\?\?\?:PostgresSingleUserMain|\?\?\?:(standard_)?ProcessUtility$|\?\?\?:PortalRun$|\?\?\?:ExecuteQuery$|\?\?\?:(standard_)?ExecutorRun$|\?\?\?:ExecInterpExprStillValid$|.*'\''[0-9]+$)/)
				{
					printf "  %12d %5.1f%%  %s\n", d[best], 100 * d[best] / total, best
					cnt++
				}
				delete d[best]
			}
		}' "$base-small.txt" "$base-big.txt"
}
