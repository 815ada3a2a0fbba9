#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian bookworm.
# Idempotent: packages already present are left alone.  Needs root.
set -euo pipefail

packages=(
	make gcc
	postgresql-15 postgresql-server-dev-15 postgresql-15-wal2json postgresql-15-cron
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
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
