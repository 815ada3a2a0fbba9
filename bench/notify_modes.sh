#!/usr/bin/env bash
# The "NOTIFY off the write path" benchmark of order_mgmt: order throughput
# with order_mgmt.notifications = off, in_process and worker, and how long a
# listener waits for a notification after the writer's COMMIT returned.
#
#   sudo bench/notify_modes.sh                   # 3 rounds of 15 s per mode and setup
#   sudo ROUNDS=1 DURATION=3 SETUPS=nolistener bench/notify_modes.sh   # the smallest run
#
# Compares: the three values of order_mgmt.notifications against each other
# (off is the baseline), same server, same load, same rounds.
#
# Built on bench/lib.sh (bench/notify.sh runs it as a section).  It does NOT
# build or install the extension: it uses the order_mgmt already installed
# in the PostgreSQL of PG_CONFIG (or BINDIR=.../bin).  It needs pgbench and
# python3 with psycopg 3 (installed from Debian's python3-psycopg if
# missing) for the listener probe, bench/lib/listener_probe.py.
#
# As root, it starts a throwaway server (bench_server of bench/lib.sh) with
# the settings of test/test.conf, shared_buffers = 256MB and
# shared_preload_libraries = 'order_mgmt' (the launcher gives database bench
# its notify worker; bench/bench.conf is not used), creates database bench
# and the extension, and runs pgbench with CLIENTS (16) clients and 2
# threads: one script run is one create_order of a random 3-line cart (the
# one cart script of bench_cart in bench/lib.sh), in a transaction of
# its own.  The mode comes from PGOPTIONS (-c order_mgmt.notifications=MODE).
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
# Writes bench/notify_modes.md (or $REPORT) and keeps the raw results (modes.jsonl;
# runs.jsonl: every pgbench run with its latency percentiles) and the server log
# in $RESULTS_DIR (default: $BENCH_OUT/notify_modes, BENCH_OUT a new /tmp directory).
# On exit, even on error or Ctrl-C, every process it started is stopped, the
# server too, and its temporary directory is removed.
#
# Environment:
#   ROUNDS=3  DURATION=15  CLIENTS=16  SETUPS="nolistener listener"
#   PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config (or BINDIR=.../bin)
#   RESULTS_DIR=...  REPORT=...
set -euo pipefail
[ -n "${BINDIR:-}" ] && export PG_CONFIG=$BINDIR/pg_config
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_RAW=${RESULTS_DIR:-} BENCH_ENV="ROUNDS DURATION CLIENTS SETUPS RESULTS_DIR REPORT" \
	bench_init notify_modes "$@"
RESULTS_DIR=$RAW
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-16}
SETUPS=${SETUPS:-nolistener listener}
REPORT=${REPORT:-$bench_root/bench/notify_modes.md}
THREADS=2
MODES=(off in_process worker)

bench_int ROUNDS DURATION CLIENTS
for setup in $SETUPS; do
	case $setup in nolistener | listener) ;; *) die "unknown setup $setup (SETUPS: nolistener listener)" ;; esac
done
if [[ " $SETUPS " == *" listener "* ]]; then
	probe_need_psycopg "$BENCH_PYTHON" || die "the listener probe needs psycopg"
fi
results=$RESULTS_DIR/modes.jsonl
: >"$results"
say "results in $RESULTS_DIR; report to $REPORT"

bench_conf="shared_buffers = 256MB
shared_preload_libraries = 'order_mgmt'"
mapfile -t conf_lines <<<"$bench_conf"
bench_server -f test/test.conf "${conf_lines[@]}"
pg_version=$(q postgres <<<'SELECT version()')
say "server: $pg_version, socket $CLUSTER_WORK/.s.PGSQL.$CLUSTER_PORT"
q postgres <<<'CREATE DATABASE bench'
q bench -c 'CREATE EXTENSION order_mgmt' -c 'CREATE SCHEMA bench'
q bench -f "$bench_root/bench/setup.sql" >/dev/null     # bench.cart
for _ in $(seq 1 100); do
	[ "$(q bench <<<"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'order_mgmt notify worker'")" = 1 ] && break
	sleep 0.1
