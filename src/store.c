/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Reading and writing the order tables: cached SPI plans, and direct
 *	  inserts for the rows of a new order and of events.
 *
 * Each statement is prepared once per backend and kept (SPI_keepplan);
 * the plan cache revalidates it after DDL.  Every name is schema-qualified
 * and every operator is written OPERATOR(pg_catalog.=), so neither the
 * caller's search_path nor objects planted in it change what runs.
 *
 * The order row, its lines and the outbox row are inserted without the
 * executor when the tables are as the extension made them (see "Direct
 * writes" below), and through the SPI statements otherwise.
 *
 * While this file inserts orders, lines or events through SPI it raises a
 * flag that the insert guards of lifecycle.c check: rows reach those
 * tables only through the order functions and the lifecycle triggers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "order_mgmt.h"
#include "orders.h"
#include "store.h"

/* set while order_mgmt itself inserts orders, lines or events */
static bool internal_write = false;

static SPIPlanPtr insert_order_plan = NULL;
static SPIPlanPtr insert_lines_plan = NULL;
static SPIPlanPtr find_by_cart_plan = NULL;
static SPIPlanPtr insert_event_plan = NULL;
static SPIPlanPtr transition_plan = NULL;
static SPIPlanPtr read_order_plan = NULL;
static SPIPlanPtr read_lines_plan = NULL;

#define ORDER_COLUMNS \
	"order_id, cart_id, customer_id, status, version, total, currency, " \
	"payment_authorization_id, created_at, completed_at, cancelled_at, " \
	"cancellation_reason"

/* Prepare sql once per backend and keep the plan. */
static SPIPlanPtr
prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = p;
	}
	return *plan;
}

/* Run a kept plan; elog if SPI reports anything but expected. */
static void
execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
			 bool read_only, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_plan returned %s",
			 SPI_result_code_string(rc));
}

/* Run a kept insert plan with the internal-write flag raised. */
static void
execute_internal_write(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	bool		was_writing = internal_write;

	internal_write = true;
	PG_TRY();
	{
		execute_plan(plan, values, nulls, false, SPI_OK_INSERT_RETURNING);
	}
	PG_FINALLY();
	{
		internal_write = was_writing;
	}
	PG_END_TRY();
}

/* True while order_mgmt itself is inserting orders, lines or events. */
bool
store_internal_write_active(void)
{
	return internal_write;
}

/* Wrap a 32-byte digest as a bytea. */
static bytea *
digest_to_bytea(const uint8 *digest)
{
	bytea	   *b = palloc(VARHDRSZ + OM_DIGEST_LEN);

	SET_VARSIZE(b, VARHDRSZ + OM_DIGEST_LEN);
	memcpy(VARDATA(b), digest, OM_DIGEST_LEN);
	return b;
}

/*
 * Direct writes
 *
 * create_order writes its three rows (and the lifecycle triggers their
 * events) without the executor: each row is formed, checked against the
 * table's constraints, and inserted with its index entries here, as COPY
 * does.  Starting the executor for an INSERT costs far more than the
 * insert itself (the CHECK constraints alone are parsed from their stored
 * text and planned again for every statement), and three of them made
 * most of create_order's cost.
 *
 * The direct path is taken only when it does exactly what the INSERT would:
 * a plain table whose columns have the types we write, no row-level
 * security, and no INSERT trigger but order_mgmt's statement guard (which
 * would let our own insert through anyway).  Column defaults, NOT NULL and
 * CHECK constraints, unique and exclusion indexes, partial and expression
 * indexes are all honoured; the orders row goes in by speculative insertion
 * with cart_id as arbiter, as INSERT ... ON CONFLICT (cart_id) DO NOTHING
 * does.  Anything else (a trigger or a foreign key someone added, a
 * deferrable constraint, a changed column type, a missing privilege) sends
 * the write through the SPI statements below, whose plans handle every
 * case.  What is learnt about a table is kept per backend and forgotten
 * when its relcache entry is invalidated (any DDL on it).
 */

/* most columns create_order supplies to one table */
#define DIRECT_MAX_COLUMNS 12

/* rows of order_lines formed and inserted at a time */
#define DIRECT_LINES_BATCH 64

/* a column whose value create_order supplies */
typedef struct DirectColumn
{
	const char *name;
	Oid			type;
} DirectColumn;

