/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Building the lifecycle events and writing them to the outbox.
 *
 * Each lifecycle change writes exactly one row to order_mgmt.outbox in
 * the transaction that makes the change: a time-ordered event id, the
 * Debezium outbox columns (aggregatetype, aggregateid, type, payload),
 * the order's version and the contract version.  The payload is exactly
 * the v1.0.0 schema of the event, with RFC 3339 UTC timestamps.  Once the
 * row is written, notify.c announces it at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "events.h"
#include "json_out.h"
#include "notify.h"
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

/* Write the event for order's current state to the outbox and announce it. */
void
events_emit(OrderEventKind kind, const StoredOrder *order)
{
	const EventKindInfo *info = &event_kinds[kind];
	pg_uuid_t	event_id;
	Jsonb	   *payload;
	int64		position;

	uuid7_generate(&event_id);
	payload = events_build_payload(kind, order);
	position = store_insert_event(&event_id, &order->order_id, info->type,
								  payload, order->version,
								  event_time(kind, order));
	notify_event(info->channel, info->type, &event_id, &order->order_id,
				 position);
}
