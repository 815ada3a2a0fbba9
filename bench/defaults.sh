#!/usr/bin/env bash
# Benchmark section defaults (see bench/README.md): create_order as a server
# with nothing but shared_preload_libraries = 'order_mgmt' runs it, with a
# listener connected (issue 10's goal: create_order >= 1.0x the
# one-statement CTE at 4 and 16 clients, synchronous_commit on, and the
# listener's median wake-up under 10 ms).
#
# Compares: create_order against the one-statement CTE on a server with only the
# preload set, a listener connected; 4 and 16 clients; plus the wake-up delay.
#
#   sudo bench/defaults.sh            # or through bench/run.sh
#
# The server: bench/bench.conf WITHOUT its order_mgmt.* lines (it sets
# notifications = off and event_mode), so every order_mgmt setting is at its
# default (notifications = worker, the launcher's notify worker and
# maintenance), plus shared_preload_libraries = 'order_mgmt' and
# synchronous_commit = on; the section checks that pg_settings shows no
# order_mgmt.* setting from anywhere but the default before it times anything.
#
# Contenders, interleaved round-robin in each round (the first rotates), at 4
# and 16 clients, tables emptied before every run:
#   create_order   order_mgmt.create_order of a 3-line cart (bench/pgbench/create_order.sql)
#   bare           the one-statement CTE (bench/pgbench/create_order_bare.sql)
# Throughout the section a listener (bench/lib/listener_probe.py) LISTENs on
# order_created, order_completed and order_cancelled; in every run its writer
# creates one order every 50 ms and times commit-returned -> notification-
# received (the wake-up delay), and after the run the probe checks that every
# event in the outbox was announced exactly once.
#
# Environment (the section contract of bench/run.sh, plus):
#   BENCH_DURATION=6 seconds per run    BENCH_ROUNDS=5 rounds (more than the
#       other sections: the goal is a ratio near 1.0x, and one round of 6 s
#       on 2 cores swings it by 0.1x either way)
#   DEFAULTS_CLIENTS="4 16"
#   DEFAULTS_VARIANTS="..."   more contenders, for looking into the numbers
#       (never in the standard run; each is create_order with one setting
#       changed, for its pgbench and the probe's writer):
#         off, in_process   order_mgmt.notifications (PGOPTIONS)
#         delayN            order_mgmt.notify_batch_delay = N ms (ALTER SYSTEM
#                           and a reload around the run)
#   BENCH_QUICK=1: 4 clients, 2 s runs, 1 round (a smoke test)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_ENV="DEFAULTS_CLIENTS DEFAULTS_VARIANTS" bench_init defaults "$@"

DURATION=${BENCH_DURATION:-6}
ROUNDS=${BENCH_ROUNDS:-5}
read -r -a CLIENTS <<<"${DEFAULTS_CLIENTS:-4 16}"
read -r -a VARIANTS <<<"${DEFAULTS_VARIANTS:-}"
if [ "$QUICK" = 1 ]; then
	DURATION=2 ROUNDS=1 CLIENTS=(4)
fi
bench_int DURATION
bench_int ROUNDS
for c in "${CLIENTS[@]}"; do
	case $c in '' | *[!0-9]* | 0) die "DEFAULTS_CLIENTS: positive integers" ;; esac
done
for v in "${VARIANTS[@]}"; do
	case $v in off | in_process) ;; delay[0-9]*) [[ $v =~ ^delay[0-9]+$ ]] || die "bad variant $v" ;;
	*) die "unknown variant $v (off, in_process, delayN)" ;; esac
done
CONTENDERS=(create_order bare "${VARIANTS[@]}")
probe_need_psycopg "$BENCH_PYTHON" || die "the listener probe needs psycopg"

# ---------------------------------------------------------------------------
# The server: bench.conf without its order_mgmt lines, the preload
OMITTED=$(grep -E '^[[:space:]]*order_mgmt\.' "$bench_root/bench/bench.conf" || true)
BENCH_CONF_OMIT='^[[:space:]]*order_mgmt\.' bench_start \
	"shared_preload_libraries = 'order_mgmt'" "synchronous_commit = on"
bench_sql -f "$bench_root/bench/setup.sql" >/dev/null

