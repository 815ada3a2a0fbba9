/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Announcing committed events on the order channels.
 *
 * Listeners LISTEN on order_created, order_completed or order_cancelled.
 * A notification is a small JSON object that points at the event (its
 * id, order id, type and, when it has an outbox row, its position), never
 * the order itself:
 * NOTIFY payloads are limited and a listener reads what it needs from the
 * outbox.  PostgreSQL delivers notifications only when the transaction
 * commits, so a rolled-back change notifies nobody.
 *
 * The setting order_mgmt.notifications turns them off.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "lib/stringinfo.h"

#include "notify.h"
#include "order_mgmt.h"
#include "uuid7.h"

/*
 * Queue a notification on channel for when the transaction commits;
 * position < 0 means the event has no outbox row.
 */
void
notify_event(const char *channel, const char *type, const pg_uuid_t *event_id,
			 const pg_uuid_t *order_id, int64 position)
{
	char		event_text[UUID_TEXT_LEN + 1];
	char		order_text[UUID_TEXT_LEN + 1];
	char		payload[256];

	if (om_notify_mode == OM_NOTIFY_OFF)
		return;

	uuid_format(event_id, event_text);
	uuid_format(order_id, order_text);
	if (position >= 0)
		snprintf(payload, sizeof(payload),
				 "{\"eventId\":\"%s\",\"orderId\":\"%s\",\"type\":\"%s\",\"position\":" INT64_FORMAT "}",
				 event_text, order_text, type, position);
	else
		snprintf(payload, sizeof(payload),
				 "{\"eventId\":\"%s\",\"orderId\":\"%s\",\"type\":\"%s\"}",
				 event_text, order_text, type);
	Async_Notify(channel, payload);
}
