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
 * outbox.  Notifications are delivered only when the transaction commits,
 * so a rolled-back change notifies nobody.
 *
 * The setting order_mgmt.notifications chooses who sends them:
 *
 *	worker		(the default) the notify worker of the database
 *				(notify_worker.c).  This backend keeps them in a list
 *				(dropping those of a subtransaction that rolls back), and at
 *				pre-commit appends them to the database's queue, so that its
 *				commit does not wait for the instance-wide lock NOTIFY
 *				commits take.  Where no worker serves the database (the
 *				library is not preloaded, or no slot was free), this backend
 *				sends them in-process instead;
 *	in_process	this backend, with NOTIFY, as its transaction commits;
 *	off			nobody.
 *
 * When the queue has no room for a committing transaction's notifications,
 * that transaction sends them itself with NOTIFY (an overflow): it neither
 * waits nor loses them.  PREPARE TRANSACTION keeps them in shared memory,
 * and COMMIT PREPARED queues them (ROLLBACK PREPARED drops them).
 *
 * Layer 2 (events): called by events.c and worker_hooks.c; calls the
 * delivery workers below it (notify_worker.c, launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "launcher.h"
#include "notify.h"
#include "notify_worker.h"
#include "order_mgmt.h"
#include "uuid7.h"

/*
 * The current transaction's notifications for the worker, in
 * TopTransactionContext, with the subtransaction that queued each.
 */
static OmNotification *pending = NULL;
static SubTransactionId *pending_subids = NULL;
static int	npending = 0;
static int	maxpending = 0;
static int	pending_queue = -1;
static uint32 pending_generation = 0;

/* the queue entries the transaction appended at pre-commit */
static int	queued_count = 0;
static uint64 queued_first = 0;

/* the transaction whose notifications went to the prepared area */
static TransactionId prepared_xid = InvalidTransactionId;

/* Forget the transaction's notifications (their memory goes with it). */
static void
reset_transaction_state(void)
{
	pending = NULL;
	pending_subids = NULL;
	npending = 0;
	maxpending = 0;
	queued_count = 0;
	queued_first = 0;
	prepared_xid = InvalidTransactionId;
}

/*
 * Keep a notification for the worker; false if it must be sent in-process
 * (no worker for this database, or too long for a queue entry).
 */
static bool
keep_for_worker(const char *channel, const char *payload)
{
	uint32		generation;
	int			q = notify_queue_for_database(&generation);

	if (q < 0)
		return false;
	/* a transaction's notifications all go to one queue, the first one's */
	if (npending > 0 && (q != pending_queue || generation != pending_generation))
		return false;
	if (strlen(channel) >= OM_NOTIFY_CHANNEL_LEN ||
		strlen(payload) >= OM_NOTIFY_PAYLOAD_LEN)
		return false;

	if (npending == maxpending)
	{
		int			newmax = Max(16, maxpending * 2);

		if (pending == NULL)
		{
			pending = MemoryContextAlloc(TopTransactionContext,
										 newmax * sizeof(OmNotification));
			pending_subids = MemoryContextAlloc(TopTransactionContext,
												newmax * sizeof(SubTransactionId));
		}
		else
		{
			pending = repalloc(pending, newmax * sizeof(OmNotification));
			pending_subids = repalloc(pending_subids,
									  newmax * sizeof(SubTransactionId));
		}
		maxpending = newmax;
	}
	strlcpy(pending[npending].channel, channel, OM_NOTIFY_CHANNEL_LEN);
	strlcpy(pending[npending].payload, payload, OM_NOTIFY_PAYLOAD_LEN);
	pending_subids[npending] = GetCurrentSubTransactionId();
	npending++;
	pending_queue = q;
	pending_generation = generation;
	return true;
}

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

	if (om_notify_mode == OM_NOTIFY_WORKER &&
		keep_for_worker(channel, payload))
		return;
	Async_Notify(channel, payload);
}

