#!/usr/bin/env bash
# bench/wal_bytes.sh: WAL bytes per created order, by event mode (issue 4, item 4)
#
# Compares: WAL bytes per order of create_order in the three event modes against
# the bare CTE (order + lines) and the bare CTE with the outbox row.
#
#   sudo bench/wal_bytes.sh               # standard: 2 rounds; 2000 3-line and 500 50-line orders per run
#   sudo BENCH_QUICK=1 bench/wal_bytes.sh # smoke: 1 round of 200 / 50 orders
#
# One throwaway server (scripts/lib/cluster.sh; binaries and the installed
# extension from $PG_CONFIG) with the settings of bench/bench.conf and
# test/test.conf (wal_level = logical, the wal2json plugin allowed, ...), then autovacuum off,
# checkpoints only when this script asks for one (checkpoint_timeout 1h,
# max_wal_size 8GB), synchronous_commit off (it changes when WAL is flushed,
# not what is written) and order_mgmt.notifications off (NOTIFY writes no WAL).
# A wal2json logical slot exists for the whole run (the message modes refuse
# to run without one); nobody reads it.
#
# Contenders, each one pgbench client (-c 1 -t N), one order per transaction,
# for 3-line and 50-line carts:
#   bare                a CTE inserting the order row and its lines into bare
#                       tables (bench_bare of bench/setup.sql: LIKE order_mgmt.x
#                       INCLUDING ALL, same columns, constraints and indexes, no triggers)
#   bare+outbox         the same CTE plus the outbox row (a one-statement insert)
#   outbox              the one cart script, bench/pgbench/create_order.sql:
#                       create_order of bench.cart(n) (bench/setup.sql: the lines
#                       the CTEs write), order_mgmt.event_mode = outbox (the default)
#   message             create_order, event_mode = message (a logical decoding message, no outbox row)
#   outbox_and_message  create_order, event_mode = outbox_and_message
# Every contender first gets a warm-up run of the same size (its tables are
# not empty when measured).  Each round runs the contenders in a rotating
# order; each run is CHECKPOINT, LSN before, pgbench, LSN after.  WAL bytes =
# pg_current_wal_insert_lsn() difference / orders; pg_waldump --stats over the same
# range splits it into full-page images (FPI: the first change of each page
# after the checkpoint) and the rest.  "without FPI" is the steady state when
# checkpoints are far apart (LSN difference minus FPI bytes; it still counts
# WAL page headers).
#
# Writes $BENCH_OUT/wal_bytes.md and, in $BENCH_OUT/wal_bytes/, runs.csv and
# the pg_waldump statistics of every run.
# Environment: BENCH_QUICK, BENCH_OUT, PG_CONFIG; WAL_ROUNDS, WAL_N3, WAL_N50 override the sizes.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_ENV="WAL_ROUNDS WAL_N3 WAL_N50" bench_init wal_bytes "$@"
check_installed wal2json.so

if [ "$QUICK" = 1 ]; then
	ROUNDS=${WAL_ROUNDS:-1} N3=${WAL_N3:-200} N50=${WAL_N50:-50}
else
	ROUNDS=${WAL_ROUNDS:-2} N3=${WAL_N3:-2000} N50=${WAL_N50:-500}
fi
CONTENDERS=(bare bare+outbox outbox message outbox_and_message)
bindir=$CLUSTER_BINDIR
started=$(date +%s)

say "$ROUNDS rounds; $N3 3-line and $N50 50-line orders per run"
bench_server -f bench/bench.conf -f test/test.conf "autovacuum = off" "checkpoint_timeout = 1h" "max_wal_size = 8GB" \
	"synchronous_commit = off" "order_mgmt.notifications = off"
cd "$CLUSTER_WORK"
q postgres <<<'CREATE DATABASE bench'
q bench <<'SQL'
CREATE EXTENSION order_mgmt;
CREATE SCHEMA bench;
SELECT 'slot' FROM pg_create_logical_replication_slot('wal_bytes', 'wal2json') \g /dev/null
SQL
# bench.cart(n) and the trigger-free copies of the tables, bench_bare
q bench -f "$bench_root/bench/setup.sql" >/dev/null

