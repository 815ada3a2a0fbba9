#!/usr/bin/env bash
# The "bounded outbox" benchmark of order_mgmt: does retention keep the outbox
# (and the polling consumers' event_feed) at a bounded size under a sustained
# write load, and do dead tuples get cleaned up?
#
#   sudo bench/outbox_retention.sh                 # 1,000,000 orders per scenario
#   sudo ORDERS=2000 SETTLE=3 bench/outbox_retention.sh    # the smallest run
#
# Compares: the outbox and event_feed sizes and dead tuples under the same
# write load, CDC only (scenario A) against a polling consumer (scenario B),
# each against the bound that retention promises; not a speed contest.
#
# Built on bench/lib.sh.  It does NOT build or install the extension: it uses
# the order_mgmt already installed in the PostgreSQL of PG_CONFIG, and stops
# if there is none.  It needs pgbench, pg_recvlogical and wal2json
# (Debian: postgresql-15, postgresql-15-wal2json).
#
# As root, it starts a throwaway server (bench_server of bench/lib.sh: the
# settings of test/test.conf plus shared_buffers = 256MB and three
# logging-only settings; bench/bench.conf is not used), and runs two
# scenarios, each in a fresh database with a fresh extension:
#
#   A  "CDC only": no polling consumer; a logical slot with wal2json, drained
#      concurrently by pg_recvlogical (the stream's event ids are counted, to
#      check that CDC received every event once); purge_events('10 seconds')
#      about once a second.
#   B  "with a polling consumer": register_consumer('bench'); one long psql
#      session loops over BEGIN; fetch_events('bench', 1000), recording each
#      event in a table bench_seen; ack_events; COMMIT (sleeping 0.1 s when a
#      batch is not full); the same purge loop.  At the end: every event
#      written was received exactly once (no duplicate, none missing).
#
# The write load is pgbench -n -M prepared -c 4 -j 2: one script run creates
# one order with the one cart script (bench_cart of bench/lib.sh: a 3-line
# cart of bench.cart, one of 100k customers, 3 consecutive of 99,999
# products, GBP), its id kept; 10% of the orders are then completed and 10%
# cancelled, each in a transaction of its own.  -t is ORDERS/4 per client.
#
# Every 10 s a sampler appends to samples_<scenario>.csv: outbox rows and total
# size, event_feed rows and total size, their n_live_tup / n_dead_tup and
# autovacuum counts, the consumer lag (max feed seq - acked seq), the slot's
# lag and the size of pg_wal.  After the load, the scenario waits until the
# events are drained (slot confirmed / consumer acked everything), lets the
# purge and autovacuum run for SETTLE seconds more, stops its loops and
# measures the final state.
#
# Writes bench/RETENTION.md (or $REPORT), rendered by bench/report.py
# (retention) from runs.jsonl (each scenario's results) and meta.json (the
# run's facts), and keeps them, the CSVs, logs and the server log in
# $RESULTS_DIR (default: $BENCH_OUT/outbox_retention, BENCH_OUT a new /tmp
# directory).  The exit trap of bench/lib.sh stops its loops and the server,
# even on error or Ctrl-C.
#
# Environment:
#   ORDERS=1000000       orders per scenario (rounded up to a multiple of 4)
#   SCENARIOS="A B"      which scenarios to run
#   SETTLE=60            seconds the loops keep running after the drain
#   DRAIN_TIMEOUT=900    most seconds to wait for the drain
#   RESULTS_DIR=...      where CSVs and logs are kept
#   REPORT=...           the Markdown report (default bench/RETENTION.md)
#   PG_CONFIG=...        the PostgreSQL to use (default Debian's PostgreSQL 15)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_RAW=${RESULTS_DIR:-} BENCH_ENV="ORDERS SCENARIOS SETTLE DRAIN_TIMEOUT RESULTS_DIR REPORT" \
	bench_init outbox_retention "$@"
check_installed wal2json.so
RESULTS_DIR=$RAW
bindir=$CLUSTER_BINDIR
[ -x "$bindir/pg_recvlogical" ] || die "$bindir/pg_recvlogical is missing"

ORDERS=${ORDERS:-1000000}
SCENARIOS=${SCENARIOS:-A B}
SETTLE=${SETTLE:-60}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}
REPORT=${REPORT:-$bench_root/bench/RETENTION.md}
CLIENTS=4
THREADS=2
KEEP='10 seconds'
BATCH=1000
SAMPLE_EVERY=10

