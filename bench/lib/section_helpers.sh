# bench/lib/section_helpers.sh: common start of a benchmark section script
#
# A section (bench/<name>.sh) is run as root by bench/run.sh or on its own.
# It sources this file after setting SECTION=<name>; this file sources
# scripts/lib/cluster.sh (the throwaway server), sets
#   ROOT        the repository
#   BENCH_OUT   where the fragment goes (default: a new /tmp/order_mgmt-bench-out.XXXXXX)
#   FRAGMENT    $BENCH_OUT/$SECTION.md
#   RAW         $BENCH_OUT/$SECTION (raw data directory), created
#   QUICK       1 when BENCH_QUICK=1 (smoke mode), else 0
#   SCALE       1 with --scale or BENCH_SCALE=1, else 0
# and gives: die, say, q DB (SQL on stdin, unaligned tuples), bg_pids (killed
# at exit), section_cleanup (the EXIT trap: kills bg_pids, copies the server
# log to $RAW, destroys the cluster), conf_bench_settings, conf_test_settings,
# check_installed,
# machine_lines, settings_block.
# shellcheck shell=bash disable=SC2034  # (the variables are for the sections)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"

if [ -z "${BENCH_OUT:-}" ]; then
	# run on its own: a new directory, as bench/lib.sh does
	BENCH_OUT=$(mktemp -d /tmp/order_mgmt-bench-out.XXXXXX)
	echo "$SECTION: output in $BENCH_OUT" >&2
fi
QUICK=0
[ "${BENCH_QUICK:-0}" = 1 ] && QUICK=1
SCALE=0
[ "${BENCH_SCALE:-0}" = 1 ] && SCALE=1
for _arg in "$@"; do
	case $_arg in
	--scale) SCALE=1 ;;
	--quick) QUICK=1 ;;
	*) ;;
	esac
done
mkdir -p "$BENCH_OUT"
FRAGMENT=$BENCH_OUT/$SECTION.md
RAW=$BENCH_OUT/$SECTION
rm -rf "$RAW"
mkdir -p "$RAW"
chmod 755 "$BENCH_OUT" "$RAW"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$RAW"

die() { printf '%s: %s\n' "$SECTION" "$*" >&2; exit 1; }
say() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "$SECTION" "$*" >&2; }

# q DB [psql args]: SQL on stdin, unaligned tuples only
q() { local db=$1; shift; cluster_psql -d "$db" -At "$@"; }

bg_pids=()
section_cleanup() {
	local rc=$? p
	set +e
	trap "" HUP INT TERM PIPE
	trap - EXIT
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "$CLUSTER_WORK" ]; then
		[ -f "$CLUSTER_WORK/server.log" ] && cp "$CLUSTER_WORK/server.log" "$RAW/server.log"
		if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -f "$CLUSTER_WORK/server.log" ]; then
			echo "---- last lines of the server log" >&2
			tail -n 20 "$CLUSTER_WORK/server.log" >&2
		fi
		cluster_destroy || rc=1
	fi
	exit $rc
}
trap section_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# conf_bench_settings: appends bench/bench.conf (the settings every benchmark
# server shares; bench/run.sh copies it into the report), when it exists; the
# section's own settings come after it and override it
conf_bench_settings() {
	[ -f "$ROOT/bench/bench.conf" ] || return 0
	{
		echo "# bench/bench.conf"
		cat "$ROOT/bench/bench.conf"
	} >>"$CLUSTER_DATA/postgresql.conf"
}

# conf_test_settings: appends test/test.conf (wal_level = logical, slots,
# output_plugin_libraries for wal2json, ...) to the cluster's configuration
conf_test_settings() {
	{
		echo "# test/test.conf"
		cat "$ROOT/test/test.conf"
	} >>"$CLUSTER_DATA/postgresql.conf"
}

# check_installed [also.so...]: the extension (and plugins) exist in $PG_CONFIG's PostgreSQL
check_installed() {
	local sharedir pkglibdir so
	sharedir=$("$PG_CONFIG" --sharedir)
	pkglibdir=$("$PG_CONFIG" --pkglibdir)
	if [ ! -f "$sharedir/extension/order_mgmt.control" ] || [ ! -f "$pkglibdir/order_mgmt.so" ]; then
		die "order_mgmt is not installed in the PostgreSQL of $PG_CONFIG (run make install first)"
	fi
	for so in "$@"; do
		[ -z "$so" ] || [ -f "$pkglibdir/$so" ] || die "$so is not installed in $pkglibdir"
	done
}

# machine_lines DB: Markdown bullet lines: machine, server version, load
machine_lines() {
	local cpu mem
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	printf -- '- %s CPUs (%s), %s of memory; load average at the end: %s\n' "$(nproc)" "$cpu" "$mem" \
		"$(cut -d' ' -f1-3 /proc/loadavg)"
	printf -- '- %s\n' "$(q "$1" <<<'SELECT version()')"
}

# settings_block DB: the settings that differ from the defaults, in a code block
settings_block() {
	printf '```\n'
	q "$1" <<<"SELECT name || ' = ' || current_setting(name) FROM pg_settings
		WHERE source IN ('configuration file', 'command line') AND name NOT IN ('unix_socket_directories',
		  'lc_messages', 'lc_monetary', 'lc_numeric', 'lc_time', 'datestyle', 'default_text_search_config',
		  'timezone', 'log_timezone', 'dynamic_shared_memory_type', 'listen_addresses', 'port')
		ORDER BY name"
	printf '```\n'
}
