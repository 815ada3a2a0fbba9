/*-------------------------------------------------------------------------
 *
 * direct_write.c
 *	  Inserting rows into the order tables without the executor.
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
 * the write through the SPI statements of store.c, whose plans handle every
 * case.  What is learnt about a table is kept per backend and forgotten
 * when its relcache entry is invalidated (any DDL on it).
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
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "direct_write.h"

/* the tables written so far in this backend, for the invalidation callback */
#define DIRECT_MAX_TABLES 8
static DirectTable *direct_tables[DIRECT_MAX_TABLES];
static int	direct_ntables = 0;

static bool direct_callback_registered = false;

/* Relcache invalidation: forget what we know of the table (or of all). */
static void
direct_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < direct_ntables; i++)
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
bool
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
	if (!t->registered)
	{
		if (direct_ntables >= DIRECT_MAX_TABLES)
			elog(ERROR, "too many tables written directly");
		direct_tables[direct_ntables++] = t;
		t->registered = true;
		t->valid = false;
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
TupleTableSlot *
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
void
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
void
direct_check(DirectWrite *dw, TupleTableSlot *slot)
{
	if (dw->rel->rd_att->constr != NULL)
		ExecConstraints(dw->rri, slot, dw->estate);
}

/* Insert the index entries of a row already in the heap. */
void
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
void
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
bool
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
void
direct_end(DirectWrite *dw)
{
	ExecCloseIndices(dw->rri);
	ExecResetTupleTable(dw->estate->es_tupleTable, false);
	FreeExecutorState(dw->estate);
	table_close(dw->rel, NoLock);
}
