/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Building the lifecycle events and writing them to the outbox.
 *
 * Each lifecycle change writes exactly one row to order_mgmt.outbox in
 * the transaction that makes the change: a time-ordered event id, the
 * Debezium outbox columns (aggregatetype, aggregateid, type, payload),
 * the order's version and the contract version.  The payload is exactly
 * the v1.0.0 schema of the event, with RFC 3339 UTC timestamps.
 *
 * order_mgmt.event_mode chooses where the event goes: the outbox row, a
 * transactional logical decoding message (prefix "order_mgmt", the event
 * as a CloudEvent, no table write at all), or both.  Either way notify.c
 * announces it at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "storage/lwlock.h"

#include "cloudevents.h"
#include "events.h"
#include "json_out.h"
#include "notify.h"
#include "order_mgmt.h"
#include "uuid7.h"

/* what each kind of event is called, and the channel it is announced on */
typedef struct EventKindInfo
{
	const char *type;
	const char *status;
	const char *channel;
} EventKindInfo;

static const EventKindInfo event_kinds[] = {
	[OM_EVENT_CREATED] = {"OrderCreated", "CREATED", "order_created"},
	[OM_EVENT_COMPLETED] = {"OrderCompleted", "COMPLETED", "order_completed"},
	[OM_EVENT_CANCELLED] = {"OrderCancelled", "CANCELLED", "order_cancelled"},
};

/* The event that moving an order into status produces; false if none. */
bool
events_kind_for_status(const char *status, OrderEventKind *kind)
{
	int			i;

	for (i = 0; i < (int) lengthof(event_kinds); i++)
		if (strcmp(status, event_kinds[i].status) == 0)
		{
			*kind = (OrderEventKind) i;
			return true;
		}
	return false;
}

/* When the event happened: the moment the order entered its state. */
static TimestampTz
event_time(OrderEventKind kind, const StoredOrder *order)
{
	switch (kind)
	{
		case OM_EVENT_CREATED:
			return order->created_at;
		case OM_EVENT_COMPLETED:
			Assert(order->completed);
			return order->completed_at;
		case OM_EVENT_CANCELLED:
			Assert(order->cancelled);
			return order->cancelled_at;
	}
	elog(ERROR, "unknown order event kind %d", (int) kind);
	return 0;					/* keep the compiler quiet */
}

/* The v1.0.0 payload of an event about order. */
Jsonb *
events_build_payload(OrderEventKind kind, const StoredOrder *order)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	json_put_uuid(&state, "orderId", &order->order_id);
	json_put_uuid(&state, "customerId", &order->customer_id);
	switch (kind)
	{
		case OM_EVENT_CREATED:
			json_put_int64(&state, "total", order->total);
			json_put_cstring(&state, "currency", order->currency);
			json_put_timestamp(&state, "createdAt", order->created_at);
			break;
		case OM_EVENT_COMPLETED:
			json_put_timestamp(&state, "completedAt", event_time(kind, order));
			break;
		case OM_EVENT_CANCELLED:
			if (order->cancellation_reason == NULL)
				elog(ERROR, "cancelled order has no cancellation reason");
			json_put_cstring(&state, "reason", order->cancellation_reason);
			json_put_timestamp(&state, "cancelledAt", event_time(kind, order));
			break;
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* True if a logical replication slot exists for this database. */
static bool
logical_slot_exists(void)
{
	bool		found = false;
	int			i;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (i = 0; i < max_replication_slots && !found; i++)
	{
		ReplicationSlot *slot = &ReplicationSlotCtl->replication_slots[i];

		found = slot->in_use && slot->data.database == MyDatabaseId;
	}
	LWLockRelease(ReplicationSlotControlLock);
	return found;
}

/*
 * Emit the event as a transactional logical decoding message.  A message
 * that no decoder will ever read would make a change without its event,
 * so without logical decoding, or in message-only mode with no logical
 * slot on this database to keep it, the change is refused.
 */
static void
emit_message(const pg_uuid_t *event_id, const char *type,
			 const StoredOrder *order, TimestampTz occurred_at, Jsonb *payload)
{
	Jsonb	   *event;
	char	   *text;

	if (!XLogLogicalInfoActive())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("order_mgmt.event_mode \"%s\" needs wal_level = logical",
						om_event_mode == OM_EVENTS_BOTH ? "outbox_and_message" : "message"),
				 errdetail("Events written as logical decoding messages cannot be read at a lower wal_level."),
				 errhint("Set wal_level = logical and restart, or set order_mgmt.event_mode = outbox.")));
	if (om_event_mode == OM_EVENTS_MESSAGE && !logical_slot_exists())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("order_mgmt.event_mode \"message\" needs a logical replication slot on this database"),
				 errdetail("With no slot, the event's message would be read by no one and the order change would have no event."),
				 errhint("Create the consumer's slot first, or set order_mgmt.event_mode = outbox_and_message.")));

	event = cloudevent_build(event_id, type, &order->order_id, occurred_at,
							 order->version, payload);
	text = JsonbToCString(NULL, &event->root, VARSIZE(event));
	LogLogicalMessage(OM_MESSAGE_PREFIX, text, strlen(text), true);
}

/*
 * Write the event for order's current state where order_mgmt.event_mode
 * says, and announce it.
 */
void
events_emit(OrderEventKind kind, const StoredOrder *order)
{
	const EventKindInfo *info = &event_kinds[kind];
	TimestampTz occurred_at = event_time(kind, order);
	pg_uuid_t	event_id;
	Jsonb	   *payload;
	int64		position = -1;

	uuid7_generate(&event_id);
	payload = events_build_payload(kind, order);
	if (om_event_mode != OM_EVENTS_MESSAGE)
		position = store_insert_event(&event_id, &order->order_id, info->type,
									  payload, order->version, occurred_at);
	if (om_event_mode != OM_EVENTS_OUTBOX)
		emit_message(&event_id, info->type, order, occurred_at, payload);
	notify_event(info->channel, info->type, &event_id, &order->order_id,
				 position);
}