# script CONTENDER LINES: writes the pgbench script, prints its path
script() {
	local c=$1 n=$2 f
	f=$CLUSTER_WORK/$c.$n.pgbench
	case $c in
	bare | bare+outbox)
		{
			cat <<SQL
WITH o AS (
  INSERT INTO bench_bare.orders (order_id, cart_id, customer_id, status, total, currency, version, created_at, command_digest)
  VALUES (order_mgmt.uuid_generate_v7(), gen_random_uuid(), gen_random_uuid(), 'CREATED',
          (SELECT sum((1 + g % 3) * 100 * g) FROM generate_series(1, $n) g), 'EUR', 1, now(),
          sha256(convert_to(gen_random_uuid()::text, 'UTF8')))
  RETURNING order_id, customer_id, total, currency, created_at),
l AS (
  INSERT INTO bench_bare.order_lines (order_id, line_no, product_id, quantity, unit_price)
  SELECT o.order_id, g, gen_random_uuid(), 1 + g % 3, 100 * g FROM o, generate_series(1, $n) g)
SQL
			if [ "$c" = bare+outbox ]; then
				cat <<'SQL'
, x AS (
  INSERT INTO bench_bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version, schema_version,
                           occurred_at, xact_id)
  SELECT order_mgmt.uuid_generate_v7(), 'order', o.order_id, 'OrderCreated',
         jsonb_build_object('orderId', o.order_id, 'customerId', o.customer_id, 'total', o.total,
                            'currency', o.currency, 'createdAt', o.created_at),
         1, '1.0.0', o.created_at, pg_current_xact_id() FROM o)
SQL
			fi
			echo 'SELECT order_id FROM o;'
		} >"$f"
		;;
	*)
		echo "$CART_SCRIPT"        # the one cart script (bench_cart of bench/lib.sh)
		return
		;;
	esac
	chmod 644 "$f"
	echo "$f"
}

# pgb CONTENDER LINES COUNT: one pgbench run; the event mode through PGOPTIONS
pgb() {
	local c=$1 n=$2 t=$3 mode=outbox f
	case $c in outbox | message | outbox_and_message) mode=$c ;; esac
	bench_cart "$n"
	f=$(script "$c" "$n")
	"${as_pg[@]}" env PGOPTIONS="-c order_mgmt.event_mode=$mode" "$bindir/pgbench" -n -M prepared -c 1 \
		-t "$t" -h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres -f "$f" "${CART_VARS[@]}" bench \
		>"$RAW/pgbench.last" 2>&1 ||
		{ cat "$RAW/pgbench.last" >&2; die "pgbench failed ($c, $n lines)"; }
}

