# Makefile for the order_mgmt extension (PGXS)

MODULE_big = order_mgmt
OBJS = \
	src/order_mgmt.o \
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
	src/maintenance.o

EXTENSION = order_mgmt
DATA = sql/order_mgmt--1.0.0.sql sql/order_mgmt--1.0.0--1.1.0.sql \
	sql/order_mgmt--1.1.0--1.2.0.sql
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
	consumers_ack_at_once
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

EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso results regression.diffs \
	regression.out installcheck.log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