set_by_hand=$(bench_sql <<<"SELECT string_agg(name || ' (' || source || ')', ', ') FROM pg_settings
	WHERE name LIKE 'order_mgmt.%' AND source <> 'default'")
[ -z "$set_by_hand" ] || die "order_mgmt settings not at their defaults: $set_by_hand"
bench_sql >"$RAW/order_mgmt_settings.txt" <<<"SELECT name || ' = ' || setting || coalesce(unit, '')
	FROM pg_settings WHERE name LIKE 'order_mgmt.%' ORDER BY name"
[ "$(bench_sql <<<'SHOW order_mgmt.notifications')" = worker ] ||
	die "order_mgmt.notifications is not 'worker' by default"

# the launcher starts the database's notify worker after CREATE EXTENSION
for _ in $(seq 1 100); do
	[ -n "$(bench_sql <<<'SELECT worker_pid FROM order_mgmt.notification_queue()')" ] && break
	sleep 0.1
done
worker_pid=$(bench_sql <<<'SELECT worker_pid FROM order_mgmt.notification_queue()')
[ -n "$worker_pid" ] || die "no notify worker serves database bench"
say "notify worker of database bench: pid $worker_pid"

# ---------------------------------------------------------------------------
# The listener, connected for the whole section
dsn=$(cluster_conninfo bench)
probe_start "$BENCH_PYTHON" "$dsn" "$RAW/probe.log" order_created order_completed order_cancelled ||
	die "the listener probe did not start"

bench_cart 3
script_of() {
	case $1 in
	bare) echo "$bench_root/bench/pgbench/create_order_bare.sql" ;;
	*) echo "$CART_SCRIPT" ;;
	esac
}
# the libpq options of a contender's sessions (pgbench and the probe's writer)
options_of() {
	case $1 in
	off | in_process) echo "-c order_mgmt.notifications=$1" ;;
	*) echo "" ;;
	esac
}
# set (or reset) what a delayN contender changes, and wait for the worker to have it
batch_delay() {
	local value=$1 shown
	if [ "$value" = default ]; then
		bench_sql <<<'ALTER SYSTEM RESET order_mgmt.notify_batch_delay' >/dev/null
	else
		bench_sql <<<"ALTER SYSTEM SET order_mgmt.notify_batch_delay = '${value}ms'" >/dev/null
	fi
	bench_sql <<<'SELECT pg_reload_conf()' >/dev/null
	sleep 0.5               # the worker reloads at its next wake-up (SIGHUP sets its latch)
	shown=$(bench_sql <<<'SHOW order_mgmt.notify_batch_delay')
	say "order_mgmt.notify_batch_delay = $shown"
}
queue_counters() { bench_sql <<<"SELECT sent || ' ' || overflows FROM order_mgmt.notification_queue()"; }

bench_sql <<<'CHECKPOINT'
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "${#CLIENTS[@]} client counts x $ROUNDS rounds x ${#CONTENDERS[@]} contenders x $DURATION s"
for c in "${CLIENTS[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		line="$c clients, round $round:"
		for k in $(seq 0 $((${#CONTENDERS[@]} - 1))); do
			who=${CONTENDERS[$(((k + round - 1) % ${#CONTENDERS[@]}))]}
			bench_reset_tables order_mgmt bench_bare
			case $who in delay*) batch_delay "${who#delay}" ;; esac
			opts=$(options_of "$who")
			expect=1
			[ "$who" != off ] || expect=0
			read -r sent0 over0 <<<"$(queue_counters)"
			load1=$(cut -d' ' -f1 /proc/loadavg)
			tags="\"contender\": \"$who\", \"clients\": $c, \"round\": $round, \"load1\": $load1"
			probe_begin "$opts" || die "the listener probe failed"
			r=$(PGOPTIONS="$opts" bench_pgbench "$tags" "$c" "$(script_of "$who")" -T "$DURATION" "${CART_VARS[@]}")
			probe=$(probe_end "$expect") || die "the listener probe failed"
			read -r sent1 over1 <<<"$(queue_counters)"
			case $who in delay*) batch_delay default ;; esac
			printf '{%s, "worker_sent": %d, "overflows": %d, "probe": %s}\n' "$tags" \
				$((sent1 - sent0)) $((over1 - over0)) "$probe" >>"$RAW/probe.jsonl"
			line+=" $who ${r%% *}"
		done
		say "$line tps"
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
probe_stop
bench_reset_tables order_mgmt bench_bare
bench_sql >"$RAW/maintenance.txt" <<<"SELECT task || ' ' || runs || ' ' || failures FROM order_mgmt.maintenance_runs ORDER BY task"

"$BENCH_PYTHON" - "$RAW/meta.json" "$ROUNDS" "$DURATION" "$QUICK" $(($(date +%s) - started)) \
	"$load_start" "$load_end" "$OMITTED" "$RAW/order_mgmt_settings.txt" "$RAW/maintenance.txt" \
	"$RAW/probe.jsonl" <<'EOF'
import json, sys
(out, rounds, duration, quick, seconds, load_start, load_end, omitted, settings, maint,
 probe) = sys.argv[1:]
json.dump({"rounds": int(rounds), "duration": f"{duration} s", "synchronous_commit": "on",
           "quick": quick == "1", "seconds": int(seconds), "load_start": load_start,
           "load_end": load_end, "omitted": [l for l in omitted.splitlines() if l.strip()],
           "settings": open(settings).read().split("\n")[:-1],
           "maintenance": [l.split() for l in open(maint).read().splitlines() if l.strip()],
           "probe_file": probe}, open(out, "w"))
EOF
"$BENCH_PYTHON" "$bench_root/bench/report.py" defaults "$RAW/runs.jsonl" \
	"$BENCH_OUT/defaults.md" "$RAW/meta.json"
say "fragment written to $BENCH_OUT/defaults.md"
