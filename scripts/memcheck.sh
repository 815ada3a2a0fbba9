#!/usr/bin/env bash
# Runs the pg_regress suite, the isolation specs and (by default) the TAP tests that throw the most
# varied input at the module, with the order_mgmt module under a memory checker; fails on any finding.
#
#   sudo scripts/memcheck.sh                         # AddressSanitizer + UBSan build of the module
#   sudo ORDER_MGMT_VALGRIND=1 scripts/memcheck.sh   # instead: valgrind memcheck on every backend (slow)
#
# Environment:
#   ORDER_MGMT_VALGRIND=1         valgrind memcheck instead of ASan/UBSan (ten to twenty times slower)
#   ORDER_MGMT_MEMCHECK_TAP=0     no TAP tests; =1 all of them; or a list of files.  Default: with ASan
#                                 test/t/010_hostile_input.pl and test/t/011_sqlsmith.pl, with valgrind none
#   ORDER_MGMT_MEMCHECK_MAKEARGS  more make arguments, e.g. "REGRESS='setup get_order' ISOLATION="
#   ORDER_MGMT_MEMCHECK_KEEP=1    keep the scratch directory (logs, build) and print where it is
#
# What it does: copies PostgreSQL 15 (Debian's /usr/lib/postgresql/15, /usr/share/postgresql/15,
# /usr/include/postgresql) and the tree into a scratch directory, so nothing outside it is touched;
# builds the module there (ASan: -fsanitize=address,undefined -fno-wrapv), installs it into that
# copy only, and replaces the copy's `postgres` with a wrapper that starts the real binary under the
# checker (ASan: LD_PRELOAD of gcc's libasan; valgrind: valgrind --tool=memcheck).  Then, as
# `postgres`, `make installcheck` (the Makefile's REGRESS, every suite in test/sql, and its ISOLATION
# list) against temporary servers with jit = off.
#
# A finding is: any ASan/UBSan report (in its own log file or in a server log), any valgrind error
# outside scripts/valgrind.supp, a backend that died (crash restart), or a failing test.
# Prints one summary line; exits non-zero on any finding.
#
# Limits: PostgreSQL itself is not instrumented.  ASan sees the module's stack, global and malloc'd
# memory and the libc calls it makes (memcpy, strlen, ...), not overruns inside palloc'd chunks
# (they live in larger malloc'd blocks).  UBSan checks the module's shifts, alignment, null
# pointers, bounds of fixed arrays, object sizes and, as the module is built with -fno-wrapv here,
# signed overflow (PostgreSQL builds with -fwrapv, where it is defined but still a logic error).
# Valgrind sees reads of uninitialised memory (including palloc'd memory on its first use) and
# errors on malloc'd memory, not stack overruns.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=PATH,ORDER_MGMT_VALGRIND,ORDER_MGMT_MEMCHECK_TAP,ORDER_MGMT_MEMCHECK_MAKEARGS,ORDER_MGMT_MEMCHECK_KEEP,ORDER_MGMT_SQLSMITH_QUERIES,ORDER_MGMT_SQLSMITH_SEED bash "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=asan
[ "${ORDER_MGMT_VALGRIND:-0}" != 0 ] && mode=valgrind
start=$(date +%s)

for cmd in make gcc su; do
	command -v "$cmd" >/dev/null || { echo "memcheck: $cmd is missing (scripts/install-deps.sh)"; exit 2; }
done
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "memcheck: PostgreSQL 15 is missing (scripts/install-deps.sh)"; exit 2; }
if [ $mode = valgrind ]; then
	command -v valgrind >/dev/null || { echo "memcheck: valgrind is missing (apt-get install valgrind)"; exit 2; }
else
	libasan=$(gcc -print-file-name=libasan.so)
	[ -f "$libasan" ] || { echo "memcheck: gcc's libasan is missing"; exit 2; }
	libasan=$(readlink -f "$libasan")
fi