/* A table written directly, and what is known about it. */
typedef struct DirectTable
{
	const char *relname;
	const DirectColumn *columns;	/* supplied values come in this order */
	int			ncolumns;
	const char *arbiter;		/* ON CONFLICT (arbiter) DO NOTHING, or NULL */
	const char *returning;		/* int8 column whose value is returned, or NULL */

	/* what direct_describe learnt; reset by a relcache invalidation */
	bool		valid;
	bool		usable;			/* false: write through SPI */
	Oid			relid;
	MemoryContext cxt;			/* holds the lists and expressions below */
	AttrNumber	attnums[DIRECT_MAX_COLUMNS];	/* of each supplied column */
	AttrNumber	returning_attnum;
	int			ndefaults;		/* other columns that have a default */
	AttrNumber *default_attnums;
	Expr	  **default_exprs;	/* planned */
	int			ncheck;			/* CHECK constraints, in relcache order */
	Expr	  **check_exprs;	/* planned */
	List	   *arbiters;		/* OIDs of the arbiter indexes */
} DirectTable;

static const DirectColumn order_columns[] = {
	{"order_id", UUIDOID}, {"cart_id", UUIDOID}, {"customer_id", UUIDOID},
	{"status", TEXTOID}, {"total", INT8OID}, {"currency", TEXTOID},
	{"payment_authorization_id", TEXTOID}, {"version", INT4OID},
	{"created_at", TIMESTAMPTZOID}, {"command_digest", BYTEAOID}
};

static const DirectColumn line_columns[] = {
	{"order_id", UUIDOID}, {"line_no", INT4OID}, {"product_id", UUIDOID},
	{"quantity", INT4OID}, {"unit_price", INT8OID}
};

static const DirectColumn event_columns[] = {
	{"id", UUIDOID}, {"aggregatetype", TEXTOID}, {"aggregateid", UUIDOID},
	{"type", TEXTOID}, {"payload", JSONBOID}, {"order_version", INT4OID},
	{"schema_version", TEXTOID}, {"occurred_at", TIMESTAMPTZOID},
	{"xact_id", XID8OID}
};

static DirectTable direct_orders = {
	.relname = "orders", .columns = order_columns,
	.ncolumns = lengthof(order_columns), .arbiter = "cart_id"
};
static DirectTable direct_lines = {
	.relname = "order_lines", .columns = line_columns,
	.ncolumns = lengthof(line_columns)
};
static DirectTable direct_outbox = {
	.relname = "outbox", .columns = event_columns,
	.ncolumns = lengthof(event_columns), .returning = "position"
};

static DirectTable *const direct_tables[] = {
	&direct_orders, &direct_lines, &direct_outbox
};

static bool direct_callback_registered = false;

/* One direct write in progress: the table, opened, and an executor state. */
typedef struct DirectWrite
{
	DirectTable *table;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	ExprState **defaults;
} DirectWrite;

/* Relcache invalidation: forget what we know of the table (or of all). */
static void
direct_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < (int) lengthof(direct_tables); i++)
		if (relid == InvalidOid || relid == direct_tables[i]->relid)
			direct_tables[i]->valid = false;
}

