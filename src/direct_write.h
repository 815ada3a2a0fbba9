/*-------------------------------------------------------------------------
 *
 * direct_write.h
 *	  Inserting rows into the order tables without the executor.
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
} DirectTable;

/* One direct write in progress: the table, opened, and an executor state. */
typedef struct DirectWrite
{
	DirectTable *table;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	ExprState **defaults;
} DirectWrite;

extern bool direct_begin(DirectTable *t, bool speculative, DirectWrite *dw);
extern TupleTableSlot *direct_slot(DirectWrite *dw);
extern void direct_form(DirectWrite *dw, TupleTableSlot *slot, const Datum *values,
						const char *nulls);
extern void direct_check(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_index(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_insert(DirectWrite *dw, TupleTableSlot *slot);
extern bool direct_insert_or_nothing(DirectWrite *dw, TupleTableSlot *slot);
extern void direct_end(DirectWrite *dw);

#endif							/* OM_DIRECT_WRITE_H */
