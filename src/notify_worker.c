/*-------------------------------------------------------------------------
 *
 * notify_worker.c
 *	  The notification queues in shared memory, and the background workers
 *	  that send what they hold (order_mgmt.notifications = worker).
 *
 * A transaction that used NOTIFY holds an instance-wide lock from its
 * pre-commit until its commit is over, so notifying writers commit one at a
 * time.  In worker mode a committing backend hands its notifications to
 * the queue of its database instead, and that database's worker sends them
 * with NOTIFY, many in each short transaction of its own.  Only the worker
 * takes the lock.
 *
 * There is one queue, and one worker, per slot of the launcher (launcher.c),
 * that is per database where order_mgmt is installed.  A queue is a ring of
 * fixed-size entries under one LWLock:
 *
 *	- at XACT_EVENT_PRE_COMMIT, before its commit record, the backend
 *	  appends its notifications as PENDING, with its xid (notify.c);
 *	- at XACT_EVENT_COMMIT (or ABORT) it marks them COMMITTED (or ABORTED)
 *	  and sets the worker's latch;
 *	- the worker, woken, waits order_mgmt.notify_batch_delay for more
 *	  commits, then sends the committed entries from the tail, in queue
 *	  order, in transactions of up to OM_NOTIFY_BATCH notifications, and
 *	  stops at the first pending one.  A transaction that saw another's
 *	  changes, or waited for its locks, reached its pre-commit after the
 *	  other had committed, so its entries come later in the queue: listeners
 *	  hear about changes in commit order.  A pending entry whose transaction
 *	  is over without having marked it is resolved from the commit log;
 *	- the tail moves past a batch only once the worker's transaction that
 *	  sent it has committed: a worker that is killed sends the batch again
 *	  when the postmaster restarts it.
 *
 * Each queue has a second area, as large, for the notifications of prepared
 * transactions: PREPARE TRANSACTION puts them there, and COMMIT PREPARED
 * moves them into the ring (notify.c); the worker checks the area once a
 * second too, in case a finished prepared transaction was not seen there.
 *
 * Layer 1 (delivery workers): calls launcher.c, its sibling.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "commands/extension.h"
#include "funcapi.h"
#include "launcher.h"
#include "notify_worker.h"

/* most notifications a worker sends in one transaction */
#define OM_NOTIFY_BATCH 1024

/* how often a worker checks the prepared area, and reports overflows (ms) */
#define OM_NOTIFY_PREPARED_CHECK_MS 1000
#define OM_NOTIFY_OVERFLOW_LOG_MS 10000

#define OM_NOTIFY_TRANCHE "order_mgmt_notify"

/* settings, see order_mgmt.c */
char	   *om_worker_databases = NULL;
int			om_notify_queue_size = 4096;
int			om_notify_batch_delay = 5;

/* where an entry of the ring is in its transaction's life */
typedef enum EntryState
{
	ENTRY_PENDING,				/* appended at pre-commit */
	ENTRY_COMMITTED,			/* its transaction committed: send it */
	ENTRY_ABORTED				/* its transaction rolled back: skip it */
} EntryState;

/* one entry of a ring */
typedef struct QueueEntry
{
	uint64		seq;			/* position in the queue, from 0 */
	TransactionId xid;			/* the transaction that appended it */
	int			state;			/* EntryState */
	OmNotification n;
} QueueEntry;

/* one notification of a prepared transaction */
typedef struct PreparedEntry
{
	TransactionId xid;
	OmNotification n;
} PreparedEntry;

/* the queue of one database */
typedef struct NotifyQueue
{
	LWLock	   *lock;			/* protects everything below but overflows */
	Latch	   *worker_latch;	/* NULL when no worker is attached */
	uint64		head;			/* seq of the next entry appended */
	uint64		tail;			/* seq of the oldest entry not yet sent */
	uint64		sent;			/* notifications sent by workers */
	pg_atomic_uint64 overflows; /* transactions that notified in-process */
	int			nprepared;		/* entries used in prepared[] */
	QueueEntry *entries;		/* the ring: seq s is entries[s % capacity] */
	PreparedEntry *prepared;	/* notifications of prepared transactions */
} NotifyQueue;

