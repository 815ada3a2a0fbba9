/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Building the lifecycle events and writing them to the outbox.
 *
 * Layer 2 (events).  The event kinds are described in order_schema.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_EVENTS_H
#define OM_EVENTS_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "order_schema.h"

/* the v1.0.0 payload of an event about order */
extern Jsonb *events_build_payload(OrderEventKind kind, const StoredOrder *order);

/* write the event for order's current state to the outbox and announce it */
extern void events_emit(OrderEventKind kind, const StoredOrder *order);

#endif							/* OM_EVENTS_H */