bench_int ORDERS
per_client=$(((ORDERS + CLIENTS - 1) / CLIENTS))
total_orders=$((per_client * CLIENTS))

say "results in $RESULTS_DIR; report to $REPORT"
say "$total_orders orders per scenario ($CLIENTS clients x $per_client), scenarios: $SCENARIOS"

bench_conf="shared_buffers = 256MB
log_autovacuum_min_duration = 0
log_lock_waits = on
log_line_prefix = '%m [%p] %q%d %a: '"
mapfile -t conf_lines <<<"$bench_conf"
# (the last three only log: every autovacuum run, lock waits over deadlock_timeout)
bench_server -f test/test.conf "${conf_lines[@]}"
work=$CLUSTER_WORK
BENCH_STOPFILE=$work/stop
stopfile=$BENCH_STOPFILE
cd "$work"                      # a cwd the postgres account can read
pg_version=$(q postgres <<<'SELECT version()')
say "server: $pg_version, socket $work/.s.PGSQL.$CLUSTER_PORT"

# ---------------------------------------------------------------------------
# The pgbench script: one run = one order (one transaction); 10% are then
# completed, 10% cancelled, each in its own transaction; the order is the one
# cart script's (its statement, the order id kept by \gset)
bench_cart 3 customers=100000 products=99999 currency=GBP
{
	echo '\set fate random(1, 100)'
	echo '\set reason random(1, 4)'
	grep -v '^--' "$CART_SCRIPT" | sed 's/;$/ AS order_id \\gset/'
	cat <<'EOF'
\if :fate <= 10
SELECT order_mgmt.complete_order(:order_id::uuid);
\elif :fate <= 20
SELECT order_mgmt.cancel_order(:order_id::uuid,
    (ARRAY['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD'])[:reason::int]);
\endif
EOF
} >"$work/orders.pgbench"

# One consumer batch (scenario B): fetch, record every event, acknowledge, in
# one transaction; then leave if asked to stop, and sleep when not busy.
cat >"$work/consumer_batch.sql" <<EOF
BEGIN;
SELECT clock_timestamp() AS t0 \\gset
WITH f AS (SELECT seq, id, event_position FROM order_mgmt.fetch_events('bench', $BATCH)),
     ins AS (INSERT INTO bench_seen (seq, id, position) SELECT seq, id, event_position FROM f RETURNING seq)
SELECT count(*) AS n, coalesce(max(seq), 0) AS top FROM ins \\gset
SELECT round((extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000)::numeric, 2) AS ms \\gset
SELECT order_mgmt.ack_events('bench', :top) WHERE :top > 0;
INSERT INTO bench_batches (started, n, fetch_ms) VALUES (:'t0', :n, :ms);
COMMIT;
SELECT stop FROM bench_control \\gset
\\if :stop
\\q
\\endif
SELECT pg_sleep(0.1) WHERE :n < $BATCH;
EOF
consumer_batch=$(cat "$work/consumer_batch.sql")

sample_sql="SELECT
  (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relid = 'order_mgmt.orders'::regclass),
  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM order_mgmt.outbox_position_seq),
  (SELECT count(*) FROM order_mgmt.outbox),
  pg_total_relation_size('order_mgmt.outbox'),
  (SELECT round(extract(epoch FROM now() - min(occurred_at)))::int FROM order_mgmt.outbox),
  s.n_live_tup, s.n_dead_tup, s.autovacuum_count,
  (SELECT count(*) FROM order_mgmt.event_feed),
  pg_total_relation_size('order_mgmt.event_feed'),
  f.n_live_tup, f.n_dead_tup, f.autovacuum_count,
  c.max_seq, c.acked_seq, CASE WHEN c.acked_seq IS NOT NULL THEN greatest(c.max_seq - c.acked_seq, 0) END,
  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM order_mgmt.outbox_position_seq) - c.acked_seq,
  (SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'bench_cdc'),
  (SELECT sum(size) FROM pg_ls_waldir())
FROM pg_stat_user_tables s, pg_stat_user_tables f
LEFT JOIN LATERAL (
  SELECT coalesce((SELECT max(seq) FROM order_mgmt.event_feed), k.acked_seq) AS max_seq, k.acked_seq
  FROM order_mgmt.consumers k WHERE k.name = 'bench') c ON true