/* all the queues, in shared memory */
typedef struct NotifyShared
{
	int			nqueues;
	int			capacity;		/* entries per ring, and per prepared area */
	NotifyQueue queues[FLEXIBLE_ARRAY_MEMBER];
} NotifyShared;

static NotifyShared *shared = NULL;

/* Bytes of shared memory the queues of nqueues slots take. */
static Size
notify_shmem_size(int nqueues)
{
	Size		per_queue;

	per_queue = add_size(mul_size(om_notify_queue_size, sizeof(QueueEntry)),
						 mul_size(om_notify_queue_size, sizeof(PreparedEntry)));
	return add_size(add_size(offsetof(NotifyShared, queues),
							 mul_size(nqueues, sizeof(NotifyQueue))),
					mul_size(nqueues, per_queue));
}

/* At shmem request time: the queues of nqueues slots and their locks. */
void
notify_queue_shmem_request(int nqueues)
{
	RequestAddinShmemSpace(notify_shmem_size(nqueues));
	RequestNamedLWLockTranche(OM_NOTIFY_TRANCHE, nqueues);
}

/* At shmem startup, under AddinShmemInitLock: create or attach to them. */
void
notify_queue_shmem_init(int nqueues)
{
	bool		found;

	shared = ShmemInitStruct("order_mgmt notification queues",
							 notify_shmem_size(nqueues), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(OM_NOTIFY_TRANCHE);
		char	   *next;
		int			i;

		shared->nqueues = nqueues;
		shared->capacity = om_notify_queue_size;
		next = (char *) shared + offsetof(NotifyShared, queues)
			+ nqueues * sizeof(NotifyQueue);
		for (i = 0; i < nqueues; i++)
		{
			NotifyQueue *queue = &shared->queues[i];

			memset(queue, 0, sizeof(NotifyQueue));
			queue->lock = &locks[i].lock;
			pg_atomic_init_u64(&queue->overflows, 0);
			queue->entries = (QueueEntry *) next;
			next += om_notify_queue_size * sizeof(QueueEntry);
			queue->prepared = (PreparedEntry *) next;
			next += om_notify_queue_size * sizeof(PreparedEntry);
		}
	}
}

/* Empty queue q, for a slot claimed anew. */
void
notify_queue_reset(int q)
{
	NotifyQueue *queue = &shared->queues[q];

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->head = 0;
	queue->tail = 0;
	queue->sent = 0;
	queue->nprepared = 0;
	pg_atomic_write_u64(&queue->overflows, 0);
	LWLockRelease(queue->lock);
}

/*
 * The queue of the current database, or -1 if no worker serves it; its
 * slot's generation in *generation, for notify_queue_push.
 */
int
notify_queue_for_database(uint32 *generation)
{
	if (shared == NULL)
		return -1;
	return launcher_slot_for_database(generation);
}

/*
 * Append n notifications of transaction xid to queue q, as pending (or, for
 * a transaction known to have committed, as committed); false, appending
 * nothing, if they do not all fit or q no longer serves this database (its
 * slot's generation is not generation).  *first_seq is the first entry's
 * seq.
 */
bool
notify_queue_push(int q, uint32 generation, const OmNotification *items,
				  int n, TransactionId xid, bool committed, uint64 *first_seq)
{
	NotifyQueue *queue = &shared->queues[q];
	OmSlot	   *slot = &om_shared->slots[q];
	int			capacity = shared->capacity;
	uint64		first;
	int			i;

	if (n > capacity)
		return false;
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	/* the slot may have been freed (extension dropped) since we looked */
	if (slot->dboid != MyDatabaseId || slot->generation != generation ||
		queue->head - queue->tail + n > (uint64) capacity)
	{
		LWLockRelease(queue->lock);
		return false;
	}
	first = queue->head;
	for (i = 0; i < n; i++)
	{
		QueueEntry *entry = &queue->entries[(first + i) % capacity];

		entry->seq = first + i;
		entry->xid = xid;
		entry->state = committed ? ENTRY_COMMITTED : ENTRY_PENDING;
		memcpy(&entry->n, &items[i], sizeof(OmNotification));
	}
	queue->head = first + n;
	LWLockRelease(queue->lock);
	*first_seq = first;
	return true;
}

