/*-------------------------------------------------------------------------
 *
 * order_mgmt.c
 *	  Module setup: the library's magic block and its settings.
 *
 * Every setting lives under the reserved prefix "order_mgmt.".  They are
 * superuser-only (PGC_SUSET) because they protect the server and the
 * listeners, which an ordinary checkout role must not switch off; those
 * that size the workers' shared memory are read at server start
 * (PGC_POSTMASTER), and the maintenance schedules at reload (PGC_SIGHUP).
 * Loaded by shared_preload_libraries, the library also starts the launcher
 * and its per-database workers (launcher.c, notify_worker.c, maintenance.c)
 * and installs the backend hooks that tell the launcher about new and
 * dropped databases and extensions (worker_hooks.c).
 *
 * Module layer: loading the library registers the settings, hooks and
 * workers of the layers below; nothing calls it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "launcher.h"
#include "maintenance.h"
#include "notify.h"
#include "notify_worker.h"
#include "order_mgmt.h"
#include "worker_hooks.h"

PG_MODULE_MAGIC;

int			om_event_mode = OM_EVENTS_OUTBOX;
int			om_notify_mode = OM_NOTIFY_WORKER;
int			om_max_lines_per_order = 1000;
int			om_max_command_bytes = 1024 * 1024;
int			om_router_timeout = 10000;
bool		om_preloaded = false;

static const struct config_enum_entry event_mode_options[] = {
	{"outbox", OM_EVENTS_OUTBOX, false},
	{"message", OM_EVENTS_MESSAGE, false},
	{"outbox_and_message", OM_EVENTS_BOTH, false},
	{NULL, 0, false}
};

/* "on" and "background" are the names 1.1.0 gave in_process and worker */
static const struct config_enum_entry notify_mode_options[] = {
	{"worker", OM_NOTIFY_WORKER, false},
	{"in_process", OM_NOTIFY_IN_PROCESS, false},
	{"off", OM_NOTIFY_OFF, false},
	{"background", OM_NOTIFY_WORKER, true},
	{"on", OM_NOTIFY_IN_PROCESS, true},
	{NULL, 0, false}
};

void		_PG_init(void);

/* Say that order_mgmt.worker_databases (1.1.0) is no longer needed. */
static void
warn_worker_databases(void)
{
	if (om_worker_databases != NULL && *om_worker_databases != '\0')
		ereport(LOG,
				(errmsg("order_mgmt.worker_databases is ignored"),
				 errdetail("Every database where order_mgmt is installed gets a notify worker of its own."),
				 errhint("Remove the setting from the server's configuration.")));
}

/*
 * Define the order_mgmt.* settings and reserve the prefix; when preloaded,
 * set up the launcher and its workers too.
 */
void
_PG_init(void)
{
	om_preloaded = process_shared_preload_libraries_in_progress;

	DefineCustomEnumVariable("order_mgmt.event_mode",
							 "Where lifecycle events are written.",
							 "\"outbox\" inserts a row into order_mgmt.outbox; \"message\" emits a "
							 "transactional logical decoding message with prefix \"order_mgmt\" "
							 "carrying the event as a CloudEvent, and writes no row; \"outbox_and_message\" does both.",
							 &om_event_mode,
							 OM_EVENTS_OUTBOX,
							 event_mode_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("order_mgmt.notifications",
							 "Who sends the notification on the order channels when a lifecycle event commits.",
							 "\"worker\" hands it at commit to the database's notify worker (with the library "
							 "in shared_preload_libraries), or sends it in-process where no worker serves the "
							 "database; \"in_process\" always sends it from the committing session; \"off\" sends nothing.",
							 &om_notify_mode,
							 OM_NOTIFY_WORKER,
							 notify_mode_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("order_mgmt.max_lines_per_order",
							"Largest number of items one CreateOrder command may carry.",
							NULL,
							&om_max_lines_per_order,
							1000,
							1, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("order_mgmt.max_command_bytes",
							"Largest CreateOrder command accepted, in bytes of its jsonb value.",
							NULL,
							&om_max_command_bytes,
							1024 * 1024,
							1024, 64 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("order_mgmt.router_timeout",
							"How long a router's call waits for its shard before it fails with OM003.",
							"Bounds connecting and the call itself; 0 waits as long as PL/Proxy does.",
							&om_router_timeout,
							10000,
							0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("order_mgmt.refresh_interval",
							"How often the maintenance worker runs order_mgmt.refresh_reports().",
							"0 turns it off.  Needs shared_preload_libraries.",
							&om_refresh_interval,
							60,
							0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("order_mgmt.purge_interval",
							"How often the maintenance worker runs order_mgmt.purge_events().",
							"0 turns it off.  Needs shared_preload_libraries.",
							&om_purge_interval,
							60,
							0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("order_mgmt.event_retention",
							"How long the maintenance worker keeps outbox events (the keep of purge_events).",
							"Older events that every polling consumer has acknowledged are deleted.",
							&om_event_retention,
							3600,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/* the workers' settings: PostgreSQL allows them only at preload */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("order_mgmt.max_databases",
								"Most databases the launcher serves with a notify worker and maintenance.",
								"Each takes a slot and a notification queue in shared memory; 0 starts no launcher.",
								&om_max_databases,
								4,
								0, 64,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomStringVariable("order_mgmt.worker_databases",
								   "No longer used: every database with order_mgmt gets a notify worker.",
								   NULL,
								   &om_worker_databases,
								   "",
								   PGC_POSTMASTER,
								   GUC_LIST_INPUT | GUC_NO_SHOW_ALL,
								   NULL, NULL, NULL);

		DefineCustomIntVariable("order_mgmt.notify_queue_size",
								"Notifications each database's queue holds (and as many again for prepared transactions).",
								"A committing transaction whose notifications do not fit sends them itself.",
								&om_notify_queue_size,
								4096,
								1, 262144,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("order_mgmt.notify_batch_delay",
								"How long a notify worker lets notifications gather after a commit woke it.",
								"Longer: fewer, larger transactions of the worker's, later notifications.",
								&om_notify_batch_delay,
								5,
								0, 1000,
								PGC_SIGHUP,
								GUC_UNIT_MS,
								NULL, NULL, NULL);
	}

	MarkGUCPrefixReserved("order_mgmt");

	if (process_shared_preload_libraries_in_progress)
	{
		warn_worker_databases();
		notify_preload_init();
		/* the hooks that ask the launcher for probes, when there is one */
		if (om_max_databases != 0)
			worker_hooks_init();
	}
}
