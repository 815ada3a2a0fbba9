#!/usr/bin/env bash
# A short guided tour of order_mgmt on a throwaway PostgreSQL 15 server.
#
#   sudo scripts/demo.sh
#
# Installs what it needs (scripts/install-deps.sh), builds the extension in a
# scratch copy of the tree and installs it, then starts a private server as
# the "postgres" account (unix socket only, in a temporary directory, on a
# free port), creates the extension and plays a scripted flow: three orders,
# an idempotent replay, a completion, a cancellation and two rejected calls.
# A background LISTEN client records the notifications; at the end the demo
# shows the outbox and what the listener received.  On exit, even on error or
# Ctrl-C, the server is stopped and the temporary directory removed.
#
# Environment:
#   DEMO_SKIP_INSTALL=1   skip building and installing the extension and use
#                         the copy already installed (for development)
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=PATH,DEMO_SKIP_INSTALL bash "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir=/usr/lib/postgresql/15/bin
export PG_CONFIG=$bindir/pg_config

heading() { printf '\n== %s %s\n' "$1" "$(printf '=%.0s' $(seq 1 $((66 - ${#1}))))"; }
say() { printf '%s\n' "$*"; }
indent() { sed 's/^/    /'; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# prefix that runs a command as the unprivileged postgres account (an array,
# not a function: a redirection on a function call would also catch the
# output of the cleanup trap if a signal came in during the call)
as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)

# processes of the postgres account whose command line mentions $1
pg_procs() {
	if command -v pgrep >/dev/null; then
		pgrep -u postgres -f -- "$1" || true
	else
		local uid p
		uid=$(id -u postgres)
		for p in /proc/[0-9]*; do
			[ "$(stat -c %u "$p" 2>/dev/null)" = "$uid" ] || continue
			tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "${p#/proc/}"
		done
		true
	fi
}

work="" data="" listener_pid=""
cleanup() {
	local rc=$? left
	set +e
	trap "" HUP INT TERM PIPE      # a second Ctrl-C must not cut the cleanup short
	trap - EXIT
	{ exec 3>&-; } 2>/dev/null     # EOF ends the listener's psql
	if [ -n "$listener_pid" ]; then
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$listener_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$listener_pid" 2>/dev/null
		wait "$listener_pid" 2>/dev/null
	fi
	if [ -n "$data" ] && [ -f "$data/postmaster.pid" ]; then
		"${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1
	fi
	if [ -n "$work" ]; then
		for _ in $(seq 1 50); do
			[ -z "$(pg_procs "$work")" ] && break
			sleep 0.1
		done
		left=$(pg_procs "$work")
		if [ -n "$left" ]; then
			echo "demo: processes still running under $work: $left" >&2
			rc=1
		fi
		# on a failure (not on a signal), the end of the server log
		if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -f "$work/server.log" ]; then
			echo "---- last lines of the server log" >&2
			tail -n 20 "$work/server.log" >&2
		fi
		rm -rf "$work"
		if [ -z "$left" ]; then
			{
				heading "Cleanup"
				say "server stopped, $work removed, no process left behind"
			} 2>/dev/null
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

work=$(mktemp -d /tmp/order_mgmt-demo.XXXXXX)
data=$work/data
cd "$work"                      # a cwd the postgres account can read

heading "Setup"
bash "$root/scripts/install-deps.sh"
if [ "${DEMO_SKIP_INSTALL:-0}" = 1 ]; then
	say "DEMO_SKIP_INSTALL=1: using the order_mgmt already installed"
else
	say "building order_mgmt from a scratch copy of $root and installing it"
	mkdir "$work/build"
	tar -C "$root" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude='tmp_check*' --exclude=results --exclude=output_iso \
		-cf - . | tar -C "$work/build" -xf -
	make -C "$work/build" -s clean >/dev/null
	make -C "$work/build" -s >/dev/null
	make -C "$work/build" -s install >/dev/null
