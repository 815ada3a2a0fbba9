/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  The lifecycle triggers: the order rules enforced on the tables.
 *
 * The rules hold for every writer, not only for the order functions:
 *
 *	- rows enter orders, order_lines and outbox only through the order
 *	  functions and these triggers, or by COPY into the table, which is how
 *	  pg_restore brings back a dump (order_mgmt_guard_insert, a statement
 *	  trigger);
 *	- orders and their lines are never deleted or truncated, lines are
 *	  never updated, outbox events are never rewritten
 *	  (order_mgmt_forbid_change);
 *	- an UPDATE of orders may only move a CREATED order to COMPLETED or
 *	  CANCELLED, never touches an order's essentials, and gets its version
 *	  bumped and its time stamped (order_mgmt_orders_before_update);
 *	- every status change writes its event, whoever made it
 *	  (order_mgmt_orders_after_update).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "events.h"
#include "orders.h"
#include "store.h"
#include "uuid7.h"

/* columns fixed when an order is created */
static const char *const essential_columns[] = {
	"order_id", "cart_id", "customer_id", "total", "currency",
	"payment_authorization_id", "created_at", "command_digest"
};

/* columns only a status change may set, and only through this trigger */
static const char *const lifecycle_columns[] = {
	"version", "completed_at", "cancelled_at", "cancellation_reason"
};

/* The TriggerData of a call, checked to be one; elog otherwise. */
static TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "%s was not called as a trigger", name);
	return (TriggerData *) fcinfo->context;
}

/*
 * True if the top-level statement running is COPY ... FROM into rel itself,
 * as pg_restore loads a dump; an INSERT that some other COPY sets off does
 * not count.
 */
static bool
running_copy_into(Relation rel)
{
	PlannedStmt *stmt;
	CopyStmt   *copy;

	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY ||
		list_length(ActivePortal->stmts) != 1)
		return false;
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->utilityStmt == NULL || !IsA(stmt->utilityStmt, CopyStmt))
		return false;
	copy = (CopyStmt *) stmt->utilityStmt;
	return copy->is_from && copy->relation != NULL &&
		RangeVarGetRelid(copy->relation, NoLock, true) == RelationGetRelid(rel) &&
		(superuser() || pg_class_ownercheck(RelationGetRelid(rel), GetUserId()));
}

PG_FUNCTION_INFO_V1(order_mgmt_guard_insert);

/*
 * Trigger: refuse INSERT into orders, order_lines or outbox unless
 * order_mgmt itself is writing.  COPY FROM into the table itself, by its
 * owner or a superuser, is let through: it is how pg_restore reloads
 * orders with their events.
 */
Datum
order_mgmt_guard_insert(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "order_mgmt_guard_insert");

	if (!store_internal_write_active() && !running_copy_into(td->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rows cannot be inserted into order_mgmt.%s directly",
						RelationGetRelationName(td->tg_relation)),
				 errdetail("Orders, their lines and their events are written only by the order functions, "
						   "which validate each command and write its event.")));
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(order_mgmt_forbid_change);

/* Trigger: refuse a kind of change the table never accepts. */
Datum
order_mgmt_forbid_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "order_mgmt_forbid_change");
	const char *table = RelationGetRelationName(td->tg_relation);
	const char *what;
	const char *detail;

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		what = "updated";
	else if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		what = "truncated";
	else
		what = "deleted";

	if (strcmp(table, "outbox") == 0)
		detail = "An event records what happened and is never rewritten.";
	else if (strcmp(table, "order_lines") == 0)
		detail = "An order's lines are fixed when the order is created, and kept as long as the order.";
	else
		detail = "Orders are kept for seven years; cancel an order instead of deleting it.";

	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("rows of order_mgmt.%s cannot be %s", table, what),
			 errdetail_internal("%s", detail)));
	return PointerGetDatum(NULL);
}

/* Compare one column of two rows; true if the values are the same. */
static bool
column_unchanged(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc,
				 const char *name)
{
	int			attno = SPI_fnumber(desc, name);
	Form_pg_attribute attr;
	bool		oldnull,
				newnull;
	Datum		oldval,
				newval;

	if (attno <= 0)
		elog(ERROR, "order_mgmt.orders has no column \"%s\"", name);
	attr = TupleDescAttr(desc, attno - 1);
	oldval = heap_getattr(oldtup, attno, desc, &oldnull);
	newval = heap_getattr(newtup, attno, desc, &newnull);
	if (oldnull || newnull)
		return oldnull == newnull;
	if (attr->attlen == -1)
	{
		/* compare varlenas by content, whatever their storage */
		struct varlena *a = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(oldval));
		struct varlena *b = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(newval));

		return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
			memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
	}
	return datumIsEqual(oldval, newval, attr->attbyval, attr->attlen);
}

/* ereport that an UPDATE changed column of order_id, which it may not. */
static void
pg_attribute_noreturn()
report_fixed_column(HeapTuple tuple, TupleDesc desc, const char *column,
					bool essential)
{
	bool		isnull;
	pg_uuid_t  *order_id = DatumGetUUIDP(heap_getattr(tuple, SPI_fnumber(desc, "order_id"),
													  desc, &isnull));
	char		id[UUID_TEXT_LEN + 1];

	uuid_format(order_id, id);
	if (essential)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of order %s cannot be changed", column, id),
				 errdetail("An order's cart, customer, lines, total, currency, payment authorization "
						   "and creation time are fixed when it is created.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("column \"%s\" of order %s cannot be changed by itself", column, id),
			 errdetail("Version, completion and cancellation columns follow the status; "
					   "change the status to complete or cancel the order.")));
}

