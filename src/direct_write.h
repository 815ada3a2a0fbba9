/*-------------------------------------------------------------------------
 *
 * direct_write.h
 *	  Inserting rows into the order tables, and updating the lifecycle
 *	  columns of an order, without the executor.
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

/* most columns a caller supplies to one table */
#define DIRECT_MAX_COLUMNS 12

/*
 * A column the writer supplies (inserts) or reads and maybe sets (updates),
 * with the type it must have.
 */
typedef struct DirectColumn
{
	const char *name;
	Oid			type;
	bool		set;			/* the write gives the column its value (an
								 * update: the UPDATE would SET it) */
} DirectColumn;

/*
 * Updates: whether the UPDATE triggers of the table are exactly those whose
 * work the writer does itself, enabled to fire in origin mode.
 */
typedef bool (*DirectTriggerCheck) (Relation rel);

/* A table written directly, and what is known about it. */
typedef struct DirectTable
{
	const char *relname;
	const DirectColumn *columns;	/* supplied values come in this order */
	int			ncolumns;
	const char *arbiter;		/* ON CONFLICT (arbiter) DO NOTHING, or NULL */
	const char *returning;		/* int8 column whose value is returned, or NULL */
	const char *key;			/* updates: the column that finds the row;
								 * NULL for a table written by inserts */
	DirectTriggerCheck update_triggers; /* updates: see above */

	/* what direct_write.c learnt; reset by a relcache invalidation */
	bool		registered;		/* known to the invalidation callback */
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
	Oid			key_index;		/* updates: the unique index on the key */
	RegProcedure key_eqproc;	/* updates: its equality function */
	Oid			key_collation;
	Bitmapset  *updated_cols;	/* updates: the SET columns (RTE convention) */
} DirectTable;

/* One direct write in progress: the table, opened, and an executor state. */
typedef struct DirectWrite
{
	DirectTable *table;
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

extern bool direct_begin(DirectTable *t, bool speculative, DirectWrite *dw);
extern TupleTableSlot *direct_slot(DirectWrite *dw);
extern void direct_form(DirectWrite *dw, TupleTableSlot *slot, const Datum *values,
						const char *nulls);
extern void direct_check(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_index(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_insert(DirectWrite *dw, TupleTableSlot *slot);
extern bool direct_insert_or_nothing(DirectWrite *dw, TupleTableSlot *slot);
extern bool direct_fetch(DirectWrite *dw, Datum key, TupleTableSlot *slot);
extern DirectUpdateResult direct_update(DirectWrite *dw, TupleTableSlot *oldslot,
										TupleTableSlot *newslot);
extern void direct_end(DirectWrite *dw);

#endif							/* OM_DIRECT_WRITE_H */
