# scripts/lib/cluster.sh: a throwaway PostgreSQL 15 server for scripts run as root
#
# The demo and the benchmarks source this file.  PostgreSQL refuses to run
# as root, so the server runs as the "postgres" account, in a data directory
# under a fresh temporary directory, with its unix socket in that directory,
# no TCP listener, on a free port.  Nothing here touches a system cluster.
#
#   source scripts/lib/cluster.sh
#   cluster_create demo                  # CLUSTER_WORK=/tmp/order_mgmt-demo.XXXXXX, initdb'd
#   cluster_conf "wal_level = logical"   # more settings, before the start
#   cluster_start                        # sets CLUSTER_PORT
#   cluster_psql -d postgres -c 'SELECT 1'
#   cluster_stop                         # (optional) stop it, keep the directory
#   cluster_destroy                      # in the caller's EXIT trap
#
# Binaries come from $PG_CONFIG (default: Debian's PostgreSQL 15), so a
# private copy of PostgreSQL can be used by pointing PG_CONFIG at it.

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CLUSTER_BINDIR=$("$PG_CONFIG" --bindir)
CLUSTER_WORK=""
CLUSTER_DATA=""
CLUSTER_PORT=""

# prefix that runs a command as the unprivileged postgres account (an array,
# not a function: a redirection on a function call would also catch the
# output of a cleanup trap that a signal runs during the call); empty when
# the script already runs as postgres (as the TAP test of the demo does)
if [ "$(id -un)" = postgres ]; then
	as_pg=()
else
	as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

# cluster_pids DIR: pids of the postgres account's processes that mention DIR
cluster_pids() {
	pgrep -u postgres -f -- "$1" || true
}

# cluster_create NAME [INITDB ARG...]: a temporary directory owned by
# postgres, with initdb run in it (the ARGs after the defaults: a later
# --locale wins)
cluster_create() {
	CLUSTER_WORK=$(mktemp -d "/tmp/order_mgmt-$1.XXXXXX")
	shift
	CLUSTER_DATA=$CLUSTER_WORK/data
	[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$CLUSTER_WORK"
	chmod 755 "$CLUSTER_WORK"
	"${as_pg[@]}" "$CLUSTER_BINDIR/initdb" -D "$CLUSTER_DATA" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 "$@" >"$CLUSTER_WORK/initdb.log" 2>&1 || {
		cat "$CLUSTER_WORK/initdb.log" >&2
		return 1
	}
	{
		echo
		echo "# throwaway server: unix socket only, in its own directory"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$CLUSTER_WORK'"
	} >>"$CLUSTER_DATA/postgresql.conf"
}

# cluster_conf LINE...: appends settings to postgresql.conf
cluster_conf() {
	printf '%s\n' "$@" >>"$CLUSTER_DATA/postgresql.conf"
}

# cluster_port_free PORT: true if no server listens on PORT (socket or TCP)
cluster_port_free() {
	local rc=0
	"${as_pg[@]}" "$CLUSTER_BINDIR/pg_isready" -q -t 2 -U postgres -h /var/run/postgresql \
		-p "$1" >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || return 1
	! (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# cluster_start: starts the server on a free port; log in $CLUSTER_WORK/server.log
cluster_start() {
	local p
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(shuf -i 20000-60000 -n 1)
		cluster_port_free "$p" || continue
		if "${as_pg[@]}" "$CLUSTER_BINDIR/pg_ctl" -D "$CLUSTER_DATA" -l "$CLUSTER_WORK/server.log" \
			-o "-p $p" -w -t 120 start >/dev/null 2>&1; then
			CLUSTER_PORT=$p
			return 0
		fi
	done
	echo "could not start a server in $CLUSTER_DATA" >&2
	[ -f "$CLUSTER_WORK/server.log" ] && tail -n 20 "$CLUSTER_WORK/server.log" >&2
	return 1
}

# cluster_restart: restarts the server on its port (for preload settings)
cluster_restart() {
	"${as_pg[@]}" "$CLUSTER_BINDIR/pg_ctl" -D "$CLUSTER_DATA" -l "$CLUSTER_WORK/server.log" \
		-o "-p $CLUSTER_PORT" -m fast -w -t 120 restart >/dev/null
}

# cluster_psql ARGS...: psql as postgres on the server: no psqlrc, stop on error
cluster_psql() {
	"${as_pg[@]}" "$CLUSTER_BINDIR/psql" -X -q -h "$CLUSTER_WORK" -p "$CLUSTER_PORT" -U postgres \
		-v ON_ERROR_STOP=1 "$@"
}

# cluster_conninfo DB: a libpq connection string for clients run as postgres
cluster_conninfo() {
	printf 'host=%s port=%s user=postgres dbname=%s' "$CLUSTER_WORK" "$CLUSTER_PORT" "$1"
}

# cluster_stop: stops the server if it runs (the data directory stays)
cluster_stop() {
	if [ -f "$CLUSTER_DATA/postmaster.pid" ]; then
		"${as_pg[@]}" "$CLUSTER_BINDIR/pg_ctl" -D "$CLUSTER_DATA" -m fast -w -t 60 stop \
			>/dev/null 2>&1
	fi
}

# cluster_destroy: stops the server, waits for every process under the work
# directory to end, removes it; fails if a process would not go away
cluster_destroy() {
	local left
	[ -n "$CLUSTER_WORK" ] || return 0
	cluster_stop
	for _ in $(seq 1 100); do
		[ -z "$(cluster_pids "$CLUSTER_WORK")" ] && break
		sleep 0.1
	done
	left=$(cluster_pids "$CLUSTER_WORK")
	if [ -n "$left" ]; then
		echo "processes still running under $CLUSTER_WORK: $left" >&2
		return 1
	fi
	rm -rf "$CLUSTER_WORK"
	CLUSTER_WORK=""
}
