/*-------------------------------------------------------------------------
 *
 * worker_hooks.c
 *	  What backends tell the launcher (shared_preload_libraries only).
 *
 * The launcher probes every database at server start; after that, it
 * learns from the backends:
 *
 *	- CREATE EXTENSION order_mgmt (or any CREATE EXTENSION ... CASCADE, which
 *	  may bring it in), and CREATE DATABASE (a copy of a database that has
 *	  order_mgmt has it too): once the transaction commits, the launcher is
 *	  asked to probe the database;
 *	- DROP EXTENSION order_mgmt (directly or by a cascade): once it
 *	  commits, the database's slot is released and its workers stop;
 *	- DROP DATABASE, and the commands that copy, rename or move a database
 *	  (CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME TO / SET
 *	  TABLESPACE), which refuse to run while another session is connected
 *	  to it: before the command checks, the database's workers are told to
 *	  exit and the launcher to leave them stopped until the command's
 *	  transaction ends (PostgreSQL waits up to five seconds for the other
 *	  sessions to go).  So a database with the extension can be dropped
 *	  like any other.
 *
 * The same utility hook tells notify.c when COMMIT PREPARED or ROLLBACK
 * PREPARED has run, so that it queues the notifications they released.
 *
 * Layer 3 (hooks): backend hooks; call notify.c and launcher.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/memutils.h"

#include "launcher.h"
#include "notify.h"
#include "worker_hooks.h"

static object_access_hook_type prev_object_access_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* what the current transaction will tell the launcher when it ends */
static Oid	probe_at_commit[4];
static int	nprobe_at_commit = 0;
static bool release_at_commit = false;
static int	paused_slot = -1;
static bool paused_for_drop = false;	/* by DROP DATABASE */

/* Ask the launcher to probe dboid once the transaction commits. */
static void
probe_when_committed(Oid dboid)
{
	int			i;

	if (!OidIsValid(dboid))
		return;
	for (i = 0; i < nprobe_at_commit; i++)
		if (probe_at_commit[i] == dboid)
			return;
	if (nprobe_at_commit < (int) lengthof(probe_at_commit))
		probe_at_commit[nprobe_at_commit++] = dboid;
}

/*
 * Stop the workers of database dboid, and keep them stopped until the
 * transaction ends: a command is about to need the database to itself.
 */
static void
pause_database(Oid dboid, bool dropping)
{
	pid_t		pids[2] = {0, 0};
	int			i;

	if (om_shared == NULL || !OidIsValid(dboid) || paused_slot >= 0)
		return;
	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < om_shared->nslots; i++)
	{
		OmSlot	   *slot = &om_shared->slots[i];

		if (slot->dboid != dboid)
			continue;
		slot->paused_by = MyProcPid;
		pids[0] = slot->notify_pid;
		pids[1] = slot->maint_pid;
		paused_slot = i;
		paused_for_drop = dropping;
		break;
	}
	LWLockRelease(om_shared->lock);
	for (i = 0; i < 2; i++)
		if (pids[i] != 0)
			kill(pids[i], SIGTERM);
}

/*
 * Let the launcher start the paused workers again; or, when the database
 * was dropped (committed), have it free the slot.
 */
static void
resume_database(bool committed)
{
	OmSlot	   *slot;

	if (paused_slot < 0)
		return;
	slot = &om_shared->slots[paused_slot];
	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	if (slot->paused_by == MyProcPid)
	{
		slot->paused_by = 0;
		if (committed && paused_for_drop)
			slot->release = true;
	}
	LWLockRelease(om_shared->lock);
	paused_slot = -1;
	paused_for_drop = false;
}

/* Release the slot of the current database: order_mgmt was dropped. */
static void
release_database(void)
{
	pid_t		pids[2] = {0, 0};
	int			i;

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < om_shared->nslots; i++)
	{
		OmSlot	   *slot = &om_shared->slots[i];

		if (slot->dboid != MyDatabaseId)
			continue;
		slot->release = true;
		pids[0] = slot->notify_pid;
		pids[1] = slot->maint_pid;
	}
	LWLockRelease(om_shared->lock);
	for (i = 0; i < 2; i++)
		if (pids[i] != 0)
			kill(pids[i], SIGTERM);
}