fi
[ -f "$("$PG_CONFIG" --sharedir)/extension/order_mgmt.control" ] ||
	die "order_mgmt is not installed (run without DEMO_SKIP_INSTALL=1)"

chown postgres: "$work"
"${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
	>"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die "initdb failed"; }
{
	echo
	echo "# order_mgmt demo: unix socket only, in the demo's own directory"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$work'"
	echo "wal_level = logical"
	cat "$root/test/test.conf"
} >>"$data/postgresql.conf"

# a port nothing uses: no TCP listener on localhost, no PostgreSQL socket
port_free() {
	local rc=0
	"${as_pg[@]}" "$bindir/pg_isready" -q -t 2 -U postgres -h /var/run/postgresql -p "$1" || rc=$?
	[ $rc -eq 2 ] || return 1
	! (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
	p=$(shuf -i 20000-60000 -n 1)
	port_free "$p" || continue
	if "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -l "$work/server.log" -o "-p $p" -w -t 60 \
		start >/dev/null 2>&1; then
		port=$p
		break
	fi
done
[ -n "$port" ] || die "could not start the demo server"
"${as_pg[@]}" "$bindir/pg_isready" -q -U postgres -h "$work" -p "$port" || die "server not ready"

# psql as postgres, quiet, no psqlrc, stop on the first error, no row counts
psql_cmd=("$bindir/psql" -X -q -h "$work" -p "$port" -d postgres
	-v ON_ERROR_STOP=1 -P footer=off)
# SQL on stdin; the blank line psql prints after a table is dropped
sql() { "${as_pg[@]}" "${psql_cmd[@]}" "$@" | sed '${/^$/d}'; }
val() { "${as_pg[@]}" "${psql_cmd[@]}" -At "$@"; }        # one bare value

say "PostgreSQL $(val <<<'SHOW server_version') running in $data"
say "socket $work/.s.PGSQL.$port (no TCP), $(val <<<"SELECT 'wal_level=' || current_setting('wal_level')")"

sql <<<'CREATE EXTENSION order_mgmt;'
say "CREATE EXTENSION order_mgmt: version $(val <<<"SELECT extversion FROM pg_extension WHERE extname = 'order_mgmt'")"

# The listener: a psql fed through a FIFO.  psql prints pending
# notifications after each statement, so it is polled with SELECT 1.
fifo=$work/listener.fifo
mkfifo -m 600 "$fifo"
"${as_pg[@]}" "${psql_cmd[@]}" -v ON_ERROR_STOP=0 <"$fifo" >"$work/listener.log" 2>&1 &
listener_pid=$!
exec 3>"$fifo"
printf '%s\n' 'LISTEN order_created;' 'LISTEN order_completed;' \
	'LISTEN order_cancelled;' '\echo listening' >&3
for _ in $(seq 1 100); do
	grep -qx listening "$work/listener.log" && break
	kill -0 "$listener_pid" 2>/dev/null || die "the listener exited: $(cat "$work/listener.log")"
	sleep 0.1
done
grep -qx listening "$work/listener.log" || die "the listener did not start"
say "listener (psql, pid $listener_pid) on order_created, order_completed, order_cancelled"

# expect_error SQLSTATE: runs the SQL on stdin, which must fail with SQLSTATE
expect_error() {
	local want=$1 out state msg detail
	out=$({ cat; printf '%s\n' '\echo :LAST_ERROR_SQLSTATE' '\echo :LAST_ERROR_MESSAGE'; } |
		"${as_pg[@]}" "${psql_cmd[@]}" -v ON_ERROR_STOP=0 "${@:2}" 2>"$work/error.txt")
	state=$(sed -n 1p <<<"$out")
	msg=$(sed -n 2p <<<"$out")
	detail=$(sed -n 's/^DETAIL:  //p' "$work/error.txt")
	say "  ERROR:    $msg"
	[ -z "$detail" ] || say "  DETAIL:   $detail"
	say "  SQLSTATE: $state"
	[ "$state" = "$want" ] || die "expected SQLSTATE $want, got $state"
}
outbox_count() { val <<<'SELECT count(*) FROM order_mgmt.outbox'; }

uuid() { cat /proc/sys/kernel/random/uuid; }
customer=$(uuid)
p_tea=$(uuid) p_mug=$(uuid) p_scone=$(uuid) p_knife=$(uuid) p_lamp=$(uuid)
cart_gbp=$(uuid) cart_jpy=$(uuid) cart_usd=$(uuid) cart_bad=$(uuid)

# three lines in pence: 2 x 12.99 + 1 x 45.50 + 3 x 2.50 = 78.98 GBP
cmd_gbp='{"cartId": "'$cart_gbp'", "customerId": "'$customer'",
 "items": [{"productId": "'$p_tea'", "quantity": 2, "unitPrice": 1299},
           {"productId": "'$p_mug'", "quantity": 1, "unitPrice": 4550},
           {"productId": "'$p_scone'", "quantity": 3, "unitPrice": 250}],
 "total": 7898, "currency": "GBP"}'
# the same cart, lines listed in another order
cmd_gbp_replay='{"currency": "GBP", "total": 7898, "customerId": "'$customer'",
 "items": [{"productId": "'$p_scone'", "quantity": 3, "unitPrice": 250},
           {"productId": "'$p_tea'", "quantity": 2, "unitPrice": 1299},
           {"productId": "'$p_mug'", "quantity": 1, "unitPrice": 4550}],
 "cartId": "'$cart_gbp'"}'