WHERE s.relid = 'order_mgmt.outbox'::regclass AND f.relid = 'order_mgmt.event_feed'::regclass"
csv_header="ts,scenario,phase,elapsed_s,orders_inserted,events_written,outbox_rows,outbox_bytes,outbox_oldest_s,outbox_live,outbox_dead,outbox_autovacuums,feed_rows,feed_bytes,feed_live,feed_dead,feed_autovacuums,feed_max_seq,acked_seq,consumer_lag,backlog,slot_lag_bytes,wal_bytes,loadavg_1m,other_running"
empty_sample=,,,,,,,,,,,,,,,,,,   # the 19 fields of a sample, when it failed
# the 1-minute load average, and how many processes that are not this
# benchmark's (neither the server's children nor a client of its socket) are
# running at this instant: other work competing for the CPUs
loadavg() {
	local pm
	pm=$(head -n 1 "$CLUSTER_DATA/postmaster.pid" 2>/dev/null || echo 0)
	printf '%s,%s' "$(cut -d' ' -f1 /proc/loadavg)" "$(ps -e -o pid=,ppid=,stat=,args= |
		awk -v pm="$pm" -v w="$work" '$3 ~ /^R/ && $1 != pm && $2 != pm && index($0, w) == 0 &&
			$4 != "ps" && $4 != "awk" { n++ } END { print n + 0 }')"
}

pretty() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1 B"; }

# results, by scenario: R[A.key]
declare -A R
# setR SC SEP LINE KEY...: split LINE at SEP into R[SC.KEY]...
setR() {
	local sc=$1 sep=$2 line=$3 k i=0
	local -a f
	shift 3
	IFS=$sep read -r -a f <<<"$line"
	for k in "$@"; do
		R[$sc.$k]=${f[$i]:-}
		i=$((i + 1))
	done
}

