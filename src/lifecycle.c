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
 *	- the partition assignment is written only by assign_partitions(), or
 *	  by COPY in a restore (order_mgmt_partition_assignment_guard);
 *	- an UPDATE of orders may only move a CREATED order to COMPLETED or
 *	  CANCELLED, never touches an order's essentials, and gets its version
 *	  bumped and its time stamped (order_mgmt_orders_before_update);
 *	- every status change writes its event, whoever made it
 *	  (order_mgmt_orders_after_update).
 *
 * cancel_order and complete_order make their change without the executor
 * when the orders table is as the extension made it (lifecycle_transition,
 * with direct_write.c): they find the order, check it is CREATED (and at
 * the expected version), form the row the UPDATE and the BEFORE trigger
 * would make, replace it, and write the event as the AFTER trigger would.
 * The row, its index entries, the event and the errors are the same; an
 * UPDATE trigger, rule or policy someone adds sends the change through the
 * SQL UPDATE and these triggers instead.
 *
 * Layer 3 (rules): calls events.c, store.c, direct_write.c, partition.c and
 * order_schema.c, never the order functions above it (orders.c calls the
 * checks and messages here).  The triggers find the columns they read by
 * the attribute numbers om_attnums caches per relation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "parser/parse_func.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "direct_write.h"
#include "events.h"
#include "lifecycle.h"
#include "order_schema.h"
#include "partition.h"
#include "store.h"
#include "uuid7.h"

/* The words used in messages about moving an order into status. */
const char *
lifecycle_verb(const char *new_status)
{
	if (strcmp(new_status, OM_STATUS_CANCELLED) == 0)
		return "cancelled";
	if (strcmp(new_status, OM_STATUS_COMPLETED) == 0)
		return "completed";
	return "moved back to CREATED";
}

/* ereport that order_id, being in status, cannot move to new_status. */
void
lifecycle_report_final(const pg_uuid_t *order_id, const char *status,
					   const char *new_status)
{
	char		id[UUID_TEXT_LEN + 1];

	uuid_format(order_id, id);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("order %s cannot be %s because it is %s",
					id, lifecycle_verb(new_status), status),
			 errdetail("Only a CREATED order can be completed or cancelled; "
					   "COMPLETED and CANCELLED are final.")));
}

/* ereport unless reason is one of the contract's cancellation reasons. */
void
lifecycle_check_reason(const char *reason)
{
	if (!om_is_cancellation_reason(reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cancellation reason \"%s\"", reason),
				 errdetail("A reason is one of %s.",
						   om_join_names(om_cancellation_reasons,
										 om_ncancellation_reasons, " and "))));
}

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

PG_FUNCTION_INFO_V1(order_mgmt_partition_assignment_guard);

/*
 * Trigger on order_mgmt.partition_assignment: only assign_partitions()
 * writes it, since it tells every backend; COPY FROM by the owner (a
 * restore) is let through and tells them too.
 */
