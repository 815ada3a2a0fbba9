#!/usr/bin/env bash
# bench/run.sh: the order_mgmt benchmark driver.  See bench/README.md.
#
#   sudo bench/run.sh                       # the standard set (about 12 min on 2 cores)
#   sudo bench/run.sh --scale               # plus the scale points (millions of orders)
#   sudo bench/run.sh --quick               # a smoke run (< 1 min), report in $BENCH_OUT
#   sudo bench/run.sh --sections create_order,get_order --out /tmp/r.md
#
# Run as root on a clean machine: it installs what it needs
# (scripts/install-deps.sh), builds the extension from a scratch copy of this
# tree and installs it into the PostgreSQL of $PG_CONFIG (default: Debian's
# PostgreSQL 15), then runs the sections one after the other and writes
# bench/RESULTS.md (or --out FILE): date, machine, PostgreSQL version, the
# server settings (bench/bench.conf), the runtime, then each section's
# fragment.  With --quick the report goes to $BENCH_OUT/RESULTS.md unless
# --out says otherwise, so a smoke run never overwrites the committed one.
#
# Environment:
#   PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config   the PostgreSQL to use
#   BENCH_SKIP_INSTALL=1   no install-deps, no build: use the order_mgmt
#                          already installed in $PG_CONFIG's PostgreSQL
#   BENCH_OUT=DIR          where fragments and raw data go (default: a new
#                          /tmp/order_mgmt-bench.XXXXXX, kept)
#   BENCH_DURATION, BENCH_ROUNDS, BENCH_KEEP_LOGS   passed to the sections
#
# THE SECTION CONTRACT.  A section NAME is an executable bench/NAME.sh that
#   - reads BENCH_OUT (a directory, exists), BENCH_QUICK (1: a very short
#     smoke run; anything else: the real thing), BENCH_SCALE (1 when the
#     driver runs with --scale: a section may then run a longer variant) and
#     PG_CONFIG;
#   - starts its own throwaway server(s) through scripts/lib/cluster.sh
#     (bench/lib.sh does it for you, with the settings of bench/bench.conf,
#     plus settings of its own that its fragment must name), and stops them
#     and removes them before it exits, even on error or Ctrl-C;
#   - writes its Markdown fragment to $BENCH_OUT/NAME.md, starting with a
#     "## " heading (subheadings "### "), and its raw data under
#     $BENCH_OUT/NAME/;
#   - exits 0 on success; anything else counts as a failure of the section.
# A section whose script does not exist is skipped with a note in the report.
set -euo pipefail

STANDARD=(create_order get_order lifecycle wal_bytes cdc_drain notify defaults router)
SCALE=(scale stats_views)

usage() {
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

args=("$@")
sections_opt="" scale=0 quick=0 out=""
while [ $# -gt 0 ]; do
	case $1 in
	--sections) [ $# -ge 2 ] || usage 2; sections_opt=$2; shift 2 ;;
	--sections=*) sections_opt=${1#*=}; shift ;;
	--scale) scale=1; shift ;;
	--quick) quick=1; shift ;;
	--out) [ $# -ge 2 ] || usage 2; out=$2; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	-h | --help) usage 0 ;;
	*) echo "bench/run.sh: unknown option $1" >&2; usage 2 ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=PATH,PG_CONFIG,BENCH_SKIP_INSTALL,BENCH_OUT,BENCH_DURATION,BENCH_ROUNDS,BENCH_KEEP_LOGS,BENCH_SYNCHRONOUS_COMMIT,BENCH_ORDERS,BENCH_LIFECYCLE_SCALE \
		bash "$0" "${args[@]}"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
say() { printf '[%s] run: %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

if [ -n "$sections_opt" ]; then
	IFS=, read -r -a sections <<<"$sections_opt"
else
	sections=("${STANDARD[@]}")
	[ $scale = 0 ] || sections+=("${SCALE[@]}")
fi
for s in "${sections[@]}"; do
	case $s in '' | *[!a-z0-9_]*) die "bad section name '$s'" ;; esac
done

if [ -z "${BENCH_OUT:-}" ]; then
	BENCH_OUT=$(mktemp -d /tmp/order_mgmt-bench.XXXXXX)
fi
mkdir -p "$BENCH_OUT"
chmod 755 "$BENCH_OUT"
export BENCH_OUT
export BENCH_SCALE=$scale
if [ $quick = 1 ]; then
	export BENCH_QUICK=1
	out=${out:-$BENCH_OUT/RESULTS.md}
else
	export BENCH_QUICK=0
	out=${out:-$root/bench/RESULTS.md}
