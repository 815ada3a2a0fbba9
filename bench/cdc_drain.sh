#!/usr/bin/env bash
# bench/cdc_drain.sh: CDC drain rate from a backlog, wal2json vs pgoutput (issue 4, item 5)
#
# Compares: the drain rate of pgoutput against wal2json, on the same backlog.
#
#   sudo bench/cdc_drain.sh              # standard: a backlog of 200k events, 2 rounds
#   sudo bench/cdc_drain.sh --scale      # (or BENCH_SCALE=1) the issue's backlog of 1M events
#   sudo BENCH_QUICK=1 bench/cdc_drain.sh
#
# One throwaway server (scripts/lib/cluster.sh, the settings of bench/bench.conf
# and test/test.conf: wal_level = logical, the wal2json plugin allowed, ...;
# then synchronous_commit off and order_mgmt.notifications off to build the
# backlog fast: neither changes what is decoded).  CREATE PUBLICATION
# order_mgmt_events FOR TABLE order_mgmt.outbox WITH (publish = 'insert') (as
# docs/events.md documents), then, before any order exists, ROUNDS pairs of
# logical slots: cdc_w<r> (wal2json) and cdc_p<r> (pgoutput), so every slot
# has the same backlog.  The backlog: pgbench -c 4 -j 2 of the one cart script
# (bench_cart of bench/lib.sh: one create_order of a 3-line cart of bench.cart,
# one of 100,000 customers) per transaction (small realistic transactions, each with one
# OrderCreated event; its order and line rows are decoded too and filtered
# out by the plugins).  Its end is the WAL insert position afterwards.
#
# Each round drains its two slots one after the other (the order alternates
# between rounds), each with pg_recvlogical --start --endpos=<end of backlog>:
#   wal2json: -o format-version=2 -o add-tables=order_mgmt.outbox -o actions=insert
#             -o include-xids=1 -o include-lsn=1 (docs/events.md's command), output
#             piped to grep -c '"action":"I"' (one line per event)
#   pgoutput: -P pgoutput -o proto_version=1 -o publication_names=order_mgmt_events,
#             output piped to a count of Insert messages (grep on the binary stream)
# Events/s = events in the backlog / wall time of pg_recvlogical (connection
# included); the counts must equal the events written, or the script fails.
#
# Writes $BENCH_OUT/cdc_drain.md and runs.csv, pgbench and pg_recvlogical logs
# in $BENCH_OUT/cdc_drain/.
# Environment: BENCH_QUICK, BENCH_SCALE, BENCH_OUT, PG_CONFIG; CDC_EVENTS, CDC_ROUNDS override.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_ENV="CDC_EVENTS CDC_ROUNDS" bench_init cdc_drain "$@"
check_installed wal2json.so

if [ "$QUICK" = 1 ]; then
	EVENTS=${CDC_EVENTS:-20000} ROUNDS=${CDC_ROUNDS:-1}
elif [ "$SCALE" = 1 ]; then
	EVENTS=${CDC_EVENTS:-1000000} ROUNDS=${CDC_ROUNDS:-2}
else
	EVENTS=${CDC_EVENTS:-200000} ROUNDS=${CDC_ROUNDS:-2}
fi
CLIENTS=4
per_client=$(((EVENTS + CLIENTS - 1) / CLIENTS))
bindir=$CLUSTER_BINDIR
started=$(date +%s)

say "backlog of $((per_client * CLIENTS)) events, $ROUNDS round(s)"
bench_server -f bench/bench.conf -f test/test.conf "synchronous_commit = off" "order_mgmt.notifications = off"
cd "$CLUSTER_WORK"
q postgres <<<'CREATE DATABASE bench'
q bench <<'SQL'
CREATE EXTENSION order_mgmt;
CREATE SCHEMA bench;
CREATE PUBLICATION order_mgmt_events FOR TABLE order_mgmt.outbox WITH (publish = 'insert');
SQL
q bench -f "$bench_root/bench/setup.sql" >/dev/null     # bench.cart
for r in $(seq 1 "$ROUNDS"); do
	q bench <<SQL