Datum
order_mgmt_partition_assignment_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "order_mgmt_partition_assignment_guard");

	if (partition_assignment_writing())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && running_copy_into(td->tg_relation))
	{
		CacheInvalidateRelcache(td->tg_relation);
		return PointerGetDatum(NULL);
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("rows of order_mgmt.%s are written only by assign_partitions()",
					RelationGetRelationName(td->tg_relation)),
			 errhint("Call order_mgmt.assign_partitions(partition_count, partitions).")));
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
				 AttrNumber attno)
{
	Form_pg_attribute attr;
	bool		oldnull,
				newnull;
	Datum		oldval,
				newval;

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

/* The text column attnum of tuple as a C string, or NULL. */
static char *
tuple_text(HeapTuple tuple, TupleDesc desc, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* ereport that an UPDATE changed column of the order, which it may not. */
static void
pg_attribute_noreturn()
report_fixed_column(HeapTuple tuple, TupleDesc desc, AttrNumber order_id_attnum,
					const char *column, bool essential)
{
	bool		isnull;
	pg_uuid_t  *order_id = DatumGetUUIDP(heap_getattr(tuple, order_id_attnum,
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

/* When a transition happens: now(), but never before the order was created. */
static TimestampTz
transition_time(TimestampTz created_at)
{
	/* (an older transaction may complete an order created after it began) */
	return Max(GetCurrentTransactionStartTimestamp(), created_at);
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
	const OmTable *orders = &om_tables[OM_TABLE_ORDERS];
	AttrNumber	id_attnum;
	AttrNumber	status_attnum;
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

	id_attnum = om_attnum(OM_TABLE_ORDERS, td->tg_relation, Anum_orders_order_id);
	for (i = 0; i < orders->ncolumns; i++)
		if ((orders->columns[i].flags & OM_COL_ESSENTIAL) &&
			!column_unchanged(oldtup, newtup, desc,
							  om_attnum(OM_TABLE_ORDERS, td->tg_relation, i + 1)))
			report_fixed_column(oldtup, desc, id_attnum, orders->columns[i].name, true);

	status_attnum = om_attnum(OM_TABLE_ORDERS, td->tg_relation, Anum_orders_status);
	old_status = tuple_text(oldtup, desc, status_attnum);
	new_status = tuple_text(newtup, desc, status_attnum);
	if (new_status == NULL || !om_event_kind_for_status(new_status, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid order status \"%s\"", new_status ? new_status : "NULL"),
				 errdetail("An order's status is %s.",
						   om_join_names(om_statuses, om_nstatuses, " or "))));

	if (strcmp(old_status, new_status) == 0)
	{
		/* no transition: nothing of the lifecycle may move either */
		for (i = 0; i < orders->ncolumns; i++)
			if ((orders->columns[i].flags & OM_COL_LIFECYCLE) &&
				!column_unchanged(oldtup, newtup, desc,
								  om_attnum(OM_TABLE_ORDERS, td->tg_relation, i + 1)))
				report_fixed_column(oldtup, desc, id_attnum, orders->columns[i].name,
									false);
		return PointerGetDatum(newtup);
	}

	if (strcmp(old_status, OM_STATUS_CREATED) != 0 ||
		strcmp(new_status, OM_STATUS_CREATED) == 0)
	{
		bool		idnull;

		lifecycle_report_final(DatumGetUUIDP(heap_getattr(oldtup, id_attnum, desc, &idnull)),
							   old_status, new_status);
	}

	reason = tuple_text(newtup, desc,
						om_attnum(OM_TABLE_ORDERS, td->tg_relation,
								  Anum_orders_cancellation_reason));
	if (strcmp(new_status, OM_STATUS_CANCELLED) == 0)
	{
		if (reason == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cancelling an order requires a cancellation reason"),
					 errdetail("Set cancellation_reason together with the status.")));
		lifecycle_check_reason(reason);
	}
	else if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a completed order has no cancellation reason"),
				 errdetail("Column \"cancellation_reason\" is \"%s\".", reason)));

	cols[0] = om_attnum(OM_TABLE_ORDERS, td->tg_relation, Anum_orders_version);
	old_version = DatumGetInt32(heap_getattr(oldtup, cols[0], desc, &isnull));
	now = transition_time(DatumGetTimestampTz(heap_getattr(oldtup,
														   om_attnum(OM_TABLE_ORDERS, td->tg_relation,
																	 Anum_orders_created_at),
														   desc, &isnull)));
	values[0] = Int32GetDatum(old_version + 1);
	nulls[0] = false;
	cols[1] = om_attnum(OM_TABLE_ORDERS, td->tg_relation, Anum_orders_completed_at);
	values[1] = TimestampTzGetDatum(now);
	nulls[1] = strcmp(new_status, OM_STATUS_COMPLETED) != 0;
	cols[2] = om_attnum(OM_TABLE_ORDERS, td->tg_relation, Anum_orders_cancelled_at);
	values[2] = TimestampTzGetDatum(now);
	nulls[2] = strcmp(new_status, OM_STATUS_CANCELLED) != 0;

	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 3, cols,
													 values, nulls));
}

/*
 * Write the event of a transition of order as the owner of the orders
 * table: whoever may change an order's status must get its event written,
 * without being able to write events of their own.
 */