fi
case $out in /*) ;; *) out=$PWD/$out ;; esac

build=""
# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
	local rc=$?
	[ -z "$build" ] || rm -rf "$build"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

started=$(date +%s)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "sections: ${sections[*]}; raw data in $BENCH_OUT; report to $out"

# ---------------------------------------------------------------------------
# What the benchmarks need, and the extension built from this tree
if [ "${BENCH_SKIP_INSTALL:-0}" = 1 ]; then
	say "BENCH_SKIP_INSTALL=1: using the order_mgmt installed in $("$PG_CONFIG" --pkglibdir)"
else
	bash "$root/scripts/install-deps.sh"
	command -v python3 >/dev/null || [ -x /usr/bin/python3 ] ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
	say "building order_mgmt from a scratch copy of $root, installing it for $PG_CONFIG"
	build=$(mktemp -d /tmp/order_mgmt-bench-build.XXXXXX)
	tar -C "$root" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude='tmp_check*' --exclude=results --exclude=output_iso \
		-cf - . | tar -C "$build" -xf -
	make -C "$build" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$build" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$build" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
	rm -rf "$build"
	build=""
fi
[ -f "$("$PG_CONFIG" --sharedir)/extension/order_mgmt.control" ] ||
	die "order_mgmt is not installed for $PG_CONFIG"
[ -x "$("$PG_CONFIG" --bindir)/pgbench" ] || die "pgbench is missing from $("$PG_CONFIG" --bindir)"

# ---------------------------------------------------------------------------
# The sections
declare -A status seconds
for s in "${sections[@]}"; do
	script=$root/bench/$s.sh
	rm -f "$BENCH_OUT/$s.md"
	if [ ! -f "$script" ]; then
		say "section $s: bench/$s.sh does not exist, skipped"
		status[$s]="skipped: bench/$s.sh does not exist"
		seconds[$s]=0
		continue
	fi
	say "section $s"
	t0=$(date +%s)
	rc=0
	bash "$script" || rc=$?
	seconds[$s]=$(($(date +%s) - t0))
	if [ $rc -ne 0 ]; then
		status[$s]="**failed** (exit $rc)"
	elif [ ! -s "$BENCH_OUT/$s.md" ] || ! head -n 1 "$BENCH_OUT/$s.md" | grep -q '^## '; then
		status[$s]="**failed**: no fragment starting with a \"## \" heading"
	else
		status[$s]=ok
	fi
	say "section $s: ${status[$s]} in ${seconds[$s]} s"
done
total=$(($(date +%s) - started))

# ---------------------------------------------------------------------------
# The report
bindir=$("$PG_CONFIG" --bindir)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")
ext_version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/order_mgmt.control")
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] && [ -n "$(git -C "$root" status --porcelain 2>/dev/null | grep -v '^?? bench/RESULTS.md$' || true)" ]; then
	rev="$rev + uncommitted changes"
fi
mode=standard
[ $quick = 0 ] || mode="quick (BENCH_QUICK=1: smoke run, numbers meaningless)"
[ $scale = 0 ] || mode+=", with the scale points"
[ -z "$sections_opt" ] || mode+=", sections chosen with --sections"

# the sections of this run whose servers get bench/bench.conf
lib_users() {
	local s list=()
	for s in "${sections[@]}"; do
		# (bench_start, or bench_server without -f or with -f bench/bench.conf)
		[ -f "$root/bench/$s.sh" ] &&
			grep -Eq '^[[:space:]]*([A-Z_]+=[^ ]+ )*(bench_start|bench_server( -f bench/bench\.conf| [^-]|$))' "$root/bench/$s.sh" &&
			list+=("$s")
	done
	local IFS=, joined
	joined=${list[*]:-none}
	echo "${joined//,/, }"
}

tmp=$(mktemp)
{
	echo "# order_mgmt benchmarks"
	echo
	echo "Produced by \`bench/run.sh\` (see \`bench/README.md\` for the method and how to read it)."
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| date | $started_at |"
	echo "| total runtime | $((total / 60)) min $((total % 60)) s |"
	echo "| mode | $mode |"
	echo "| CPU | $cpu, $(nproc) cores (nproc) |"
	echo "| memory | $mem |"
	echo "| kernel | $(uname -sr) |"
	echo "| OS | $os |"
	echo "| load average at start (1, 5, 15 min) | $load_start |"
	echo "| PostgreSQL | $("$bindir/postgres" --version) |"
	echo "| pgbench | $("$bindir/pgbench" --version) |"
	echo "| order_mgmt | $ext_version, tree $rev |"
	echo
	echo "Each section runs its own throwaway server(s): unix socket only, fresh initdb, data in /tmp. The sections whose servers start from \`bench/bench.conf\` ($(lib_users)) use these settings (\`bench/bench.conf\`) and name any they add; the other sections name their servers' settings in their fragments:"
	echo
	echo '```'
	grep -v '^#' "$root/bench/bench.conf" | sed '/^$/d'
	echo '```'
	echo
	echo "| section | runtime | status |"
	echo "| --- | ---: | --- |"
	for s in "${sections[@]}"; do
		echo "| $s | ${seconds[$s]} s | ${status[$s]} |"
	done
	echo
	for s in "${sections[@]}"; do
		[ -s "$BENCH_OUT/$s.md" ] || continue
		cat "$BENCH_OUT/$s.md"
		echo
	done
} >"$tmp"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
chmod 644 "$out"
say "report written to $out (total $((total / 60)) min $((total % 60)) s); raw data in $BENCH_OUT"
failed=0
for s in "${sections[@]}"; do
	case ${status[$s]} in ok | skipped*) ;; *) failed=1 ;; esac
done
exit $failed
