/*-------------------------------------------------------------------------
 *
 * direct_write.c
 *	  Inserting rows into the order tables, and updating the lifecycle
 *	  columns of an order, without the executor.
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
 * Layer 1 (storage): the tables and columns come from order_schema.c; the
 * callers (store.c, lifecycle.c) pass values indexed by the descriptors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
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
#include "order_schema.h"

/* A table written directly, and what is known about it. */
struct DirectTable
{
	OmTableId	table;
	bool		update;			/* written by updates of rows found by key */
	uint8		used;			/* the columns with one of these flags take
								 * part: supplied (inserts), read (updates) */
	uint8		set;			/* updates: the columns the UPDATE would SET */
	DirectTriggerCheck update_triggers; /* updates: see direct_write.h */

	/* what direct_write.c learnt; reset by a relcache invalidation */
	bool		valid;
	bool		usable;			/* false: write through SPI */
	Oid			relid;
	MemoryContext cxt;			/* holds the lists and expressions below */
	AttrNumber	attnums[OM_MAX_COLUMNS];	/* [Anum - 1]; Invalid if unused */
	AttrNumber	returning_attnum;
	int			ndefaults;		/* other columns that have a default */
	AttrNumber *default_attnums;
	Expr	  **default_exprs;	/* planned */
	int			ncheck;			/* CHECK constraints, in relcache order */
	Expr	  **check_exprs;	/* planned */
	List	   *arbiters;		/* OIDs of the arbiter indexes */
	Oid			key_index;		/* updates: the unique index on the key */
	RegProcedure key_eqproc;	/* updates: its equality function */
	Oid			key_collation;
	Bitmapset  *updated_cols;	/* updates: the SET columns (RTE convention) */
};

/* each table's inserts and (orders') updates */
static DirectTable direct_tables[OM_NTABLES][2];

static bool direct_callback_registered = false;

/* Relcache invalidation: forget what we know of the table (or of all). */
static void
direct_relcache_callback(Datum arg, Oid relid)
{
	int			i;
	int			j;

	for (i = 0; i < OM_NTABLES; i++)
		for (j = 0; j < 2; j++)
			if (relid == InvalidOid || relid == direct_tables[i][j].relid)
				direct_tables[i][j].valid = false;
}

