# shellcheck shell=bash disable=SC2034,SC2119,SC2120
# bench/lib.sh: the one library of the benchmarks (sourced, never run)
#
# Every section (bench/<section>.sh, see the contract in bench/run.sh), the
# standalone benchmarks (bench/notify_modes.sh, bench/outbox_retention.sh)
# and the callgrind profiles (bench/profile_*.sh) source this file, then call
# bench_init (the profiles: profile_init).  It sources scripts/lib/cluster.sh
# (the throwaway server) and gives:
#
#   bench_init NAME [ARGS]      re-runs the script with sudo unless root (or
#                               postgres), keeping PATH, PG_CONFIG, PGOPTIONS,
#                               every BENCH_* variable and those named in
#                               BENCH_ENV; sets BENCH_OUT (default a new /tmp
#                               directory), RAW=$BENCH_OUT/NAME (emptied; or
#                               $BENCH_RAW, kept, for the standalone scripts),
#                               FRAGMENT=$BENCH_OUT/NAME.md, QUICK and SCALE
#                               (0|1, from BENCH_QUICK / BENCH_SCALE or --quick /
#                               --scale in ARGS); checks order_mgmt and pgbench
#                               are installed; sets the EXIT trap; cd /tmp
#   bench_server [-f FILE]... [LINE...]
#                               a throwaway server: initdb, the settings of
#                               each FILE (default bench/bench.conf; with
#                               BENCH_CONF_OMIT, an extended regular expression,
#                               the lines of bench.conf matching it are left
#                               out), then LINEs, started on a free port
#   bench_start [LINE...]       bench_server with bench.conf and LINEs, then
#                               database "bench", CREATE EXTENSION order_mgmt,
#                               schema "bench"
#   bench_use NAME              more than one server (bench/router.sh): makes
#                               server NAME the current one, the one every
#                               function here talks to; the next bench_server
#                               or bench_start makes a NAME not used before
#   bench_sql [psql args]       SQL on stdin, database bench, unaligned tuples
#   q DB [psql args]            the same in database DB
#   bench_reset_tables [-d DB] SCHEMA..
#                               TRUNCATE the order tables of each schema (the
#                               guard triggers of order_mgmt bypassed), in
#                               database bench or DB
#   bench_pgbench TAGS CLIENTS FILE [pgbench args...]
#                               one timed pgbench run (prepared statements, per-
#                               transaction log) in database $BENCH_DB (default
#                               bench); appends {TAGS, tps, latency p50/p99
#                               from the log, ...} to $RAW/runs.jsonl and
#                               prints "tps p50 p99"
#   bench_cart LINES [customers=N] [products=N] [currency=C] [partitions=N held=P,..]
#                               CART_SCRIPT and CART_VARS: the one pgbench
#                               script of a created order (bench/pgbench/
#                               create_order.sql, over bench.cart of
#                               bench/setup.sql) and its -D options
#   bench_created_orders TABLE PLAN
#                               the SQL of numbered CREATED orders in
#                               order_mgmt and bench_bare (lifecycle, profile)
#   profile_init, profile_setup, profile_count, profile_top, profile_done
#                               the callgrind profiles (bench/profile_*.sh)
#   check_installed [LIB.so...] the plugins exist in $PG_CONFIG's PostgreSQL
#   machine_lines DB, settings_block DB
#                               Markdown: machine and server version lines; the
#                               server's non-default settings in a code block
#   bench_int VAR...            each VAR holds a positive integer, or die
#   say / die                   progress and errors, on stderr
#   bg_pids                     background processes, killed by the EXIT trap;
#                               BENCH_STOPFILE, touched by it first
#
# Every server is stopped and its directory removed on exit, even on error or
# Ctrl-C (cluster_destroy in the EXIT trap), after the listener probe of
# bench/lib/listener_probe.sh (sourced here: probe_start, probe_begin,
# probe_end, probe_stop) if the script started one; the server log is
# copied to $RAW/server.log (server NAME of bench_use: $RAW/server-NAME.log),
# and its last lines shown on a failure.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$bench_root
# shellcheck source=../scripts/lib/cluster.sh
source "$bench_root/scripts/lib/cluster.sh"
# the listener probe's functions (probe_*; a helper of this file, sourced only here)
# shellcheck source=lib/listener_probe.sh
source "$bench_root/bench/lib/listener_probe.sh"

