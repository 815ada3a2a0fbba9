/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  What the polling consumers' feed needs from the server in C.
 *
 * The feed (order_mgmt.sequence_events, in the install script) numbers
 * outbox events in commit order.  To step over a position nobody will ever
 * fill, it must know that every transaction which could hold that position
 * has ended.  A snapshot alone cannot tell: transactions whose xids are at
 * or past the snapshot's xmax are running but not listed.  The next xid to
 * be assigned, read between the position and the snapshot, closes the gap.
 *
 * Layer 5 (API): an SQL-callable helper; calls nothing of order_mgmt.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "fmgr.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(order_mgmt_next_xact_id);

/* SQL: order_mgmt.next_xact_id() returns the next xid to be assigned. */
Datum
order_mgmt_next_xact_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_FULLTRANSACTIONID(ReadNextFullTransactionId());
}