/* Hand the launcher the probe requests of a committed transaction. */
static void
send_probe_requests(void)
{
	int			i;

	LWLockAcquire(om_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < nprobe_at_commit; i++)
		if (om_shared->nrequests < OM_MAX_REQUESTS)
			om_shared->requests[om_shared->nrequests++] = probe_at_commit[i];
	LWLockRelease(om_shared->lock);
}

/* Transaction callback: tell the launcher what the transaction did. */
static void
worker_xact_callback(XactEvent event, void *arg)
{
	bool		wake = false;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (nprobe_at_commit > 0)
				send_probe_requests();
			if (release_at_commit)
				release_database();
			wake = nprobe_at_commit > 0 || release_at_commit || paused_slot >= 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			wake = paused_slot >= 0;
			break;
		default:
			return;
	}
	resume_database(event == XACT_EVENT_COMMIT);
	nprobe_at_commit = 0;
	release_at_commit = false;
	if (wake)
		launcher_wake();
}

/*
 * Object access hook: DROP DATABASE stops the database's workers before
 * PostgreSQL counts its sessions; dropping order_mgmt releases the slot.
 */
static void
worker_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access != OAT_DROP)
		return;
	if (classId == DatabaseRelationId)
		pause_database(objectId, true);
	else if (classId == ExtensionRelationId)
	{
		char	   *name = get_extension_name(objectId);

		if (name != NULL && strcmp(name, "order_mgmt") == 0)
			release_at_commit = true;
	}
}

/* The database a DefElem option list names as "template", or InvalidOid. */
static Oid
template_of(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
			return get_database_oid(defGetString(def), true);
	}
	return InvalidOid;
}

/*
 * Whether CREATE EXTENSION may have installed order_mgmt: it names it, or
 * CASCADE may have brought it in as a requirement.
 */
static bool
creates_order_mgmt(CreateExtensionStmt *stmt)
{
	ListCell   *lc;

	if (strcmp(stmt->extname, "order_mgmt") == 0)
		return true;
	foreach(lc, stmt->options)
		if (strcmp(lfirst_node(DefElem, lc)->defname, "cascade") == 0)
			return true;
	return false;
}

/* Whether a DefElem option list sets "tablespace". */
static bool
sets_tablespace(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
		if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
			return true;
	return false;
}

/*
 * ProcessUtility hook: pause the workers of a database a command is about
 * to copy, rename or move; ask for a probe after CREATE EXTENSION and
 * CREATE DATABASE; hand the queue what COMMIT PREPARED released (notify.c).
 */
static void
worker_process_utility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, CreatedbStmt))
	{
		Oid			template = template_of(((CreatedbStmt *) parsetree)->options);

		pause_database(template, false);
	}
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		pause_database(get_database_oid(((RenameStmt *) parsetree)->subname, true),
					   false);
	else if (IsA(parsetree, AlterDatabaseStmt) &&
			 sets_tablespace(((AlterDatabaseStmt *) parsetree)->options))
		pause_database(get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true),
					   false);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (IsA(parsetree, TransactionStmt) &&
		(((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED ||
		 ((TransactionStmt *) parsetree)->kind == TRANS_STMT_ROLLBACK_PREPARED))
		notify_finished_prepared();
	else if (IsA(parsetree, CreateExtensionStmt) &&
			 creates_order_mgmt((CreateExtensionStmt *) parsetree))
		probe_when_committed(MyDatabaseId);
	else if (IsA(parsetree, CreatedbStmt))
		probe_when_committed(get_database_oid(((CreatedbStmt *) parsetree)->dbname, true));
}

/* At preload: the object access and utility hooks, the commit callback. */
void
worker_hooks_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = worker_object_access;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = worker_process_utility;
	RegisterXactCallback(worker_xact_callback, NULL);
}
