/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: finds the databases where order_mgmt is installed and
 *	  keeps their workers running (shared_preload_libraries only).
 *
 * Each database with the extension gets a slot in shared memory, a notify
 * worker that sends its notifications (notify_worker.c), and, on the
 * schedules of order_mgmt.refresh_interval and order_mgmt.purge_interval,
 * a short-lived maintenance worker that runs refresh_reports() and
 * purge_events() (maintenance.c).
 *
 * The launcher is a static background worker connected to no database.
 * It cannot see another database's pg_extension, so it probes: at server
 * start, for every database that accepts connections and is not a
 * template, and later for every database a backend names (after CREATE
 * EXTENSION or CREATE DATABASE commits, worker_hooks.c), it claims a free
 * slot and starts that database's notify worker, which looks for the
 * extension and frees the slot again if it is not there.  One probe runs
 * at a time.
 *
 * The workers are dynamic and never restarted by the postmaster: the
 * launcher restarts a notify worker a second after it exits, unless its
 * slot is paused (a backend runs DROP DATABASE or another command that
 * needs the database to itself) or released (the extension was dropped),
 * and frees the slot of a database that no longer exists.  A maintenance
 * run that fails is retried with back-off: after n failures in a row, the
 * next try waits the interval times 2^n, at most an hour.
 *
 * Layer 1 (delivery workers): calls notify_worker.c and maintenance.c, its
 * siblings.  The backend hooks that ask it for probes (worker_hooks.c, a
 * layer above) are installed by the module setup, not from here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "launcher.h"
#include "maintenance.h"
#include "notify_worker.h"

/* ms between a notify worker's exit and its restart */
#define OM_RESTART_DELAY_MS 1000

/* longest the launcher sleeps when nothing wakes it */
#define OM_LAUNCHER_NAP_MS 1000

/* longest back-off of a failing maintenance task */
#define OM_MAX_BACKOFF_MS (3600 * 1000)

#define OM_LAUNCHER_TRANCHE "order_mgmt_launcher"

/* settings, see order_mgmt.c */
int			om_max_databases = 4;

OmShared   *om_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* what the launcher keeps about each slot, in its own memory */
typedef struct SlotState
{
	BackgroundWorkerHandle *notify;		/* NULL: none started by us */
	BackgroundWorkerHandle *maint;
	TimestampTz notify_stopped_at;	/* when its notify worker went away */
	TimestampTz next_run[2];	/* per task: when it is next due */
	int			failures[2];	/* per task: failed runs in a row */
	int			running_tasks;	/* OM_TASK_* of the maintenance worker */
	bool		warned_maint_start;
} SlotState;

static SlotState *slot_state = NULL;
static List *to_probe = NIL;	/* databases to probe, oldest first */
static int	probing = -1;		/* slot of the probe under way */
static List *no_slot = NIL;		/* databases that waited for a free slot */

/* Bytes of shared memory the slots take. */
static Size
launcher_shmem_size(void)
{
	return add_size(offsetof(OmShared, slots),
					mul_size(om_max_databases, sizeof(OmSlot)));
}

/* shmem_request_hook: the slots, their lock and the notification queues. */
static void
launcher_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(launcher_shmem_size());
	RequestNamedLWLockTranche(OM_LAUNCHER_TRANCHE, 1);
	notify_queue_shmem_request(om_max_databases);
}

/* shmem_startup_hook: create (or attach to) the slots and the queues. */
static void
launcher_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	om_shared = ShmemInitStruct("order_mgmt workers", launcher_shmem_size(),
								&found);
	if (!found)
	{
		memset(om_shared, 0, launcher_shmem_size());
		om_shared->lock = &(GetNamedLWLockTranche(OM_LAUNCHER_TRANCHE))->lock;
		om_shared->nslots = om_max_databases;
	}
	notify_queue_shmem_init(om_max_databases);
	LWLockRelease(AddinShmemInitLock);
}