done
[ "$(q bench <<<"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'order_mgmt notify worker'")" = 1 ] ||
	die "the notify worker of database bench does not run"

# pgbench: one run = one order of three lines, in its own transaction
bench_cart 3

outbox_count() { q bench <<<'SELECT count(*) FROM order_mgmt.outbox'; }

# run SETUP ROUND MODE: one pgbench run, with the probe when SETUP = listener
run() {
	local setup=$1 round=$2 mode=$3 before after tps p50 p99 probe_json="null"
	# (the tables are empty: every outbox row is an event of this run)
	bench_reset_tables order_mgmt
	q bench <<<'CHECKPOINT'
	before=$(outbox_count)
	if [ "$setup" = listener ]; then
		probe_begin "-c order_mgmt.notifications=$mode" || die "the listener probe failed"
	fi
	read -r tps p50 p99 < <(PGOPTIONS="-c order_mgmt.notifications=$mode" bench_pgbench \
		"\"setup\": \"$setup\", \"round\": $round, \"mode\": \"$mode\", \"clients\": $CLIENTS" \
		"$CLIENTS" "$CART_SCRIPT" -T "$DURATION" "${CART_VARS[@]}")
	[ -n "$tps" ] || die "pgbench failed ($setup, $mode)"
	if [ "$setup" = listener ]; then
		# the probe now reads the run's events and waits for their notifications
		probe_json=$(probe_end "$([ "$mode" = off ] && echo 0 || echo 1)") ||
			die "the listener probe failed"
	fi
	after=$(outbox_count)
	printf '{"setup":"%s","round":%d,"mode":"%s","tps":%s,"p50_ms":%s,"p99_ms":%s,"events":%d,"probe":%s}\n' \
		"$setup" "$round" "$mode" "$tps" "$p50" "$p99" $((after - before)) "$probe_json" >>"$results"
	say "$setup round $round $mode: $tps orders/s, p50 $p50 ms, p99 $p99 ms"
}

say "$ROUNDS rounds x ${#MODES[@]} modes x $DURATION s, $CLIENTS clients, setups: $SETUPS"
for setup in $SETUPS; do
	if [ "$setup" = listener ]; then
		probe_start "$BENCH_PYTHON" "$(cluster_conninfo bench)" \
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
BENCH_LIB=$bench_root/bench "$BENCH_PYTHON" - "$results" "$REPORT" "$(nproc)" "$machine_cpu" "$machine_mem" "$pg_version" \
	"$ROUNDS" "$DURATION" "$CLIENTS" "$THREADS" "$bench_conf" "$queue_size" "$batch_delay" <<'EOF'
import json, os, statistics, sys
(results, report, nproc, cpu, mem, version, rounds, duration, clients, threads,
 conf, queue_size, batch_delay) = sys.argv[1:]
runs = [json.loads(line) for line in open(results)]
modes = ["off", "in_process", "worker"]
setups = [(k, t) for k, t in [("nolistener", "no listener"), ("listener", "listener + probe")]
          if any(x["setup"] == k for x in runs)]

sys.dont_write_bytecode = True
sys.path.insert(0, os.environ["BENCH_LIB"])
from report import pct  # noqa: E402  (bench/report.py)

out = []
out.append("# NOTIFY off the write path: order throughput and wake-up delay by notification mode\n")
out.append("Produced by `bench/notify_modes.sh` (see its header for the method). One pgbench "
           "transaction = one `create_order` of a random 3-line cart (`bench/pgbench/create_order.sql` of `bench.cart(3)`, through `bench_cart` of `bench/lib.sh`), "
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
    out.append(f"Latency per transaction (pgbench's log, client side), median over the rounds, {title}:\n")
    out.append("| mode | p50 ms | p99 ms |")
    out.append("| --- | ---: | ---: |")
    for m in modes:
        rs = [x for x in runs if x["setup"] == key and x["mode"] == m]
        if rs:
            out.append(f"| {m} | {statistics.median(x['p50_ms'] for x in rs):.2f} | "
                       f"{statistics.median(x['p99_ms'] for x in rs):.2f} |")
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