SELECT 'w' FROM pg_create_logical_replication_slot('cdc_w$r', 'wal2json') \g /dev/null
SELECT 'p' FROM pg_create_logical_replication_slot('cdc_p$r', 'pgoutput') \g /dev/null
SQL
done
lsn_start=$(q bench <<<'SELECT pg_current_wal_insert_lsn()')

bench_cart 3 customers=100000
say "building the backlog: pgbench -c $CLIENTS -j 2 -t $per_client"
t0=$(date +%s.%N)
"${as_pg[@]}" "$bindir/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -t "$per_client" -h "$CLUSTER_WORK" \
	-p "$CLUSTER_PORT" -U postgres -f "$CART_SCRIPT" "${CART_VARS[@]}" bench >"$RAW/pgbench.log" 2>&1 ||
	{ cat "$RAW/pgbench.log" >&2; die "pgbench failed"; }
t1=$(date +%s.%N)
build_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
lsn_end=$(q bench <<<'SELECT pg_current_wal_insert_lsn()')
events=$(q bench <<<'SELECT count(*) FROM order_mgmt.outbox')
wal_bytes=$(q bench <<<"SELECT '$lsn_end'::pg_lsn - '$lsn_start'::pg_lsn")
# (synchronous_commit is off: flush the backlog's WAL now, so that no drain waits for the WAL writer)
q bench <<<'CHECKPOINT'

say "backlog: $events events in $build_s s, $((wal_bytes / 1048576)) MiB of WAL"

# drain PLUGIN ROUND: runs pg_recvlogical to the end of the backlog; appends to runs.csv
csv=$RAW/runs.csv
echo "round,seq,plugin,events,counted,seconds,events_per_s,bytes" >"$csv"
drain() {
	local plugin=$1 r=$2 seq=$3 slot opts t0 t1 counted secs bytes
	local -a o
	if [ "$plugin" = wal2json ]; then
		slot=cdc_w$r
		o=(-o format-version=2 -o add-tables=order_mgmt.outbox -o actions=insert -o include-xids=1 -o include-lsn=1)
	else
		slot=cdc_p$r
		o=(-o proto_version=1 -o publication_names=order_mgmt_events)
	fi
	opts="${o[*]}"
	t0=$(date +%s.%N)
	"${as_pg[@]}" "$bindir/pg_recvlogical" -h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres -d bench \
		--slot "$slot" --start --endpos="$lsn_end" -f - "${o[@]}" 2>"$RAW/pg_recvlogical.$slot.log" |
		tee >(wc -c >"$RAW/bytes.$slot") |
		if [ "$plugin" = wal2json ]; then
			LC_ALL=C grep -c '"action":"I"'
		else
			# Insert message: 'I', relation oid (4 bytes), 'N', then the column
			# count (int16 10 = 0x00 0x0a: the newline ends the "line")
			LC_ALL=C grep -a -c -P '^I[\x00-\xff]{4}N\x00$'
		fi >"$RAW/count.$slot" || true
	t1=$(date +%s.%N)
	counted=$(cat "$RAW/count.$slot")
	for _ in $(seq 1 50); do [ -s "$RAW/bytes.$slot" ] && break; sleep 0.1; done
	bytes=$(cat "$RAW/bytes.$slot" 2>/dev/null || echo 0)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	[ "$counted" = "$events" ] ||
		die "$slot ($plugin $opts): counted $counted events, $events written; $(cat "$RAW/pg_recvlogical.$slot.log")"
	echo "$r,$seq,$plugin,$events,$counted,$secs,$(awk -v n="$events" -v s="$secs" 'BEGIN { printf "%.0f", n / s }'),$bytes" >>"$csv"
	say "round $r: $plugin drained $counted events in $secs s"
}
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		drain wal2json "$r" 1
		drain pgoutput "$r" 2
	else
		drain pgoutput "$r" 1
		drain wal2json "$r" 2
	fi
done

