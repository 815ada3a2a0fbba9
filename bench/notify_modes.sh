#!/usr/bin/env bash
# The "NOTIFY off the write path" benchmark of order_mgmt: order throughput
# with order_mgmt.notifications = off, in_process and worker, and how long a
# listener waits for a notification after the writer's COMMIT returned.
#
#   sudo bench/notify_modes.sh                   # 3 rounds of 15 s per mode and setup
#   sudo ROUNDS=1 DURATION=5 bench/notify_modes.sh   # a quick smoke run
#
# It does NOT build or install the extension: it uses the order_mgmt already
# installed in PostgreSQL 15 (run `make install` or scripts/test.sh first),
# or the one of another installation with PG_CONFIG=.../pg_config (or
# BINDIR=.../bin).  It needs pgbench
# and python3 with psycopg 3 (installed from Debian's python3-psycopg if
# missing) for the listener probe, bench/lib/listener_probe.py.
#
# As root, it starts a throwaway server (scripts/lib/cluster.sh) as the
# "postgres" account (temporary directory, free port, unix socket only) with
# the settings of test/test.conf,
# shared_buffers = 256MB and shared_preload_libraries = 'order_mgmt' (the
# launcher gives database bench its notify worker), creates database bench
# and the extension, and runs pgbench with CLIENTS (16) clients and 2 threads: one
# script run is one create_order of a 3-line cart, the command built in SQL
# with gen_random_uuid() ids, in a transaction of its own.  The mode comes
# from PGOPTIONS (-c order_mgmt.notifications=MODE).
#
# Two setups (SETUPS, default both), ROUNDS rounds each, every round runs the three modes for
# DURATION seconds each, in a rotating order (off in_process worker, then
# in_process worker off, ...), on freshly emptied tables (TRUNCATE with the
# guard triggers bypassed, then CHECKPOINT):
#
#   "no listener"    pgbench alone;
#   "listener"       plus the listener probe (bench/lib/listener_probe.py,
#                    connected for the whole setup): one connection LISTENs
#                    on order_created and records when each notification
#                    arrives (monotonic clock); in each run a writer process
#                    creates one order every 50 ms in the run's mode and
#                    records when its COMMIT returned.  Wake-up delay =
#                    arrival - commit return, per probe order.  After pgbench
#                    the probe reads the ids of the run's events in the
#                    outbox, waits (at most 60 s) until each has been
#                    announced, and counts the missing ones and duplicates
#                    (exactly once).
#
# Writes bench/notify_modes.md (or $REPORT) and keeps the raw results and the
# server log in $RESULTS_DIR (default: a new /tmp/order_mgmt-notify.XXXXXX).
# On exit, even on error or Ctrl-C, every process it started is stopped, the
# server too, and its temporary directory is removed.
#
# Environment:
#   ROUNDS=3  DURATION=15  CLIENTS=16  SETUPS="nolistener listener"
#   PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config (or BINDIR=.../bin)
#   RESULTS_DIR=...  REPORT=...
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=PATH,ROUNDS,DURATION,CLIENTS,SETUPS,BINDIR,PG_CONFIG,RESULTS_DIR,REPORT \
		bash "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -n "${BINDIR:-}" ] && export PG_CONFIG=$BINDIR/pg_config
# shellcheck source=scripts/lib/cluster.sh
source "$root/scripts/lib/cluster.sh"
# shellcheck source=bench/lib/listener_probe.sh
source "$root/bench/lib/listener_probe.sh"
bindir=$CLUSTER_BINDIR
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-16}
SETUPS=${SETUPS:-nolistener listener}
REPORT=${REPORT:-$root/bench/notify_modes.md}
THREADS=2
python=/usr/bin/python3         # Debian's, where python3-psycopg installs
MODES=(off in_process worker)

die() { printf 'notify_modes: %s\n' "$*" >&2; exit 1; }
say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

for v in ROUNDS DURATION CLIENTS; do
	case ${!v} in '' | *[!0-9]*) die "$v must be a positive integer" ;; esac
	[ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
for setup in $SETUPS; do
	case $setup in nolistener | listener) ;; *) die "unknown setup $setup (SETUPS: nolistener listener)" ;; esac