/* The OID of order_mgmt.relname, or InvalidOid. */
static Oid
direct_lookup(const char *relname)
{
	Oid			nsp = get_namespace_oid(OM_SCHEMA, true);

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
 * Inserts: plan the defaults of the columns the writer does not supply, and
 * find the column whose value is returned; false if the table cannot be
 * written directly (a generated column, a returned column of another type).
 */
static bool
direct_describe_defaults(DirectTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const OmTable *schema = &om_tables[t->table];
	int			i;

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
		for (j = 0; j < schema->ncolumns; j++)
			if (t->attnums[j] == attr->attnum)
				supplied = true;
		if (supplied)
			continue;
		if (attr->attgenerated)
			return false;
		def = build_column_default(rel, attr->attnum);
		if (def == NULL)
			continue;
		t->default_attnums[t->ndefaults] = attr->attnum;
		t->default_exprs[t->ndefaults] = expression_planner((Expr *) def);
		t->ndefaults++;
	}
	if (schema->returning != InvalidAttrNumber)
	{
		t->returning_attnum = direct_attnum(desc,
											schema->columns[schema->returning - 1].name);
		if (t->returning_attnum == InvalidAttrNumber ||
			TupleDescAttr(desc, t->returning_attnum - 1)->atttypid != INT8OID)
			return false;
	}
	return true;
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
	const OmTable *schema = &om_tables[t->table];
	MemoryContext old;
	Oid			guard;
	AttrNumber	arbiter_attnum = InvalidAttrNumber;
	AttrNumber	key_attnum = InvalidAttrNumber;
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
	t->key_index = InvalidOid;
	t->updated_cols = NULL;
	old = MemoryContextSwitchTo(t->cxt);

	/* a plain table, no row-level security */
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->rd_rel->relrowsecurity)
		goto done;

	if (t->update)
	{
		/*
		 * An UPDATE of the table would be rewritten by its rules, also update
		 * its children, fire its UPDATE triggers and compute its generated
		 * columns: only the triggers whose work the caller does are allowed.
		 */
		if (rel->rd_rules != NULL || rel->rd_rel->relhassubclass ||
			(constr != NULL && constr->has_generated_stored) ||
			t->update_triggers == NULL || !t->update_triggers(rel))
			goto done;
	}
	else if (rel->trigdesc != NULL)
	{
		/* no INSERT trigger but our own statement guard */
		guard = LookupFuncName(list_make2(makeString(OM_SCHEMA),
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
	for (i = 0; i < schema->ncolumns; i++)
	{
		const OmColumn *col = &schema->columns[i];
		AttrNumber	attnum;
		Form_pg_attribute attr;

		t->attnums[i] = InvalidAttrNumber;
		if (!(col->flags & t->used))
			continue;
		attnum = direct_attnum(desc, col->name);
		if (attnum == InvalidAttrNumber)
			goto done;
		attr = TupleDescAttr(desc, attnum - 1);
		if (attr->atttypid != col->type)
			goto done;
		/* an update compares values as bytes: the collation must agree */
		if (t->update && OidIsValid(attr->attcollation) &&
			!get_collation_isdeterministic(attr->attcollation))
			goto done;
		t->attnums[i] = attnum;
		if (t->update && (col->flags & t->set))
			t->updated_cols = bms_add_member(t->updated_cols,
											 attnum - FirstLowInvalidHeapAttributeNumber);
	}
	/* an insert fills the other columns with their defaults */
	if (!t->update && !direct_describe_defaults(t, rel))
		goto done;

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
	if (!t->update && schema->arbiter != InvalidAttrNumber)
	{
		arbiter_attnum = direct_attnum(desc, schema->columns[schema->arbiter - 1].name);
		if (arbiter_attnum == InvalidAttrNumber)
			goto done;
	}
	if (t->update)
	{
		key_attnum = direct_attnum(desc, schema->columns[schema->key - 1].name);
		if (key_attnum == InvalidAttrNumber)
			goto done;
	}
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool		immediate = form->indimmediate;
		bool		single;
		bool		arbiter;

		/* unique, valid, on that one column, whole table */
		single = form->indisunique && form->indisvalid && form->indnkeyatts == 1 &&
			RelationGetIndexExpressions(index) == NIL &&
			RelationGetIndexPredicate(index) == NIL;
		arbiter = single && arbiter_attnum != InvalidAttrNumber &&
			form->indkey.values[0] == arbiter_attnum;
		/* the key's B-tree, searched with the type's own equality */
		if (single && immediate && key_attnum != InvalidAttrNumber &&
			form->indkey.values[0] == key_attnum && !OidIsValid(t->key_index) &&
			index->rd_rel->relam == BTREE_AM_OID &&
			index->rd_opcintype[0] == TupleDescAttr(desc, key_attnum - 1)->atttypid)
		{
			Oid			eq = get_opfamily_member(index->rd_opfamily[0],
												 index->rd_opcintype[0],
												 index->rd_opcintype[0],
												 BTEqualStrategyNumber);

			if (OidIsValid(eq))
			{
				t->key_index = lfirst_oid(lc);
				t->key_eqproc = get_opcode(eq);
				t->key_collation = index->rd_indcollation[0];
			}
		}
		index_close(index, AccessShareLock);
		if (!immediate)
			goto done;
		if (arbiter)
			t->arbiters = lappend_oid(t->arbiters, lfirst_oid(lc));
	}
	if (arbiter_attnum != InvalidAttrNumber && t->arbiters == NIL)
		goto done;
	if (t->update && !OidIsValid(t->key_index))
		goto done;

	t->usable = true;

done:
	MemoryContextSwitchTo(old);
}

/*
 * Open t for a direct write (an insert, or an update when t->update);
 * false if it must be written through SPI instead (or does not exist: SPI
 * then reports it).  An update runs as an UPDATE statement of SPI would: a
 * new snapshot is pushed and the command counter advanced.
 */
static bool
direct_begin(DirectTable *t, bool speculative, DirectWrite *dw)
{
	const char *relname = om_tables[t->table].relname;
	Relation	rel;
	TupleConstr *constr;
	MemoryContext old;
	AclMode		required;
	int			i;

	if (!direct_callback_registered)
	{
		CacheRegisterRelcacheCallback(direct_relcache_callback, (Datum) 0);
		direct_callback_registered = true;
	}

	/* what an INSERT or UPDATE would refuse first */
	PreventCommandIfReadOnly(t->update ? "UPDATE" : "INSERT");
	PreventCommandIfParallelMode(t->update ? "UPDATE" : "INSERT");

#ifdef ORDER_MGMT_FORCE_SPI
	/* built to test the fallback: every write goes through SPI */
	return false;
#endif

	/*
	 * The UPDATE triggers an update stands in for fire only in origin mode
	 * (direct_describe's caller checked that they are enabled for it).
	 */
	if (t->update && SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return false;

	if (!t->valid || !OidIsValid(t->relid))
		t->relid = direct_lookup(relname);
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
		if (direct_lookup(relname) != RelationGetRelid(rel))
		{
			table_close(rel, NoLock);
			t->valid = false;
			t->relid = InvalidOid;
			return false;
		}
		direct_describe(t, rel);
	}
	required = t->update ? ACL_UPDATE | ACL_SELECT : ACL_INSERT;
	if (!t->usable ||
		pg_class_aclmask(RelationGetRelid(rel), GetUserId(), required,
						 ACLMASK_ALL) != required)
	{
		table_close(rel, NoLock);
		return false;
	}

	dw->table = t;
	dw->attnums = t->attnums;
	dw->returning_attnum = t->returning_attnum;
	dw->rel = rel;
	dw->snapshot = InvalidSnapshot;
	dw->estate = CreateExecutorState();
	old = MemoryContextSwitchTo(dw->estate->es_query_cxt);
	dw->rri = makeNode(ResultRelInfo);
	if (t->update)
	{
		/* a range table entry: which columns the update sets, for the indexes */
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(rel);
		rte->relkind = rel->rd_rel->relkind;
		rte->rellockmode = RowExclusiveLock;
		rte->requiredPerms = required;
		rte->updatedCols = bms_copy(t->updated_cols);
		ExecInitRangeTable(dw->estate, list_make1(rte));
		InitResultRelInfo(dw->rri, rel, 1, NULL, 0);
		/* the replica identity a publication of updates needs */
		CheckValidResultRel(dw->rri, CMD_UPDATE);
	}
	else
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

	if (t->update)
	{
		/* as _SPI_execute_plan does for an UPDATE */
		PushActiveSnapshot(GetTransactionSnapshot());
		CommandCounterIncrement();
		UpdateActiveSnapshotCommandId();
		dw->snapshot = GetActiveSnapshot();
		dw->estate->es_snapshot = dw->snapshot;
	}
	dw->estate->es_output_cid = GetCurrentCommandId(true);
	return true;
}

/* Open table for a direct insert; false if it must go through SPI. */
bool
direct_begin_insert(OmTableId table, bool speculative, DirectWrite *dw)
{
	DirectTable *t = &direct_tables[table][0];

	t->table = table;
	t->used = OM_COL_INSERT;
	return direct_begin(t, speculative, dw);
}

/* Open table for a direct update by key; false if it must go through SPI. */
bool
direct_begin_update(OmTableId table, DirectTriggerCheck triggers, DirectWrite *dw)
{
	DirectTable *t = &direct_tables[table][1];

	t->table = table;
	t->update = true;
	t->used = OM_COL_READ;
	t->set = OM_COL_STATUS | OM_COL_LIFECYCLE;
	t->update_triggers = triggers;
	return direct_begin(t, false, dw);
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
			const bool *nulls)
{
	DirectTable *t = dw->table;
	ExprContext *econtext = GetPerTupleExprContext(dw->estate);
	int			natts = slot->tts_tupleDescriptor->natts;
	int			ncolumns = om_tables[t->table].ncolumns;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	for (i = 0; i < ncolumns; i++)
	{
		if (t->attnums[i] == InvalidAttrNumber)
			continue;
		slot->tts_values[t->attnums[i] - 1] = values[i];
		slot->tts_isnull[t->attnums[i] - 1] = nulls != NULL && nulls[i];
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
			elog(ERROR, "unexpected deferred index check on %s",
				 om_tables[dw->table->table].qualified);
	}
}

/*
 * Insert n formed rows at a time (no arbiter): constraints, heap (one
 * multi-insert), index entries.
 */
void
direct_insert_batch(DirectWrite *dw, TupleTableSlot **slots, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		direct_check(dw, slots[i]);
	table_multi_insert(dw->rel, slots, n, dw->estate->es_output_cid, 0, NULL);
	for (i = 0; i < n; i++)
		direct_index(dw, slots[i]);
	ResetPerTupleExprContext(dw->estate);
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
			elog(ERROR, "unexpected deferred index check on %s",
				 om_tables[dw->table->table].qualified);
		if (!spec_conflict)
			return true;
		/* a concurrent insert won the race: look at it */
	}
}

