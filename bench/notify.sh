#!/usr/bin/env bash
# bench/notify.sh: order throughput with order_mgmt.notifications = off,
# in_process and worker (issue 4, item 6): a short run of bench/notify_modes.sh.
#
# Compares: order throughput with notifications worker and in_process against off.
#
#   sudo bench/notify.sh              # standard: 2 rounds x 3 modes x 10 s, no listener
#   sudo bench/notify.sh --scale      # (or BENCH_SCALE=1) notify_modes.sh's full run: 3 rounds x 15 s,
#                                     # without and with a listener (wake-up delays)
#   sudo BENCH_QUICK=1 bench/notify.sh
#
# bench/notify_modes.sh (see its header) starts its own throwaway server
# (scripts/lib/cluster.sh, shared_preload_libraries = 'order_mgmt', which
# gives database bench its notify worker), runs pgbench with 16 clients, one
# create_order of a 3-line cart per transaction, the three modes interleaved
# in a rotating order in each round, tables emptied before each run, and
# reports orders/s and the ratios to "off" within each round.  This script
# gives it the section's sizes, keeps its raw results in $BENCH_OUT/notify/
# and turns its report into the fragment $BENCH_OUT/notify.md (headings one
# level down).
# Environment: BENCH_QUICK, BENCH_SCALE, BENCH_OUT, PG_CONFIG; NOTIFY_ROUNDS,
# NOTIFY_DURATION, NOTIFY_CLIENTS, NOTIFY_SETUPS override.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_ENV="NOTIFY_ROUNDS NOTIFY_DURATION NOTIFY_CLIENTS NOTIFY_SETUPS" bench_init notify "$@"
check_installed ""

if [ "$QUICK" = 1 ]; then
	rounds=1 duration=3 setups=nolistener
elif [ "$SCALE" = 1 ]; then
	rounds=3 duration=15 setups="nolistener listener"
else
	rounds=2 duration=10 setups=nolistener
fi
rounds=${NOTIFY_ROUNDS:-$rounds}
duration=${NOTIFY_DURATION:-$duration}
setups=${NOTIFY_SETUPS:-$setups}
clients=${NOTIFY_CLIENTS:-16}
started=$(date +%s)

say "bench/notify_modes.sh: $rounds round(s) x 3 modes x $duration s, $clients clients, setups: $setups"
ROUNDS=$rounds DURATION=$duration CLIENTS=$clients SETUPS=$setups PG_CONFIG=$PG_CONFIG \
	RESULTS_DIR=$RAW REPORT=$RAW/notify_modes.md bash "$ROOT/bench/notify_modes.sh" >"$RAW/notify_modes.log" 2>&1 ||
	{ tail -n 30 "$RAW/notify_modes.log" >&2; die "bench/notify_modes.sh failed"; }
elapsed=$(($(date +%s) - started))

# the report, one heading level down, under the section's own heading
{
	echo "## Notifications off, in_process and worker: order throughput"
	echo
	echo "Written by \`bench/notify.sh\` ($elapsed s): a short run of \`bench/notify_modes.sh\` ($rounds round(s) of"
	echo "$duration s per mode, setups: $setups; \`--scale\` runs its full length with the listener setup too)."
	echo "Its report follows, headings one level down; raw results in \`notify/\` next to this file."
	echo
	awk '
		/^```/ { code = !code }
		!code && /^#/ { if ($1 == "#") { title = 1; next } sub(/^#/, "##") }
		title && /^$/ { title = 0; next }
		{ title = 0 }
		{ print }' "$RAW/notify_modes.md"
} >"$FRAGMENT"
say "fragment written to $FRAGMENT (${elapsed} s)"