/* At preload: shared memory and the launcher. */
void
launcher_preload(void)
{
	BackgroundWorker worker;

	if (om_max_databases == 0)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = launcher_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = launcher_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "order_mgmt", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "om_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "order_mgmt launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "order_mgmt launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * The slot of the current database, or -1.  Reads without the lock: a
 * caller that uses the slot checks it again, with *generation, under the
 * queue's lock.
 */
int
launcher_slot_for_database(uint32 *generation)
{
	int			i;

	if (om_shared == NULL)
		return -1;
	for (i = 0; i < om_shared->nslots; i++)
	{
		OmSlot	   *slot = &om_shared->slots[i];

		if (slot->dboid == MyDatabaseId && slot->has_extension &&
			!slot->release)
		{
			*generation = slot->generation;
			pg_read_barrier();
			if (slot->dboid == MyDatabaseId)
				return i;
		}
	}
	return -1;
}

/* Set the launcher's latch. */
void
launcher_wake(void)
{
	Latch	   *latch;

	if (om_shared == NULL)
		return;
	LWLockAcquire(om_shared->lock, LW_SHARED);
	latch = om_shared->launcher_latch;
	LWLockRelease(om_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* before_shmem_exit callback: the notify worker of slot (arg) is gone. */
static void
notify_detach(int code, Datum arg)
{
	OmSlot	   *slot = &om_shared->slots[DatumGetInt32(arg)];

	/* no lock: we may be exiting with it held; readers cope with either */
	if (slot->notify_pid == MyProcPid)
	{
		slot->notify_latch = NULL;
		pg_memory_barrier();
		slot->notify_pid = 0;
	}
	launcher_wake();
}

/*
 * A notify worker takes slot i for its claim (args); false if it must exit:
 * the claim is stale, another live worker serves the slot, or the database
 * has no order_mgmt (then the slot is freed, and the launcher sees it).
 */
bool
launcher_attach_notify(int i, const OmWorkerArgs *args, bool has_extension,
					   const char *dbname)
{
	OmSlot	   *slot;
	bool		ok = false;

	if (om_shared == NULL || i < 0 || i >= om_shared->nslots)
		return false;
	slot = &om_shared->slots[i];
	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	if (slot->dboid != args->dboid || slot->generation != args->generation ||
		slot->release || slot->paused_by != 0)
		ok = false;
	else if (slot->notify_pid != 0 && slot->notify_pid != MyProcPid &&
			 BackendPidGetProc(slot->notify_pid) != NULL)
		ok = false;
	else if (!has_extension)
	{
		slot->dboid = InvalidOid;
		slot->has_extension = false;
		ok = false;
	}
	else
	{
		slot->has_extension = true;
		strlcpy(slot->dbname, dbname, NAMEDATALEN);
		slot->notify_pid = MyProcPid;
		slot->notify_latch = MyLatch;
		ok = true;
	}
	LWLockRelease(om_shared->lock);
	if (ok)
		before_shmem_exit(notify_detach, Int32GetDatum(i));
	launcher_wake();
	return ok;
}

/* before_shmem_exit callback: the maintenance worker of slot (arg) is gone. */
static void
maintenance_detach(int code, Datum arg)
{
	OmSlot	   *slot = &om_shared->slots[DatumGetInt32(arg)];

	if (slot->maint_pid == MyProcPid)
		slot->maint_pid = 0;
	launcher_wake();
}

/* A maintenance worker takes slot i: the OM_TASK_* to run, or -1 to exit. */
int
launcher_attach_maintenance(int i, const OmWorkerArgs *args)
{
	OmSlot	   *slot;
	int			tasks = -1;

	if (om_shared == NULL || i < 0 || i >= om_shared->nslots)
		return -1;
	slot = &om_shared->slots[i];
	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	if (slot->dboid == args->dboid && slot->generation == args->generation &&
		slot->has_extension && !slot->release && slot->paused_by == 0 &&
		slot->maint_pid == 0)
	{
		slot->maint_pid = MyProcPid;
		/* failed until it reports otherwise: a crash counts as a failure */
		slot->maint_failed = slot->maint_tasks;
		tasks = slot->maint_tasks;
	}
	else if (slot->dboid == args->dboid && slot->generation == args->generation)
		slot->maint_failed = OM_TASKS_NOT_RUN;	/* paused, say: try again */
	LWLockRelease(om_shared->lock);
	if (tasks >= 0)
		before_shmem_exit(maintenance_detach, Int32GetDatum(i));
	return tasks;
}

/* A maintenance worker reports which of its tasks failed. */
void
launcher_finish_maintenance(int i, int failed)
{
	OmSlot	   *slot = &om_shared->slots[i];

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	if (slot->maint_pid == MyProcPid)
		slot->maint_failed = failed;
	LWLockRelease(om_shared->lock);
}

/* before_shmem_exit callback: the launcher is gone. */
static void
launcher_detach(int code, Datum arg)
{
	om_shared->launcher_latch = NULL;
	pg_memory_barrier();
	om_shared->launcher_pid = 0;
}

/*
 * The databases that accept connections and are not templates; or, with
 * only, whether that one database exists (a list of it alone, or NIL).
 */
static List *
list_databases(Oid only)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext caller = CurrentMemoryContext;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (OidIsValid(only) ? db->oid != only :
			(!db->datallowconn || db->datistemplate))
			continue;
		old = MemoryContextSwitchTo(caller);
		result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	return result;
}

/* Whether database dboid still exists. */
static bool
database_exists(Oid dboid)
{
	List	   *found = list_databases(dboid);
	bool		exists = found != NIL;

	list_free(found);
	return exists;
}

/* Free slot i: no database, an empty queue. */
static void
free_slot(int i)
{
	OmSlot	   *slot = &om_shared->slots[i];

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	slot->dboid = InvalidOid;
	slot->has_extension = false;
	slot->release = false;
	slot->paused_by = 0;
	slot->maint_tasks = 0;
	slot->maint_failed = 0;
	LWLockRelease(om_shared->lock);
	notify_queue_reset(i);
	if (slot_state[i].notify)
		pfree(slot_state[i].notify);
	if (slot_state[i].maint)
		pfree(slot_state[i].maint);
	memset(&slot_state[i], 0, sizeof(SlotState));
	if (probing == i)
		probing = -1;

	/* the databases that found no free slot may have one now */
	to_probe = list_concat_unique_oid(to_probe, no_slot);
}

/*
 * Start a worker of kind (notify or maintenance) for slot i; false if the
 * postmaster has no room for another background worker.
 */
static bool
start_worker(int i, bool notify, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;
	OmSlot	   *slot = &om_shared->slots[i];
	OmWorkerArgs args;
	Oid			dboid = slot->dboid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_notify_pid = MyProcPid;
	worker.bgw_main_arg = Int32GetDatum(i);
	args.dboid = dboid;
	args.generation = slot->generation;
	memcpy(worker.bgw_extra, &args, sizeof(args));
	strlcpy(worker.bgw_library_name, "order_mgmt", BGW_MAXLEN);
	if (notify)
	{
		strlcpy(worker.bgw_function_name, "om_notify_worker_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN,
				 "order_mgmt notify worker for database %u", dboid);
		strlcpy(worker.bgw_type, "order_mgmt notify worker", BGW_MAXLEN);
	}
	else
	{
		strlcpy(worker.bgw_function_name, "om_maintenance_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN,
				 "order_mgmt maintenance for database %u", dboid);
		strlcpy(worker.bgw_type, "order_mgmt maintenance", BGW_MAXLEN);
	}
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/* Whether the worker behind *handle has stopped (forgetting the handle). */
static bool
worker_stopped(BackgroundWorkerHandle **handle)
{
	pid_t		pid;

	if (*handle == NULL)
		return true;
	if (GetBackgroundWorkerPid(*handle, &pid) != BGWH_STOPPED)
		return false;
	pfree(*handle);
	*handle = NULL;
	return true;
}

/* Take the databases backends asked about into to_probe. */
static void
take_requests(void)
{
	Oid			requests[OM_MAX_REQUESTS];
	int			n;
	int			i;

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	n = om_shared->nrequests;
	memcpy(requests, om_shared->requests, n * sizeof(Oid));
	om_shared->nrequests = 0;
	LWLockRelease(om_shared->lock);
	for (i = 0; i < n; i++)
		to_probe = list_append_unique_oid(to_probe, requests[i]);
}

/* The slot that serves database dboid, or -1. */
static int
slot_of(Oid dboid)
{
	int			i;

	for (i = 0; i < om_shared->nslots; i++)
		if (om_shared->slots[i].dboid == dboid)
			return i;
	return -1;
}

/* Start the next probe, if none runs and a database waits for one. */
static void
start_probe(void)
{
	while (probing < 0 && to_probe != NIL)
	{
		Oid			dboid = linitial_oid(to_probe);
		int			i;

		i = slot_of(dboid);
		if (i >= 0 && (om_shared->slots[i].release ||
					   !om_shared->slots[i].has_extension))
			return;				/* being released or probed: look again after */
		to_probe = list_delete_first(to_probe);
		if (i >= 0)
			continue;			/* served already */
		i = slot_of(InvalidOid);
		if (i < 0)
		{
			if (!list_member_oid(no_slot, dboid))
			{
				ereport(LOG,
						(errmsg("order_mgmt has no free worker slot for database %u", dboid),
						 errdetail("All %d slots of order_mgmt.max_databases are in use. If order_mgmt is installed there, its notifications are sent in-process and its maintenance does not run.",
								   om_shared->nslots),
						 errhint("Raise order_mgmt.max_databases and restart the server.")));
				no_slot = lappend_oid(no_slot, dboid);
			}
			continue;
		}
		LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
		om_shared->slots[i].dboid = dboid;
		om_shared->slots[i].generation++;
		om_shared->slots[i].has_extension = false;
		om_shared->slots[i].release = false;
		om_shared->slots[i].paused_by = 0;
		om_shared->slots[i].dbname[0] = '\0';
		LWLockRelease(om_shared->lock);
		notify_queue_reset(i);
		if (slot_state[i].notify)
			pfree(slot_state[i].notify);
		memset(&slot_state[i], 0, sizeof(SlotState));
		if (!start_worker(i, true, &slot_state[i].notify))
		{
			/* no room for a worker now: try again later */
			free_slot(i);
			to_probe = lappend_oid(to_probe, dboid);
			return;
		}
		probing = i;
		no_slot = list_delete_oid(no_slot, dboid);
	}
}

/* How long a task waits after n failed runs in a row (ms). */
static long
backoff_ms(int interval_s, int failures)
{
	int64		delay = (int64) interval_s * 1000;

	delay <<= Min(failures, 12);
	return (long) Min(delay, OM_MAX_BACKOFF_MS);
}

/* The interval of task (seconds; 0: off). */
static int
task_interval(int task)
{
	return task == 0 ? om_refresh_interval : om_purge_interval;
}

/*
 * Schedule and start the maintenance of slot i; a finished run sets when
 * each of its tasks is due next.  Returns ms until something is due.
 */
static long
run_maintenance(int i, TimestampTz now)
{
	OmSlot	   *slot = &om_shared->slots[i];
	SlotState  *state = &slot_state[i];
	long		wait_ms = OM_LAUNCHER_NAP_MS;
	int			due = 0;
	int			task;

	/* a run under way: wait for it (after our restart we have no handle) */
	if (state->maint != NULL && !worker_stopped(&state->maint))
		return wait_ms;
	if (state->maint == NULL && slot->maint_pid != 0)
		return wait_ms;

	if (state->running_tasks != 0)
	{
		int			failed;

		LWLockAcquire(om_shared->lock, LW_SHARED);
		failed = slot->maint_failed;
		LWLockRelease(om_shared->lock);
		for (task = 0; task < 2 && failed != OM_TASKS_NOT_RUN; task++)
		{
			int			bit = 1 << task;

			if (!(state->running_tasks & bit))
				continue;
			if (failed & bit)
				state->failures[task]++;
			else
				state->failures[task] = 0;
			state->next_run[task] =
				TimestampTzPlusMilliseconds(now,
											backoff_ms(task_interval(task),
													   state->failures[task]));
		}
		state->running_tasks = 0;
	}

	for (task = 0; task < 2; task++)
	{
		int			interval = task_interval(task);
		long		secs;
		int			usecs;

		if (interval <= 0)
			continue;
		if (state->next_run[task] == 0)
			state->next_run[task] = now;	/* first run: right away */
		else if (state->failures[task] == 0 &&
				 state->next_run[task] >
				 TimestampTzPlusMilliseconds(now, (int64) interval * 1000))
			state->next_run[task] =
				TimestampTzPlusMilliseconds(now, (int64) interval * 1000);
		if (state->next_run[task] <= now)
			due |= 1 << task;
		else
		{
			TimestampDifference(now, state->next_run[task], &secs, &usecs);
			wait_ms = Min(wait_ms, secs * 1000 + usecs / 1000 + 1);
		}
	}
	if (due == 0)
		return wait_ms;

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	slot->maint_tasks = due;
	slot->maint_failed = due;	/* until the worker says otherwise */
	LWLockRelease(om_shared->lock);
	if (start_worker(i, false, &state->maint))
	{
		state->running_tasks = due;
		state->warned_maint_start = false;
	}
	else
	{
		if (!state->warned_maint_start)
			ereport(LOG,
					(errmsg("order_mgmt could not start a maintenance worker for database %u", slot->dboid),
					 errhint("Raise max_worker_processes.")));
		state->warned_maint_start = true;
		for (task = 0; task < 2; task++)
			if (due & (1 << task))
				state->next_run[task] =
					TimestampTzPlusMilliseconds(now, (int64) task_interval(task) * 1000);
	}
	return wait_ms;
}

/*
 * Look after slot i: the end of a probe, a released or paused slot, a
 * notify worker to restart, the maintenance.  Returns ms until it needs
 * looking at again.
 */
static long
look_after_slot(int i, TimestampTz now)
{
	OmSlot	   *slot = &om_shared->slots[i];
	SlotState  *state = &slot_state[i];
	OmSlot		copy;
	bool		notify_gone;

	LWLockAcquire(om_shared->lock, LW_SHARED);
	copy = *slot;
	LWLockRelease(om_shared->lock);
	if (!OidIsValid(copy.dboid))
	{
		/* a probe that found no extension freed it */
		(void) worker_stopped(&state->notify);
		if (probing == i)
			probing = -1;
		return OM_LAUNCHER_NAP_MS;
	}

	notify_gone = worker_stopped(&state->notify) && copy.notify_pid == 0;
	if (notify_gone && state->notify_stopped_at == 0)
		state->notify_stopped_at = now;

	/* a probe ends when its worker found the extension or went away */
	if (probing == i && (copy.has_extension || notify_gone))
		probing = -1;
	if (!copy.has_extension)
	{
		/* the worker exited before deciding (no such database, say) */
		if (notify_gone)
			free_slot(i);
		return OM_LAUNCHER_NAP_MS;
	}

	if (copy.paused_by != 0)
	{
		if (BackendPidGetProc(copy.paused_by) != NULL)
			return OM_LAUNCHER_NAP_MS;
		LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
		if (slot->paused_by == copy.paused_by)
			slot->paused_by = 0;
		LWLockRelease(om_shared->lock);
	}

	if (copy.release)
	{
		if (copy.notify_pid != 0)
			kill(copy.notify_pid, SIGTERM);
		if (copy.maint_pid != 0)
			kill(copy.maint_pid, SIGTERM);
		if (notify_gone && copy.maint_pid == 0 &&
			(state->maint == NULL || worker_stopped(&state->maint)))
			free_slot(i);
		return OM_LAUNCHER_NAP_MS;
	}

	if (notify_gone)
	{
		if (!TimestampDifferenceExceeds(state->notify_stopped_at, now,
										OM_RESTART_DELAY_MS))
			return OM_RESTART_DELAY_MS;
		if (!database_exists(copy.dboid))
		{
			free_slot(i);
			return OM_LAUNCHER_NAP_MS;
		}
		if (start_worker(i, true, &state->notify))
			state->notify_stopped_at = 0;
		else
			state->notify_stopped_at = now;
	}

	return run_maintenance(i, now);
}

/* Entry point of the launcher: keep every database's workers running. */
void
om_launcher_main(Datum main_arg)
{
	int			i;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* shared catalogs only: pg_database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_activity(STATE_IDLE, NULL);

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	om_shared->launcher_pid = MyProcPid;
	om_shared->launcher_latch = MyLatch;
	LWLockRelease(om_shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	slot_state = MemoryContextAllocZero(TopMemoryContext,
										om_shared->nslots * sizeof(SlotState));

	/* every database may have the extension: probe them all */
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		to_probe = list_databases(InvalidOid);
		MemoryContextSwitchTo(old);
	}
	ereport(LOG,
			(errmsg("order_mgmt launcher started, looking at %d databases",
					list_length(to_probe))));

	for (;;)
	{
		TimestampTz now;
		long		wait_ms = OM_LAUNCHER_NAP_MS;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		ResetLatch(MyLatch);

		old = MemoryContextSwitchTo(TopMemoryContext);
		take_requests();
		now = GetCurrentTimestamp();
		for (i = 0; i < om_shared->nslots; i++)
			wait_ms = Min(wait_ms, look_after_slot(i, now));
		start_probe();
		MemoryContextSwitchTo(old);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait_ms, 10), PG_WAIT_EXTENSION);
	}
}