/* The OID of order_mgmt.relname, or InvalidOid. */
static Oid
direct_lookup(const char *relname)
{
	Oid			nsp = get_namespace_oid("order_mgmt", true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/* Attribute number of a column of desc by name, or InvalidAttrNumber. */
static AttrNumber
direct_attnum(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * Learn whether rel can be written directly and, if so, how: where our
 * columns are, which defaults and CHECK constraints to evaluate, which
 * indexes arbitrate ON CONFLICT.  Sets t->usable.
 */
static void
direct_describe(DirectTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	MemoryContext old;
	Oid			guard;
	AttrNumber	arbiter_attnum = InvalidAttrNumber;
	List	   *indexes;
	ListCell   *lc;
	int			i;

	if (t->cxt == NULL)
		t->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "order_mgmt direct writes",
									   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(t->cxt);
	/* an invalidation arriving while we look makes us look again next time */
	t->valid = true;
	t->usable = false;
	t->relid = RelationGetRelid(rel);
	t->ndefaults = 0;
	t->ncheck = 0;
	t->arbiters = NIL;
	t->returning_attnum = InvalidAttrNumber;
	old = MemoryContextSwitchTo(t->cxt);

	/* a plain table, no row-level security */
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->rd_rel->relrowsecurity)
		goto done;

	/* no INSERT trigger but our own statement guard */
	if (rel->trigdesc != NULL)
	{
		guard = LookupFuncName(list_make2(makeString("order_mgmt"),
										  makeString("guard_insert")),
							   0, NULL, true);
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *trig = &rel->trigdesc->triggers[i];

			if (!TRIGGER_FOR_INSERT(trig->tgtype))
				continue;
			if (TRIGGER_FOR_ROW(trig->tgtype) || !TRIGGER_FOR_BEFORE(trig->tgtype) ||
				!OidIsValid(guard) || trig->tgfoid != guard)
				goto done;
		}
	}

	/* our columns with their types; the others get their defaults */
	for (i = 0; i < t->ncolumns; i++)
	{
		AttrNumber	attnum = direct_attnum(desc, t->columns[i].name);

		if (attnum == InvalidAttrNumber ||
			TupleDescAttr(desc, attnum - 1)->atttypid != t->columns[i].type)
			goto done;
		t->attnums[i] = attnum;
	}
	t->default_attnums = palloc(sizeof(AttrNumber) * desc->natts);
	t->default_exprs = palloc(sizeof(Expr *) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		bool		supplied = false;
		Node	   *def;
		int			j;

		if (attr->attisdropped)
			continue;
		for (j = 0; j < t->ncolumns; j++)
			if (t->attnums[j] == attr->attnum)
				supplied = true;
		if (supplied)
			continue;
		if (attr->attgenerated)
			goto done;
		def = build_column_default(rel, attr->attnum);
		if (def == NULL)
			continue;
		t->default_attnums[t->ndefaults] = attr->attnum;
		t->default_exprs[t->ndefaults] = expression_planner((Expr *) def);
		t->ndefaults++;
	}
	if (t->returning)
	{
		t->returning_attnum = direct_attnum(desc, t->returning);
		if (t->returning_attnum == InvalidAttrNumber ||
			TupleDescAttr(desc, t->returning_attnum - 1)->atttypid != INT8OID)
			goto done;
	}

	/* the CHECK constraints, parsed and planned once */
	if (constr != NULL && constr->num_check > 0)
	{
		if (constr->num_check != rel->rd_rel->relchecks)
			goto done;
		t->check_exprs = palloc(sizeof(Expr *) * constr->num_check);
		for (i = 0; i < constr->num_check; i++)
			t->check_exprs[i] =
				expression_planner((Expr *) stringToNode(constr->check[i].ccbin));
		t->ncheck = constr->num_check;
	}

	/*
	 * Indexes: none deferrable (its recheck is an after trigger); the
	 * arbiters are what ON CONFLICT (arbiter) infers, the valid,
	 * immediate, non-partial unique indexes on that column alone.
	 */
	if (t->arbiter != NULL)
	{
		arbiter_attnum = direct_attnum(desc, t->arbiter);
		if (arbiter_attnum == InvalidAttrNumber)
			goto done;
	}
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool		immediate = form->indimmediate;
		bool		arbiter;

		arbiter = arbiter_attnum != InvalidAttrNumber &&
			form->indisunique && form->indisvalid && form->indnkeyatts == 1 &&
			form->indkey.values[0] == arbiter_attnum &&
			RelationGetIndexExpressions(index) == NIL &&
			RelationGetIndexPredicate(index) == NIL;
		index_close(index, AccessShareLock);
		if (!immediate)
			goto done;
		if (arbiter)
			t->arbiters = lappend_oid(t->arbiters, lfirst_oid(lc));
	}
	if (t->arbiter != NULL && t->arbiters == NIL)
		goto done;

	t->usable = true;

done:
	MemoryContextSwitchTo(old);
}

/*
 * Open t for a direct write; false if it must be written through SPI
 * instead (or does not exist: SPI then reports it).
 */
