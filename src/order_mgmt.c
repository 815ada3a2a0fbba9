/*-------------------------------------------------------------------------
 *
 * order_mgmt.c
 *	  Module setup: the library's magic block and its settings.
 *
 * Every setting lives under the reserved prefix "order_mgmt.".  They are
 * superuser-only (PGC_SUSET) because they protect the server and the
 * listeners, which an ordinary checkout role must not switch off.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "order_mgmt.h"

PG_MODULE_MAGIC;

int			om_event_mode = OM_EVENTS_OUTBOX;
int			om_notify_mode = OM_NOTIFY_ON;
int			om_max_lines_per_order = 1000;
int			om_max_command_bytes = 1024 * 1024;

static const struct config_enum_entry event_mode_options[] = {
	{"outbox", OM_EVENTS_OUTBOX, false},
	{"message", OM_EVENTS_MESSAGE, false},
	{"outbox_and_message", OM_EVENTS_BOTH, false},
	{NULL, 0, false}
};

static const struct config_enum_entry notify_mode_options[] = {
	{"off", OM_NOTIFY_OFF, false},
	{"on", OM_NOTIFY_ON, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/* Define the order_mgmt.* settings and reserve the prefix. */
void
_PG_init(void)
{
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
							 "\"off\" sends nothing.",
							 &om_notify_mode,
							 OM_NOTIFY_ON,
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

	MarkGUCPrefixReserved("order_mgmt");
}