/* Send notifications in-process, as "in_process" does: an overflow. */
static void
notify_in_process(int q, const OmNotification *items, int n)
{
	int			i;

	notify_queue_count_overflow(q);
	for (i = 0; i < n; i++)
		Async_Notify(items[i].channel, items[i].payload);
}

/*
 * Pre-commit: append the transaction's notifications to the queue as
 * pending, or, if they do not fit, send them with NOTIFY.  This runs before
 * PostgreSQL's own pre-commit work for NOTIFY, so the fallback is still in
 * time.
 */
static void
hand_over_at_pre_commit(void)
{
	TransactionId xid = GetTopTransactionId();

	if (notify_queue_push(pending_queue, pending_generation, pending, npending,
						  xid, false, &queued_first))
		queued_count = npending;
	else
		notify_in_process(pending_queue, pending, npending);
	npending = 0;
}

/*
 * Pre-prepare: keep the transaction's notifications in shared memory until
 * COMMIT PREPARED.  NOTIFY itself cannot be prepared, so with no room the
 * PREPARE fails.
 */
static void
keep_for_prepare(void)
{
	TransactionId xid = GetTopTransactionId();

	if (!notify_prepared_add(pending_queue, pending, npending, xid))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no room to keep the order notifications of a prepared transaction"),
				 errdetail("The transaction has %d notifications, more than the prepared transactions' area of the database's notification queue has room for.",
						   npending),
				 errhint("Finish other prepared transactions, or raise order_mgmt.notify_queue_size.")));
	prepared_xid = xid;
	npending = 0;
}

/* Transaction callback: hand the notifications over, or drop them. */
static void
notify_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (npending > 0)
				hand_over_at_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (npending > 0)
				keep_for_prepare();
			break;
		case XACT_EVENT_COMMIT:
			if (queued_count > 0)
				notify_queue_finish(pending_queue, queued_first, queued_count,
									true);
			reset_transaction_state();
			break;
		case XACT_EVENT_ABORT:
			if (queued_count > 0)
				notify_queue_finish(pending_queue, queued_first, queued_count,
									false);
			if (TransactionIdIsValid(prepared_xid))
				notify_prepared_forget(pending_queue, prepared_xid);
			reset_transaction_state();
			break;
		case XACT_EVENT_PREPARE:
			reset_transaction_state();
			break;
		default:
			break;
	}
}

/*
 * Subtransaction callback: a subtransaction that rolls back takes its
 * notifications with it.  Subtransaction ids grow, and every subtransaction
 * begun while mySubid is open is nested in it, so those are the ones with
 * an id of at least mySubid.
 */
static void
notify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			kept = 0;
	int			i;

	if (event != SUBXACT_EVENT_ABORT_SUB || npending == 0)
		return;
	for (i = 0; i < npending; i++)
		if (pending_subids[i] < mySubid)
		{
			if (kept != i)
			{
				pending[kept] = pending[i];
				pending_subids[kept] = pending_subids[i];
			}
			kept++;
		}
	npending = kept;
}

/*
 * After COMMIT PREPARED (or ROLLBACK PREPARED) ran (worker_hooks.c tells):
 * queue the notifications of the prepared transactions now committed, or
 * send them in-process if the queue is full; those rolled back are dropped.
 */
void
notify_finished_prepared(void)
{
	uint32		generation;
	int			q = notify_queue_for_database(&generation);
	OmNotification *items;
	uint64		first;
	int			n;

	if (q < 0)
		return;
	n = notify_prepared_take_finished(q, &items);
	if (n == 0)
		return;
	if (notify_queue_push(q, generation, items, n, InvalidTransactionId, true,
						  &first))
		notify_queue_wake(q);
	else
		notify_in_process(q, items, n);
	pfree(items);
}

/* At preload: the transaction callbacks, and the launcher with its workers. */
void
notify_preload_init(void)
{
	RegisterXactCallback(notify_xact_callback, NULL);
	RegisterSubXactCallback(notify_subxact_callback, NULL);
	launcher_preload();
}