static bool
direct_begin(DirectTable *t, bool speculative, DirectWrite *dw)
{
	Relation	rel;
	TupleConstr *constr;
	MemoryContext old;
	int			i;

	if (!direct_callback_registered)
	{
		CacheRegisterRelcacheCallback(direct_relcache_callback, (Datum) 0);
		direct_callback_registered = true;
	}

	/* what an INSERT would refuse first */
	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");

	if (!t->valid || !OidIsValid(t->relid))
		t->relid = direct_lookup(t->relname);
	if (!OidIsValid(t->relid))
		return false;
	rel = try_table_open(t->relid, RowExclusiveLock);
	if (rel == NULL)
	{
		t->valid = false;
		t->relid = InvalidOid;
		return false;
	}
	constr = RelationGetDescr(rel)->constr;
	if (!t->valid ||
		(t->usable && t->ncheck != (constr ? constr->num_check : 0)))
	{
		/* replaced or renamed since we looked it up? */
		if (direct_lookup(t->relname) != RelationGetRelid(rel))
		{
			table_close(rel, NoLock);
			t->valid = false;
			t->relid = InvalidOid;
			return false;
		}
		direct_describe(t, rel);
	}
	if (!t->usable ||
		pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) != ACLCHECK_OK)
	{
		table_close(rel, NoLock);
		return false;
	}

	dw->table = t;
	dw->rel = rel;
	dw->estate = CreateExecutorState();
	dw->estate->es_output_cid = GetCurrentCommandId(true);
	old = MemoryContextSwitchTo(dw->estate->es_query_cxt);
	dw->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(dw->rri, rel, 0, NULL, 0);
	ExecOpenIndices(dw->rri, speculative);
	/* ExecConstraints finds the CHECK expressions ready */
	if (t->ncheck > 0)
	{
		dw->rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * t->ncheck);
		for (i = 0; i < t->ncheck; i++)
			dw->rri->ri_ConstraintExprs[i] = ExecInitExpr(t->check_exprs[i], NULL);
	}
	dw->defaults = palloc(sizeof(ExprState *) * Max(t->ndefaults, 1));
	for (i = 0; i < t->ndefaults; i++)
		dw->defaults[i] = ExecInitExpr(t->default_exprs[i], NULL);
	MemoryContextSwitchTo(old);
	return true;
}

/* A slot for rows of the table being written. */
static TupleTableSlot *
direct_slot(DirectWrite *dw)
{
	MemoryContext old = MemoryContextSwitchTo(dw->estate->es_query_cxt);
	TupleTableSlot *slot;

	slot = ExecInitExtraTupleSlot(dw->estate, RelationGetDescr(dw->rel),
								  table_slot_callbacks(dw->rel));
	MemoryContextSwitchTo(old);
	return slot;
}

/* Form a row in slot: the supplied values, defaults, NULL elsewhere. */
static void
direct_form(DirectWrite *dw, TupleTableSlot *slot, const Datum *values,
			const char *nulls)
{
	DirectTable *t = dw->table;
	ExprContext *econtext = GetPerTupleExprContext(dw->estate);
	int			natts = slot->tts_tupleDescriptor->natts;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	for (i = 0; i < t->ncolumns; i++)
	{
		slot->tts_values[t->attnums[i] - 1] = values[i];
		slot->tts_isnull[t->attnums[i] - 1] = nulls != NULL && nulls[i] == 'n';
	}
	/* in column order, as the INSERT's target list would */
	for (i = 0; i < t->ndefaults; i++)
	{
		int			a = t->default_attnums[i] - 1;

		slot->tts_values[a] = ExecEvalExprSwitchContext(dw->defaults[i], econtext,
														&slot->tts_isnull[a]);
	}
	ExecStoreVirtualTuple(slot);
}

/* Check a formed row against the table's NOT NULL and CHECK constraints. */
static void
direct_check(DirectWrite *dw, TupleTableSlot *slot)
{
	if (dw->rel->rd_att->constr != NULL)
		ExecConstraints(dw->rri, slot, dw->estate);
}

/* Insert the index entries of a row already in the heap. */
static void
direct_index(DirectWrite *dw, TupleTableSlot *slot)
{
	if (dw->rri->ri_NumIndices > 0)
	{
		List	   *recheck = ExecInsertIndexTuples(dw->rri, slot, dw->estate,
													false, false, NULL, NIL);

		if (recheck != NIL)
			elog(ERROR, "unexpected deferred index check on order_mgmt.%s",
				 dw->table->relname);
	}
}

/* Insert a formed row and its index entries. */
static void
direct_insert(DirectWrite *dw, TupleTableSlot *slot)
{
	direct_check(dw, slot);
	table_tuple_insert(dw->rel, slot, dw->estate->es_output_cid, 0, NULL);
	direct_index(dw, slot);
}

/*
 * Insert a formed row unless an arbiter index already holds its key, as
 * INSERT ... ON CONFLICT DO NOTHING does (nodeModifyTable.c); false if it
 * was not inserted.
 */