/*
 * Updates: find the row whose key is key, as the write's snapshot sees it,
 * through the unique index on the key; false if there is none.
 */
bool
direct_fetch(DirectWrite *dw, Datum key, TupleTableSlot *slot)
{
	DirectTable *t = dw->table;
	Relation	index = NULL;
	IndexScanDesc scan;
	ScanKeyData skey;
	bool		found;
	int			i;

	for (i = 0; i < dw->rri->ri_NumIndices; i++)
		if (RelationGetRelid(dw->rri->ri_IndexRelationDescs[i]) == t->key_index)
			index = dw->rri->ri_IndexRelationDescs[i];
	if (index == NULL)
		elog(ERROR, "index %u of %s is not open", t->key_index,
			 om_tables[t->table].qualified);

	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   t->key_collation, t->key_eqproc, key);
	scan = index_beginscan(dw->rel, index, dw->snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * A row the update meets already changed by this transaction: fine if this
 * very command did it, an error as in ExecUpdate if an earlier one did.
 */
static void
check_self_modified(const TM_FailureData *tmfd, CommandId cid)
{
	if (tmfd->cmax != cid)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
				 errmsg("tuple to be updated was already modified by an operation triggered by the current command"),
				 errhint("Consider using an AFTER trigger instead of a BEFORE trigger to propagate changes to other rows.")));
}

