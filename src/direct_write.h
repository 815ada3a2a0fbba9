/*-------------------------------------------------------------------------
 *
 * direct_write.h
 *	  Inserting rows into the order tables, and updating the lifecycle
 *	  columns of an order, without the executor.
 *
 * Layer 1 (storage), below store.c and lifecycle.c: calls only
 * order_schema.c.  What it learns of a table stays private to it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_DIRECT_WRITE_H
#define OM_DIRECT_WRITE_H

#include "postgres.h"

#include "executor/execdesc.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "utils/rel.h"

#include "order_schema.h"

/*
 * Updates: whether the UPDATE triggers of the table are exactly those whose
 * work the writer does itself, enabled to fire in origin mode.
 */
typedef bool (*DirectTriggerCheck) (Relation rel);

/* what direct_write.c knows of a table, private to it */
typedef struct DirectTable DirectTable;

/*
 * One direct write in progress: the table, opened, and an executor state.
 * Values come indexed by the table's descriptor (values[Anum - 1]), and
 * attnums[Anum - 1] is where each column the write uses is in the table.
 */
typedef struct DirectWrite
{
	DirectTable *table;
	const AttrNumber *attnums;
	AttrNumber	returning_attnum;	/* inserts: of the table's returning */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	ExprState **defaults;
	Snapshot	snapshot;		/* updates: the statement's snapshot (active) */
} DirectWrite;

/* what direct_update did */
typedef enum DirectUpdateResult
{
	DIRECT_UPDATED,				/* the row was replaced */
	DIRECT_RECHECK,				/* a concurrent update won: its row version is
								 * now locked in oldslot, to check again */
	DIRECT_GONE					/* the row is gone: nothing updated */
} DirectUpdateResult;

/* open table for inserts of its OM_COL_INSERT columns; false: use SPI */
extern bool direct_begin_insert(OmTableId table, bool speculative, DirectWrite *dw);

/*
 * Open table for updates of the rows found by its key: it reads the
 * OM_COL_READ columns and sets the status and the OM_COL_LIFECYCLE ones;
 * triggers tells whether its UPDATE triggers are those the caller stands in
 * for.  False: use SPI.
 */
extern bool direct_begin_update(OmTableId table, DirectTriggerCheck triggers,
								DirectWrite *dw);

/* a slot for rows of the table being written */
extern TupleTableSlot *direct_slot(DirectWrite *dw);

/* form a row in slot: the values the write supplies, defaults, NULL elsewhere */
extern void direct_form(DirectWrite *dw, TupleTableSlot *slot, const Datum *values,
						const bool *nulls);

/* check a formed row against NOT NULL and CHECK; insert its index entries */
extern void direct_check(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_index(DirectWrite *dw, TupleTableSlot *slot);

/* insert a formed row; or unless an arbiter holds its key (false then) */
extern void direct_insert(DirectWrite *dw, TupleTableSlot *slot);
extern bool direct_insert_or_nothing(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_insert_batch(DirectWrite *dw, TupleTableSlot **slots, int n);

/* updates: find the row by key; replace it; finish any write */
extern bool direct_fetch(DirectWrite *dw, Datum key, TupleTableSlot *slot);
extern DirectUpdateResult direct_update(DirectWrite *dw, TupleTableSlot *oldslot,
										TupleTableSlot *newslot);
extern void direct_end(DirectWrite *dw);

#endif							/* OM_DIRECT_WRITE_H */