confirmed=$(q bench <<<"SELECT string_agg(slot_name || ' ' || (confirmed_flush_lsn >= '$lsn_end'), ', ' ORDER BY slot_name)
	FROM pg_replication_slots")
say "slots confirmed past the end of the backlog: $confirmed"
machine=$(machine_lines bench)
settings=$(settings_block bench)
elapsed=$(($(date +%s) - started))
pgb_tps=$(sed -n 's/^tps = \([0-9]*\).* (without.*/\1/p' "$RAW/pgbench.log")

python3 - "$csv" "$FRAGMENT" "$events" "$build_s" "$wal_bytes" "$elapsed" "$machine" "$settings" \
	"$pgb_tps" "$SCALE" "$QUICK" "$CART_SCRIPT" "${CART_VARS[*]}" <<'PY'
import csv, statistics, sys
(path, out, events, build_s, wal_bytes, elapsed, machine, settings, tps, scale, quick,
 script, script_vars) = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
L = ["## CDC drain rate from a backlog: wal2json vs pgoutput\n"]
note = ""
if scale != "1":
    note = (" (the issue asks for a backlog of 1M events: that is `bench/cdc_drain.sh --scale`; the standard set "
            "uses a smaller backlog to fit its time budget)" if quick != "1" else " (smoke mode)")
L.append(f"Written by `bench/cdc_drain.sh` ({elapsed} s). Backlog: **{int(events):,} events**{note}, built with "
         f"`pgbench -c 4 -j 2`, one `create_order` of a 3-line cart per transaction (one OrderCreated event, "
         f"its order and 3 line rows: small realistic transactions), in {build_s} s ({tps} orders/s, "
         f"synchronous_commit off), {int(wal_bytes) / 1048576:.0f} MiB of WAL. Every slot was created before the "
         "first order, so each drains the same backlog, with `pg_recvlogical --start --endpos=<WAL position at the "
         "end of the backlog>`, output counted (the counts are checked against the events written). The two "
         "plugins alternate in each round; events/s = events / wall time of pg_recvlogical.\n")
L.append("- **wal2json**: `-o format-version=2 -o add-tables=order_mgmt.outbox -o actions=insert -o include-xids=1 "
         "-o include-lsn=1` (docs/events.md's command), one JSON line per event counted with `grep -c`")
L.append("- **pgoutput**: publication `order_mgmt_events` (`FOR TABLE order_mgmt.outbox WITH (publish = 'insert')`), "
         "`-P pgoutput -o proto_version=1 -o publication_names=order_mgmt_events`, Insert messages counted in the "
         "binary stream\n")
L.append("| round | first | wal2json s | wal2json events/s | pgoutput s | pgoutput events/s | pgoutput / wal2json (rate) |")
L.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
ratios = []
for rd in sorted({r["round"] for r in rows}, key=int):
    w = next(r for r in rows if r["round"] == rd and r["plugin"] == "wal2json")
    p = next(r for r in rows if r["round"] == rd and r["plugin"] == "pgoutput")
    first = w["plugin"] if w["seq"] == "1" else p["plugin"]
    ratio = float(w["seconds"]) / float(p["seconds"])
    ratios.append(ratio)
    L.append(f"| {rd} | {first} | {w['seconds']} | {int(w['events_per_s']):,} | {p['seconds']} | "
             f"{int(p['events_per_s']):,} | {ratio:.2f} |")
def mean_rate(pl):
    return statistics.mean(int(r["events_per_s"]) for r in rows if r["plugin"] == pl)
def mean_bytes(pl):
    return statistics.mean(int(r["bytes"]) for r in rows if r["plugin"] == pl) / int(events)
L.append(f"| **mean** | | | **{mean_rate('wal2json'):,.0f}** | | **{mean_rate('pgoutput'):,.0f}** | "
         f"**{statistics.mean(ratios):.2f}** |")
L.append("")
L.append(f"Stream size per event: wal2json {mean_bytes('wal2json'):.0f} bytes, pgoutput {mean_bytes('pgoutput'):.0f} "
         "bytes (what pg_recvlogical wrote, including transaction begin/commit messages). Reference from the issue: "
         "a one-statement insert workload decoded at roughly 76k outbox rows/s through wal2json on a similar "
         "machine.\n")
L.append(f"The backlog's pgbench script (`bench/pgbench/create_order.sql`, run with `{script_vars}`):\n")
L.append("```\n" + open(script).read().rstrip() + "\n```\n")
L.append("Machine and server:\n")
L.append(machine)
L.append("- settings (plus order_mgmt.notifications = off):\n")
L.append(settings)
open(out, "w").write("\n".join(L) + "\n")
PY
say "fragment written to $FRAGMENT (${elapsed} s)"
