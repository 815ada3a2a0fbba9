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
 * Layer 2 (events): called by lifecycle.c and orders.c; calls store.c,
 * cloudevents.c, notify.c and order_schema.c, whose event kinds say each
 * event's type, channel and payload fields.
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
#include "order_schema.h"
#include "store.h"
#include "uuid7.h"

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
		case OM_NEVENT_KINDS:
			break;
	}
	elog(ERROR, "unknown order event kind %d", (int) kind);
	return 0;					/* keep the compiler quiet */
}

/* Push one field of the payload of an event of kind about order. */
static void
put_payload_field(JsonbParseState **state, OmPayloadField field,
				  OrderEventKind kind, const StoredOrder *order)
{
	switch (field)
	{
		case OM_PAYLOAD_ORDER_ID:
			json_put_uuid(state, "orderId", &order->order_id);
			break;
		case OM_PAYLOAD_CUSTOMER_ID:
			json_put_uuid(state, "customerId", &order->customer_id);
			break;
		case OM_PAYLOAD_TOTAL:
			json_put_int64(state, "total", order->total);
			break;
		case OM_PAYLOAD_CURRENCY:
			json_put_cstring(state, "currency", order->currency);
			break;
		case OM_PAYLOAD_CREATED_AT:
			json_put_timestamp(state, "createdAt", order->created_at);
			break;
		case OM_PAYLOAD_COMPLETED_AT:
			json_put_timestamp(state, "completedAt", event_time(kind, order));
			break;
		case OM_PAYLOAD_REASON:
			if (order->cancellation_reason == NULL)
				elog(ERROR, "cancelled order has no cancellation reason");
			json_put_cstring(state, "reason", order->cancellation_reason);
			break;
		case OM_PAYLOAD_CANCELLED_AT:
			json_put_timestamp(state, "cancelledAt", event_time(kind, order));
			break;
	}
}

/* The v1.0.0 payload of an event about order: its kind's fields, in order. */
Jsonb *
events_build_payload(OrderEventKind kind, const StoredOrder *order)
{
	const OmEventKindInfo *info = &om_event_kinds[kind];
	JsonbParseState *state = NULL;
	JsonbValue *result;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < info->nfields; i++)
		put_payload_field(&state, info->fields[i], kind, order);
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
	const OmEventKindInfo *info = &om_event_kinds[kind];
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
