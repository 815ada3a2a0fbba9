/*-------------------------------------------------------------------------
 *
 * order_mgmt.h
 *	  Settings and error codes shared by every part of order_mgmt.
 *
 * The module's settings (GUCs) are defined in order_mgmt.c; this header
 * exposes their current values and the SQLSTATEs of our own.
 *
 * Layer 0: the settings' values and our SQLSTATEs, read by every layer
 * (order_mgmt.c, the module layer above them all, defines the settings).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDER_MGMT_H
#define ORDER_MGMT_H

#include "postgres.h"

/* version of the published event and command contract */
#define OM_CONTRACT_VERSION "1.0.0"

/* expected version given to cancel_order/complete_order did not match */
#define ERRCODE_OM_VERSION_MISMATCH MAKE_SQLSTATE('O','M','0','0','1')

/* the command's cart or order belongs to a partition this database does not hold */
#define ERRCODE_OM_PARTITION_NOT_HELD MAKE_SQLSTATE('O','M','0','0','2')

/* a router could not reach the shard of a partition */
#define ERRCODE_OM_SHARD_UNREACHABLE MAKE_SQLSTATE('O','M','0','0','3')

/* values of order_mgmt.notifications: who sends them */
typedef enum OmNotifyMode
{
	OM_NOTIFY_OFF,				/* nobody */
	OM_NOTIFY_IN_PROCESS,		/* the committing backend, with NOTIFY */
	OM_NOTIFY_WORKER			/* the database's notify worker, else in-process */
} OmNotifyMode;

/* values of order_mgmt.event_mode: where lifecycle events are written */
typedef enum OmEventMode
{
	OM_EVENTS_OUTBOX,			/* a row in order_mgmt.outbox */
	OM_EVENTS_MESSAGE,			/* a transactional logical decoding message */
	OM_EVENTS_BOTH				/* both */
} OmEventMode;

/* prefix of the logical decoding messages that carry events */
#define OM_MESSAGE_PREFIX "order_mgmt"

/* settings, see order_mgmt.c */
extern int	om_event_mode;
extern int	om_notify_mode;
extern int	om_max_lines_per_order;
extern int	om_max_command_bytes;
extern int	om_router_timeout;

/* true when the library was loaded by shared_preload_libraries */
extern bool om_preloaded;

#endif							/* ORDER_MGMT_H */