PG_FUNCTION_INFO_V1(order_mgmt_orders_before_update);

/*
 * Trigger (BEFORE UPDATE, each row, on orders): allow only CREATED ->
 * COMPLETED or CANCELLED, keep the essentials fixed, and stamp the
 * transition: version + 1 and the completion or cancellation time.
 */
Datum
order_mgmt_orders_before_update(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "order_mgmt_orders_before_update");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	oldtup = td->tg_trigtuple;
	HeapTuple	newtup = td->tg_newtuple;
	char	   *old_status;
	char	   *new_status;
	char	   *reason;
	bool		isnull;
	OrderEventKind kind;
	int32		old_version;
	TimestampTz now;
	int			cols[3];
	Datum		values[3];
	bool		nulls[3];
	int			i;

	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		elog(ERROR, "order_mgmt_orders_before_update must fire BEFORE UPDATE FOR EACH ROW");

	for (i = 0; i < (int) lengthof(essential_columns); i++)
		if (!column_unchanged(oldtup, newtup, desc, essential_columns[i]))
			report_fixed_column(oldtup, desc, essential_columns[i], true);

	old_status = store_text_column(oldtup, desc, "status");
	new_status = store_text_column(newtup, desc, "status");
	if (new_status == NULL || !events_kind_for_status(new_status, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid order status \"%s\"", new_status ? new_status : "NULL"),
				 errdetail("An order's status is CREATED, COMPLETED or CANCELLED.")));

	if (strcmp(old_status, new_status) == 0)
	{
		/* no transition: nothing of the lifecycle may move either */
		for (i = 0; i < (int) lengthof(lifecycle_columns); i++)
			if (!column_unchanged(oldtup, newtup, desc, lifecycle_columns[i]))
				report_fixed_column(oldtup, desc, lifecycle_columns[i], false);
		return PointerGetDatum(newtup);
	}

	if (strcmp(old_status, OM_STATUS_CREATED) != 0 ||
		strcmp(new_status, OM_STATUS_CREATED) == 0)
	{
		bool		idnull;

		orders_report_final(DatumGetUUIDP(heap_getattr(oldtup, SPI_fnumber(desc, "order_id"),
													   desc, &idnull)),
							old_status, new_status);
	}

	reason = store_text_column(newtup, desc, "cancellation_reason");
	if (strcmp(new_status, OM_STATUS_CANCELLED) == 0)
	{
		if (reason == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cancelling an order requires a cancellation reason"),
					 errdetail("Set cancellation_reason together with the status.")));
		orders_check_reason(reason);
	}
	else if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a completed order has no cancellation reason"),
				 errdetail("Column \"cancellation_reason\" is \"%s\".", reason)));

	old_version = DatumGetInt32(heap_getattr(oldtup, SPI_fnumber(desc, "version"),
											 desc, &isnull));
	/* now(), but never before the order was created (an older transaction) */
	now = Max(GetCurrentTransactionStartTimestamp(),
			  DatumGetTimestampTz(heap_getattr(oldtup, SPI_fnumber(desc, "created_at"),
											   desc, &isnull)));
	cols[0] = SPI_fnumber(desc, "version");
	values[0] = Int32GetDatum(old_version + 1);
	nulls[0] = false;
	cols[1] = SPI_fnumber(desc, "completed_at");
	values[1] = TimestampTzGetDatum(now);
	nulls[1] = strcmp(new_status, OM_STATUS_COMPLETED) != 0;
	cols[2] = SPI_fnumber(desc, "cancelled_at");
	values[2] = TimestampTzGetDatum(now);
	nulls[2] = strcmp(new_status, OM_STATUS_CANCELLED) != 0;

	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 3, cols,
													 values, nulls));
}

PG_FUNCTION_INFO_V1(order_mgmt_orders_after_update);

/* Trigger (AFTER UPDATE, each row, on orders): emit the transition's event. */
Datum
order_mgmt_orders_after_update(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "order_mgmt_orders_after_update");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	StoredOrder order;
	char	   *old_status;
	OrderEventKind kind;
	Oid			save_userid;
	int			save_sec_context;

	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		elog(ERROR, "order_mgmt_orders_after_update must fire AFTER UPDATE FOR EACH ROW");

	old_status = store_text_column(td->tg_trigtuple, desc, "status");
	store_order_from_tuple(td->tg_newtuple, desc, &order);
	if (strcmp(old_status, order.status) == 0)
		return PointerGetDatum(NULL);
	if (!events_kind_for_status(order.status, &kind) || kind == OM_EVENT_CREATED)
		elog(ERROR, "unexpected order transition from %s to %s",
			 old_status, order.status);

	/*
	 * Write the event as the table's owner: whoever may change an order's
	 * status must get its event written, without being able to write
	 * events of their own.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(td->tg_relation->rd_rel->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		events_emit(kind, &order);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	return PointerGetDatum(NULL);
}
