# shellcheck shell=bash disable=SC2119,SC2120
# bench/lib.sh: what the benchmark sections share (sourced, never run)
#
# A section is an executable bench/<section>.sh that follows the contract of
# bench/run.sh (environment BENCH_OUT, BENCH_QUICK, PG_CONFIG; writes
# $BENCH_OUT/<section>.md starting with a "## " heading, raw data in
# $BENCH_OUT/<section>/).  A section that sources this file gets:
#
#   bench_init NAME             root check (re-runs itself with sudo), BENCH_OUT,
#                               RAW=$BENCH_OUT/NAME, QUICK (0|1), the EXIT trap
#   bench_start [LINE...]       a throwaway server (scripts/lib/cluster.sh) with
#                               bench/bench.conf plus LINEs, database "bench",
#                               CREATE EXTENSION order_mgmt, schema "bench";
#                               with BENCH_CONF_OMIT set (an extended regular
#                               expression), the lines of bench.conf that match
#                               it are left out (the section's fragment says so)
#   bench_sql [psql args]       SQL on stdin, database bench, unaligned tuples
#   bench_reset_tables SCHEMA.. TRUNCATE the order tables of each schema (the
#                               guard triggers of order_mgmt bypassed)
#   bench_pgbench TAGS CLIENTS FILE [pgbench args...]
#                               one pgbench run (prepared statements, per-
#                               transaction log); appends {TAGS, tps, latency
#                               p50/p99 from the log, ...} to $RAW/runs.jsonl
#                               and prints "tps p50 p99"
#   say / die                   progress on stdout, errors on stderr
#
# Every server is stopped and its directory removed on exit, even on error or
# Ctrl-C (cluster_destroy in the EXIT trap), after the listener probe of
# bench/lib/listener_probe.sh if the section started one.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../scripts/lib/cluster.sh
source "$bench_root/scripts/lib/cluster.sh"

BENCH_SECTION=""
RAW=""
QUICK=0
BENCH_PYTHON=""
BENCH_RUN_NO=1

say() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "${BENCH_SECTION:-bench}" "$*"; }
die() { printf '%s: %s\n' "${BENCH_SECTION:-bench}" "$*" >&2; exit 1; }

# positive integer check for a setting named $1
bench_int() {
	case ${!1} in '' | *[!0-9]*) die "$1 must be a positive integer" ;; esac
	[ "${!1}" -gt 0 ] || die "$1 must be a positive integer"
}

bench_cleanup() {
	local rc=$?
	set +e
	trap "" HUP INT TERM PIPE
	trap - EXIT
	! declare -F probe_stop >/dev/null || probe_stop
	if [ -n "$CLUSTER_WORK" ]; then
		# on a failure (not a signal), the end of the server log
		if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -f "$CLUSTER_WORK/server.log" ]; then
			echo "---- last lines of the server log" >&2
			tail -n 20 "$CLUSTER_WORK/server.log" >&2
		fi
		[ -n "$RAW" ] && [ -f "$CLUSTER_WORK/server.log" ] &&
			cp "$CLUSTER_WORK/server.log" "$RAW/server.log" 2>/dev/null
		cluster_destroy || rc=1
	fi
	exit $rc
}

# bench_init NAME: the section's name, output directories, traps
bench_init() {
	BENCH_SECTION=$1
	if [ "$(id -u)" -ne 0 ]; then
		exec sudo --preserve-env=PATH,BENCH_OUT,BENCH_QUICK,BENCH_SCALE,PG_CONFIG,BENCH_DURATION,BENCH_ROUNDS,BENCH_KEEP_LOGS,BENCH_SYNCHRONOUS_COMMIT,BENCH_ORDERS,BENCH_LIFECYCLE_SCALE \
			bash "$0"
	fi
	QUICK=${BENCH_QUICK:-0}
	[ "$QUICK" = 1 ] || QUICK=0
	if [ -z "${BENCH_OUT:-}" ]; then
		BENCH_OUT=$(mktemp -d /tmp/order_mgmt-bench-out.XXXXXX)
		chmod 755 "$BENCH_OUT"
	fi
	mkdir -p "$BENCH_OUT"
	RAW=$BENCH_OUT/$BENCH_SECTION
	rm -rf "$RAW"
	mkdir -p "$RAW"
	chown postgres: "$RAW"
	if [ -x /usr/bin/python3 ]; then
		BENCH_PYTHON=/usr/bin/python3
	else
		BENCH_PYTHON=$(command -v python3) || die "python3 is needed"
	fi
	[ -x "$CLUSTER_BINDIR/pgbench" ] || die "no pgbench in $CLUSTER_BINDIR"
	[ -f "$("$PG_CONFIG" --sharedir)/extension/order_mgmt.control" ] ||
		die "order_mgmt is not installed in $("$PG_CONFIG" --sharedir) (run bench/run.sh, or make install)"
	trap bench_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cd /tmp || exit         # a cwd the postgres account can read
}

