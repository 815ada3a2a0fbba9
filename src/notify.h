/*-------------------------------------------------------------------------
 *
 * notify.h
 *	  Announcing committed events on the order channels.
 *
 * Layer 2 (events): called by events.c and worker_hooks.c; calls the
 * delivery workers below it (notify_worker.c, launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_NOTIFY_H
#define OM_NOTIFY_H

#include "postgres.h"

#include "utils/guc.h"
#include "utils/uuid.h"

/* queue a notification on channel, sent at commit; position -1: no outbox row */
extern void notify_event(const char *channel, const char *type,
						 const pg_uuid_t *event_id, const pg_uuid_t *order_id,
						 int64 position);

/* after COMMIT PREPARED or ROLLBACK PREPARED: queue what they released */
extern void notify_finished_prepared(void);

/* at preload: the transaction callbacks, the launcher */
extern void notify_preload_init(void);

#endif							/* OM_NOTIFY_H */
