#!/usr/bin/env bash
# A live tour of order_mgmt on a throwaway PostgreSQL 15 server.
#
#   sudo scripts/demo.sh
#
# Installs what it needs (scripts/install-deps.sh), builds the extension in a
# scratch copy of the tree and installs it, then starts a private server as
# the "postgres" account (unix socket only, in a temporary directory, on a
# free port, wal_level = logical) and creates the extension.  Two consumers
# watch from the start: a LISTEN client (psql) on the three order channels,
# and a change data capture stream (pg_recvlogical with wal2json, the options
# docs/events.md documents) writing to a file.
#
# Then it plays a scripted checkout day: ten orders from six customers in
# five currencies, some completed, one cancelled for each of the four
# reasons, a replayed cart that returns the same order, a rejected command
# and two refused transitions.  It shows what the listener and the stream
# received, checked one by one against the outbox, and what the report views
# say.  Last, a short load (pgbench) with a progress line every second, and
# a summary: orders per second, events streamed, notifications, outbox size.
#
# On exit, even on error or Ctrl-C, pgbench, pg_recvlogical, the listener and
# the server are stopped, and the temporary directory is removed.  The key
# facts are printed as "name: key=value ..." lines (replay:, rejected:,
# listener:, cdc:, reports:, load:, summary:, cleanup:) for scripts and tests.
#
# Environment:
#   DEMO_SKIP_INSTALL=1    skip building and installing the extension and use
#                          the copy already installed (for development); run
#                          as the postgres account, the demo then needs no root
#   DEMO_LOAD_SECONDS=N    how long the load runs (default 12)
#   PG_CONFIG=path         the PostgreSQL to use (default Debian's 15)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
	# the postgres account can run the demo itself on an installed build
	# (the test suite does); anything else needs root
	if ! { [ "$(id -un)" = postgres ] && [ "${DEMO_SKIP_INSTALL:-0}" = 1 ]; }; then
		exec sudo --preserve-env=PATH,PG_CONFIG,DEMO_SKIP_INSTALL,DEMO_LOAD_SECONDS \
			bash "$0" "$@"
	fi
fi

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
load_seconds=${DEMO_LOAD_SECONDS:-12}
case $load_seconds in '' | *[!0-9]* | 0) echo "demo: DEMO_LOAD_SECONDS must be a positive integer" >&2; exit 2 ;; esac