static void
emit_as_owner(Relation orders, OrderEventKind kind, const StoredOrder *order)
{
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(orders->rd_rel->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		events_emit(kind, order);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
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
	Datum	   *values;
	bool	   *isnull;

	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		elog(ERROR, "order_mgmt_orders_after_update must fire AFTER UPDATE FOR EACH ROW");

	old_status = tuple_text(td->tg_trigtuple, desc,
							om_attnum(OM_TABLE_ORDERS, td->tg_relation, Anum_orders_status));
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(td->tg_newtuple, desc, values, isnull);
	om_order_from_values(values, isnull, om_attnums(OM_TABLE_ORDERS, td->tg_relation),
						 &order);
	if (strcmp(old_status, order.status) == 0)
		return PointerGetDatum(NULL);
	if (!om_event_kind_for_status(order.status, &kind) || kind == OM_EVENT_CREATED)
		elog(ERROR, "unexpected order transition from %s to %s",
			 old_status, order.status);

	emit_as_owner(td->tg_relation, kind, &order);
	return PointerGetDatum(NULL);
}

/* The OID of function order_mgmt.name(), taking no argument, or InvalidOid. */
static Oid
lifecycle_function(const char *name)
{
	return LookupFuncName(list_make2(makeString(OM_SCHEMA), makeString(pstrdup(name))),
						  0, NULL, true);
}

/* True if qual is the AFTER trigger's WHEN (OLD.status <> NEW.status). */
static bool
is_status_changed(const char *qual, AttrNumber status)
{
	Node	   *node;
	OpExpr	   *op;
	Var		   *left;
	Var		   *right;

	if (qual == NULL)
		return false;
	node = stringToNode(qual);
	if (!IsA(node, OpExpr))
		return false;
	op = (OpExpr *) node;
	if (get_opcode(op->opno) != F_TEXTNE || list_length(op->args) != 2 ||
		!IsA(linitial(op->args), Var) || !IsA(lsecond(op->args), Var))
		return false;
	left = linitial_node(Var, op->args);
	right = lsecond_node(Var, op->args);
	return left->varno == PRS2_OLD_VARNO && right->varno == PRS2_NEW_VARNO &&
		left->varattno == status && right->varattno == status &&
		left->varlevelsup == 0 && right->varlevelsup == 0;
}

/*
 * True if the UPDATE triggers of orders are exactly the two lifecycle
 * triggers, as the extension made them and enabled (in origin mode), so
 * that doing their work is doing all an UPDATE would fire.
 */
static bool
lifecycle_triggers_only(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	AttrNumber	status = om_attnums(OM_TABLE_ORDERS, rel)[Anum_orders_status - 1];
	Oid			before = lifecycle_function("orders_before_update");
	Oid			after = lifecycle_function("orders_after_update");
	int			nbefore = 0;
	int			nafter = 0;
	int			i;

	if (trigdesc == NULL || !OidIsValid(before) || !OidIsValid(after))
		return false;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trig = &trigdesc->triggers[i];

		if (!TRIGGER_FOR_UPDATE(trig->tgtype))
			continue;
		if (!TRIGGER_FOR_ROW(trig->tgtype) || trig->tgenabled != TRIGGER_FIRES_ON_ORIGIN ||
			trig->tgisinternal || OidIsValid(trig->tgconstraint) || trig->tgdeferrable ||
			trig->tgnargs != 0 || trig->tgnattr != 0 ||
			trig->tgoldtable != NULL || trig->tgnewtable != NULL)
			return false;
		if (TRIGGER_FOR_BEFORE(trig->tgtype) && trig->tgfoid == before &&
			trig->tgqual == NULL)
			nbefore++;
		else if (TRIGGER_FOR_AFTER(trig->tgtype) && trig->tgfoid == after &&
				 is_status_changed(trig->tgqual, status))
			nafter++;
		else
			return false;
	}
	return nbefore == 1 && nafter == 1;
}

/*
 * True if the row in slot is the CREATED order order_id (at version
 * expected, when has_expected): the WHERE clause of the UPDATE, checked
 * again on a row version a concurrent update left.
 */
static bool
transition_applies(DirectWrite *dw, TupleTableSlot *slot, const pg_uuid_t *order_id,
				   bool has_expected, int32 expected)
{
	const AttrNumber *attnums = dw->attnums;
	bool		isnull;
	Datum		d;
	text	   *status;

	d = slot_getattr(slot, attnums[Anum_orders_order_id - 1], &isnull);
	if (isnull || memcmp(DatumGetUUIDP(d), order_id, UUID_LEN) != 0)
		return false;
	d = slot_getattr(slot, attnums[Anum_orders_status - 1], &isnull);
	if (isnull)
		return false;
	status = DatumGetTextPP(d);
	if (VARSIZE_ANY_EXHDR(status) != strlen(OM_STATUS_CREATED) ||
		memcmp(VARDATA_ANY(status), OM_STATUS_CREATED, strlen(OM_STATUS_CREATED)) != 0)
		return false;
	if (has_expected)
	{
		d = slot_getattr(slot, attnums[Anum_orders_version - 1], &isnull);
		if (isnull || DatumGetInt32(d) != expected)
			return false;
	}
	return true;
}