# bench_start [LINE...]: the section's server, database bench, the extension
bench_start() {
	cluster_create "bench-$BENCH_SECTION"
	if [ -n "${BENCH_CONF_OMIT:-}" ]; then
		cluster_conf "" "# bench/bench.conf without the lines matching /$BENCH_CONF_OMIT/"
		grep -Ev -- "$BENCH_CONF_OMIT" "$bench_root/bench/bench.conf" >>"$CLUSTER_DATA/postgresql.conf" || true
	else
		cluster_conf "" "# bench/bench.conf"
		cat "$bench_root/bench/bench.conf" >>"$CLUSTER_DATA/postgresql.conf"
	fi
	if [ $# -gt 0 ]; then
		cluster_conf "# settings of the $BENCH_SECTION section" "$@"
	fi
	cluster_start
	cluster_psql -d postgres -c 'CREATE DATABASE bench'
	cluster_psql -d bench -c 'CREATE EXTENSION order_mgmt' -c 'CREATE SCHEMA bench'
	say "server on $CLUSTER_WORK port $CLUSTER_PORT, $(bench_sql <<<'SHOW server_version')," \
		"order_mgmt $(bench_sql <<<"SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'")"
}

bench_sql() { cluster_psql -d bench -At "$@"; }

# bench_reset_tables SCHEMA...: empty the order tables of each schema, so
# every run starts from the same state (TRUNCATE drops the tables' buffers,
# dirty or not: nothing is left for a later run to write back)
bench_reset_tables() {
	local s tables=()
	for s in "$@"; do
		tables+=("$s.order_lines" "$s.orders" "$s.outbox")
	done
	bench_sql <<EOF
SET session_replication_role = replica;
TRUNCATE $(IFS=,; echo "${tables[*]}");
RESET session_replication_role;
EOF
}

# bench_pgbench TAGS CLIENTS FILE [ARGS...]: one pgbench run; TAGS is a JSON
# object's members ("contender": "x", "clients": 4, ...) saved with the result
bench_pgbench() {
	local tags=$1 clients=$2 file=$3 dir threads out tps failed stats
	shift 3
	# (called in $(...): the run number comes from the directories made so far)
	while [ -e "$RAW/run$(printf %03d "$BENCH_RUN_NO")" ]; do
		BENCH_RUN_NO=$((BENCH_RUN_NO + 1))
	done
	dir=$RAW/run$(printf %03d "$BENCH_RUN_NO")
	mkdir "$dir"
	chown postgres: "$dir"
	threads=$((clients < 2 ? 1 : 2))
	out=$dir/pgbench.out
	"${as_pg[@]}" "$CLUSTER_BINDIR/pgbench" -n -M prepared -c "$clients" -j "$threads" \
		-h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres -f "$file" \
		--log --log-prefix="$dir/tx" "$@" bench >"$out" 2>&1 ||
		{ cat "$out" >&2; die "pgbench failed ($tags)"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	[ -n "$tps" ] || { cat "$out" >&2; die "no tps in pgbench's output"; }
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	[ "${failed:-0}" = 0 ] || { cat "$out" >&2; die "pgbench: $failed failed transactions ($tags)"; }
	stats=$("$BENCH_PYTHON" "$bench_root/bench/report.py" latency "$dir"/tx.*) ||
		die "could not read the transaction logs of $dir"
	printf '{%s, "tps": %s, %s, "dir": "%s"}\n' "$tags" "$tps" "$stats" "${dir##*/}" >>"$RAW/runs.jsonl"
	[ "${BENCH_KEEP_LOGS:-0}" = 1 ] || rm -f "$dir"/tx.*
	"$BENCH_PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f %.3f %.3f" % (d["tps"], d["p50_ms"], d["p99_ms"]))' \
		"{\"tps\": $tps, $stats}"
}
