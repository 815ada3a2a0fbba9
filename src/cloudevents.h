/*-------------------------------------------------------------------------
 *
 * cloudevents.h
 *	  Rendering lifecycle events as CloudEvents 1.0 structured JSON.
 *
 * Layer 0 (helpers): calls json_out.c only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_CLOUDEVENTS_H
#define OM_CLOUDEVENTS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* the CloudEvents "source" of every event */
#define OM_CLOUDEVENTS_SOURCE "urn:acme:order-management"

/* an event as a CloudEvent: id, source, specversion, type, subject, time, ... */
extern Jsonb *cloudevent_build(const pg_uuid_t *event_id, const char *type,
							   const pg_uuid_t *order_id, TimestampTz occurred_at,
							   int32 order_version, Jsonb *payload);

#endif							/* OM_CLOUDEVENTS_H */