static bool
direct_insert_or_nothing(DirectWrite *dw, TupleTableSlot *slot)
{
	Relation	rel = dw->rel;
	TransactionId xid;

	direct_check(dw, slot);
	for (;;)
	{
		ItemPointerData conflict;
		uint32		token;
		bool		spec_conflict = false;
		List	   *recheck;

		if (!ExecCheckIndexConstraints(dw->rri, slot, dw->estate, &conflict,
									   dw->table->arbiters))
		{
			/*
			 * A conflict with a row our snapshot cannot see is a
			 * serialization failure under REPEATABLE READ and SERIALIZABLE,
			 * unless our own transaction wrote it.
			 */
			if (IsolationUsesXactSnapshot())
			{
				TupleTableSlot *found = direct_slot(dw);

				if (!table_tuple_fetch_row_version(rel, &conflict, SnapshotAny, found))
					elog(ERROR, "failed to fetch conflicting tuple for ON CONFLICT");
				if (!table_tuple_satisfies_snapshot(rel, found, GetTransactionSnapshot()))
				{
					bool		isnull;
					Datum		xmin = slot_getsysattr(found, MinTransactionIdAttributeNumber,
													   &isnull);

					if (!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin)))
						ereport(ERROR,
								(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
								 errmsg("could not serialize access due to concurrent update")));
				}
				ExecClearTuple(found);
			}
			return false;
		}

		/* no conflict yet: insert speculatively, then check again */
		xid = GetCurrentTransactionId();
		token = SpeculativeInsertionLockAcquire(xid);
		table_tuple_insert_speculative(rel, slot, dw->estate->es_output_cid, 0,
									   NULL, token);
		recheck = ExecInsertIndexTuples(dw->rri, slot, dw->estate, false, true,
										&spec_conflict, dw->table->arbiters);
		table_tuple_complete_speculative(rel, slot, token, !spec_conflict);
		SpeculativeInsertionLockRelease(xid);
		if (recheck != NIL)
			elog(ERROR, "unexpected deferred index check on order_mgmt.%s",
				 dw->table->relname);
		if (!spec_conflict)
			return true;
		/* a concurrent insert won the race: look at it */
	}
}

/* Finish a direct write: close the indexes and the table, free the state. */
static void
direct_end(DirectWrite *dw)
{
	ExecCloseIndices(dw->rri);
	ExecResetTupleTable(dw->estate->es_tupleTable, false);
	FreeExecutorState(dw->estate);
	table_close(dw->rel, NoLock);
}

/* Insert the order row; false if the cart already has an order. */
bool
store_insert_order(const pg_uuid_t *order_id, const CreateOrderCommand *cmd,
				   TimestampTz created_at)
{
	Oid			argtypes[8] = {UUIDOID, UUIDOID, UUIDOID, INT8OID, TEXTOID,
	TEXTOID, TIMESTAMPTZOID, BYTEAOID};
	Datum		values[10];
	char		nulls[10];
	DirectWrite dw;
	SPIPlanPtr	plan;

	memset(nulls, ' ', sizeof(nulls));
	if (direct_begin(&direct_orders, true, &dw))
	{
		TupleTableSlot *slot = direct_slot(&dw);
		bool		inserted;

		/* the columns of order_columns */
		values[0] = UUIDPGetDatum(order_id);
		values[1] = UUIDPGetDatum(&cmd->cart_id);
		values[2] = UUIDPGetDatum(&cmd->customer_id);
		values[3] = CStringGetTextDatum(OM_STATUS_CREATED);
		values[4] = Int64GetDatum(cmd->total);
		values[5] = CStringGetTextDatum(cmd->currency);
		if (cmd->payment_authorization_id)
			values[6] = CStringGetTextDatum(cmd->payment_authorization_id);
		else
			nulls[6] = 'n';
		values[7] = Int32GetDatum(1);
		values[8] = TimestampTzGetDatum(created_at);
		values[9] = PointerGetDatum(digest_to_bytea(cmd->digest));
		direct_form(&dw, slot, values, nulls);
		inserted = direct_insert_or_nothing(&dw, slot);
		direct_end(&dw);
		return inserted;
	}

	plan = prepare_once(&insert_order_plan,
						"INSERT INTO order_mgmt.orders "
						"(order_id, cart_id, customer_id, status, total, currency, "
						" payment_authorization_id, version, created_at, command_digest) "
						"VALUES ($1, $2, $3, 'CREATED', $4, $5, $6, 1, $7, $8) "
						"ON CONFLICT (cart_id) DO NOTHING RETURNING 1",
						8, argtypes);
	values[0] = UUIDPGetDatum(order_id);
	values[1] = UUIDPGetDatum(&cmd->cart_id);
	values[2] = UUIDPGetDatum(&cmd->customer_id);
	values[3] = Int64GetDatum(cmd->total);
	values[4] = CStringGetTextDatum(cmd->currency);
	if (cmd->payment_authorization_id)
		values[5] = CStringGetTextDatum(cmd->payment_authorization_id);
	else
		nulls[5] = 'n';
	values[6] = TimestampTzGetDatum(created_at);
	values[7] = PointerGetDatum(digest_to_bytea(cmd->digest));

	execute_internal_write(plan, values, nulls);
	return SPI_processed == 1;
}

