/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Building the lifecycle events and writing them to the outbox.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_EVENTS_H
#define OM_EVENTS_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "store.h"

/* the lifecycle events of the contract */
typedef enum OrderEventKind
{
	OM_EVENT_CREATED,
	OM_EVENT_COMPLETED,
	OM_EVENT_CANCELLED
} OrderEventKind;

/* the event that moving an order into status produces; false if none */
extern bool events_kind_for_status(const char *status, OrderEventKind *kind);

/* the v1.0.0 payload of an event about order */
extern Jsonb *events_build_payload(OrderEventKind kind, const StoredOrder *order);

/* write the event for order's current state to the outbox and announce it */
extern void events_emit(OrderEventKind kind, const StoredOrder *order);

#endif							/* OM_EVENTS_H */