/*
 * Updates: replace the row in oldslot (as direct_fetch or a previous call
 * left it) with newslot, formed from it; constraints, heap and index
 * entries as ExecUpdate does.  When a concurrent transaction updated the row
 * first: under READ COMMITTED, wait for it, lock the row's latest version
 * into oldslot and return DIRECT_RECHECK, for the caller to check its
 * conditions on it again (as EvalPlanQual would) and call again; under
 * REPEATABLE READ and SERIALIZABLE, a serialization failure.
 */
DirectUpdateResult
direct_update(DirectWrite *dw, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	Relation	rel = dw->rel;
	CommandId	cid = dw->estate->es_output_cid;
	ItemPointerData tid = oldslot->tts_tid;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;
	List	   *recheck = NIL;

	newslot->tts_tableOid = RelationGetRelid(rel);
	direct_check(dw, newslot);
	result = table_tuple_update(rel, &tid, newslot, cid, dw->snapshot,
								InvalidSnapshot, true, &tmfd, &lockmode,
								&update_indexes);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
			/* updated before by this very command: nothing more to do */
			check_self_modified(&tmfd, cid);
			return DIRECT_GONE;
		case TM_Updated:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			result = table_tuple_lock(rel, &tid, dw->snapshot, oldslot, cid,
									  lockmode, LockWaitBlock,
									  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
			switch (result)
			{
				case TM_Ok:
					return DIRECT_RECHECK;
				case TM_Deleted:
					return DIRECT_GONE;
				case TM_SelfModified:
					check_self_modified(&tmfd, cid);
					return DIRECT_GONE;
				default:
					elog(ERROR, "unexpected table_tuple_lock status: %u", result);
			}
			break;
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent delete")));
			return DIRECT_GONE;
		default:
			elog(ERROR, "unrecognized table_tuple_update status: %u", result);
	}

	if (dw->rri->ri_NumIndices > 0 && update_indexes)
		recheck = ExecInsertIndexTuples(dw->rri, newslot, dw->estate, true, false,
										NULL, NIL);
	if (recheck != NIL)
		elog(ERROR, "unexpected deferred index check on %s",
			 om_tables[dw->table->table].qualified);
	return DIRECT_UPDATED;
}

/* Finish a direct write: close the indexes and the table, free the state. */
void
direct_end(DirectWrite *dw)
{
	ExecCloseIndices(dw->rri);
	ExecResetTupleTable(dw->estate->es_tupleTable, false);
	FreeExecutorState(dw->estate);
	table_close(dw->rel, NoLock);
	if (dw->snapshot != InvalidSnapshot)
	{
		/* as _SPI_execute_plan does after a statement */
		PopActiveSnapshot();
		CommandCounterIncrement();
	}
}