# ---------------------------------------------------------------------------
run_scenario() {
	local sc=$1 db csv purgelog t0 rc=0 lsn_end waited drained
	local cdc_fifo="" reader_pid="" recv_pid="" consumer_pid="" purge_pid="" sampler_pid=""
	db=bench_$(tr 'A-Z' 'a-z' <<<"$sc")
	csv=$RESULTS_DIR/samples_$sc.csv
	purgelog=$RESULTS_DIR/purge_$sc.csv
	rm -f "$stopfile"
	echo load >"$work/phase"

	say "scenario $sc: database $db"
	q postgres <<<"CREATE DATABASE $db"
	q "$db" -c 'CREATE EXTENSION order_mgmt' -c 'CREATE SCHEMA bench' -f "$bench_root/bench/setup.sql" >/dev/null

	if [ "$sc" = A ]; then
		recvlogical=("${as_pg[@]}" "$bindir/pg_recvlogical" -h "$work" -p "$CLUSTER_PORT" -U postgres -d "$db" --slot bench_cdc)
		"${recvlogical[@]}" --plugin wal2json --create-slot
		# the reader keeps the event id of every outbox insert the stream carries
		cdc_fifo=$work/cdc.fifo
		mkfifo -m 600 "$cdc_fifo"
		chown postgres: "$cdc_fifo"
		{ grep -o '"name":"id","type":"uuid","value":"[0-9a-f-]*"' <"$cdc_fifo" >"$work/cdc_ids.txt" || true; } &
		reader_pid=$!
		bg_pids+=("$reader_pid")
		"${recvlogical[@]}" --start -f - --fsync-interval 1 --status-interval 1 \
			-o format-version=2 -o add-tables=order_mgmt.outbox -o actions=insert \
			>"$cdc_fifo" 2>"$RESULTS_DIR/pg_recvlogical_$sc.log" &
		recv_pid=$!
		bg_pids+=("$recv_pid")
		say "scenario $sc: slot bench_cdc (wal2json) drained by pg_recvlogical (pid $recv_pid)"
	else
		q "$db" <<'EOF'
CREATE TABLE bench_seen (seq bigint NOT NULL, id uuid NOT NULL, position bigint NOT NULL,
                         received_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE bench_batches (started timestamptz NOT NULL, n integer NOT NULL, fetch_ms numeric NOT NULL);
CREATE TABLE bench_control (stop boolean NOT NULL);
INSERT INTO bench_control VALUES (false);
SELECT order_mgmt.register_consumer('bench') \g /dev/null
EOF
		# one long psql session, fed the batch again and again; it leaves
		# when bench_control.stop is set (the feeder then dies of SIGPIPE)
		{
			printf '%s\n' '\o /dev/null'
			while :; do printf '%s\n' "$consumer_batch"; done
		} 2>/dev/null | cluster_psql -d "$db" >"$RESULTS_DIR/consumer_$sc.log" 2>&1 &
		consumer_pid=$!
		bg_pids+=("$consumer_pid")
		say "scenario $sc: consumer 'bench' registered, polling session started"
	fi

	# the purge loop: about once a second
	echo "ts,removed,ms" >"$purgelog"
	(
		while [ ! -e "$stopfile" ]; do
			line=$(q "$db" <<<"SELECT to_char(now(), 'HH24:MI:SS.MS'), p.removed,
				round((extract(epoch FROM clock_timestamp() - now()) * 1000)::numeric, 1)
				FROM (SELECT order_mgmt.purge_events('$KEEP') AS removed OFFSET 0) p" \
				-F, 2>>"$RESULTS_DIR/purge_errors_$sc.log") || line="$(date +%H:%M:%S),error,"
			echo "$line" >>"$purgelog"
			sleep 1
		done
	) &
	purge_pid=$!
	bg_pids+=("$purge_pid")

	# the sampler: every SAMPLE_EVERY seconds
	echo "$csv_header" >"$csv"
	t0=$(date +%s)
	(
		next=$t0
		while [ ! -e "$stopfile" ]; do
			now=$(date +%s)
			if [ "$now" -ge "$next" ]; then
				vals=$(q "$db" -F, <<<"$sample_sql" 2>>"$RESULTS_DIR/sampler_errors_$sc.log") ||
					vals=$empty_sample
				echo "$(date '+%F %T'),$sc,$(cat "$work/phase"),$((now - t0)),$vals,$(loadavg)" >>"$csv"
				next=$((next + SAMPLE_EVERY))
			fi
			sleep 0.5
		done
	) &
	sampler_pid=$!
	bg_pids+=("$sampler_pid")

	say "scenario $sc: pgbench -n -M prepared -c $CLIENTS -j $THREADS -t $per_client"
	local start end
	start=$(date +%s.%N)
	"${as_pg[@]}" "$bindir/pgbench" -h "$work" -p "$CLUSTER_PORT" -U postgres -n -M prepared \
		-c "$CLIENTS" -j "$THREADS" -t "$per_client" -P 30 -f "$work/orders.pgbench" "${CART_VARS[@]}" "$db" \
		>"$RESULTS_DIR/pgbench_$sc.log" 2>&1 || rc=$?
	end=$(date +%s.%N)
	R[$sc.pgbench_rc]=$rc
	R[$sc.elapsed]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	grep -E '^progress' "$RESULTS_DIR/pgbench_$sc.log" | tail -n 3 | sed 's/^/    /' || true
	say "scenario $sc: pgbench done in ${R[$sc.elapsed]} s (exit $rc)"

	# the state at the end of the load
	vals=$(q "$db" -F, <<<"$sample_sql")
	echo "$(date '+%F %T'),$sc,load_end,$(($(date +%s) - t0)),$vals,$(loadavg)" >>"$csv"
	R[$sc.load_end]=$vals
	echo drain >"$work/phase"

	# drain: the slot confirms everything written, or the consumer acks it all
	lsn_end=$(q "$db" <<<'SELECT pg_current_wal_lsn()')
	waited=0 drained=f
	while [ "$waited" -lt "$DRAIN_TIMEOUT" ]; do
		if [ "$sc" = A ]; then
			drained=$(q "$db" <<<"SELECT coalesce((SELECT confirmed_flush_lsn >= '$lsn_end'::pg_lsn
				FROM pg_replication_slots WHERE slot_name = 'bench_cdc'), false)")
		else
			drained=$(q "$db" <<<"SELECT s.low_position >= (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
					FROM order_mgmt.outbox_position_seq)
				AND coalesce((SELECT max(seq) FROM order_mgmt.event_feed), 0) <= c.acked_seq
				FROM order_mgmt.feed_state s, order_mgmt.consumers c WHERE c.name = 'bench'")
		fi
		[ "$drained" = t ] && break
		sleep 1
		waited=$((waited + 1))
	done
	R[$sc.drained]=$drained
	R[$sc.drained_note]="drained: $drained"
	R[$sc.drain_s]=$waited
	say "scenario $sc: drained=$drained after $waited s; settling $SETTLE s (purge and autovacuum still running)"
	echo settle >"$work/phase"
	sleep "$SETTLE"

	# stop the loops
	[ "$sc" = B ] && q "$db" <<<'UPDATE bench_control SET stop = true'
	touch "$stopfile"
	wait "$purge_pid" || true
	wait "$sampler_pid" || true
	if [ -n "$consumer_pid" ]; then
		R[$sc.consumer_rc]=0
		wait "$consumer_pid" || R[$sc.consumer_rc]=$?
	fi
	if [ -n "$recv_pid" ]; then
		kill -INT "$recv_pid" 2>/dev/null || true
		wait "$recv_pid" || true
		wait "$reader_pid" || true
	fi
	bg_pids=()

	# final state, after the statistics are flushed
	q "$db" <<<'SELECT pg_stat_force_next_flush()' >/dev/null
	sleep 2
	vals=$(q "$db" -F, <<<"$sample_sql")
	echo "$(date '+%F %T'),$sc,final,$(($(date +%s) - t0)),$vals,$(loadavg)" >>"$csv"
	# the final state: the sample's counts, and the orders and sizes
	IFS=, read -r _ "R[$sc.events]" "R[$sc.outbox_rows]" _ _ "R[$sc.outbox_live]" "R[$sc.outbox_dead]" \
		"R[$sc.outbox_av]" "R[$sc.feed_rows]" _ "R[$sc.feed_live]" "R[$sc.feed_dead]" "R[$sc.feed_av]" _ <<<"$vals"
	setR "$sc" '|' "$(q "$db" -F'|' <<'EOF'
SELECT count(*), count(*) FILTER (WHERE status = 'COMPLETED'), count(*) FILTER (WHERE status = 'CANCELLED'),
  pg_size_pretty(pg_total_relation_size('order_mgmt.outbox')), pg_size_pretty(pg_relation_size('order_mgmt.outbox')),
  pg_size_pretty(pg_total_relation_size('order_mgmt.event_feed')),
  pg_size_pretty(pg_total_relation_size('order_mgmt.orders') + pg_total_relation_size('order_mgmt.order_lines')),
  pg_size_pretty((SELECT sum(size) FROM pg_ls_waldir()))
FROM order_mgmt.orders
EOF
	)" orders completed cancelled outbox_size outbox_heap feed_size orders_size wal_size
	R[$sc.orders_per_s]=$(awk -v n="${R[$sc.orders]}" -v t="${R[$sc.elapsed]}" 'BEGIN { printf "%.0f", n / t }')
	R[$sc.latency]=$(sed -n 's/^latency average = //p' "$RESULTS_DIR/pgbench_$sc.log" | head -n 1)
	R[$sc.failed]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$RESULTS_DIR/pgbench_$sc.log" | head -n 1)

	# maxima over the samples (columns of the CSV)
	local key col half
	for key in max_outbox_rows:7 max_outbox_bytes:8 max_outbox_dead:11 max_feed_bytes:14 max_feed_dead:16 \
		max_lag:20 max_backlog:21 max_slot_lag:22 max_wal:23; do
		col=${key#*:}
		R[$sc.${key%:*}]=$(awk -F, -v c="$col" 'NR > 1 && $c != "" { if ($c > m) m = $c } END { print m + 0 }' "$csv")
	done
	R[$sc.load_avg]=$(awk -F, '$3 == "load" && $24 != "" { n++; s += $24; if ($24 > m) m = $24 }
		END { if (n) printf "%.1f / %.1f", s / n, m; else print "-" }' "$csv")
	R[$sc.other_running]=$(awk -F, '$3 == "load" && $25 != "" { n++; s += $25 } END { if (n) printf "%.2f", s / n; else print "-" }' "$csv")
	R[$sc.events_per_s]=$(awk -v n="${R[$sc.events]}" -v t="${R[$sc.elapsed]}" 'BEGIN { printf "%.0f", n / t }')
	# the outbox at the end of the load, and its largest size in each half of it
	IFS=, read -r _ _ "R[$sc.load_end_rows]" "R[$sc.load_end_bytes]" _ _ "R[$sc.load_end_dead]" _ <<<"${R[$sc.load_end]}"
	half=$(awk -F, '$3 == "load" { n++ } END { print int(n / 2) }' "$csv")
	R[$sc.max_bytes_first_half]=$(awk -F, -v h="$half" '$3 == "load" { i++; if (i <= h && $8 > m) m = $8 } END { print m + 0 }' "$csv")
	R[$sc.max_bytes_second_half]=$(awk -F, -v h="$half" '$3 == "load" { i++; if (i > h && $8 > m) m = $8 } END { print m + 0 }' "$csv")

	# purge statistics
	setR "$sc" '|' "$(awk -F, 'NR > 1 && $2 == "error" { e++ } NR > 1 && $2 != "error" { n++; r += $2; s += $3; if ($3 > m) m = $3 }
		END { printf "%d|%d|%d|%s\n", n, e, r, (n ? sprintf("%.1f / %.1f", s / n, m) : "-") }' "$purgelog")" \
		purge_calls purge_errors purge_removed purge_ms
	R[$sc.purge_ms_p95]=$(awk -F, 'NR > 1 && $2 != "error" { print $3 }' "$purgelog" | sort -n |
		awk '{ a[NR] = $1 } END { i = int(NR * 0.95); if (i < 1) i = 1; if (NR) print a[i]; else print "-" }')

	if [ "$sc" = A ]; then
		R[$sc.cdc_events]=$(wc -l <"$work/cdc_ids.txt")
		R[$sc.cdc_distinct]=$(sort -u "$work/cdc_ids.txt" | wc -l)
		q "$db" <<<"SELECT pg_drop_replication_slot('bench_cdc')" >/dev/null
		rm -f "$cdc_fifo" "$work/cdc_ids.txt"
	else
		local chk
		chk=$(q "$db" -F'|' <<EOF
SELECT count(*), count(DISTINCT id), count(DISTINCT position), count(DISTINCT seq),
  count(*) FILTER (WHERE position < 1 OR position > ${R[$sc.events]}),
  (SELECT acked_seq FROM order_mgmt.consumers WHERE name = 'bench'),
  (SELECT greatest(coalesce(max(f.seq), c.acked_seq) - c.acked_seq, 0)
     FROM order_mgmt.consumers c LEFT JOIN order_mgmt.event_feed f ON true WHERE c.name = 'bench' GROUP BY c.acked_seq),
  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM order_mgmt.event_feed_seq)
FROM bench_seen
EOF
		)
		setR "$sc" '|' "$chk" seen seen_ids seen_positions seen_seqs seen_outside acked lag feed_seq
		local seen=${R[$sc.seen]} ids=${R[$sc.seen_ids]} positions=${R[$sc.seen_positions]}
		local outside=${R[$sc.seen_outside]} events=${R[$sc.events]}
		R[$sc.duplicates]=$((seen - ids))
		R[$sc.missing]=$((events - positions + outside))
		local bst
		bst=$(q "$db" -F'|' <<'EOF'
SELECT count(*), count(*) FILTER (WHERE n > 0), round(avg(n) FILTER (WHERE n > 0)),
  round(avg(fetch_ms), 1), percentile_disc(0.5) WITHIN GROUP (ORDER BY fetch_ms),
  percentile_disc(0.95) WITHIN GROUP (ORDER BY fetch_ms), max(fetch_ms),
  round(avg(fetch_ms) FILTER (WHERE n = 1000), 1), max(n)
FROM bench_batches
EOF
		)
		setR "$sc" '|' "$bst" batches batches_nonempty batch_avg_n fetch_avg fetch_p50 fetch_p95 fetch_max \
			fetch_full_avg batch_max_n
		q "$db" -F, <<<"COPY (SELECT to_char(started, 'HH24:MI:SS.MS'), n, fetch_ms FROM bench_batches ORDER BY started) TO STDOUT WITH (FORMAT csv, HEADER)" \
			>"$RESULTS_DIR/consumer_batches_$sc.csv" 2>/dev/null || true
	fi
	say "scenario $sc: orders ${R[$sc.orders]}, events ${R[$sc.events]}, ${R[$sc.orders_per_s]} orders/s;" \
		"outbox max ${R[$sc.max_outbox_rows]} rows / $(pretty "${R[$sc.max_outbox_bytes]}"), final ${R[$sc.outbox_rows]} rows / ${R[$sc.outbox_size]}," \
		"dead ${R[$sc.outbox_dead]}"
	if [ "$sc" = B ]; then
		say "scenario $sc: consumer saw ${R[$sc.seen]} rows, ${R[$sc.seen_ids]} distinct ids;" \
			"duplicates ${R[$sc.duplicates]}, missing ${R[$sc.missing]}, acked ${R[$sc.acked]}, lag ${R[$sc.lag]}"
	else
		say "scenario $sc: CDC stream carried ${R[$sc.cdc_events]} outbox inserts, ${R[$sc.cdc_distinct]} distinct ids"
	fi

	# a fresh database for the next scenario; this one goes
	q postgres <<<"DROP DATABASE $db" >/dev/null
	q postgres <<<"CHECKPOINT" >/dev/null
}

for sc in $SCENARIOS; do
	case $sc in A | B) run_scenario "$sc" ;; *) die "unknown scenario $sc" ;; esac