BENCH_SECTION=""
RAW=""
FRAGMENT=""
QUICK=0
SCALE=0
BENCH_PYTHON=""
BENCH_RUN_NO=1
BENCH_STOPFILE=""
BENCH_DB=bench
bg_pids=()
# the named servers of bench_use: their directories, data directories, ports
BENCH_SERVER=""
bench_srv_names=()
declare -gA bench_srv_work=() bench_srv_data=() bench_srv_port=()

say() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "${BENCH_SECTION:-bench}" "$*" >&2; }
die() { printf '%s: %s\n' "${BENCH_SECTION:-bench}" "$*" >&2; exit 1; }

# bench_int VAR...: each variable named holds a positive integer
bench_int() {
	local v
	for v in "$@"; do
		case ${!v} in '' | *[!0-9]*) die "$v must be a positive integer" ;; esac
		[ "${!v}" -gt 0 ] || die "$v must be a positive integer"
	done
}

# bench_cleanup: the EXIT trap (stop what was started, keep the server logs)
bench_cleanup() {
	local rc=$? p name
	set +e
	trap "" HUP INT TERM PIPE
	trap - EXIT
	[ -z "$BENCH_STOPFILE" ] || touch "$BENCH_STOPFILE" 2>/dev/null
	probe_stop
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
	cd /
	bench_keep_server
	if [ ${#bench_srv_names[@]} -gt 0 ]; then
		for name in "${bench_srv_names[@]}"; do
			CLUSTER_WORK=${bench_srv_work[$name]}
			CLUSTER_DATA=${bench_srv_data[$name]}
			CLUSTER_PORT=${bench_srv_port[$name]}
			bench_destroy_server "$rc" "$name" || rc=1
		done
	elif [ -n "$CLUSTER_WORK" ]; then
		bench_destroy_server "$rc" "" || rc=1
	fi
	exit $rc
}

# bench_destroy_server RC NAME: stops and removes the current server, its
# log kept in $RAW (and its end shown if RC is a failure, not a signal)
bench_destroy_server() {
	local rc=$1 log=server${2:+-$2}.log
	if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ -f "$CLUSTER_WORK/server.log" ]; then
		echo "---- last lines of the server log${2:+ of server $2}" >&2
		tail -n 20 "$CLUSTER_WORK/server.log" >&2
	fi
	[ -n "$RAW" ] && [ -f "$CLUSTER_WORK/server.log" ] &&
		cp "$CLUSTER_WORK/server.log" "$RAW/$log" 2>/dev/null
	cluster_destroy
}

# bench_keep_server: records the current named server (directory and port)
bench_keep_server() {
	[ -n "$BENCH_SERVER" ] && [ -n "$CLUSTER_WORK" ] || return 0
	[ -n "${bench_srv_work[$BENCH_SERVER]+set}" ] || bench_srv_names+=("$BENCH_SERVER")
	bench_srv_work[$BENCH_SERVER]=$CLUSTER_WORK
	bench_srv_data[$BENCH_SERVER]=$CLUSTER_DATA
	bench_srv_port[$BENCH_SERVER]=$CLUSTER_PORT
}

# bench_use NAME: makes server NAME the current one (CLUSTER_WORK,
# CLUSTER_DATA, CLUSTER_PORT: what cluster_psql, q, bench_sql,
# bench_pgbench... talk to); for a NAME not used before, the next
# bench_server or bench_start makes it.  In $(...) it lasts to the end of
# the subshell; make servers in the script's own shell.
bench_use() {
	bench_keep_server
	BENCH_SERVER=$1
	CLUSTER_WORK=${bench_srv_work[$1]:-}
	CLUSTER_DATA=${bench_srv_data[$1]:-}
	CLUSTER_PORT=${bench_srv_port[$1]:-}
}

# bench_init NAME [ARGS]: the script's name, output directories, traps
bench_init() {
	local arg keep
	BENCH_SECTION=$1
	shift
	if [ "$(id -u)" -ne 0 ] && [ "$(id -un)" != postgres ]; then
		keep=$(compgen -e | grep -E '^(PATH|PG_CONFIG|PGOPTIONS|BENCH_[A-Z0-9_]*)$' | tr '\n' ,)
		for arg in ${BENCH_ENV:-}; do
			[ -z "${!arg+set}" ] || keep+="$arg,"
		done
		exec sudo --preserve-env="${keep%,}" bash "$0" "$@"
	fi
	[ "${BENCH_QUICK:-0}" = 1 ] && QUICK=1
	[ "${BENCH_SCALE:-0}" = 1 ] && SCALE=1
	for arg in "$@"; do
		case $arg in
		--scale) SCALE=1 ;;
		--quick) QUICK=1 ;;
		*) ;;
		esac
	done
	if [ -z "${BENCH_OUT:-}" ] && [ -n "${BENCH_RAW:-}" ]; then
		BENCH_OUT=$(dirname "$BENCH_RAW")
	elif [ -z "${BENCH_OUT:-}" ]; then
		BENCH_OUT=$(mktemp -d /tmp/order_mgmt-bench-out.XXXXXX)
		chmod 755 "$BENCH_OUT"
		say "output in $BENCH_OUT"
	elif [ ! -d "$BENCH_OUT" ]; then
		mkdir -p "$BENCH_OUT"
		chmod 755 "$BENCH_OUT"
	fi
	FRAGMENT=$BENCH_OUT/$BENCH_SECTION.md
	if [ -n "${BENCH_RAW:-}" ]; then
		RAW=$BENCH_RAW
	else
		RAW=$BENCH_OUT/$BENCH_SECTION
		rm -rf "$RAW"
	fi
	mkdir -p "$RAW"
	chmod 755 "$RAW"
	[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$RAW"
	if [ -x /usr/bin/python3 ]; then
		BENCH_PYTHON=/usr/bin/python3    # Debian's, where python3-psycopg installs
	else
		BENCH_PYTHON=$(command -v python3) || die "python3 is needed"
	fi
	[ -x "$CLUSTER_BINDIR/pgbench" ] || die "no pgbench in $CLUSTER_BINDIR"
	check_installed
	trap bench_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cd /tmp || exit         # a cwd the postgres account can read
}