work=$(mktemp -d /tmp/order_mgmt-memcheck.XXXXXX)
cleanup() {
	# a server left behind by an interrupted run: stop it (only ours, by its data directory)
	for pidfile in "$work"/tree/tmp_check*/data/postmaster.pid "$work"/tree/tmp_check/t_*_data/pgdata/postmaster.pid; do
		[ -f "$pidfile" ] && kill -QUIT "$(head -n 1 "$pidfile")" 2>/dev/null || true
	done
	if [ "${ORDER_MGMT_MEMCHECK_KEEP:-0}" != 0 ]; then echo "memcheck: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a private PostgreSQL 15: same layout under $work/pg, so its pg_config (relocatable) points there
pg=$work/pg
mkdir -p "$pg/usr/lib/postgresql" "$pg/usr/share/postgresql" "$pg/usr/include"
cp -a /usr/lib/postgresql/15 "$pg/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$pg/usr/share/postgresql/"
cp -a /usr/include/postgresql "$pg/usr/include/"
PGC=$pg/usr/lib/postgresql/15/bin/pg_config
bindir=$("$PGC" --bindir)
case $bindir in "$pg"/*) ;; *) echo "memcheck: the copied pg_config points outside $pg ($bindir)"; exit 2 ;; esac

# --- the tree, built for the checker and installed into the copy only
mkdir -p "$work/tree" "$work/logs"
tar -C "$root" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$work/tree" -xf -
make -C "$work/tree" -s clean PG_CONFIG="$PGC" >/dev/null
if [ $mode = asan ]; then
	copt="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -fno-wrapv"
else
	copt="-fno-omit-frame-pointer -g"
fi
# with_llvm=no: no JIT bitcode (the servers run with jit = off anyway)
make -C "$work/tree" -s PG_CONFIG="$PGC" COPT="$copt" with_llvm=no
make -C "$work/tree" -s PG_CONFIG="$PGC" COPT="$copt" with_llvm=no install >/dev/null
if [ $mode = asan ]; then
	ldd "$pg/usr/lib/postgresql/15/lib/order_mgmt.so" | grep libasan >/dev/null ||
		{ echo "memcheck: order_mgmt.so is not linked with libasan"; exit 2; }
fi
# JIT would run code that is not the instrumented module
printf '\n# memcheck\njit = off\n' >> "$work/tree/test/test.conf"

# --- the copy's postgres becomes a wrapper that starts the real binary under the checker
mv "$bindir/postgres" "$bindir/postgres.real"
logs=$work/logs
if [ $mode = asan ]; then
	# A tiny preloaded helper, asan_first.so:
	# - libasan must initialise before any other library's constructor runs: started by the first
	#   malloc inside libgpg-error's constructor (bindtextdomain, under a libc lock) it deadlocks
	#   the server at startup.  Preloaded objects are initialised last, so the helper is marked
	#   -z initfirst and starts ASan before everything else.
	# - UBSan reads UBSAN_OPTIONS from /proc/self/environ when it first reports, after PostgreSQL
	#   has overwritten that memory with its process titles; the helper keeps a copy and hands it
	#   over as __ubsan_default_options.
	cat > "$work/asan_first.c" <<'CEOF'
#include <string.h>
extern void __asan_init(void);
const char *__ubsan_default_options(void);
static char ubsan_options[2048];
const char *__ubsan_default_options(void) { return ubsan_options; }
__attribute__((constructor)) static void
order_mgmt_asan_first(int argc, char **argv, char **envp)
{
	for (; envp && *envp; envp++)
		if (strncmp(*envp, "UBSAN_OPTIONS=", 14) == 0)
			strncpy(ubsan_options, *envp + 14, sizeof(ubsan_options) - 1);
	__asan_init();
}
CEOF
	gcc -shared -fPIC -o "$work/asan_first.so" "$work/asan_first.c" -Wl,-z,initfirst "$libasan"
	cat > "$bindir/postgres" <<EOF
#!/bin/sh
# memcheck wrapper: the real server with the AddressSanitizer runtime preloaded
# (the module links libasan/libubsan; the postgres binary itself is not instrumented)
export LD_PRELOAD="$libasan:$work/asan_first.so\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$logs/asan:detect_odr_violation=0:allocator_may_return_null=1:handle_segv=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
exec "$bindir/postgres.real" "\$@"
EOF
else
	supp=$root/scripts/valgrind.supp
	[ -f "$supp" ] || { echo "memcheck: $supp is missing"; exit 2; }
	cp "$supp" "$work/valgrind.supp"
	cat > "$bindir/postgres" <<EOF
#!/bin/sh
# memcheck wrapper: the real server under valgrind memcheck, except initdb's bootstrap and
# single-user runs and the version/settings queries (they never load the module)
case " \$* " in
*" --boot "*|*" --single "*|*" -V "*|*" --version "*|*" -C "*|*" --describe-config "*|*" --check "*)
	exec "$bindir/postgres.real" "\$@" ;;
esac
exec valgrind --quiet --tool=memcheck --trace-children=yes --track-origins=no \\
	--read-var-info=no --num-callers=30 --suppressions=$work/valgrind.supp \\
	--error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
	--log-file=$logs/valgrind.%p "$bindir/postgres.real" "\$@"
EOF
fi
chmod 755 "$bindir/postgres"
chown -R postgres: "$work"

# --- the suites, as postgres
# TAP tests: by default (ASan) the two that throw the most varied input at the module
default_tap=0
if [ $mode = asan ]; then
	default_tap=
	for t in test/t/010_hostile_input.pl test/t/011_sqlsmith.pl; do
		[ -f "$work/tree/$t" ] && default_tap="$default_tap${default_tap:+ }$t"
	done
	[ -n "$default_tap" ] || default_tap=0
fi
tap=${ORDER_MGMT_MEMCHECK_TAP-$default_tap}
case $tap in
0|"") tapargs="TAP_TESTS=" ;;
1) tapargs="" ;;
*) tapargs="PROVE_TESTS='$tap'" ;;
esac
status=0
su postgres -s /bin/bash -c "cd '$work/tree' && make -k -s installcheck PG_CONFIG='$PGC' $tapargs ${ORDER_MGMT_MEMCHECK_MAKEARGS:-}" \
	> "$work/installcheck.log" 2>&1 || status=$?

# --- findings
findings=0
report() { echo "==== $1"; sed -n "1,${2:-80}p" "$1"; }
shopt -s nullglob
if [ $mode = asan ]; then
	for f in "$logs"/asan.* "$logs"/ubsan.*; do
		findings=$((findings + 1)); report "$f" 120
	done
else
	for f in "$logs"/valgrind.*; do
		if grep -q VALGRINDERROR-BEGIN "$f"; then
			findings=$((findings + $(grep -c VALGRINDERROR-BEGIN "$f"))); report "$f" 200
		fi
	done
fi
crashes=0
# (the TAP tests' own logs are scanned for sanitizer reports only: some kill servers on purpose,
# and the default ones, 010 and 011, check themselves that no backend crashed)
for f in "$work"/tree/log/*.log "$work"/tree/output_iso/log/*.log "$work"/tree/tmp_check/log/*.log; do
	# a sanitizer report that went to the server's stderr instead of its own file
	n=$(grep -cE 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)' "$f" || true)
	if [ "$n" -gt 0 ]; then
		findings=$((findings + n)); echo "==== $f"
		{ grep -E -A30 'runtime error:|ERROR: [A-Za-z]+Sanitizer' "$f" || true; } | head -120
	fi
	# a backend that died (signal, or exit without cleaning up) makes the postmaster reinitialise
	case $f in "$work"/tree/tmp_check/*) continue ;; esac
	n=$(grep -c 'terminating any other active server processes' "$f" || true)
	if [ "$n" -gt 0 ]; then
		crashes=$((crashes + n)); echo "==== $f"
		{ grep -E -B1 -A1 'terminated by signal|exited with exit code' "$f" || true; } | head -60
	fi
done
passed=$(grep -cE '^(ok|test) .* \.\.\. ok|^ok +[0-9]+ +[-+] ' "$work/installcheck.log" || true)
failed=$(grep -cE '\.\.\. FAILED|^not ok +[0-9]+ +[-+] ' "$work/installcheck.log" || true)
# TAP files: prove's "test/t/NAME.pl .. ok" lines
taps=$(grep -E '^test/t/.*\.pl \.+' "$work/installcheck.log" || true)
passed=$((passed + $(printf '%s\n' "$taps" | grep -c ' ok$' || true)))
failed=$((failed + $(printf '%s\n' "$taps" | grep -vc -e ' ok$' -e '^$' || true)))
if [ $status -ne 0 ] || [ "$failed" -gt 0 ]; then
	echo "==== make installcheck (exit $status)"; tail -n 60 "$work/installcheck.log"
	for f in "$work"/tree/regression.diffs "$work"/tree/output_iso/regression.diffs; do
		[ -f "$f" ] && report "$f" 150
	done
	for f in "$work"/tree/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && { echo "==== $f"; tail -n 60 "$f"; }
	done
	[ "$failed" -gt 0 ] || failed=1
fi
secs=$(( $(date +%s) - start ))
what="ASan+UBSan"; [ $mode = valgrind ] && what="valgrind memcheck"
echo "memcheck ($what): $passed tests passed, $failed failed, $findings memory findings, $crashes crashes (${secs}s)"
[ $findings -eq 0 ] && [ $crashes -eq 0 ] && [ $status -eq 0 ] && [ "$failed" -eq 0 ]