# the yen has no minor unit: 12800 is 12,800 JPY
cmd_jpy='{"cartId": "'$cart_jpy'", "customerId": "'$customer'",
 "items": [{"productId": "'$p_knife'", "quantity": 1, "unitPrice": 12800}],
 "total": 12800, "currency": "JPY"}'
cmd_usd='{"cartId": "'$cart_usd'", "customerId": "'$customer'",
 "items": [{"productId": "'$p_lamp'", "quantity": 1, "unitPrice": 2499}],
 "total": 2499, "currency": "USD", "paymentAuthorizationId": "pi_3Q0demoAuth42"}'
# 2 x 5.00 is 10.00, not 9.00
cmd_bad='{"cartId": "'$cart_bad'", "customerId": "'$customer'",
 "items": [{"productId": "'$p_tea'", "quantity": 2, "unitPrice": 500}],
 "total": 900, "currency": "EUR"}'

create() { val -v cmd="$1" <<<"SELECT order_mgmt.create_order(:'cmd')"; }

heading "1. Create three orders"
say "CreateOrder (GBP, three lines):"
indent <<<"$cmd_gbp"
id_gbp=$(create "$cmd_gbp")
say "  -> order $id_gbp"
say "CreateOrder (JPY, one line):"
indent <<<"$cmd_jpy"
id_jpy=$(create "$cmd_jpy")
say "  -> order $id_jpy"
say "CreateOrder (USD, with a paymentAuthorizationId):"
indent <<<"$cmd_usd"
id_usd=$(create "$cmd_usd")
say "  -> order $id_usd"
sql <<'EOF'
-- total is in minor units; the currencies view knows how many each code has
SELECT o.order_id, o.status, o.version, o.total,
       round(o.total / 10.0 ^ c.minor_unit, c.minor_unit) || ' ' || o.currency AS amount,
       (SELECT count(*) FROM order_mgmt.order_lines l WHERE l.order_id = o.order_id) AS lines,
       o.payment_authorization_id
FROM order_mgmt.orders o JOIN order_mgmt.currencies c ON c.code = o.currency
ORDER BY o.created_at;
EOF

heading "2. get_order for the GBP order"
val -v id="$id_gbp" <<<"SELECT jsonb_pretty(order_mgmt.get_order(:'id'))" | indent

