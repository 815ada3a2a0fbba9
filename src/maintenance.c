/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  The maintenance worker: runs refresh_reports() and purge_events() in
 *	  one database and records each run (shared_preload_libraries only).
 *
 * The launcher starts a maintenance worker for a database when one of its
 * tasks is due (order_mgmt.refresh_interval, order_mgmt.purge_interval);
 * the worker runs the due tasks, each in a transaction of its own, reports
 * which failed, and exits.  While it runs, pg_stat_activity shows it with
 * backend_type "order_mgmt maintenance" and the statement it runs.
 *
 * Every run is recorded in order_mgmt.maintenance_runs (one row per task):
 * a successful run in the same transaction as the task, a failed one in a
 * new transaction after the first rolled back, with its error message.
 * The error itself goes to the server log too.  A database whose
 * extension predates a task's function (or the table) is skipped quietly.
 *
 * Layer 1 (delivery workers): calls launcher.c, its sibling.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "launcher.h"
#include "maintenance.h"

/* settings, see order_mgmt.c */
int			om_refresh_interval = 60;
int			om_purge_interval = 60;
int			om_event_retention = 3600;

/* a task: its name in maintenance_runs, its function and its statement */
typedef struct MaintenanceTask
{
	int			bit;			/* OM_TASK_* */
	const char *name;
	const char *function;		/* regprocedure text, to see if it exists */
	const char *statement;		/* $1: the retention, as an interval */
	const char *rows;			/* what counts as its rows ($1: its result) */
} MaintenanceTask;

/* purge first: it is short, and a refresh waiting on a lock would hold it up */
static const MaintenanceTask tasks[] = {
	{
		OM_TASK_PURGE, "purge_events", "order_mgmt.purge_events(interval)",
		"SELECT order_mgmt.purge_events(pg_catalog.make_interval(secs => $1))::pg_catalog.text",
		/* events deleted */
		"SELECT $1::pg_catalog.int8"
	},
	{
		OM_TASK_REFRESH, "refresh_reports", "order_mgmt.refresh_reports()",
		"SELECT order_mgmt.refresh_reports()::pg_catalog.text",
		/* rollup rows the run wrote */
		"SELECT pg_catalog.sum(pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)"
		" OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)"
		" OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid))::pg_catalog.int8"
		" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
		" WHERE n.nspname OPERATOR(pg_catalog.=) 'order_mgmt'"
		" AND c.relname OPERATOR(pg_catalog.=) ANY ('{sales_buckets,cancellation_buckets,customer_history}'::pg_catalog.name[])"
		" AND $1 IS NOT NULL"
	}
};

static const char *const record_success =
"INSERT INTO order_mgmt.maintenance_runs AS r"
" (task, runs, failures, consecutive_failures, last_started_at, last_finished_at,"
"  last_status, last_rows, last_success_at)"
" VALUES ($1, 1, 0, 0, $2, $3, 'succeeded', $4, $3)"
" ON CONFLICT (task) DO UPDATE SET"
" runs = r.runs OPERATOR(pg_catalog.+) 1, consecutive_failures = 0,"
" last_started_at = EXCLUDED.last_started_at, last_finished_at = EXCLUDED.last_finished_at,"
" last_status = EXCLUDED.last_status, last_rows = EXCLUDED.last_rows,"
" last_success_at = EXCLUDED.last_success_at";

static const char *const record_failure =
"INSERT INTO order_mgmt.maintenance_runs AS r"
" (task, runs, failures, consecutive_failures, last_started_at, last_finished_at,"
"  last_status, last_error, last_error_at)"
" VALUES ($1, 1, 1, 1, $2, $3, 'failed', $4, $3)"
" ON CONFLICT (task) DO UPDATE SET"
" runs = r.runs OPERATOR(pg_catalog.+) 1, failures = r.failures OPERATOR(pg_catalog.+) 1,"
" consecutive_failures = r.consecutive_failures OPERATOR(pg_catalog.+) 1,"
" last_started_at = EXCLUDED.last_started_at, last_finished_at = EXCLUDED.last_finished_at,"
" last_status = EXCLUDED.last_status, last_rows = NULL,"
" last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at";

/* Start a transaction with a snapshot and SPI, as a statement would. */
static void
begin_work(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* Commit what begin_work started. */
static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Whether the first column of the first row of the last SPI query is true. */
static bool
spi_true(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_processed < 1)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/* Whether object (a regprocedure or regclass text) exists. */
static bool
object_exists(const char *object, bool is_function)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(object);
	if (SPI_execute_with_args(is_function ?
							  "SELECT pg_catalog.to_regprocedure($1) IS NOT NULL" :
							  "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up %s", object);
	return spi_true();
}

/* Record a run of task, with its rows (succeeded) or error (failed). */
static void
record_run(const MaintenanceTask *task, TimestampTz started, bool succeeded,
		   int64 rows, const char *error)
{
	Oid			argtypes[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	succeeded ? INT8OID : TEXTOID};
	Datum		values[4];

	if (!object_exists("order_mgmt.maintenance_runs", false))
		return;
	values[0] = CStringGetTextDatum(task->name);
	values[1] = TimestampTzGetDatum(started);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[3] = succeeded ? Int64GetDatum(rows) : CStringGetTextDatum(error);
	if (SPI_execute_with_args(succeeded ? record_success : record_failure,
							  4, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the run of %s", task->name);
}

/* Run task and record it; false if it failed (the error is logged). */
static bool
run_task(const MaintenanceTask *task, MemoryContext work)
{
	TimestampTz started = GetCurrentTimestamp();
	ErrorData  *edata;

	MemoryContextSwitchTo(work);
	PG_TRY();
	{
		Oid			argtypes[1] = {FLOAT8OID};
		Datum		values[1];
		bool		isnull;
		int64		rows = 0;

		begin_work(task->statement);
		if (!object_exists(task->function, true))
		{
			/* an older version of the extension: nothing to do */
			end_work();
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(work);
			return true;
		}
		values[0] = Float8GetDatum((double) om_event_retention);
		if (SPI_execute_with_args(task->statement, 1, argtypes, values, NULL,
								  false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run %s", task->name);

		/* its rows, from its result */
		argtypes[0] = TEXTOID;
		values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  1, &isnull);
		if (SPI_execute_with_args(task->rows, 1, argtypes, values,
								  isnull ? "n" : NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not count the rows of %s", task->name);
		if (SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull);

			rows = isnull ? 0 : DatumGetInt64(d);
		}
		record_run(task, started, true, rows, NULL);
		end_work();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(work);
		edata = CopyErrorData();
		/* the error goes to the server log with its detail and context */
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);

		/* record the failure; if that fails too, the log has both */
		PG_TRY();
		{
			MemoryContextSwitchTo(work);
			begin_work("order_mgmt maintenance: recording a failed run");
			record_run(task, started, false, 0, edata->message);
			end_work();
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(work);
		return false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextReset(work);
	return true;
}

/* Entry point of a maintenance worker: run the due tasks, then exit. */
void
om_maintenance_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	OmWorkerArgs args;
	MemoryContext work;
	int			due;
	int			failed = 0;
	int			i;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	due = launcher_attach_maintenance(slot, &args);
	if (due < 0)
		proc_exit(0);

	/* the tasks' own settings: whatever the database or role says */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);

	work = AllocSetContextCreate(TopMemoryContext, "order_mgmt maintenance",
								 ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < (int) lengthof(tasks); i++)
		if ((due & tasks[i].bit) && !run_task(&tasks[i], work))
			failed |= tasks[i].bit;
	launcher_finish_maintenance(slot, failed);
	proc_exit(0);
}
