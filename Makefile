# Makefile for the order_mgmt extension (PGXS)

MODULE_big = order_mgmt
OBJS = \
	src/order_mgmt.o \
	src/order_schema.o \
	src/currency.o \
	src/uuid7.o \
	src/json_out.o \
	src/command.o \
	src/store.o \
	src/direct_write.o \
	src/orders.o \
	src/lifecycle.o \
	src/events.o \
	src/cloudevents.o \
	src/feed.o \
	src/notify.o \
	src/notify_worker.o \
	src/launcher.o \
	src/worker_hooks.o \
	src/maintenance.o \
	src/partition.o \
	src/router.o

EXTENSION = order_mgmt order_mgmt_router
DATA = sql/order_mgmt--1.0.0.sql sql/order_mgmt--1.0.0--1.1.0.sql \
	sql/order_mgmt--1.1.0--1.2.0.sql sql/order_mgmt--1.2.0--1.3.0.sql \
	sql/order_mgmt_router--1.0.0.sql
PGFILEDESC = "order_mgmt - orders, their lifecycle and events"

# pg_regress suites: test/sql/NAME.sql, expected output test/expected/NAME.out
# (--inputdir=test; results/ and regression.diffs are written here, as usual).
# setup (CREATE EXTENSION, and the list of every extension object) runs first;
# every other suite in test/sql runs after it, in name order, and needs nothing
# but setup.  One suite: make installcheck REGRESS='setup NAME'.
REGRESS = setup $(sort $(filter-out setup,$(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test --temp-instance=tmp_check_regress --temp-config=test/test.conf

# isolation specs in test/isolation/specs with results in test/isolation/expected
ISOLATION = cancel_vs_complete create_same_cart read_during_transition consumer_no_skip \
	cancel_vs_cancel complete_vs_complete expected_version create_vs_cancel_same_cart \
	consumers_ack_at_once assign_vs_create
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=tmp_check_iso \
	--temp-config=test/test.conf --load-extension=order_mgmt

# TAP tests (real clients, crashes, replication) in test/t
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter \
	-Wmissing-prototypes
ifdef WERROR
PG_CFLAGS += -Werror
endif

# ORDER_MGMT_FORCE_SPI=1 (on the command line or in the environment, for the
# build and for installcheck): every write takes the SPI path, the fallback of
# the executor-free writes, so the whole suite runs on it.  Its errors carry
# the SPI statement as context where the direct path's carry none: the
# pg_regress suites then compare against test/expected with
# test/force_spi/expected.patch applied (docs/testing.md).
ifdef ORDER_MGMT_FORCE_SPI
PG_CPPFLAGS += -DORDER_MGMT_FORCE_SPI
REGRESS_PREP = force_spi_inputs
REGRESS_OPTS += --inputdir=tmp_force_spi --outputdir=tmp_force_spi
endif

EXTRA_CLEAN = tmp_check_regress tmp_check_iso tmp_force_spi output_iso results regression.diffs \
	regression.out installcheck.log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# the forced-SPI build's pg_regress inputs: test/sql and test/expected, patched
.PHONY: force_spi_inputs
force_spi_inputs:
	rm -rf tmp_force_spi
	mkdir -p tmp_force_spi
	cp -R test/sql test/expected tmp_force_spi/
	patch -s -d tmp_force_spi -p0 < test/force_spi/expected.patch