heading "3. Replay the GBP cart (lines in another order)"
before=$(outbox_count)
id_again=$(create "$cmd_gbp_replay")
after=$(outbox_count)
say "  -> order $id_again"
[ "$id_again" = "$id_gbp" ] || die "the replay returned another order id"
[ "$after" = "$before" ] || die "the replay wrote an event"
say "  same order id as before: yes; outbox events before/after: $before/$after (no new event)"

heading "4. Complete the USD order"
sql -v id="$id_usd" <<<"SELECT order_mgmt.complete_order(:'id') AS new_version;"

heading "5. Cancel the JPY order (OUT_OF_STOCK)"
sql -v id="$id_jpy" <<<"SELECT order_mgmt.cancel_order(:'id', 'OUT_OF_STOCK') AS new_version;"

heading "6. Try to cancel the completed USD order"
expect_error 55000 -v id="$id_usd" <<<"SELECT order_mgmt.cancel_order(:'id', 'CUSTOMER_REQUESTED');"

heading "7. Send an invalid command (total 900, lines sum to 1000)"
indent <<<"$cmd_bad"
expect_error 22023 -v cmd="$cmd_bad" <<<"SELECT order_mgmt.create_order(:'cmd');"

heading "Orders now"
sql <<'EOF'
SELECT order_id, status, version, cancellation_reason,
       completed_at IS NOT NULL AS completed, cancelled_at IS NOT NULL AS cancelled
FROM order_mgmt.orders ORDER BY created_at;
EOF

heading "The outbox (one row per change; payload shown key by key)"
sql <<'EOF2'
SELECT CASE WHEN k.n = 1 THEN o.position END AS position,
       CASE WHEN k.n = 1 THEN o.type END AS type,
       CASE WHEN k.n = 1 THEN o.order_version END AS order_version,
       k.key AS payload_key, k.value AS payload_value
FROM order_mgmt.outbox o
CROSS JOIN LATERAL jsonb_each(o.payload) WITH ORDINALITY AS k(key, value, n)
ORDER BY o.position, k.n;
EOF2

heading "Notifications received by the listener"
want=$(outbox_count)
pattern='^Asynchronous notification "[^"]*" with payload ".*" received from server process with PID [0-9]+\.$'
got=0
for _ in $(seq 1 50); do
	printf '%s\n' 'SELECT 1 \g /dev/null' >&3
	sleep 0.1
	got=$(grep -cE "$pattern" "$work/listener.log" || true)
	[ "$got" -ge "$want" ] && break
done
[ "$got" -eq "$want" ] || die "the listener received $got notifications, expected $want"
say "the first one, as the listener's psql printed it:"
grep -m1 -E "$pattern" "$work/listener.log" |
	sed -E 's/ with payload "/ with payload\n"/; s/" received from/"\nreceived from/' | indent
# each one, checked against the outbox row it announces: same event id,
# type and order, on the channel of its type
values=$(grep -E "$pattern" "$work/listener.log" |
	sed -E 's/^Asynchronous notification "([^"]*)" with payload "(.*)" received from server process with PID [0-9]+\.$/\1\t\2/' |
	awk -F'\t' '{ gsub(/\047/, "\047\047"); printf "%s(%d, \047%s\047, \047%s\047::jsonb)", (NR > 1 ? ", " : ""), NR, $1, $2 }')
sql <<EOF2
SELECT n.channel, (n.payload->>'position')::bigint AS position, n.payload->>'type' AS type,
       n.payload->>'orderId' AS "orderId",
       coalesce(o.id::text = n.payload->>'eventId'
                AND o.type = n.payload->>'type'
                AND o.aggregateid::text = n.payload->>'orderId'
                AND n.channel = 'order_' || lower(substr(o.type, 6)), false) AS "matches outbox"
FROM (VALUES $values) AS n(seq, channel, payload)
LEFT JOIN order_mgmt.outbox o ON o.position = (n.payload->>'position')::bigint
ORDER BY n.seq;
EOF2
say "$got notifications for $want outbox events"