done
[ -x "$bindir/postgres" ] || die "PostgreSQL 15 is not installed in $bindir"
sharedir=$("$bindir/pg_config" --sharedir)
pkglibdir=$("$bindir/pg_config" --pkglibdir)
[ -f "$sharedir/extension/order_mgmt.control" ] && [ -f "$pkglibdir/order_mgmt.so" ] ||
	die "order_mgmt is not installed (this script never builds it: run make install first)"
for tool in pgbench psql pg_ctl initdb; do
	[ -x "$bindir/$tool" ] || die "$bindir/$tool is missing"
done
if [[ " $SETUPS " == *" listener "* ]]; then
	probe_need_psycopg "$python" || die "the listener probe needs psycopg"
fi

# (as_pg, the prefix that runs a command as the postgres account, comes
# from scripts/lib/cluster.sh)
work=""
bg_pids=()
cleanup() {
	local rc=$? p
	set +e
	trap "" HUP INT TERM PIPE
	trap - EXIT
	probe_stop
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$work" ]; then
		[ -f "$work/server.log" ] && cp "$work/server.log" "$RESULTS_DIR/server.log" 2>/dev/null
		if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -f "$work/server.log" ]; then
			echo "---- last lines of the server log" >&2
			tail -n 20 "$work/server.log" >&2
		fi
		cd /
		# stops the server, waits for its processes, removes $work
		if cluster_destroy; then
			echo "cleanup: server stopped, $work removed, no process left behind"
		else
			rc=1
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

RESULTS_DIR=${RESULTS_DIR:-$(mktemp -d /tmp/order_mgmt-notify.XXXXXX)}
mkdir -p "$RESULTS_DIR"
chmod 755 "$RESULTS_DIR"
results=$RESULTS_DIR/runs.jsonl
: >"$results"

say "results in $RESULTS_DIR; report to $REPORT"

cluster_create bench || die "initdb failed"
work=$CLUSTER_WORK
data=$CLUSTER_DATA
cd "$work"                      # a cwd the postgres account can read
bench_conf="shared_buffers = 256MB
shared_preload_libraries = 'order_mgmt'"
{
	echo "# test/test.conf"
	cat "$root/test/test.conf"
	echo "# benchmark settings"
	echo "$bench_conf"
} >>"$data/postgresql.conf"
cluster_start || die "could not start the server"
port=$CLUSTER_PORT

psql_base=("$bindir/psql" -X -q -h "$work" -p "$port" -U postgres -v ON_ERROR_STOP=1)
# q DB: SQL on stdin, unaligned tuples only
q() { local db=$1; shift; "${as_pg[@]}" "${psql_base[@]}" -d "$db" -At "$@"; }

pg_version=$(q postgres <<<'SELECT version()')
say "server: $pg_version, socket $work/.s.PGSQL.$port"
q postgres <<<'CREATE DATABASE bench'
q bench <<<'CREATE EXTENSION order_mgmt'
for _ in $(seq 1 100); do
	[ "$(q bench <<<"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'order_mgmt notify worker'")" = 1 ] && break
	sleep 0.1
done
[ "$(q bench <<<"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'order_mgmt notify worker'")" = 1 ] ||
	die "the notify worker of database bench does not run"

# ---------------------------------------------------------------------------
# pgbench: one run = one order of three lines, in its own transaction
cat >"$work/order.pgbench" <<'EOF'
SELECT order_mgmt.create_order(jsonb_build_object(
    'cartId', gen_random_uuid(), 'customerId', gen_random_uuid(),
    'items', jsonb_build_array(
        jsonb_build_object('productId', gen_random_uuid(), 'quantity', 1, 'unitPrice', 1000),
        jsonb_build_object('productId', gen_random_uuid(), 'quantity', 2, 'unitPrice', 250),
        jsonb_build_object('productId', gen_random_uuid(), 'quantity', 3, 'unitPrice', 100)),
    'total', 1800, 'currency', 'EUR'));
EOF

chown postgres: "$work/order.pgbench"

outbox_count() { q bench <<<'SELECT count(*) FROM order_mgmt.outbox'; }