/* Insert the order's lines directly, numbered from 1, in batches. */
static void
insert_lines_directly(DirectWrite *dw, const pg_uuid_t *order_id,
					  const CreateOrderCommand *cmd)
{
	TupleTableSlot *slots[DIRECT_LINES_BATCH];
	int			nslots = Min(cmd->nlines, DIRECT_LINES_BATCH);
	int			first;
	int			i;

	for (i = 0; i < nslots; i++)
		slots[i] = direct_slot(dw);
	for (first = 0; first < cmd->nlines; first += DIRECT_LINES_BATCH)
	{
		int			n = Min(cmd->nlines - first, DIRECT_LINES_BATCH);

		for (i = 0; i < n; i++)
		{
			const OrderLine *line = &cmd->lines[first + i];
			Datum		values[5];

			/* the columns of line_columns */
			values[0] = UUIDPGetDatum(order_id);
			values[1] = Int32GetDatum(first + i + 1);
			values[2] = UUIDPGetDatum(&line->product_id);
			values[3] = Int32GetDatum(line->quantity);
			values[4] = Int64GetDatum(line->unit_price);
			direct_form(dw, slots[i], values, NULL);
			direct_check(dw, slots[i]);
		}
		table_multi_insert(dw->rel, slots, n, dw->estate->es_output_cid, 0, NULL);
		for (i = 0; i < n; i++)
			direct_index(dw, slots[i]);
		ResetPerTupleExprContext(dw->estate);
	}
}