done

# ---------------------------------------------------------------------------
# the server log: errors, lock waits, autovacuum runs on the outbox and feed
log=$work/server.log
n_errors=$(grep -cE '(ERROR|FATAL|PANIC):' "$log" || true)
n_warnings=$(grep -cE 'WARNING:' "$log" || true)
n_lockwaits=$(grep -c 'still waiting for' "$log" || true)
n_av_outbox=$(grep -c 'automatic vacuum of table "bench_.\.order_mgmt\.outbox"' "$log" || true)
n_av_feed=$(grep -c 'automatic vacuum of table "bench_.\.order_mgmt\.event_feed"' "$log" || true)
error_lines=$(grep -E '(ERROR|FATAL|PANIC|WARNING):' "$log" | head -n 20 || true)
cp "$log" "$RESULTS_DIR/server.log"
say "server log: $n_errors ERROR/FATAL/PANIC, $n_warnings WARNING, $n_lockwaits lock waits," \
	"autovacuum runs: outbox $n_av_outbox, event_feed $n_av_feed"

settings=$(settings_block postgres)
av_settings=$(q postgres <<<"SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
	FROM pg_settings WHERE name IN ('autovacuum_naptime', 'autovacuum_vacuum_cost_limit', 'autovacuum_vacuum_cost_delay',
	                                'autovacuum_max_workers', 'synchronous_commit', 'max_wal_size', 'checkpoint_timeout')")

# ---------------------------------------------------------------------------
# the report, by bench/report.py: the results of each scenario (R) one line of
# $RESULTS_DIR/runs.jsonl, the run's facts in $RESULTS_DIR/meta.json
for k in "${!R[@]}"; do printf '%s\t%s\n' "$k" "${R[$k]}"; done >"$RESULTS_DIR/results.tsv"
"$BENCH_PYTHON" - "$RESULTS_DIR" "$SCENARIOS" "$KEEP" "$SETTLE" "$total_orders" "$SAMPLE_EVERY" \
	"$CLIENTS" "$THREADS" "$per_client" "${CART_VARS[*]}" "$BATCH" "$(nproc)" "$(machine_lines postgres)" \
	"$av_settings" "$settings" "$work/orders.pgbench" "$n_errors" "$n_warnings" "$n_lockwaits" \
	"$n_av_outbox" "$n_av_feed" "$error_lines" <<'PY'
import json, sys
a = sys.argv[1:]
runs = {}
for line in open(a[0] + "/results.tsv"):
    key, _, value = line.rstrip("\n").partition("\t")
    sc, _, k = key.partition(".")
    runs.setdefault(sc, {"scenario": sc})[k] = value
with open(a[0] + "/runs.jsonl", "w") as f:
    f.writelines(json.dumps(runs[sc]) + "\n" for sc in sorted(runs))
meta = dict(zip(["results_dir", "scenarios", "keep", "settle", "total_orders", "sample_every", "clients",
                 "threads", "per_client", "cart_vars", "batch", "cpus", "machine", "av_settings",
                 "settings"], a))
meta["pgbench_script"] = open(a[15]).read().rstrip("\n")
meta["log"] = dict(zip(["errors", "warnings", "lockwaits", "av_outbox", "av_feed", "error_lines"], a[16:]))
json.dump(meta, open(a[0] + "/meta.json", "w"), indent=1)
PY
"$BENCH_PYTHON" "$bench_root/bench/report.py" retention "$RESULTS_DIR/runs.jsonl" "$REPORT" "$RESULTS_DIR/meta.json"
say "report written to $REPORT"