reset_tables() {
	q bench <<'EOF'
SET session_replication_role = replica;
TRUNCATE order_mgmt.order_lines, order_mgmt.orders, order_mgmt.outbox;
RESET session_replication_role;
CHECKPOINT;
EOF
}

# run SETUP ROUND MODE: one pgbench run, with the probe when SETUP = listener
run() {
	local setup=$1 round=$2 mode=$3 out before after tps probe_json="null"
	# (the tables are empty: every outbox row is an event of this run)
	reset_tables
	out=$(mktemp "$work/pgbench.XXXXXX")
	chown postgres: "$out"
	before=$(outbox_count)
	if [ "$setup" = listener ]; then
		probe_begin "-c order_mgmt.notifications=$mode" || die "the listener probe failed"
	fi
	"${as_pg[@]}" env PGOPTIONS="-c order_mgmt.notifications=$mode" \
		"$bindir/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
		-h "$work" -p "$port" -U postgres -f "$work/order.pgbench" bench \
		>"$out" 2>&1 || { cat "$out" >&2; die "pgbench failed"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	[ -n "$tps" ] || { cat "$out" >&2; die "no tps in pgbench's output"; }
	if [ "$setup" = listener ]; then
		# the probe now reads the run's events and waits for their notifications
		probe_json=$(probe_end "$([ "$mode" = off ] && echo 0 || echo 1)") ||
			die "the listener probe failed"
	fi
	after=$(outbox_count)
	printf '{"setup":"%s","round":%d,"mode":"%s","tps":%s,"events":%d,"probe":%s}\n' \
		"$setup" "$round" "$mode" "$tps" $((after - before)) "$probe_json" >>"$results"
	say "$setup round $round $mode: $tps orders/s"
}

say "$ROUNDS rounds x ${#MODES[@]} modes x $DURATION s, $CLIENTS clients, setups: $SETUPS"
for setup in $SETUPS; do
	if [ "$setup" = listener ]; then
		probe_start "$python" "host=$work port=$port user=postgres dbname=bench" \
			"$RESULTS_DIR/probe.log" order_created || die "the listener probe did not start"
	fi
	for round in $(seq 1 "$ROUNDS"); do
		for i in 0 1 2; do
			run "$setup" "$round" "${MODES[$(((i + round - 1) % 3))]}"
		done
	done
	probe_stop
done

# ---------------------------------------------------------------------------
# The report
machine_cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
machine_mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
queue_size=$(q bench <<<'SHOW order_mgmt.notify_queue_size')
batch_delay=$(q bench <<<'SHOW order_mgmt.notify_batch_delay')
"$python" - "$results" "$REPORT" "$(nproc)" "$machine_cpu" "$machine_mem" "$pg_version" \
	"$ROUNDS" "$DURATION" "$CLIENTS" "$THREADS" "$bench_conf" "$queue_size" "$batch_delay" <<'EOF'
import json, statistics, sys
(results, report, nproc, cpu, mem, version, rounds, duration, clients, threads,
 conf, queue_size, batch_delay) = sys.argv[1:]
runs = [json.loads(line) for line in open(results)]
modes = ["off", "in_process", "worker"]
setups = [(k, t) for k, t in [("nolistener", "no listener"), ("listener", "listener + probe")]
          if any(x["setup"] == k for x in runs)]

def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)

out = []
out.append("# NOTIFY off the write path: order throughput and wake-up delay by notification mode\n")
out.append("Produced by `bench/notify_modes.sh` (see its header for the method). One pgbench "
           "transaction = one `create_order` of a 3-line cart (ids from `gen_random_uuid()`), "
           f"{clients} clients, {threads} pgbench threads, {rounds} rounds of {duration} s per mode "
           "and setup, modes interleaved in a rotating order, tables emptied before each run.\n")
out.append("## Machine and server\n")
out.append(f"- CPU: {cpu}, {nproc} cores (nproc); memory {mem}")
out.append(f"- {version}")
out.append("- settings: `test/test.conf` (wal_level = logical, ...), fsync and synchronous_commit "
           "at their defaults (on), and:")
