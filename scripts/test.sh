#!/usr/bin/env bash
# Runs the whole order_mgmt test suite: pg_regress, isolation specs and TAP
# tests, each against its own throwaway PostgreSQL 15 server.
#
#   sudo scripts/test.sh
#
# Installs what it needs (Debian packages, the extension itself), builds
# with warnings as errors, and leaves no server running.  PostgreSQL does
# not run as root, so the suites run as the "postgres" account in a
# scratch copy of the tree.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=PATH bash "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

work=$(mktemp -d /tmp/order_mgmt-test.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# build and install from a scratch copy, so the checkout stays untouched
tar -C "$root" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	-cf - . | tar -C "$work" -xf -
make -C "$work" -s clean >/dev/null
make -C "$work" -s WERROR=1
make -C "$work" -s install
# the contract validator's packages (test/contract, for test/t/005_contract.pl), as locked
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error --prefix "$work/test/contract" >/dev/null
chown -R postgres: "$work"

status=0
su postgres -s /bin/bash -c "cd '$work' && make -s installcheck PG_CONFIG='$PG_CONFIG'" 2>&1 |
	tee "$work/installcheck.log" || status=$?

# the SPI fallback of the executor-free writes, for the whole suite (pg_regress, isolation and every
# TAP test): the module built with ORDER_MGMT_FORCE_SPI=1 (docs/testing.md), then the normal build
# put back; its lines are marked "(forced SPI)"; ORDER_MGMT_FORCE_SPI_SUITE=0 skips it
if [ "${ORDER_MGMT_FORCE_SPI_SUITE:-1}" != 0 ] && [ $status -eq 0 ]; then
	spi=$(mktemp -d /tmp/order_mgmt-spi.XXXXXX)
	tar -C "$root" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=node_modules -cf - . | tar -C "$spi" -xf -
	make -C "$spi" -s clean >/dev/null
	make -C "$spi" -s WERROR=1 ORDER_MGMT_FORCE_SPI=1
	make -C "$spi" -s install ORDER_MGMT_FORCE_SPI=1
	# the contract validator's packages, as installed above (for 005)
	cp -a "$work/test/contract/node_modules" "$spi/test/contract/"
	chown -R postgres: "$spi"
	su postgres -s /bin/bash -c "cd '$spi' && make -s installcheck PG_CONFIG='$PG_CONFIG' ORDER_MGMT_FORCE_SPI=1" 2>&1 |
		sed -e 's/^\(test \|ok \)/\1(forced SPI) /' -e 's|^test/t/|(forced SPI) test/t/|' |
		tee -a "$work/installcheck.log" || status=$?
	for f in "$spi"/tmp_force_spi/regression.diffs "$spi"/output_iso/regression.diffs; do
		[ -f "$f" ] && cp "$f" "$work/forced_spi_$(basename "$(dirname "$f")").diffs"
	done
	if [ -d "$spi/tmp_check/log" ]; then
		mkdir -p "$work/forced_spi_log"
		cp "$spi"/tmp_check/log/regress_log_* "$work/forced_spi_log/" 2>/dev/null || true
	fi
	rm -rf "$spi"
	make -C "$work" -s install
fi

# the module under AddressSanitizer + UBSan (scripts/memcheck.sh); ORDER_MGMT_VALGRIND=1 uses
# valgrind instead; ORDER_MGMT_MEMCHECK=0 skips it
memcheck_status=0
if [ "${ORDER_MGMT_MEMCHECK:-1}" != 0 ]; then
	bash "$root/scripts/memcheck.sh" >"$work/memcheck.log" 2>&1 || memcheck_status=$?
	tail -n 1 "$work/memcheck.log"
fi

# one summary line over all suites: pg_regress and isolation tests, TAP files, on both builds
# (a forced-SPI line counts as a test of its own)
passed=$(grep -cE '^(ok|test) .* \.\.\. ok|^ok +[0-9]+ +[-+] ' "$work/installcheck.log" || true)
failed=$(grep -cE '\.\.\. FAILED|^not ok +[0-9]+ +[-+] ' "$work/installcheck.log" || true)
taps=$(grep -E '^(\(forced SPI\) )?test/t/.*\.pl \.\.' "$work/installcheck.log" || true)
tap_ok=$(printf '%s\n' "$taps" | grep -c ' ok$' || true)
tap_bad=$(printf '%s\n' "$taps" | grep -vc -e ' ok$' -e '^$' || true)
echo "tests: $((passed + tap_ok)) passed, $((failed + tap_bad)) failed"

if [ $memcheck_status -ne 0 ]; then
	echo "==== memcheck"
	cat "$work/memcheck.log"
	status=1
fi
if [ $status -ne 0 ]; then
	for f in "$work"/regression.diffs "$work"/output_iso/regression.diffs "$work"/forced_spi_*.diffs; do
		[ -f "$f" ] && { echo "==== $f"; cat "$f"; }
	done
	for f in "$work"/tmp_check/log/regress_log_* "$work"/forced_spi_log/regress_log_*; do
		[ -f "$f" ] && { echo "==== $f"; tail -n 60 "$f"; }
	done
	echo "order_mgmt tests FAILED"
	exit $status
fi
echo "order_mgmt tests passed"
