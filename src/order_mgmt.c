/*-------------------------------------------------------------------------
 *
 * order_mgmt.c
 *	  Module setup: the library's magic block and its settings.
 *
 * Every setting lives under the reserved prefix "order_mgmt.".  They are
 * superuser-only (PGC_SUSET) because they protect the server and the
 * listeners, which an ordinary checkout role must not switch off; the two
 * that size the background notification workers are read at server start
 * (PGC_POSTMASTER).  Loaded by shared_preload_libraries, the library also
 * sets up those workers (notify.c, notify_worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "notify.h"
#include "notify_worker.h"
#include "order_mgmt.h"

PG_MODULE_MAGIC;

int			om_event_mode = OM_EVENTS_OUTBOX;
int			om_notify_mode = OM_NOTIFY_ON;
int			om_max_lines_per_order = 1000;
int			om_max_command_bytes = 1024 * 1024;
bool		om_preloaded = false;

static const struct config_enum_entry event_mode_options[] = {
	{"outbox", OM_EVENTS_OUTBOX, false},
	{"message", OM_EVENTS_MESSAGE, false},
	{"outbox_and_message", OM_EVENTS_BOTH, false},
	{NULL, 0, false}
};

static const struct config_enum_entry notify_mode_options[] = {
	{"off", OM_NOTIFY_OFF, false},
	{"on", OM_NOTIFY_ON, false},
	{"background", OM_NOTIFY_BACKGROUND, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/*
 * Define the order_mgmt.* settings and reserve the prefix; when preloaded,
 * set up the background notification workers too.
 */
void
_PG_init(void)
{
	/* before the settings: the check of "background" depends on it */
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
							 "Sends a notification on the order channels when a lifecycle event commits.",
							 "\"on\" notifies order_created, order_completed or order_cancelled at commit; "
							 "\"off\" sends nothing; \"background\" hands them at commit to the database's "
							 "notify worker, which sends them (needs shared_preload_libraries).",
							 &om_notify_mode,
							 OM_NOTIFY_ON,
							 notify_mode_options,
							 PGC_SUSET,
							 0,
							 notify_check_mode, NULL, NULL);

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

	/* the workers' settings: PostgreSQL allows them only at preload */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("order_mgmt.worker_databases",
								   "Databases that get a notify worker for order_mgmt.notifications = background.",
								   "A comma-separated list of database names; each gets a worker of its own.",
								   &om_worker_databases,
								   "",
								   PGC_POSTMASTER,
								   GUC_LIST_INPUT,
								   notify_worker_check_databases, NULL, NULL);

		DefineCustomIntVariable("order_mgmt.notify_queue_size",
								"Notifications each worker's queue holds (and as many again for prepared transactions).",
								"A committing transaction whose notifications do not fit sends them itself.",
								&om_notify_queue_size,
								8192,
								1, 262144,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("order_mgmt.notify_batch_delay",
								"How long a notify worker lets notifications gather after a commit woke it.",
								"Longer: fewer, larger transactions of the worker's, later notifications.",
								&om_notify_batch_delay,
								2,
								0, 1000,
								PGC_SIGHUP,
								GUC_UNIT_MS,
								NULL, NULL, NULL);
	}

	MarkGUCPrefixReserved("order_mgmt");

	if (process_shared_preload_libraries_in_progress)
		notify_preload_init();
}