out.append("```\n" + conf + "\n```")
out.append("- order_mgmt.notify_queue_size and order_mgmt.notify_batch_delay at their defaults "
           f"({queue_size} entries, {batch_delay}); the notify worker commits its own "
           "transactions with synchronous_commit = off. The mode of each run is set with "
           "PGOPTIONS (`-c order_mgmt.notifications=MODE`) for pgbench and the probe's writer.\n")
out.append("## Throughput (orders/s, pgbench tps without connection time)\n")
for key, title in setups:
    out.append(f"### {title}\n")
    out.append("| round | off | in_process | worker | in_process/off | worker/off |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    per_mode = {m: [] for m in modes}
    for r in range(1, int(rounds) + 1):
        row = {m: next((x["tps"] for x in runs if x["setup"] == key and x["round"] == r
                        and x["mode"] == m), None) for m in modes}
        for m in modes:
            if row[m] is not None:
                per_mode[m].append(row[m])
        if None not in row.values():
            out.append(f"| {r} | {row['off']:.0f} | {row['in_process']:.0f} | {row['worker']:.0f} | "
                       f"{row['in_process'] / row['off']:.2f} | {row['worker'] / row['off']:.2f} |")
    mean = {m: statistics.mean(v) for m, v in per_mode.items() if v}
    if len(mean) == 3:
        out.append(f"| **mean** | **{mean['off']:.0f}** | **{mean['in_process']:.0f}** | "
                   f"**{mean['worker']:.0f}** | **{mean['in_process'] / mean['off']:.2f}** | "
                   f"**{mean['worker'] / mean['off']:.2f}** |")
    out.append("")
has_listener = any(x["setup"] == "listener" for x in runs)
if has_listener:
    out.append("## Wake-up delay (listener + probe setup)\n")
    out.append("Time from the probe writer's COMMIT returning to the listener receiving that order's "
               "notification, over all probe orders of all rounds (one every 50 ms, while pgbench "
               "runs). Negative values: the notification arrived before the writer saw its COMMIT "
               "return. Exactly once: every event written during the run was announced (none "
               "missing), once (no duplicates); in `off` mode none is announced.\n")
    out.append("| mode | probe orders | announced | median ms | p90 ms | p99 ms | max ms | "
               "events written | announced (distinct) | missing | duplicates |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in modes:
        rs = [x for x in runs if x["setup"] == "listener" and x["mode"] == m and x["probe"]]
        if not rs:
            continue
        delays = [d for x in rs for d in x["probe"]["delays_ms"]]
        orders = sum(x["probe"]["probe_orders"] for x in rs)
        announced = sum(x["probe"]["probe_announced"] for x in rs)
        written = sum(x["events"] for x in rs)
        received = sum(x["probe"]["received"] for x in rs)
        dups = sum(x["probe"]["duplicates"] for x in rs)
        missing = sum(x["probe"]["missing"] for x in rs)
        if delays:
            out.append(f"| {m} | {orders} | {announced} | {pct(delays, 50):.2f} | {pct(delays, 90):.2f} | "
                       f"{pct(delays, 99):.2f} | {max(delays):.2f} | {written} | {received} | "
                       f"{missing} | {dups} |")
        else:
            out.append(f"| {m} | {orders} | 0 | - | - | - | - | {written} | {received} | "
                       f"{missing} | {dups} |")
    out.append("")
out.append("## Reading the numbers\n")
out.append("- Compare modes within a round: the rounds run minutes apart on a machine whose speed "
           "drifts, and each ratio is taken inside one round.")
out.append("- *no listener* isolates the write path: `in_process` pays the instance-wide NOTIFY "
           "lock at every commit, `worker` (the default) hands its notifications to the "
           "worker's queue.")
out.append("- *listener + probe* adds what a real deployment has: a LISTEN session receiving every "
           "notification (the python probe and its server backend, on the same cores). In `off` "
           "mode it receives nothing, so that ratio also carries the cost of delivering the "
           "notifications to a listener, which any mode that notifies pays.")
open(report, "w").write("\n".join(out) + "\n")
EOF
cp "$REPORT" "$RESULTS_DIR/" 2>/dev/null || true
say "report written to $REPORT"
