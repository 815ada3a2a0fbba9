#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian bookworm.
# Idempotent: packages already present are left alone.  Needs root.
set -euo pipefail

packages=(
	make gcc
	# the forced-SPI suite patches its expected outputs (Makefile, force_spi_inputs)
	patch
	postgresql-15 postgresql-server-dev-15 postgresql-15-wal2json postgresql-15-cron
	# the router (order_mgmt_router, test/t/019_router.pl) forwards calls to shards with PL/Proxy
	postgresql-15-plproxy
	libipc-run-perl procps
	sqlsmith valgrind
	# test/t/016_exporter.pl starts this binary itself (the package's service is not used)
	prometheus-postgres-exporter
	# for promtool, which checks docs/monitoring/alerts.yml (the Prometheus service is not used)
	prometheus
	nodejs npm
)

missing=()
for p in "${packages[@]}"; do
	# a node or npm already installed counts (NodeSource's nodejs provides npm and conflicts with Debian's)
	case $p in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# the package's own cluster is never used: don't create one
	mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/order_mgmt.conf
	# the tests start the binaries they need themselves: packages must not start services
	# (prometheus, the exporter); policy-rc.d is how Debian says so, for this install only
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ -n "$policy" ] && rm -f "$policy"
	# nor are they to start at the next boot
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		for service in prometheus prometheus-postgres-exporter; do
			printf '%s\n' "${missing[@]}" | grep -qx "$service" &&
				systemctl disable --now "$service" >/dev/null 2>&1 || true
		done
	fi
fi
