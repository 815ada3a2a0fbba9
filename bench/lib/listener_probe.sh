# shellcheck shell=bash
# bench/lib/listener_probe.sh: drive the listener probe (bench/lib/listener_probe.py)
# from a benchmark script: a helper of bench/lib.sh, which sources it (after
# scripts/lib/cluster.sh, whose as_pg it uses); scripts get these functions
# from bench/lib.sh.  bench/defaults.sh and bench/notify_modes.sh use them.
#
#   probe_need_psycopg PYTHON          install Debian's python3-psycopg if PYTHON lacks psycopg
#   probe_start PYTHON DSN LOG [CHANNEL...]
#                                      start the probe as postgres (a coprocess): one
#                                      LISTEN session on the channels, kept until
#                                      probe_stop; its stderr goes to LOG
#   probe_begin [OPTIONS]              a run starts: the probe forgets what it heard and
#                                      its writer creates one order every 50 ms (libpq
#                                      options OPTIONS)
#   probe_end EXPECT                   the run's pgbench is over: prints the run's JSON
#                                      (see listener_probe.py); EXPECT 1 waits until
#                                      every event in order_mgmt.outbox was heard
#   probe_stop                         the probe exits (the caller's EXIT trap calls it too)
#
# The caller empties order_mgmt.outbox before each run: the probe takes every
# event there as one of the run's.  The probe is a bash coprocess: call these
# from the script's own shell (or a $(...) around probe_end), not from a
# pipeline or a ( ) subshell, where its file descriptors are closed.

PROBE_STARTED=""               # the probe's pid (bash's PROBE_PID may go with the coprocess)
PROBE_LOG=""

probe_need_psycopg() {
	"$1" -c 'import psycopg' 2>/dev/null && return 0
	echo "installing python3-psycopg (the listener probe needs it)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-psycopg >/dev/null ||
		{ echo "could not install python3-psycopg" >&2; return 1; }
	"$1" -c 'import psycopg'
}

# _probe_read WHAT: one line of the probe's answers into PROBE_LINE
_probe_read() {
	PROBE_LINE=""
	if [ -z "${PROBE[0]:-}" ] || ! read -r -t 180 PROBE_LINE <&"${PROBE[0]}"; then
		echo "the listener probe did not answer ($1); its log:" >&2
		cat "$PROBE_LOG" >&2
		return 1
	fi
}

probe_start() {
	local python=$1 dsn=$2
	PROBE_LOG=$3
	shift 3
	coproc PROBE { exec "${as_pg[@]}" "$python" "$bench_probe_py" "$dsn" "$@" 2>"$PROBE_LOG"; }
	PROBE_STARTED=$PROBE_PID
	_probe_read start || return 1
	[ "$PROBE_LINE" = ready ] || { echo "listener probe: '$PROBE_LINE'" >&2; cat "$PROBE_LOG" >&2; return 1; }
}

probe_begin() {
	[ -n "${PROBE[1]:-}" ] || { echo "the listener probe has exited; its log:" >&2; cat "$PROBE_LOG" >&2; return 1; }
	echo "begin ${1:-}" >&"${PROBE[1]}"
	_probe_read begin || return 1
	[ "$PROBE_LINE" = writing ] || { echo "listener probe: '$PROBE_LINE'" >&2; cat "$PROBE_LOG" >&2; return 1; }
}

probe_end() {
	[ -n "${PROBE[1]:-}" ] || { echo "the listener probe has exited; its log:" >&2; cat "$PROBE_LOG" >&2; return 1; }
	echo "end $1" >&"${PROBE[1]}"
	_probe_read end || return 1
	case $PROBE_LINE in '{'*) ;; *) echo "listener probe: '$PROBE_LINE'" >&2; cat "$PROBE_LOG" >&2; return 1 ;; esac
	printf '%s\n' "$PROBE_LINE"
}

probe_stop() {
	[ -n "$PROBE_STARTED" ] || return 0
	[ -z "${PROBE[1]:-}" ] || { echo quit >&"${PROBE[1]}"; } 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$PROBE_STARTED" 2>/dev/null || break
		sleep 0.1
	done
	kill "$PROBE_STARTED" 2>/dev/null || true
	wait "$PROBE_STARTED" 2>/dev/null || true
	PROBE_STARTED=""
}

bench_probe_py=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/listener_probe.py