# check_installed [LIB.so...]: order_mgmt (and these plugins) exist in $PG_CONFIG's PostgreSQL
check_installed() {
	local sharedir pkglibdir so
	sharedir=$("$PG_CONFIG" --sharedir)
	pkglibdir=$("$PG_CONFIG" --pkglibdir)
	[ -f "$sharedir/extension/order_mgmt.control" ] && [ -f "$pkglibdir/order_mgmt.so" ] ||
		die "order_mgmt is not installed in the PostgreSQL of $PG_CONFIG (run bench/run.sh, or make install)"
	for so in "$@"; do
		[ -z "$so" ] || [ -f "$pkglibdir/$so" ] || die "$so is not installed in $pkglibdir"
	done
}

# bench_server [-f FILE]... [LINE...]: a throwaway server with the settings
# of the FILEs (relative to the repository; default bench/bench.conf) and
# then the LINEs, started
bench_server() {
	local files=() f
	while [ $# -gt 0 ] && [ "$1" = -f ]; do
		files+=("$2")
		shift 2
	done
	[ ${#files[@]} -gt 0 ] || files=(bench/bench.conf)
	[ -z "$BENCH_SERVER" ] || [ -z "$CLUSTER_WORK" ] || die "server $BENCH_SERVER exists already"
	cluster_create "bench-$BENCH_SECTION${BENCH_SERVER:+-$BENCH_SERVER}" || die "initdb failed"
	bench_keep_server
	for f in "${files[@]}"; do
		if [ "$f" = bench/bench.conf ] && [ -n "${BENCH_CONF_OMIT:-}" ]; then
			cluster_conf "" "# $f without the lines matching /$BENCH_CONF_OMIT/"
			grep -Ev -- "$BENCH_CONF_OMIT" "$bench_root/$f" >>"$CLUSTER_DATA/postgresql.conf" || true
		else
			cluster_conf "" "# $f"
			cat "$bench_root/$f" >>"$CLUSTER_DATA/postgresql.conf"
		fi
	done
	if [ $# -gt 0 ]; then
		cluster_conf "# settings of $BENCH_SECTION" "$@"
	fi
	cluster_start || die "could not start the server"
	bench_keep_server
}

# bench_start [LINE...]: the section's server, database bench, the extension
bench_start() {
	bench_server "$@"
	cluster_psql -d postgres -c 'CREATE DATABASE bench'
	cluster_psql -d bench -c 'CREATE EXTENSION order_mgmt' -c 'CREATE SCHEMA bench'
	say "${BENCH_SERVER:+server $BENCH_SERVER: }server on $CLUSTER_WORK port $CLUSTER_PORT, $(bench_sql <<<'SHOW server_version')," \
		"order_mgmt $(bench_sql <<<"SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'")"
}

# q DB [psql args]: SQL on stdin, unaligned tuples only
q() { local db=$1; shift; cluster_psql -d "$db" -At "$@"; }

bench_sql() { cluster_psql -d bench -At "$@"; }

# bench_reset_tables [-d DB] SCHEMA...: empty the order tables of each
# schema (in database bench, or DB), so every run starts from the same state
# (TRUNCATE drops the tables' buffers, dirty or not: nothing is left for a
# later run to write back)
bench_reset_tables() {
	local s tables=() db=bench
	if [ "${1:-}" = -d ]; then
		db=$2
		shift 2
	fi
	for s in "$@"; do
		tables+=("$s.order_lines" "$s.orders" "$s.outbox")
	done
	q "$db" <<EOF
SET session_replication_role = replica;
TRUNCATE $(IFS=,; echo "${tables[*]}");
RESET session_replication_role;
EOF
}

# bench_pgbench TAGS CLIENTS FILE [ARGS...]: one pgbench run in database
# $BENCH_DB of the current server; TAGS is a JSON object's members
# ("contender": "x", "clients": 4, ...) saved with the result
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
		--log --log-prefix="$dir/tx" "$@" "$BENCH_DB" >"$out" 2>&1 ||
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

# bench_cart LINES [customers=N] [products=N] [currency=C] [partitions=N
# held=P,...]: sets CART_SCRIPT to bench/pgbench/create_order.sql, the one
# pgbench script of a created order (order_mgmt.create_order of bench.cart
# of bench/setup.sql, whose arguments are pgbench variables), and CART_VARS
# to the pgbench options (-D ...) that give them: a LINES-line cart; with
# customers=N one of N customers, else a new one each time; with products=N
# LINES consecutive of N products, else new ones; currency C (default EUR)
# or a weighted list (EUR:55,USD:25,...); with partitions=N held=P,Q a cart
# of partition P or Q of a cluster of N partitions, else any: see bench.cart
bench_cart() {
	local a customers=0 products=0 currency=EUR partitions=0 held=""
	for a in "${@:2}"; do
		case $a in
		customers=*) customers=${a#*=} ;;
		products=*) products=${a#*=} ;;
		currency=*) currency=${a#*=} ;;
		partitions=*) partitions=${a#*=} ;;
		held=*) held=${a#*=} ;;
		*) die "bench_cart: unknown option $a" ;;
		esac
	done
	[ "$partitions" = 0 ] || [ -n "$held" ] || die "bench_cart: partitions=$partitions needs held=..."
	CART_SCRIPT=$bench_root/bench/pgbench/create_order.sql
	CART_VARS=(-D "lines=$1" -D "customers=$customers" -D "products=$products" -D "currency=$currency"
		-D "partitions=$partitions" -D "held={$held}")
}

# bench_created_orders TABLE PLAN: the SQL that makes TABLE (n, order_id,
# schema) of numbered orders, from PLAN, a VALUES list of (base, count,
# schema) rows (numbers base + 1 .. base + count), and inserts each as a
# CREATED order into its schema's orders (order_mgmt or bench_bare),
# triggers bypassed, the same way into both
bench_created_orders() {
	local s
	cat <<EOF
CREATE TABLE $1 AS
	SELECT p.base + g AS n, order_mgmt.uuid_generate_v7() AS order_id, p.schema
	FROM (VALUES $2) AS p(base, count, schema), generate_series(1, p.count) AS g;
ALTER TABLE $1 ADD PRIMARY KEY (n);
SET session_replication_role = replica;
EOF
	for s in order_mgmt bench_bare; do
		cat <<EOF
INSERT INTO $s.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at,
		command_digest)
	SELECT order_id, gen_random_uuid(), gen_random_uuid(), 'CREATED', 1000, 'EUR', 1, now(), sha256(uuid_send(order_id))
	FROM $1 WHERE schema = '$s' ORDER BY n;
EOF
	done
	echo "RESET session_replication_role;"
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

# ---- the callgrind profiles (bench/profile_create_order.sh, profile_lifecycle.sh)
#
# They count the instructions one more call of a statement costs, under
# valgrind's callgrind, in single-user backends (postgres --single) of the
# script's throwaway cluster: each contender runs twice, with N0 and N0 + N
# calls, and the report is (Ir(N0 + N) - Ir(N0)) / N, backend start, PREPARE
# and the first call's catalog reads cancelled out.  Their files (the SQL
# each backend reads, its output, callgrind.out.*) are in $RAW; the
# callgrind.out files are removed at the end unless KEEP=1.

# profile_init NAME [ARGS]: bench_init NAME; N (2000), N0 (200), KEEP (0),
# TOP (0) from the environment; the cluster initdb'd, not started, with the
# profile's settings (no durability, no autovacuum, notifications off,
# outbox mode)
profile_init() {
	BENCH_ENV="N N0 KEEP TOP LINES CONTENDERS" bench_init "$@"
	N=${N:-2000} N0=${N0:-200} KEEP=${KEEP:-0} TOP=${TOP:-0}
	bench_int N N0
	command -v valgrind >/dev/null || die "valgrind is not installed"
	cluster_create "bench-$BENCH_SECTION" --no-sync --locale=C || die "initdb failed"
	cluster_conf "" "# settings of $BENCH_SECTION" "fsync = off" "synchronous_commit = off" \
		"full_page_writes = off" "autovacuum = off" "order_mgmt.notifications = off" \
		"order_mgmt.event_mode = outbox"
}

# profile_setup: database prof with order_mgmt and bench/setup.sql (bench.cart,
# bench.rfc3339, the trigger-free tables bench_bare), then the SQL on stdin,
# on a short-lived server; CHECKPOINT, stopped
profile_setup() {
	cluster_start || die "could not start the server"
	{
		echo "CREATE DATABASE prof;"
		echo "\\c prof"
		echo "CREATE EXTENSION order_mgmt;"
		echo "CREATE SCHEMA bench;"
		echo "\\i $bench_root/bench/setup.sql"
		cat
		echo "CHECKPOINT;"
	} | cluster_psql -d postgres
	cluster_stop
}

# profile_backend RUN [CMD...]: a single-user backend of database prof (run
# by CMD, as valgrind ..., if given) reading $RAW/RUN.sql, its output in
# $RAW/RUN.log; fails on any ERROR in it
profile_backend() {
	local run=$1
	shift
	chown postgres: "$RAW/$run.sql"
	"${as_pg[@]}" "$@" "$CLUSTER_BINDIR/postgres" --single -D "$CLUSTER_DATA" prof <"$RAW/$run.sql" \
		>"$RAW/$run.log" 2>&1 || { tail -n 5 "$RAW/$run.log" >&2; die "run $run failed; see $RAW/$run.log"; }
	! grep -q ERROR "$RAW/$run.log" || { grep -m3 ERROR "$RAW/$run.log" >&2; die "run $run reported an error"; }
}

# profile_count NAME TAG: total instructions of the backend reading
# $RAW/NAME-TAG.sql (the caller writes it), under callgrind
profile_count() {
	local run=$1-$2
	profile_backend "$run" valgrind --tool=callgrind --callgrind-out-file="$RAW/callgrind.out.$run"
	awk '/^(summary|totals):/ { print $2; exit }' "$RAW/callgrind.out.$run"
}

# profile_top NAME TOTAL: the TOP functions by inclusive instructions per
# call: each function's count in callgrind.out.NAME-big minus NAME-small,
# over N, with the frames every statement goes through left out; TOTAL (Ir
# per call) gives the percentages
profile_top() {
	local base=$RAW/callgrind.out.$1 total=$2
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

# profile_done: removes the callgrind.out files unless KEEP=1
profile_done() {
	if [ "$KEEP" = 1 ]; then
		say "callgrind output kept in $RAW"
	else
		rm -f "$RAW"/callgrind.out.*
	fi
}