heading() { printf '\n== %s %s\n' "$1" "$(printf '=%.0s' $(seq 1 $((66 - ${#1}))))"; }
say() { printf '%s\n' "$*"; }
indent() { sed 's/^/    /'; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

heading "Setup"
if [ "$(id -u)" -eq 0 ]; then
	bash "$root/scripts/install-deps.sh"
	say "dependencies present (scripts/install-deps.sh)"
fi
[ -x "$PG_CONFIG" ] || die "no pg_config at $PG_CONFIG"

# shellcheck source=scripts/lib/cluster.sh
source "$root/scripts/lib/cluster.sh"
bindir=$CLUSTER_BINDIR

# the demo's own processes, stopped by the cleanup
listener_pid="" recv_pid="" pgbench_pid="" work=""
stop_pid() {      # stop_pid PID SIGNAL: signal it, wait up to 5 s, then KILL
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -"$2" "$pid" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "demo: process $pid did not stop on SIG$2: killed" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}
cleanup() {
	local rc=$? left=() p
	set +e
	trap "" HUP INT TERM PIPE      # a second Ctrl-C must not cut the cleanup short
	trap - EXIT
	stop_pid "$pgbench_pid" TERM
	{ exec 3>&-; } 2>/dev/null     # EOF ends the listener's psql
	if [ -n "$listener_pid" ]; then
		for _ in $(seq 1 20); do
			kill -0 "$listener_pid" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$listener_pid" TERM
	fi
	stop_pid "$recv_pid" INT       # pg_recvlogical flushes its file and exits
	# on a failure (not on a signal), the end of the server log
	if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -n "$CLUSTER_WORK" ] && [ -f "$CLUSTER_WORK/server.log" ]; then
		echo "---- last lines of the server log" >&2
		tail -n 20 "$CLUSTER_WORK/server.log" >&2
	fi
	cluster_destroy || rc=1
	if [ -n "$work" ]; then
		for p in $listener_pid $recv_pid $pgbench_pid $(cluster_pids "$work"); do
			kill -0 "$p" 2>/dev/null && left+=("$p")
		done
		if [ ${#left[@]} -eq 0 ] && [ ! -e "$work" ]; then
			{
				heading "Cleanup"
				say "stopped: pgbench, pg_recvlogical, the listener, the server"
				say "cleanup: work_dir=$work removed=yes processes_left=0"
				say "the demo took $SECONDS s"
			} 2>/dev/null
		else
			echo "demo: left behind: processes [${left[*]}], work dir $work" >&2
			rc=1
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

cluster_create demo
work=$CLUSTER_WORK
cd "$work"                      # a cwd the postgres account can read
say "work dir: $work"

if [ "${DEMO_SKIP_INSTALL:-0}" = 1 ]; then
	say "DEMO_SKIP_INSTALL=1: using the order_mgmt already installed in $("$PG_CONFIG" --pkglibdir)"
else
	say "building order_mgmt from a scratch copy of $root and installing it"
	mkdir "$work/build"
	tar -C "$root" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude='tmp_check*' --exclude=results --exclude=output_iso --exclude=node_modules \
		-cf - . | tar -C "$work/build" -xf -
	{
		make -C "$work/build" -s clean &&
			make -C "$work/build" -s &&
			make -C "$work/build" -s install
	} >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; die "the build failed"; }
	rm -rf "$work/build"
fi
[ -f "$("$PG_CONFIG" --sharedir)/extension/order_mgmt.control" ] ||
	die "order_mgmt is not installed (run without DEMO_SKIP_INSTALL=1)"

cluster_conf "" "# order_mgmt demo: logical decoding for the CDC stream" \
	"$(cat "$root/test/test.conf")"
cluster_start
port=$CLUSTER_PORT

# psql as postgres: quiet, no psqlrc, stop on the first error, no row counts
psql_cmd=("$bindir/psql" -X -q -h "$work" -p "$port" -U postgres -d postgres
	-v ON_ERROR_STOP=1 -P footer=off)
# SQL on stdin, a table indented; the blank line psql prints after it dropped
sql() { "${as_pg[@]}" "${psql_cmd[@]}" "$@" | sed '${/^$/d}' | indent; }
val() { "${as_pg[@]}" "${psql_cmd[@]}" -At "$@"; }        # bare values, | between

say "PostgreSQL $(val <<<'SHOW server_version') in $CLUSTER_DATA, socket $work/.s.PGSQL.$port (no TCP)"
say "settings: $(val <<<"SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
	WHERE name IN ('wal_level', 'output_plugin_libraries', 'max_replication_slots')")"
val <<<'CREATE EXTENSION order_mgmt' >/dev/null
say "CREATE EXTENSION order_mgmt: version $(val <<<"SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'")"

# The listener: a psql fed through a FIFO.  psql prints the notifications it
# has received after each statement, so it is polled with SELECT 1.  To know
# that everything notified so far has arrived, sync_listener commits a NOTIFY
# on a channel of its own and polls until that one is printed: PostgreSQL
# delivers notifications in commit order.
listener_log=$work/listener.log
fifo=$work/listener.fifo
mkfifo -m 600 "$fifo"
"${as_pg[@]}" "${psql_cmd[@]}" -v ON_ERROR_STOP=0 <"$fifo" >"$listener_log" 2>&1 &
listener_pid=$!
exec 3>"$fifo"
printf '%s\n' 'LISTEN order_created;' 'LISTEN order_completed;' 'LISTEN order_cancelled;' \
	'LISTEN demo_barrier;' '\echo listening' >&3
for _ in $(seq 1 100); do
	grep -qx listening "$listener_log" && break
	kill -0 "$listener_pid" 2>/dev/null || die "the listener exited: $(cat "$listener_log")"
	sleep 0.1
done
grep -qx listening "$listener_log" || die "the listener did not start"
say "LISTEN client: psql (pid $listener_pid) on order_created, order_completed, order_cancelled"
barrier_n=0
poll_listener() {        # one poll: psql prints what it has received
	printf '%s\n' 'SELECT 1 \g /dev/null' >&3
}
sync_listener() {        # waits until every notification committed so far is printed
	barrier_n=$((barrier_n + 1))
	val <<<"NOTIFY demo_barrier, 'b$barrier_n'" >/dev/null
	for _ in $(seq 1 300); do
		poll_listener
		sleep 0.1
		grep -qF "notification \"demo_barrier\" with payload \"b$barrier_n\"" "$listener_log" && return 0
	done
	die "the listener did not receive barrier $barrier_n"
}

# The CDC stream: a wal2json slot made now, before the day, and
# pg_recvlogical writing what it sends to a file.  To know that everything
# committed so far is in the file, sync_stream commits a logical decoding
# message (prefix demo_barrier; docs/events.md's options let messages through)
# and waits for it: the slot sends transactions in commit order.
slot=order_mgmt_wal2json
cdc=$work/order_events.jsonl
conninfo=$(cluster_conninfo postgres)
"${as_pg[@]}" "$bindir/pg_recvlogical" -d "$conninfo" --slot "$slot" --plugin wal2json \
	--create-slot --if-not-exists
"${as_pg[@]}" "$bindir/pg_recvlogical" -d "$conninfo" --slot "$slot" --start -f "$cdc" \
	--fsync-interval 1 --status-interval 1 \
	-o format-version=2 -o add-tables=order_mgmt.outbox -o actions=insert \
	-o include-xids=1 -o include-lsn=1 2>"$work/recvlogical.log" 3>&- &
recv_pid=$!
sync_stream() {
	barrier_n=$((barrier_n + 1))
	val <<<"SELECT pg_logical_emit_message(true, 'demo_barrier', 'b$barrier_n')" >/dev/null
	for _ in $(seq 1 300); do
		grep -qF "\"prefix\":\"demo_barrier\",\"content\":\"b$barrier_n\"" "$cdc" 2>/dev/null && return 0
		kill -0 "$recv_pid" 2>/dev/null || die "pg_recvlogical exited: $(cat "$work/recvlogical.log")"
		sleep 0.1
	done
	die "the CDC stream did not receive barrier $barrier_n"
}
sync_stream
say "CDC client: pg_recvlogical (pid $recv_pid), slot $slot (wal2json), writing $cdc"
say "    options: format-version=2 add-tables=order_mgmt.outbox actions=insert include-xids=1 include-lsn=1"

# The complete lines of a file the server can read, as a SQL set of (n, line):
# a line still being written (no newline yet) is left out.
lines_sql() {
	printf "(SELECT l.n, l.line FROM (SELECT string_to_array(pg_read_file('%s'), E'\\\\n') AS a) f,
	unnest(f.a[1:cardinality(f.a) - 1]) WITH ORDINALITY AS l(line, n))" "$1"
}
# the outbox rows the stream sent: one per I line, with its xid
cdc_rows_sql() {
	cat <<EOF
(SELECT s.n, (s.j->>'xid')::bigint AS xid,
        (SELECT jsonb_object_agg(c->>'name', c->'value') FROM jsonb_array_elements(s.j->'columns') c) AS r
   FROM (SELECT n, line::jsonb AS j FROM $(lines_sql "$cdc") x) s
  WHERE s.j->>'action' = 'I')
EOF
}
# the notifications the listener printed: (n, channel, payload)
notifications_sql() {
	cat <<EOF
(SELECT n, m[1] AS channel, m[2]::jsonb AS payload
   FROM (SELECT n, regexp_match(line,
         '^Asynchronous notification "(order_[a-z]+)" with payload "(.*)" received from server process with PID [0-9]+\.$') AS m
           FROM $(lines_sql "$listener_log") x) y
  WHERE m IS NOT NULL)
EOF
}

# expect_error SQLSTATE [PSQL ARGS]: runs the SQL on stdin, which must fail
# with SQLSTATE; prints the error as psql reports it
expect_error() {
	local want=$1 out state msg detail
	out=$({ cat; printf '%s\n' '\echo :LAST_ERROR_SQLSTATE' '\echo :LAST_ERROR_MESSAGE'; } |
		"${as_pg[@]}" "${psql_cmd[@]}" -v ON_ERROR_STOP=0 "${@:2}" 2>"$work/error.txt")
	state=$(sed -n 1p <<<"$out")
	msg=$(sed -n 2p <<<"$out")
	detail=$(sed -n 's/^DETAIL:  //p' "$work/error.txt")
	say "    ERROR:    $msg"
	[ -z "$detail" ] || say "    DETAIL:   $detail"
	say "    SQLSTATE: $state"
	[ "$state" = "$want" ] || die "expected SQLSTATE $want, got $state"
}
count() { val <<<"SELECT count(*) FROM order_mgmt.$1"; }

uuid() { cat /proc/sys/kernel/random/uuid; }
declare -A cust prod minor label
for c in alice bruno chiyo dana emil faisal; do cust[$c]=$(uuid); done
for p in tea mug scone knife lamp cable chair teapot; do prod[$p]=$(uuid); done
while IFS='|' read -r code mu; do minor[$code]=$mu; done < <(
	val <<<"SELECT code, minor_unit FROM order_mgmt.currencies WHERE code IN ('GBP','EUR','JPY','USD','KWD')")

# amount MINOR CURRENCY: minor units in major units, in integer arithmetic
amount() {
	local v=$1 m=${minor[$2]} d
	if [ "$m" -eq 0 ]; then printf '%d' "$v"; return; fi
	d=$((10 ** m))
	printf '%d.%0*d' $((v / d)) "$m" $((v % d))
}

# make_cmd CUSTOMER CURRENCY AUTH "product qty price"...: a CreateOrder
# command for a new cart (AUTH "-" for none); sets cmd (one line), cart,
# cmd_head, cmd_items, cmd_tail (its parts, for pretty) and cmd_desc
make_cmd() {
	local who=$1 cur=$2 auth=$3 it p q u total=0 desc=""
	shift 3
	cmd_items=()
	for it in "$@"; do
		read -r p q u <<<"$it"
		cmd_items+=("{\"productId\": \"${prod[$p]}\", \"quantity\": $q, \"unitPrice\": $u}")
		total=$((total + q * u))
		desc="$desc${desc:+ + }$q x $p @ $(amount "$u" "$cur")"
	done
	cart=$(uuid)
	cmd_head="\"cartId\": \"$cart\", \"customerId\": \"${cust[$who]}\""
	cmd_tail="\"total\": $total, \"currency\": \"$cur\""
	[ "$auth" = - ] || cmd_tail="$cmd_tail, \"paymentAuthorizationId\": \"$auth\""
	cmd="{$cmd_head, \"items\": [$(IFS=,; echo "${cmd_items[*]}")], $cmd_tail}"
	cmd_desc="$desc = $(amount "$total" "$cur") $cur"
}
# pretty HEAD TAIL ITEM...: a command on several lines, as a person writes it
pretty() {
	local head=$1 tail=$2 i n=0
	shift 2
	printf '{%s,\n "items": [\n' "$head"
	for i in "$@"; do
		n=$((n + 1))
		printf '   %s%s\n' "$i" "$([ $n -lt $# ] && echo ,)"
	done
	printf ' ],\n %s}\n' "$tail"
}
# submit N CUSTOMER: create_order with $cmd, the order is #N; sets id[N]
declare -A id
submit() {
	id[$1]=$(val -v cmd="$cmd" <<<"SELECT order_mgmt.create_order(:'cmd')")
	label[${id[$1]}]="#$1 $2"
	printf '  %-4s %-7s created    %s\n         -> order %s\n' "#$1" "$2" "$cmd_desc" "${id[$1]}"
}
# create N CUSTOMER CURRENCY AUTH ITEMS...: makes the command and submits it
create() {
	make_cmd "${@:2}"
	submit "$1" "$2"
}
complete() {
	local v
	v=$(val -v id="${id[$1]}" <<<"SELECT order_mgmt.complete_order(:'id')")
	printf '  %-4s %-7s completed  -> version %s\n' "#$1" "${label[${id[$1]}]#* }" "$v"
}
cancel() {
	local v
	v=$(val -v id="${id[$1]}" -v reason="$2" <<<"SELECT order_mgmt.cancel_order(:'id', :'reason')")
	printf '  %-4s %-7s cancelled  %s -> version %s\n' "#$1" "${label[${id[$1]}]#* }" "$2" "$v"
}
# the labels as a SQL relation (order_id, label), for readable tables
labels_sql() {
	local k rows=""
	for k in "${!label[@]}"; do rows="$rows${rows:+, }('$k'::uuid, '${label[$k]}')"; done
	printf '(VALUES %s) AS lb(order_id, label)' "$rows"
}
customers_sql() {
	local k rows=""
	for k in "${!cust[@]}"; do rows="$rows${rows:+, }('${cust[$k]}'::uuid, '$k')"; done
	printf '(VALUES %s) AS cu(customer_id, customer)' "$rows"
}

heading "The checkout day"
say "CreateOrder commands (money in minor units: 5497 is 54.97 GBP; JPY has no minor unit, KWD has 3)."
say "The first one in full:"
make_cmd alice GBP pa_8842 "tea 2 1999" "mug 1 1499"
pretty "$cmd_head" "$cmd_tail" "${cmd_items[@]}" | indent
# the same command as a retry sends it: other key order, items reversed
replay_items=()
for ((i = ${#cmd_items[@]} - 1; i >= 0; i--)); do replay_items+=("${cmd_items[i]}"); done
replay_pretty=$(pretty "$cmd_tail" "$cmd_head" "${replay_items[@]}")
replay="{$cmd_tail, \"items\": [$(IFS=,; echo "${replay_items[*]}")], $cmd_head}"
submit 1 alice
create 2 bruno EUR - "scone 3 420" "teapot 1 2900"
create 3 chiyo JPY - "knife 2 1500" "tea 1 3200"
complete 1
create 4 dana USD pi_3Q0demoAuth42 "lamp 1 2499"
create 5 alice GBP - "scone 1 850"
cancel 5 CUSTOMER_REQUESTED
create 6 bruno EUR - "chair 1 12000"
cancel 6 PAYMENT_FAILED
complete 2
complete 3
create 7 chiyo JPY - "knife 1 12800"
cancel 7 OUT_OF_STOCK
create 8 dana USD - "cable 5 19900"
cancel 8 FRAUD
create 9 faisal KWD - "teapot 1 12345"
complete 9
complete 4
create 10 emil EUR - "mug 2 725"
say ""
say "get_order for #4, as checkout or support would read it:"
val -v id="${id[4]}" <<<"SELECT jsonb_pretty(order_mgmt.get_order(:'id'))" | indent

heading "A replayed cart"
say "Checkout sends #1's command again (a retry), keys and items in another order:"
indent <<<"$replay_pretty"
events_before=$(count outbox)
again=$(val -v cmd="$replay" <<<"SELECT order_mgmt.create_order(:'cmd')")
events_after=$(count outbox)
say "  first call:  ${id[1]}"
say "  replay:      $again"
same=no; [ "$again" = "${id[1]}" ] && same=yes
say "replay: first=${id[1]} second=$again same_id=$same new_events=$((events_after - events_before))"
[ "$same" = yes ] || die "the replay returned another order id"
[ "$events_after" = "$events_before" ] || die "the replay wrote an event"

heading "A rejected command"
make_cmd emil EUR - "tea 2 500"
cmd_tail=${cmd_tail/\"total\": 1000/\"total\": 900}
bad="{$cmd_head, \"items\": [${cmd_items[0]}], $cmd_tail}"
say "A CreateOrder whose total (900) is not what its items add up to (2 x 500):"
pretty "$cmd_head" "$cmd_tail" "${cmd_items[@]}" | indent
orders_before=$(count orders) events_before=$(count outbox)
expect_error 22023 -v cmd="$bad" <<<"SELECT order_mgmt.create_order(:'cmd');"
orders_after=$(count orders) events_after=$(count outbox)
bad_cart=$(val -v cart="$cart" <<<"SELECT count(*) FROM order_mgmt.orders WHERE cart_id = :'cart'")
say "  orders before/after: $orders_before/$orders_after, outbox events before/after: $events_before/$events_after, orders with its cartId: $bad_cart"
say "rejected: sqlstate=22023 orders_written=$((orders_after - orders_before)) events_written=$((events_after - events_before))"
if [ "$orders_after" != "$orders_before" ] || [ "$events_after" != "$events_before" ] || [ "$bad_cart" != 0 ]; then
	die "the rejected command wrote something"
fi

heading "Refused transitions"
say "Cancel #1, already COMPLETED (completed and cancelled are final):"
expect_error 55000 -v id="${id[1]}" <<<"SELECT order_mgmt.cancel_order(:'id', 'FRAUD');"
say "Complete #10 expecting version 3, but it is at version 1 (optimistic concurrency):"
expect_error OM001 -v id="${id[10]}" <<<"SELECT order_mgmt.complete_order(:'id', 3);"
state=$(val -v a="${id[1]}" -v b="${id[10]}" <<<"SELECT string_agg(status || ' v' || version, ', ' ORDER BY created_at)
	FROM order_mgmt.orders WHERE order_id IN (:'a', :'b')")
say "refused: illegal_transition_sqlstate=55000 stale_version_sqlstate=OM001 orders_unchanged=$([ "$state" = "COMPLETED v2, CREATED v1" ] && echo yes || echo no) ($state)"
[ "$state" = "COMPLETED v2, CREATED v1" ] || die "a refused transition changed an order: $state"

day_events=$(count outbox)

heading "What the listener received"
sync_listener
say "one notification per event, at commit, on the channel of its type; the first as psql printed it:"
grep -m1 -E '^Asynchronous notification "order_' "$listener_log" |
	sed -E 's/ with payload "/ with payload\n"/; s/" received from/"\nreceived from/' | indent
sql <<EOF
SELECT n.channel, n.payload->>'type' AS type, lb.label AS "order",
       (n.payload->>'position')::bigint AS position,
       coalesce(o.id::text = n.payload->>'eventId' AND o.type = n.payload->>'type'
                AND o.aggregateid::text = n.payload->>'orderId'
                AND n.channel = 'order_' || lower(substr(o.type, 6)), false) AS "matches outbox"
FROM $(notifications_sql) n
LEFT JOIN order_mgmt.outbox o ON o.position = (n.payload->>'position')::bigint
LEFT JOIN $(labels_sql) ON lb.order_id::text = n.payload->>'orderId'
ORDER BY n.n;
EOF
IFS='|' read -r n_got n_distinct n_match < <(val <<<"
SELECT count(*), count(DISTINCT n.payload->>'eventId'),
       count(*) FILTER (WHERE o.id::text = n.payload->>'eventId' AND o.type = n.payload->>'type'
                        AND n.channel = 'order_' || lower(substr(o.type, 6)))
FROM $(notifications_sql) n
LEFT JOIN order_mgmt.outbox o ON o.position = (n.payload->>'position')::bigint")
all=no; [ "$n_got" = "$day_events" ] && [ "$n_distinct" = "$day_events" ] && [ "$n_match" = "$day_events" ] && all=yes
say "listener: notifications=$n_got distinct_events=$n_distinct outbox_events=$day_events all_match=$all"
[ "$all" = yes ] || die "the listener's notifications do not match the outbox"

heading "What the CDC stream received"
sync_stream
say "wal2json sends each transaction as a B line, one I line per outbox row and a C line; the first:"
first_xid=$(grep -m1 '"action":"I"' "$cdc" | sed -E 's/^\{"action":"I","xid":([0-9]+).*/\1/')
grep -E "^\{\"action\":\"[BIC]\",\"xid\":$first_xid," "$cdc" |
	awk '{ print (length($0) > 160 ? substr($0, 1, 157) "..." : $0) }' | indent
say "every event streamed, with its outbox row (payload arrives as a JSON string: decoded twice):"
sql <<EOF
SELECT s.xid, s.r->>'type' AS type, lb.label AS "order", (s.r->>'order_version')::int AS version,
       (s.r->>'position')::bigint AS position,
       coalesce(o.type = s.r->>'type' AND o.aggregateid::text = s.r->>'aggregateid'
                AND o.order_version = (s.r->>'order_version')::int AND o.position = (s.r->>'position')::bigint
                AND o.payload = (s.r->>'payload')::jsonb, false) AS "matches outbox"
FROM $(cdc_rows_sql) s
LEFT JOIN order_mgmt.outbox o ON o.id::text = s.r->>'id'
LEFT JOIN $(labels_sql) ON lb.order_id::text = s.r->>'aggregateid'
ORDER BY s.n;
EOF
IFS='|' read -r c_rows c_distinct c_match c_xacts < <(val <<<"
SELECT count(*), count(DISTINCT s.r->>'id'),
       count(*) FILTER (WHERE o.type = s.r->>'type' AND o.aggregateid::text = s.r->>'aggregateid'
                        AND o.order_version = (s.r->>'order_version')::int
                        AND o.payload = (s.r->>'payload')::jsonb),
       count(DISTINCT s.xid)
FROM $(cdc_rows_sql) s LEFT JOIN order_mgmt.outbox o ON o.id::text = s.r->>'id'")
all=no; [ "$c_distinct" = "$day_events" ] && [ "$c_match" = "$c_rows" ] && all=yes
say "cdc: events=$c_distinct lines=$c_rows transactions=$c_xacts outbox_events=$day_events all_match=$all"
[ "$all" = yes ] || die "the CDC stream does not match the outbox"

heading "What the reports say"
say "order_summary: one row per order (total_amount in major units, numeric):"
sql <<EOF
SELECT lb.label AS "order", s.status, s.total, s.total_amount || ' ' || s.currency AS amount,
       s.line_count AS lines, s.version, s.cancellation_reason
FROM order_mgmt.order_summary s JOIN $(labels_sql) USING (order_id)
ORDER BY s.created_at;
EOF
say "customer_orders for alice (WHERE customer_id = \$1 ORDER BY created_at DESC):"
sql -v c="${cust[alice]}" <<EOF
SELECT lb.label AS "order", c.status, c.total_amount || ' ' || c.currency AS amount, c.cancellation_reason
FROM order_mgmt.customer_orders c JOIN $(labels_sql) USING (order_id)
WHERE c.customer_id = :'c' ORDER BY c.created_at DESC;
EOF
# minor units to major units, numeric: 5497 with minor_unit 2 is 54.97
major='round(%s / power(10::numeric, minor_unit), minor_unit)'
# shellcheck disable=SC2059
sql_amount() { printf "$major" "$1"; }
say "sales_daily (today; net = gross - cancelled), in major units:"
sql <<EOF
SELECT day, currency, orders_created AS created, orders_completed AS completed,
       orders_cancelled AS cancelled, $(sql_amount gross_amount) AS gross,
       $(sql_amount completed_amount) AS completed_amount,
       $(sql_amount cancelled_amount) AS cancelled_amount, $(sql_amount net_amount) AS net
FROM order_mgmt.sales_daily ORDER BY day, currency;
EOF
say "cancellations_by_reason:"
sql <<EOF
SELECT day, cancellation_reason, currency, orders_cancelled AS cancelled,
       $(sql_amount cancelled_amount) AS amount
FROM order_mgmt.cancellations_by_reason ORDER BY day, cancellation_reason, currency;
EOF
say "reports: $(val <<<"SELECT 'orders=' || count(*) || ' CREATED=' || count(*) FILTER (WHERE status = 'CREATED')
	|| ' COMPLETED=' || count(*) FILTER (WHERE status = 'COMPLETED')
	|| ' CANCELLED=' || count(*) FILTER (WHERE status = 'CANCELLED') FROM order_mgmt.order_summary")"
say "reports: $(val <<<"SELECT 'sales_daily created=' || sum(orders_created) || ' completed=' || sum(orders_completed)
	|| ' cancelled=' || sum(orders_cancelled) FROM order_mgmt.sales_daily")"
say "reports: $(val <<<"SELECT 'net ' || string_agg(currency || '=' || $(sql_amount net), ' ' ORDER BY currency)
	FROM (SELECT currency, minor_unit, sum(net_amount) AS net FROM order_mgmt.sales_daily GROUP BY 1, 2) s")"
say "reports: $(val <<<"SELECT 'cancellations_by_reason ' || string_agg(cancellation_reason || '=' || n, ' ' ORDER BY cancellation_reason)
	FROM (SELECT cancellation_reason, sum(orders_cancelled) AS n FROM order_mgmt.cancellations_by_reason GROUP BY 1) s")"
say "reports: $(val -v c="${cust[alice]}" <<<"SELECT 'customer_orders alice=' || count(*) FROM order_mgmt.customer_orders WHERE customer_id = :'c'")"

heading "Load"
# each pgbench transaction is one checkout: a new cart in one of four
# currencies, one to three lines; six in ten are then completed, two
# cancelled, two left open
cat >"$work/load.sql" <<'EOF'
\set r random(1, 10)
\set lines random(1, 3)
\set cur random(1, 4)
SELECT order_mgmt.create_order(jsonb_build_object('cartId', gen_random_uuid(),
  'customerId', (ARRAY['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002',
                       '00000000-0000-4000-8000-000000000003'])[1 + :r % 3],
  'items', (SELECT jsonb_agg(jsonb_build_object('productId', gen_random_uuid(), 'quantity', i,
                                                'unitPrice', 100 * i + 99)) FROM generate_series(1, :lines) i),
  'total', (SELECT sum(i * (100 * i + 99)) FROM generate_series(1, :lines) i),
  'currency', (ARRAY['GBP', 'EUR', 'USD', 'JPY'])[:cur])) AS id \gset
\if :r <= 6
SELECT order_mgmt.complete_order(':id');
\elif :r <= 8
SELECT order_mgmt.cancel_order(':id', (ARRAY['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD'])[1 + :r % 4]);
\endif
EOF
chmod 644 "$work/load.sql"
clients=2
say "pgbench: $clients clients for $load_seconds s, each transaction one checkout (create_order), then"
say "6 in 10 completed, 2 in 10 cancelled; the listener and the CDC stream keep running"
orders_before=$(count orders)
"${as_pg[@]}" "$bindir/pgbench" -n -h "$work" -p "$port" -U postgres -c $clients -j $clients \
	-T "$load_seconds" -f "$work/load.sql" postgres >"$work/pgbench.log" 2>&1 3>&- &
pgbench_pid=$!
t0=$(date +%s%N)
while kill -0 "$pgbench_pid" 2>/dev/null; do
	sleep 1
	poll_listener
	s=$(grep -c '"action":"I"' "$cdc" || true)
	nn=$(grep -c '^Asynchronous notification "order_' "$listener_log" || true)
	IFS='|' read -r o e < <(val <<<"SELECT (SELECT count(*) FROM order_mgmt.orders), (SELECT count(*) FROM order_mgmt.outbox)")
	t=$((($(date +%s%N) - t0) / 1000000))
	printf 'progress: %3d.%d s  orders=%-7d outbox_events=%-7d streamed=%-7d notified=%d\n' \
		$((t / 1000)) $((t % 1000 / 100)) "$((o - orders_before))" "$e" "$s" "$nn"
done
pgbench_rc=0
wait "$pgbench_pid" || pgbench_rc=$?
pgbench_pid=""
[ $pgbench_rc -eq 0 ] || { cat "$work/pgbench.log" >&2; die "pgbench failed"; }
grep -E '^(number of transactions actually processed|number of failed transactions|latency average|tps)' \
	"$work/pgbench.log" | indent
tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$work/pgbench.log")
done_tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$work/pgbench.log")
load_orders=$(($(count orders) - orders_before))
[ "$load_orders" = "$done_tx" ] || die "pgbench processed $done_tx transactions, but $load_orders orders were made"
ops=$(printf '%.1f' "$tps")
say "load: seconds=$load_seconds clients=$clients orders=$load_orders orders_per_second=$ops"

heading "Summary"
sync_listener
sync_stream
IFS='|' read -r orders completed cancelled open < <(val <<<"SELECT count(*), count(*) FILTER (WHERE status = 'COMPLETED'),
	count(*) FILTER (WHERE status = 'CANCELLED'), count(*) FILTER (WHERE status = 'CREATED') FROM order_mgmt.orders")
IFS='|' read -r outbox_rows outbox_bytes outbox_size < <(val <<<"SELECT count(*),
	pg_total_relation_size('order_mgmt.outbox'), pg_size_pretty(pg_total_relation_size('order_mgmt.outbox'))
	FROM order_mgmt.outbox")
IFS='|' read -r streamed stream_lines < <(val <<<"SELECT count(DISTINCT s.r->>'id'), count(*) FROM $(cdc_rows_sql) s")
IFS='|' read -r notified notified_distinct < <(val <<<"SELECT count(*), count(DISTINCT payload->>'eventId') FROM $(notifications_sql) n")
missing=$(val <<<"SELECT count(*) FROM order_mgmt.outbox o WHERE NOT EXISTS (SELECT FROM $(cdc_rows_sql) s WHERE s.r->>'id' = o.id::text)")
say "orders          $orders ($completed completed, $cancelled cancelled, $open open), $load_orders of them in $load_seconds s of load"
say "throughput      $ops orders/s (pgbench, $clients clients, notifications and the CDC stream on)"
say "outbox          $outbox_rows events, $outbox_size on disk (table, indexes, TOAST)"
say "CDC stream      $streamed distinct events in $stream_lines I lines ($((stream_lines - streamed)) repeated), $missing outbox events missing"
say "listener        $notified notifications, $notified_distinct distinct events"
say "summary: orders=$orders orders_per_second=$ops events_streamed=$streamed outbox_events=$outbox_rows outbox_rows=$outbox_rows outbox_bytes=$outbox_bytes notifications=$notified_distinct"
if [ "$streamed" != "$outbox_rows" ] || [ "$missing" != 0 ]; then
	die "the CDC stream has $streamed events, the outbox $outbox_rows ($missing missing)"
fi
[ "$notified_distinct" = "$outbox_rows" ] || die "the listener has $notified_distinct events, the outbox $outbox_rows"