/*
 * Mark the n entries from first_seq committed or aborted (unless the
 * worker already resolved them), and wake the worker.
 */
void
notify_queue_finish(int q, uint64 first_seq, int n, bool committed)
{
	NotifyQueue *queue = &shared->queues[q];
	Latch	   *latch;
	uint64		seq;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (seq = first_seq; seq < first_seq + n; seq++)
	{
		QueueEntry *entry = &queue->entries[seq % shared->capacity];

		if (entry->seq == seq && entry->state == ENTRY_PENDING)
			entry->state = committed ? ENTRY_COMMITTED : ENTRY_ABORTED;
	}
	latch = queue->worker_latch;
	LWLockRelease(queue->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* Set the latch of q's worker, if it runs. */
void
notify_queue_wake(int q)
{
	NotifyQueue *queue = &shared->queues[q];
	Latch	   *latch;

	LWLockAcquire(queue->lock, LW_SHARED);
	latch = queue->worker_latch;
	LWLockRelease(queue->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* Count one transaction that notified in-process because q was full. */
void
notify_queue_count_overflow(int q)
{
	pg_atomic_fetch_add_u64(&shared->queues[q].overflows, 1);
}

/* Keep the notifications of a transaction being prepared; false if no room. */
bool
notify_prepared_add(int q, const OmNotification *items, int n,
					TransactionId xid)
{
	NotifyQueue *queue = &shared->queues[q];
	int			i;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	if (queue->nprepared + n > shared->capacity)
	{
		LWLockRelease(queue->lock);
		return false;
	}
	for (i = 0; i < n; i++)
	{
		PreparedEntry *entry = &queue->prepared[queue->nprepared++];

		entry->xid = xid;
		memcpy(&entry->n, &items[i], sizeof(OmNotification));
	}
	LWLockRelease(queue->lock);
	return true;
}

/* Drop what notify_prepared_add kept for xid (its PREPARE failed). */
void
notify_prepared_forget(int q, TransactionId xid)
{
	NotifyQueue *queue = &shared->queues[q];
	int			kept = 0;
	int			i;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < queue->nprepared; i++)
		if (queue->prepared[i].xid != xid)
		{
			if (kept != i)
				queue->prepared[kept] = queue->prepared[i];
			kept++;
		}
	queue->nprepared = kept;
	LWLockRelease(queue->lock);
}

/*
 * Take out of q's prepared area the notifications of the prepared
 * transactions that have committed, in the order they were kept, and drop
 * those of the ones rolled back.  Returns how many were taken, in *items
 * (palloc'd in the current memory context).
 */
int
notify_prepared_take_finished(int q, OmNotification **items)
{
	NotifyQueue *queue = &shared->queues[q];
	TransactionId *xids;
	char	   *status;			/* per xid: 'r' running, 'c' committed, 'a' aborted */
	int			nxids = 0;
	int			ntaken = 0;
	int			kept = 0;
	int			capacity;
	int			i;
	int			j;

	*items = NULL;
	if (queue->nprepared == 0)	/* unlocked peek: most calls stop here */
		return 0;

	/* the distinct transactions, then their fate, without the lock */
	LWLockAcquire(queue->lock, LW_SHARED);
	capacity = Max(queue->nprepared, 1);
	xids = palloc(capacity * sizeof(TransactionId));
	for (i = 0; i < queue->nprepared; i++)
	{
		for (j = 0; j < nxids && xids[j] != queue->prepared[i].xid; j++)
			;
		if (j == nxids)
			xids[nxids++] = queue->prepared[i].xid;
	}
	LWLockRelease(queue->lock);

	status = palloc(Max(nxids, 1));
	for (j = 0; j < nxids; j++)
	{
		if (TransactionIdIsInProgress(xids[j]))
			status[j] = 'r';
		else
			status[j] = TransactionIdDidCommit(xids[j]) ? 'c' : 'a';
	}

	/*
	 * No entry of a finished transaction can be added meanwhile, so there are
	 * at most as many to take as entries seen above.
	 */
	*items = palloc(capacity * sizeof(OmNotification));
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < queue->nprepared; i++)
	{
		PreparedEntry *entry = &queue->prepared[i];
		char		fate = 'r';

		for (j = 0; j < nxids; j++)
			if (xids[j] == entry->xid)
				fate = status[j];
		if (fate == 'c' && ntaken < capacity)
			memcpy(&(*items)[ntaken++], &entry->n, sizeof(OmNotification));
		else if (fate == 'r' || fate == 'c')
		{
			if (kept != i)
				queue->prepared[kept] = *entry;
			kept++;
		}
	}
	queue->nprepared = kept;
	LWLockRelease(queue->lock);
	pfree(xids);
	pfree(status);
	return ntaken;
}

/* Send notifications with NOTIFY, in one transaction of the worker's. */
static void
send_notifications(const OmNotification *items, int n)
{
	int			i;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	for (i = 0; i < n; i++)
		Async_Notify(items[i].channel, items[i].payload);
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/*
 * Send the next batch of committed entries from the tail of queue; true if
 * there may be more to do right away.  batch has room for OM_NOTIFY_BATCH.
 */
static bool
drain_batch(NotifyQueue *queue, OmNotification *batch)
{
	int			capacity = shared->capacity;
	uint64		pos;
	int			n = 0;
	bool		blocked = false;
	bool		moved = false;
	TransactionId blocked_xid = InvalidTransactionId;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	pos = queue->tail;
	while (pos < queue->head && n < OM_NOTIFY_BATCH)
	{
		QueueEntry *entry = &queue->entries[pos % capacity];

		if (entry->state == ENTRY_PENDING)
		{
			blocked = true;
			blocked_xid = entry->xid;
			break;
		}
		if (entry->state == ENTRY_COMMITTED)
			memcpy(&batch[n++], &entry->n, sizeof(OmNotification));
		pos++;
	}
	if (n == 0 && pos != queue->tail)
	{
		queue->tail = pos;		/* only rolled-back entries: skip them */
		moved = true;
	}
	LWLockRelease(queue->lock);

	if (n > 0)
	{
		send_notifications(batch, n);
		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		queue->tail = pos;
		queue->sent += n;
		LWLockRelease(queue->lock);
		return true;
	}

	/*
	 * The oldest entry is pending.  Its backend marks it and wakes us at the
	 * end of its transaction; but if that transaction is already over, it
	 * failed between its pre-commit and the mark: ask the commit log.
	 */
	if (blocked && !TransactionIdIsInProgress(blocked_xid))
	{
		bool		committed = TransactionIdDidCommit(blocked_xid);

		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		for (; pos < queue->head; pos++)
		{
			QueueEntry *entry = &queue->entries[pos % capacity];

			if (entry->xid != blocked_xid || entry->state != ENTRY_PENDING)
				break;
			entry->state = committed ? ENTRY_COMMITTED : ENTRY_ABORTED;
		}
		LWLockRelease(queue->lock);
		return true;
	}
	return moved;
}

/* before_shmem_exit callback: the worker of queue (arg) is gone. */
static void
worker_detach(int code, Datum arg)
{
	NotifyQueue *queue = &shared->queues[DatumGetInt32(arg)];

	/* no lock: we may be exiting with it held; readers cope with either */
	queue->worker_latch = NULL;
}

/* Whether order_mgmt is installed in the current database. */
static bool
extension_installed(char **dbname)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("order_mgmt", true));
	*dbname = MemoryContextStrdup(TopMemoryContext,
								  get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	return installed;
}

/* Entry point of a worker: drain the queue of one database, forever. */
void
om_notify_worker_main(Datum main_arg)
{
	int			q = DatumGetInt32(main_arg);
	OmWorkerArgs args;
	NotifyQueue *queue;
	OmNotification *batch;
	char	   *dbname;
	bool		installed;
	TimestampTz last_prepared_check = 0;
	TimestampTz last_overflow_log = 0;
	uint64		overflows_logged = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (shared == NULL || q < 0 || q >= shared->nqueues)
		elog(FATAL, "order_mgmt notify worker %d has no queue", q);
	queue = &shared->queues[q];
	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));

	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	/* a probe: stay only where the extension is installed */
	installed = extension_installed(&dbname);
	if (!launcher_attach_notify(q, &args, installed, dbname))
		proc_exit(0);

	/*
	 * Notifications are sent when the worker's transaction commits, durable
	 * or not: there is no need to wait for its commit record to be flushed.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_activity(STATE_IDLE, NULL);

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->worker_latch = MyLatch;
	LWLockRelease(queue->lock);
	before_shmem_exit(worker_detach, Int32GetDatum(q));

	overflows_logged = pg_atomic_read_u64(&queue->overflows);
	batch = MemoryContextAlloc(TopMemoryContext,
							   OM_NOTIFY_BATCH * sizeof(OmNotification));
	ereport(LOG,
			(errmsg("order_mgmt notify worker started for database \"%s\"",
					dbname)));

	for (;;)
	{
		TimestampTz now;
		uint64		overflows;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		ResetLatch(MyLatch);

		/* now and then: finished prepared transactions, overflow report */
		now = GetCurrentTimestamp();
		if (queue->nprepared > 0 &&
			TimestampDifferenceExceeds(last_prepared_check, now,
									   OM_NOTIFY_PREPARED_CHECK_MS))
		{
			OmNotification *items;
			int			n = notify_prepared_take_finished(q, &items);

			if (n > 0)
				send_notifications(items, n);
			if (items != NULL)
				pfree(items);
			last_prepared_check = now;
		}
		overflows = pg_atomic_read_u64(&queue->overflows);
		if (overflows != overflows_logged &&
			TimestampDifferenceExceeds(last_overflow_log, now,
									   OM_NOTIFY_OVERFLOW_LOG_MS))
		{
			ereport(LOG,
					(errmsg("order_mgmt notification queue of database \"%s\" was full: "
							UINT64_FORMAT " transactions notified in-process",
							dbname, overflows - overflows_logged),
					 errhint("Raise order_mgmt.notify_queue_size.")));
			overflows_logged = overflows;
			last_overflow_log = now;
		}

		if (drain_batch(queue, batch))
			continue;

		rc = WaitLatch(MyLatch,
					   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   OM_NOTIFY_PREPARED_CHECK_MS, PG_WAIT_EXTENSION);

		/*
		 * Woken by a commit: let more commits queue up before sending, so
		 * that one transaction of ours carries many notifications.  The latch
		 * stays set meanwhile, which makes the committers' SetLatch cheap.
		 */
		if ((rc & WL_LATCH_SET) && om_notify_batch_delay > 0)
			(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 om_notify_batch_delay, PG_WAIT_EXTENSION);
	}
}

PG_FUNCTION_INFO_V1(order_mgmt_notification_queue);

/*
 * SQL function notification_queue(): the queue of the current database as
 * one row (worker_pid, capacity, depth, sent, overflows, prepared); NULLs
 * where no worker serves the database.
 */
Datum
order_mgmt_notification_queue(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6];
	uint32		generation;
	int			q = notify_queue_for_database(&generation);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));
	if (q >= 0)
	{
		NotifyQueue *queue = &shared->queues[q];
		pid_t		pid = om_shared->slots[q].notify_pid;

		LWLockAcquire(queue->lock, LW_SHARED);
		values[1] = Int32GetDatum(shared->capacity);
		values[2] = Int64GetDatum((int64) (queue->head - queue->tail));
		values[3] = Int64GetDatum((int64) queue->sent);
		values[5] = Int32GetDatum(queue->nprepared);
		LWLockRelease(queue->lock);
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&queue->overflows));
		values[0] = Int32GetDatum((int32) pid);
		memset(nulls, false, sizeof(nulls));
		nulls[0] = pid == 0;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