/* Insert the order's lines in one statement, numbered from 1. */
void
store_insert_lines(const pg_uuid_t *order_id, const CreateOrderCommand *cmd)
{
	Oid			argtypes[4] = {UUIDOID, UUIDARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	Datum		values[4];
	Datum	   *products;
	Datum	   *quantities;
	Datum	   *prices;
	DirectWrite dw;
	SPIPlanPtr	plan;
	int			i;

	if (direct_begin(&direct_lines, false, &dw))
	{
		insert_lines_directly(&dw, order_id, cmd);
		direct_end(&dw);
		return;
	}

	plan = prepare_once(&insert_lines_plan,
						"INSERT INTO order_mgmt.order_lines "
						"(order_id, line_no, product_id, quantity, unit_price) "
						"SELECT $1, l.n::pg_catalog.int4, l.p, l.q, l.u "
						"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), "
						"pg_catalog.unnest($4)) WITH ORDINALITY AS l(p, q, u, n) "
						"RETURNING 1",
						4, argtypes);
	products = palloc(sizeof(Datum) * cmd->nlines);
	quantities = palloc(sizeof(Datum) * cmd->nlines);
	prices = palloc(sizeof(Datum) * cmd->nlines);
	for (i = 0; i < cmd->nlines; i++)
	{
		products[i] = UUIDPGetDatum(&cmd->lines[i].product_id);
		quantities[i] = Int32GetDatum(cmd->lines[i].quantity);
		prices[i] = Int64GetDatum(cmd->lines[i].unit_price);
	}
	values[0] = UUIDPGetDatum(order_id);
	values[1] = PointerGetDatum(construct_array(products, cmd->nlines, UUIDOID,
												UUID_LEN, false, TYPALIGN_CHAR));
	values[2] = PointerGetDatum(construct_array(quantities, cmd->nlines, INT4OID,
												sizeof(int32), true, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(prices, cmd->nlines, INT8OID,
												sizeof(int64), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	execute_internal_write(plan, values, NULL);
	if (SPI_processed != (uint64) cmd->nlines)
		elog(ERROR, "inserted " UINT64_FORMAT " order lines, expected %d",
			 SPI_processed, cmd->nlines);
}

/* The order made from cart_id and its command digest; false if none. */
bool
store_find_order_by_cart(const pg_uuid_t *cart_id, pg_uuid_t *order_id,
						 uint8 *digest)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	bool		isnull;
	bytea	   *stored;
	SPIPlanPtr	plan;

	plan = prepare_once(&find_by_cart_plan,
						"SELECT order_id, command_digest FROM order_mgmt.orders "
						"WHERE cart_id OPERATOR(pg_catalog.=) $1",
						1, argtypes);
	values[0] = UUIDPGetDatum(cart_id);
	execute_plan(plan, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;

	*order_id = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	stored = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(stored) != OM_DIGEST_LEN)
		elog(ERROR, "stored command digest has %zu bytes",
			 (Size) VARSIZE_ANY_EXHDR(stored));
	memcpy(digest, VARDATA_ANY(stored), OM_DIGEST_LEN);
	return true;
}

/* Append an event to the outbox and return its position. */
int64
store_insert_event(const pg_uuid_t *event_id, const pg_uuid_t *order_id,
				   const char *type, Jsonb *payload, int32 order_version,
				   TimestampTz occurred_at)
{
	Oid			argtypes[6] = {UUIDOID, UUIDOID, TEXTOID, JSONBOID, INT4OID,
	TIMESTAMPTZOID};
	Datum		values[9];
	bool		isnull;
	DirectWrite dw;
	SPIPlanPtr	plan;

	/*
	 * Have the transaction id before the position is drawn: the consumer
	 * feed relies on every transaction holding a position having an xid
	 * older than the moment the position was handed out (see
	 * order_mgmt.sequence_events in the install script).
	 */
	(void) GetTopTransactionId();

	if (direct_begin(&direct_outbox, false, &dw))
	{
		TupleTableSlot *slot = direct_slot(&dw);
		int64		position;

		/* the columns of event_columns; the position is the default's */
		values[0] = UUIDPGetDatum(event_id);
		values[1] = CStringGetTextDatum("order");
		values[2] = UUIDPGetDatum(order_id);
		values[3] = CStringGetTextDatum(type);
		values[4] = JsonbPGetDatum(payload);
		values[5] = Int32GetDatum(order_version);
		values[6] = CStringGetTextDatum(OM_CONTRACT_VERSION);
		values[7] = TimestampTzGetDatum(occurred_at);
		values[8] = FullTransactionIdGetDatum(GetTopFullTransactionId());
		direct_form(&dw, slot, values, NULL);
		position = DatumGetInt64(slot_getattr(slot, direct_outbox.returning_attnum,
											  &isnull));
		if (isnull)
			elog(ERROR, "outbox row has no position");
		direct_insert(&dw, slot);
		direct_end(&dw);
		return position;
	}

	plan = prepare_once(&insert_event_plan,
						"INSERT INTO order_mgmt.outbox "
						"(id, aggregatetype, aggregateid, type, payload, order_version, "
						" schema_version, occurred_at, xact_id) "
						"VALUES ($1, 'order', $2, $3, $4, $5, '" OM_CONTRACT_VERSION "', $6, "
						" pg_catalog.pg_current_xact_id()) "
						"RETURNING position",
						6, argtypes);
	values[0] = UUIDPGetDatum(event_id);
	values[1] = UUIDPGetDatum(order_id);
	values[2] = CStringGetTextDatum(type);
	values[3] = JsonbPGetDatum(payload);
	values[4] = Int32GetDatum(order_version);
	values[5] = TimestampTzGetDatum(occurred_at);

	execute_internal_write(plan, values, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "outbox insert returned " UINT64_FORMAT " rows", SPI_processed);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* Move a CREATED order to new_status; false if no row changed. */
bool
store_transition_order(const pg_uuid_t *order_id, const char *new_status,
					   const char *reason, bool has_expected,
					   int32 expected_version, int32 *new_version)
{
	Oid			argtypes[4] = {UUIDOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];
	char		nulls[4];
	bool		isnull;
	SPIPlanPtr	plan;

	plan = prepare_once(&transition_plan,
						"UPDATE order_mgmt.orders SET status = $2, cancellation_reason = $3 "
						"WHERE order_id OPERATOR(pg_catalog.=) $1 "
						"AND status OPERATOR(pg_catalog.=) 'CREATED' "
						"AND ($4 IS NULL OR version OPERATOR(pg_catalog.=) $4) "
						"RETURNING version",
						4, argtypes);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(order_id);
	values[1] = CStringGetTextDatum(new_status);
	if (reason)
		values[2] = CStringGetTextDatum(reason);
	else
		nulls[2] = 'n';
	if (has_expected)
		values[3] = Int32GetDatum(expected_version);
	else
		nulls[3] = 'n';
	execute_plan(plan, values, nulls, false, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 0)
		return false;
	*new_version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	return true;
}

/* Fetch a column of an order row by name. */
static Datum
order_column(HeapTuple tuple, TupleDesc desc, const char *name, bool *isnull)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "order row has no column \"%s\"", name);
	return SPI_getbinval(tuple, desc, attno, isnull);
}

/* Fetch a text column of an order row as a C string, or NULL. */
char *
store_text_column(HeapTuple tuple, TupleDesc desc, const char *name)
{
	bool		isnull;
	Datum		d = order_column(tuple, desc, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Decode a row of order_mgmt.orders into *order (lines not read). */
void
store_order_from_tuple(HeapTuple tuple, TupleDesc desc, StoredOrder *order)
{
	bool		isnull;
	char	   *currency;

	order->order_id = *DatumGetUUIDP(order_column(tuple, desc, "order_id", &isnull));
	order->cart_id = *DatumGetUUIDP(order_column(tuple, desc, "cart_id", &isnull));
	order->customer_id = *DatumGetUUIDP(order_column(tuple, desc, "customer_id", &isnull));
	order->status = store_text_column(tuple, desc, "status");
	order->version = DatumGetInt32(order_column(tuple, desc, "version", &isnull));
	order->total = DatumGetInt64(order_column(tuple, desc, "total", &isnull));
	currency = store_text_column(tuple, desc, "currency");
	strlcpy(order->currency, currency, sizeof(order->currency));
	order->payment_authorization_id =
		store_text_column(tuple, desc, "payment_authorization_id");
	order->created_at = DatumGetTimestampTz(order_column(tuple, desc, "created_at", &isnull));
	order->completed_at = DatumGetTimestampTz(order_column(tuple, desc, "completed_at", &isnull));
	order->completed = !isnull;
	order->cancelled_at = DatumGetTimestampTz(order_column(tuple, desc, "cancelled_at", &isnull));
	order->cancelled = !isnull;
	order->cancellation_reason = store_text_column(tuple, desc, "cancellation_reason");
	order->nlines = -1;
	order->lines = NULL;
}

/* Read the lines of an order into *order, in line order. */
static void
read_lines(StoredOrder *order)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	uint64		i;

	plan = prepare_once(&read_lines_plan,
						"SELECT product_id, quantity, unit_price FROM order_mgmt.order_lines "
						"WHERE order_id OPERATOR(pg_catalog.=) $1 ORDER BY line_no",
						1, argtypes);
	values[0] = UUIDPGetDatum(&order->order_id);
	execute_plan(plan, values, NULL, true, SPI_OK_SELECT);

	order->nlines = (int) SPI_processed;
	order->lines = palloc(sizeof(OrderLine) * Max(order->nlines, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		order->lines[i].product_id = *DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull));
		order->lines[i].quantity = DatumGetInt32(SPI_getbinval(tuple, desc, 2, &isnull));
		order->lines[i].unit_price = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
	}
}

/*
 * Read an order (with its lines when asked); false if there is none.
 * fresh_snapshot reads the latest committed state (a volatile caller
 * diagnosing a failed update); otherwise the caller's snapshot is used.
 */
bool
store_read_order(const pg_uuid_t *order_id, bool with_lines,
				 bool fresh_snapshot, StoredOrder *order)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	SPIPlanPtr	plan;

	plan = prepare_once(&read_order_plan,
						"SELECT " ORDER_COLUMNS " FROM order_mgmt.orders "
						"WHERE order_id OPERATOR(pg_catalog.=) $1",
						1, argtypes);
	values[0] = UUIDPGetDatum(order_id);
	execute_plan(plan, values, NULL, !fresh_snapshot, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	store_order_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, order);
	if (with_lines)
		read_lines(order);
	return true;
}