/*
 * Form in newslot the row the UPDATE and the BEFORE trigger make of the
 * CREATED order in oldslot: the new status and reason, version + 1, the
 * completion or cancellation time.
 */
static void
form_transition(DirectWrite *dw, TupleTableSlot *oldslot, TupleTableSlot *newslot,
				const char *new_status, const char *reason)
{
	const AttrNumber *attnums = dw->attnums;
	int			natts = oldslot->tts_tupleDescriptor->natts;
	int			status = attnums[Anum_orders_status - 1] - 1;
	int			reason_i = attnums[Anum_orders_cancellation_reason - 1] - 1;
	int			version = attnums[Anum_orders_version - 1] - 1;
	int			completed_at = attnums[Anum_orders_completed_at - 1] - 1;
	int			cancelled_at = attnums[Anum_orders_cancelled_at - 1] - 1;
	TimestampTz created_at;
	TimestampTz now;

	slot_getallattrs(oldslot);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, sizeof(Datum) * natts);
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, sizeof(bool) * natts);

	created_at = DatumGetTimestampTz(oldslot->tts_values[attnums[Anum_orders_created_at - 1] - 1]);
	now = transition_time(created_at);
	newslot->tts_values[status] = CStringGetTextDatum(new_status);
	newslot->tts_isnull[status] = false;
	newslot->tts_values[reason_i] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	newslot->tts_isnull[reason_i] = reason == NULL;
	newslot->tts_values[version] =
		Int32GetDatum(DatumGetInt32(oldslot->tts_values[version]) + 1);
	newslot->tts_isnull[version] = false;
	newslot->tts_values[completed_at] = TimestampTzGetDatum(now);
	newslot->tts_isnull[completed_at] = strcmp(new_status, OM_STATUS_COMPLETED) != 0;
	newslot->tts_values[cancelled_at] = TimestampTzGetDatum(now);
	newslot->tts_isnull[cancelled_at] = strcmp(new_status, OM_STATUS_CANCELLED) != 0;
	ExecStoreVirtualTuple(newslot);
}

/*
 * The order in slot, as the event builder sees it (what the AFTER trigger
 * decodes from its new row).
 */
static void
transition_order_from_slot(DirectWrite *dw, TupleTableSlot *slot, StoredOrder *order)
{
	slot_getallattrs(slot);
	om_order_from_values(slot->tts_values, slot->tts_isnull, dw->attnums, order);
}

/*
 * Move order_id from CREATED to new_status without the executor, and write
 * its event, as the UPDATE of store_transition_order and the lifecycle
 * triggers would; LIFECYCLE_USE_SQL if the table must be updated with SQL.
 * The caller has checked the reason and is connected to SPI.
 */
LifecycleOutcome
lifecycle_transition(const pg_uuid_t *order_id, const char *new_status,
					 const char *reason, bool has_expected, int32 expected_version,
					 int32 *new_version)
{
	DirectWrite dw;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	bool		found;
	bool		moved = false;

	if (!direct_begin_update(OM_TABLE_ORDERS, lifecycle_triggers_only, &dw))
		return LIFECYCLE_USE_SQL;
	oldslot = direct_slot(&dw);
	newslot = direct_slot(&dw);

	found = direct_fetch(&dw, UUIDPGetDatum(order_id), oldslot);
	while (found && transition_applies(&dw, oldslot, order_id, has_expected,
									   expected_version))
	{
		DirectUpdateResult result;

		form_transition(&dw, oldslot, newslot, new_status, reason);
		result = direct_update(&dw, oldslot, newslot);
		if (result == DIRECT_UPDATED)
			moved = true;
		/* DIRECT_RECHECK: oldslot holds the latest version, locked; again */
		if (result != DIRECT_RECHECK)
			break;
	}

	if (moved)
	{
		StoredOrder order;
		OrderEventKind kind;

		transition_order_from_slot(&dw, newslot, &order);
		if (!om_event_kind_for_status(order.status, &kind) || kind == OM_EVENT_CREATED)
			elog(ERROR, "unexpected order transition to %s", order.status);
		emit_as_owner(dw.rel, kind, &order);
		*new_version = order.version;
	}
	direct_end(&dw);
	return moved ? LIFECYCLE_MOVED : LIFECYCLE_NOT_MOVED;
}