csv=$RAW/runs.csv
echo "round,lines,contender,orders,lsn_bytes,records,record_bytes,fpi_bytes,message_bytes,tps" >"$csv"
for n in 3 50; do
	t=$([ "$n" = 3 ] && echo "$N3" || echo "$N50")
	say "warm-up: $t orders of $n lines per contender"
	for c in "${CONTENDERS[@]}"; do pgb "$c" "$n" "$t"; done
	k=${#CONTENDERS[@]}
	for r in $(seq 1 "$ROUNDS"); do
		for i in $(seq 0 $((k - 1))); do
			c=${CONTENDERS[$(((i + r - 1) % k))]}
			q bench <<<'CHECKPOINT'
			lsn0=$(q bench <<<'SELECT pg_current_wal_insert_lsn()')
			pgb "$c" "$n" "$t"
			tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$RAW/pgbench.last")
			lsn1=$(q bench <<<'SELECT pg_current_wal_insert_lsn()')
			bytes=$(q bench <<<"SELECT '$lsn1'::pg_lsn - '$lsn0'::pg_lsn")
			# (synchronous_commit is off: the run's WAL must reach the disk before pg_waldump reads it)
			q bench <<<'CHECKPOINT'
			stats=$RAW/waldump.$n.$c.$r.txt
			# (the start segment named: pg_waldump would otherwise take the segment size
			# from any file of pg_wal, possibly a zero-filled preallocated one)
			seg0=$(q bench <<<"SELECT pg_walfile_name('$lsn0')")
			seg1=$(q bench <<<"SELECT pg_walfile_name('$lsn1')")
			"${as_pg[@]}" "$bindir/pg_waldump" -p "$CLUSTER_DATA/pg_wal" -s "$lsn0" -e "$lsn1" --stats \
				"$seg0" "$seg1" \
				>"$stats" 2>&1 || { cat "$stats" >&2; die "pg_waldump failed"; }
			# Total: N, record bytes, FPI bytes; LogicalMessage: its record bytes
			# (percentages in parentheses or brackets dropped: name, N, record, FPI, combined)
			tot=$(awk '{ gsub(/\([^)]*\)|\[[^]]*\]/, "") } $1 == "Total" { print $2 "," $3 "," $4 }' "$stats")
			msg=$(awk '{ gsub(/\([^)]*\)|\[[^]]*\]/, "") } $1 == "LogicalMessage" { print $3 }' "$stats")
			[ -n "$tot" ] || die "no Total line in $stats"
			echo "$r,$n,$c,$t,$bytes,$tot,${msg:-0},$tps" >>"$csv"
			say "round $r, $n lines, $c: $((bytes / t)) WAL bytes per order"
		done
	done
done

# the checks: the message modes wrote messages, the outbox modes outbox rows
counts=$(q bench <<'SQL'
SELECT (SELECT count(*) FROM order_mgmt.orders) || ' orders, ' ||
       (SELECT count(*) FROM order_mgmt.outbox) || ' outbox rows, ' ||
       (SELECT count(*) FROM bench_bare.orders) || ' bare orders, ' ||
       (SELECT count(*) FROM bench_bare.outbox) || ' bare outbox rows'
SQL
)
say "stored: $counts"
machine=$(machine_lines bench)
settings=$(settings_block bench)
elapsed=$(($(date +%s) - started))

python3 - "$csv" "$FRAGMENT" "$ROUNDS" "$N3" "$N50" "$elapsed" "$counts" "$machine" "$settings" <<'PY'
import csv, statistics, sys
path, out, rounds, n3, n50, elapsed, counts, machine, settings = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
order = ["bare", "bare+outbox", "outbox", "message", "outbox_and_message"]
label = {"bare": "bare order + lines (CTE, no event)", "bare+outbox": "bare order + lines + outbox row (one-statement CTE)",
         "outbox": "create_order, event_mode = outbox", "message": "create_order, event_mode = message",
         "outbox_and_message": "create_order, event_mode = outbox_and_message"}
L = []
L.append("## WAL bytes per created order, by event mode\n")
L.append(f"Written by `bench/wal_bytes.sh` ({rounds} round(s); per run {n3} orders of 3 lines or {n50} of 50 lines, "
         f"one pgbench client, one order per transaction; {elapsed} s). For each run: `CHECKPOINT`, "
         "`pg_current_wal_insert_lsn()` before and after, `pg_waldump --stats` over that range. "
         "**with FPI** = all WAL of the run right after a checkpoint (includes the full-page image of every page "
         "first touched after it: random-key index pages of cart_id / event id, the tables' last pages); "
         "**without FPI** = the same minus the full-page images, i.e. the steady state when checkpoints are far "
         "apart. Contenders run in a rotating order in each round, each after a warm-up run of the same size; "
         "bare tables are `LIKE order_mgmt.x INCLUDING ALL` (same indexes, no triggers). Ratios are to *bare* of "
         "the same round and cart size, then averaged over rounds.\n")
for n in ("3", "50"):
    L.append(f"### {n}-line carts\n")
    L.append("| contender | WAL bytes/order with FPI | FPI bytes/order | without FPI | ratio to bare (without FPI) | "
             "ratio to bare (with FPI) | logical message bytes/order | orders/s (context only) |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in order:
        rs = [r for r in rows if r["lines"] == n and r["contender"] == c]
        if not rs:
            continue
        w = [int(r["lsn_bytes"]) / int(r["orders"]) for r in rs]
        f = [int(r["fpi_bytes"]) / int(r["orders"]) for r in rs]
        m = [int(r["message_bytes"]) / int(r["orders"]) for r in rs]
        tps = [float(r["tps"]) for r in rs]
        rw, rn = [], []
        for r in rs:
            b = next(x for x in rows if x["lines"] == n and x["contender"] == "bare" and x["round"] == r["round"])
            bo = int(b["orders"])
            rw.append((int(r["lsn_bytes"]) / int(r["orders"])) / (int(b["lsn_bytes"]) / bo))
            rn.append(((int(r["lsn_bytes"]) - int(r["fpi_bytes"])) / int(r["orders"])) /
                      ((int(b["lsn_bytes"]) - int(b["fpi_bytes"])) / bo))
        wn = [a - b for a, b in zip(w, f)]
        L.append(f"| {label[c]} | {statistics.mean(w):.0f} | {statistics.mean(f):.0f} | {statistics.mean(wn):.0f} | "
                 f"{statistics.mean(rn):.2f} | {statistics.mean(rw):.2f} | {statistics.mean(m):.0f} | {statistics.mean(tps):.0f} |")
    L.append("")
L.append("Per round (WAL bytes/order with FPI / without FPI):\n")
L.append("| lines | round | " + " | ".join(order) + " |")
L.append("| --- | ---: | " + " | ".join("---:" for _ in order) + " |")
for n in ("3", "50"):
    for rd in sorted({r["round"] for r in rows}, key=int):
        cells = []
        for c in order:
            r = next((x for x in rows if x["lines"] == n and x["round"] == rd and x["contender"] == c), None)
            if r is None:
                cells.append("-")
            else:
                o = int(r["orders"])
                cells.append(f"{int(r['lsn_bytes']) / o:.0f} / {(int(r['lsn_bytes']) - int(r['fpi_bytes'])) / o:.0f}")
        L.append(f"| {n} | {rd} | " + " | ".join(cells) + " |")
L.append("")
L.append("orders/s: pgbench's tps of the measured runs, one client with synchronous_commit off, on a machine "
         "that may be shared: context only, not a throughput comparison.\n")
L.append(f"Stored at the end: {counts}. Raw data: `runs.csv` and `waldump.*.txt` next to this file.\n")
L.append("Machine and server:\n")
L.append(machine)
L.append("- settings (wal_level = logical for every contender, so the comparison is like for like; "
         "autovacuum off so no other WAL lands inside a run):\n")
L.append(settings)
open(out, "w").write("\n".join(L) + "\n")
PY
say "fragment written to $FRAGMENT (${elapsed} s)"
