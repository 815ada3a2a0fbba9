/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The per-database workers and the launcher that starts them: one slot
 *	  in shared memory for every database where order_mgmt is installed.
 *
 * Layer 1 (delivery workers): calls notify_worker.c and maintenance.c, its
 * siblings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_LAUNCHER_H
#define OM_LAUNCHER_H

#include "postgres.h"

#include "storage/latch.h"
#include "storage/lwlock.h"

/* bits of OmSlot.maint_tasks: what a maintenance worker is to run */
#define OM_TASK_REFRESH 0x01	/* order_mgmt.refresh_reports() */
#define OM_TASK_PURGE	0x02	/* order_mgmt.purge_events() */

/* OmSlot.maint_failed of a maintenance worker that was turned away */
#define OM_TASKS_NOT_RUN (-1)

/*
 * One database served by workers.  The launcher claims a free slot for a
 * database (dboid) and starts its notify worker, which checks that the
 * extension is installed: if so it sets has_extension and stays, if not it
 * frees the slot.  All fields are protected by OmShared.lock, except that
 * backends may read dboid and generation without it to find their slot.
 */
typedef struct OmSlot
{
	Oid			dboid;			/* InvalidOid: the slot is free */
	uint32		generation;		/* bumped each time the slot is claimed */
	char		dbname[NAMEDATALEN];
	bool		has_extension;	/* the notify worker found order_mgmt */
	bool		release;		/* order_mgmt was dropped: free the slot */
	pid_t		paused_by;		/* a backend running a command that needs
								 * the database to itself */
	pid_t		notify_pid;		/* the notify worker, 0 if none */
	Latch	   *notify_latch;
	pid_t		maint_pid;		/* the maintenance worker running, 0 if none */
	int			maint_tasks;	/* OM_TASK_* the maintenance worker runs */
	int			maint_failed;	/* OM_TASK_* that failed in its last run, or
								 * OM_TASKS_NOT_RUN */
} OmSlot;

/* most databases a request list holds until the launcher reads it */
#define OM_MAX_REQUESTS 64

/* the slots and the launcher's mailbox, in shared memory */
typedef struct OmShared
{
	LWLock	   *lock;			/* protects all below */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	int			nrequests;		/* databases to look at, from backends */
	Oid			requests[OM_MAX_REQUESTS];
	int			nslots;
	OmSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} OmShared;

/* what the launcher hands a worker it starts (bgw_extra): its claim */
typedef struct OmWorkerArgs
{
	Oid			dboid;
	uint32		generation;
} OmWorkerArgs;

/* settings, see order_mgmt.c */
extern int	om_max_databases;

/* the shared state; NULL unless the library was preloaded */
extern OmShared *om_shared;

/* at preload: shared memory and the launcher */
extern void launcher_preload(void);

/* the slot of the current database, or -1 (its generation in *generation) */
extern int	launcher_slot_for_database(uint32 *generation);

/* set the launcher's latch */
extern void launcher_wake(void);

/*
 * A notify worker takes slot i for its claim; false if it must exit (the
 * claim is stale, another worker serves the slot, or the database has no
 * order_mgmt, in which case the slot is freed).
 */
extern bool launcher_attach_notify(int i, const OmWorkerArgs *args,
								   bool has_extension, const char *dbname);

/* a maintenance worker takes slot i: the OM_TASK_* to run, or -1 to exit */
extern int	launcher_attach_maintenance(int i, const OmWorkerArgs *args);

/* a maintenance worker reports which of its tasks failed */
extern void launcher_finish_maintenance(int i, int failed);

/* entry points of the workers (bgw_function_name) */
extern PGDLLEXPORT void om_launcher_main(Datum main_arg);

#endif							/* OM_LAUNCHER_H */
