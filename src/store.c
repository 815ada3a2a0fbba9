/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Reading and writing the order tables: store_insert, which writes
 *	  rows directly or through SPI, and the SPI statements, built once from
 *	  the descriptors of order_schema.c.
 *
 * Layer 1 (storage): calls order_schema.c and direct_write.c only.
 *
 * Each statement is generated from the table descriptors the first time it
 * is needed, prepared once per backend and kept (SPI_keepplan); the plan
 * cache revalidates it after DDL.  Every name is schema-qualified and every
 * operator is written OPERATOR(pg_catalog.=), so neither the caller's
 * search_path nor objects planted in it change what runs.
 *
 * store_insert writes the rows of a table without the executor when the
 * table is as the extension made it (direct_write.c), and through the SPI
 * INSERT otherwise; both take the same values, indexed by the table's
 * descriptor.  Built with ORDER_MGMT_FORCE_SPI defined (make
 * ORDER_MGMT_FORCE_SPI=1), every write takes the SPI path.
 *
 * While this file inserts orders, lines or events through SPI it raises a
 * flag that the insert guards of lifecycle.c check: rows reach those
 * tables only through the order functions and the lifecycle triggers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "direct_write.h"
#include "order_mgmt.h"
#include "order_schema.h"
#include "store.h"

/* set while order_mgmt itself inserts orders, lines or events */
static bool internal_write = false;

static SPIPlanPtr insert_plans[OM_NTABLES];
static SPIPlanPtr find_by_cart_plan = NULL;
static SPIPlanPtr transition_plan = NULL;
static SPIPlanPtr read_order_plan = NULL;
static SPIPlanPtr read_lines_plan = NULL;

/* rows of a table inserted many at a time formed and inserted at once */
#define DIRECT_BATCH 64

/* The name of column anum of table. */
static inline const char *
column_name(OmTableId table, AttrNumber anum)
{
	return om_tables[table].columns[anum - 1].name;
}

/* True if table's rows are inserted many at a time (no arbiter, no result). */
static inline bool
inserted_in_batches(OmTableId table)
{
	return om_tables[table].arbiter == InvalidAttrNumber &&
		om_tables[table].returning == InvalidAttrNumber;
}

/* Append the names of table's columns that have one of flags, with commas. */
static int
append_columns(StringInfo buf, OmTableId table, uint8 flags)
{
	const OmTable *t = &om_tables[table];
	int			n = 0;
	int			i;

	for (i = 0; i < t->ncolumns; i++)
		if (t->columns[i].flags & flags)
			appendStringInfo(buf, "%s%s", n++ > 0 ? ", " : "", t->columns[i].name);
	return n;
}

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

/*
 * The kept INSERT of table, built from its descriptor: its OM_COL_INSERT
 * columns as parameters, in descriptor order; ON CONFLICT (arbiter) DO
 * NOTHING where the table has one; RETURNING its returning column (or 1).
 * A table inserted in batches takes one array per column, unnested side by
 * side (ROWS FROM).
 */
static SPIPlanPtr
insert_plan(OmTableId table)
{
	const OmTable *t = &om_tables[table];
	bool		batches = inserted_in_batches(table);
	StringInfoData sql;
	Oid			argtypes[OM_MAX_COLUMNS];
	int			nargs = 0;
	int			i;

	if (insert_plans[table] != NULL)
		return insert_plans[table];

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (", t->qualified);
	append_columns(&sql, table, OM_COL_INSERT);
	appendStringInfoString(&sql, batches ? ") SELECT * FROM ROWS FROM (" : ") VALUES (");
	for (i = 0; i < t->ncolumns; i++)
	{
		Oid			type = t->columns[i].type;

		if (!(t->columns[i].flags & OM_COL_INSERT))
			continue;
		argtypes[nargs] = batches ? get_array_type(type) : type;
		if (!OidIsValid(argtypes[nargs]))
			elog(ERROR, "type %u has no array type", type);
		nargs++;
		appendStringInfo(&sql, batches ? "%spg_catalog.unnest($%d)" : "%s$%d",
						 nargs > 1 ? ", " : "", nargs);
	}
	appendStringInfoChar(&sql, ')');
	if (t->arbiter != InvalidAttrNumber)
		appendStringInfo(&sql, " ON CONFLICT (%s) DO NOTHING",
						 column_name(table, t->arbiter));
	appendStringInfo(&sql, " RETURNING %s", t->returning != InvalidAttrNumber ?
					 column_name(table, t->returning) : "1");
	return prepare_once(&insert_plans[table], sql.data, nargs, argtypes);
}

/*
 * Insert nrows rows into table through SPI (values/nulls as store_insert's);
 * returns the rows inserted and sets *returned.
 */
static uint64
insert_with_spi(OmTableId table, int nrows, const Datum *values, const bool *nulls,
				int64 *returned)
{
	const OmTable *t = &om_tables[table];
	SPIPlanPtr	plan = insert_plan(table);
	bool		batches = inserted_in_batches(table);
	Datum		args[OM_MAX_COLUMNS];
	char		argnulls[OM_MAX_COLUMNS];
	int			nargs = 0;
	int			i;

	if (!batches && nrows != 1)
		elog(ERROR, "%s takes one row at a time", t->qualified);
	for (i = 0; i < t->ncolumns; i++)
	{
		const OmColumn *col = &t->columns[i];

		if (!(col->flags & OM_COL_INSERT))
			continue;
		argnulls[nargs] = ' ';
		if (batches)
		{
			Datum	   *elems = palloc(sizeof(Datum) * nrows);
			bool	   *elemnulls = palloc(sizeof(bool) * nrows);
			int			dims[1] = {nrows};
			int			lbs[1] = {1};
			int16		typlen;
			bool		typbyval;
			char		typalign;
			int			r;

			for (r = 0; r < nrows; r++)
			{
				elems[r] = values[r * t->ncolumns + i];
				elemnulls[r] = nulls != NULL && nulls[r * t->ncolumns + i];
			}
			get_typlenbyvalalign(col->type, &typlen, &typbyval, &typalign);
			args[nargs] = PointerGetDatum(construct_md_array(elems, elemnulls, 1, dims, lbs,
															 col->type, typlen, typbyval,
															 typalign));
		}
		else
		{
			args[nargs] = values[i];
			if (nulls != NULL && nulls[i])
				argnulls[nargs] = 'n';
		}
		nargs++;
	}
	execute_internal_write(plan, args, argnulls);
	if (t->returning != InvalidAttrNumber && SPI_processed > 0)
	{
		bool		isnull;

		*returned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[SPI_processed - 1],
												SPI_tuptable->tupdesc, 1, &isnull));
	}
	return SPI_processed;
}

/* Insert nrows rows directly, DIRECT_BATCH at a time (no arbiter, no result). */
static void
insert_batches(DirectWrite *dw, int ncolumns, int nrows, const Datum *values,
			   const bool *nulls)
{
	TupleTableSlot *slots[DIRECT_BATCH];
	int			nslots = Min(nrows, DIRECT_BATCH);
	int			first;
	int			i;

	for (i = 0; i < nslots; i++)
		slots[i] = direct_slot(dw);
	for (first = 0; first < nrows; first += DIRECT_BATCH)
	{
		int			n = Min(nrows - first, DIRECT_BATCH);

		for (i = 0; i < n; i++)
			direct_form(dw, slots[i], &values[(first + i) * ncolumns],
						nulls ? &nulls[(first + i) * ncolumns] : NULL);
		direct_insert_batch(dw, slots, n);
	}
}

/*
 * Insert nrows rows into table: values[row * ncolumns + Anum - 1] (and
 * nulls likewise, or NULL for none) for the columns flagged OM_COL_INSERT;
 * the others get their defaults.  Without the executor when the table allows
 * it (direct_write.c), else with the SPI INSERT of insert_plan.  Returns the
 * rows inserted (0 when the table's arbiter already holds the key) and sets
 * *returned to the returning column of the last row, where the table has
 * one.  Callers must be connected to SPI.
 */
uint64
store_insert(OmTableId table, int nrows, const Datum *values, const bool *nulls,
			 int64 *returned)
{
	const OmTable *t = &om_tables[table];
	DirectWrite dw;
	uint64		inserted;

	if (!direct_begin_insert(table, t->arbiter != InvalidAttrNumber, &dw))
		return insert_with_spi(table, nrows, values, nulls, returned);

	if (inserted_in_batches(table))
	{
		insert_batches(&dw, t->ncolumns, nrows, values, nulls);
		inserted = nrows;
	}
	else
	{
		TupleTableSlot *slot = direct_slot(&dw);

		if (nrows != 1)
			elog(ERROR, "%s takes one row at a time", t->qualified);
		direct_form(&dw, slot, values, nulls);
		if (t->returning != InvalidAttrNumber)
		{
			bool		isnull;

			*returned = DatumGetInt64(slot_getattr(slot, dw.returning_attnum, &isnull));
			if (isnull)
				elog(ERROR, "%s row has no %s", t->qualified,
					 column_name(table, t->returning));
		}
		if (t->arbiter != InvalidAttrNumber)
			inserted = direct_insert_or_nothing(&dw, slot) ? 1 : 0;
		else
		{
			direct_insert(&dw, slot);
			inserted = 1;
		}
	}
	direct_end(&dw);
	return inserted;
}

/* Insert the order row; false if the cart already has an order. */
bool
store_insert_order(const StoredOrder *order)
{
	Datum		values[Natts_orders];
	bool		nulls[Natts_orders];

	om_order_to_values(order, OM_COL_INSERT, values, nulls);
	return store_insert(OM_TABLE_ORDERS, 1, values, nulls, NULL) == 1;
}

/* Insert the order's lines, numbered from 1 in the order they are listed. */
void
store_insert_lines(const StoredOrder *order)
{
	Datum	   *values = palloc(sizeof(Datum) * Natts_order_lines * order->nlines);
	int			i;

	for (i = 0; i < order->nlines; i++)
	{
		Datum	   *row = &values[i * Natts_order_lines];
		const OrderLine *line = &order->lines[i];

		row[Anum_order_lines_order_id - 1] = UUIDPGetDatum(&order->order_id);
		row[Anum_order_lines_line_no - 1] = Int32GetDatum(i + 1);
		row[Anum_order_lines_product_id - 1] = UUIDPGetDatum(&line->product_id);
		row[Anum_order_lines_quantity - 1] = Int32GetDatum(line->quantity);
		row[Anum_order_lines_unit_price - 1] = Int64GetDatum(line->unit_price);
	}
	if (store_insert(OM_TABLE_ORDER_LINES, order->nlines, values, NULL, NULL) !=
		(uint64) order->nlines)
		elog(ERROR, "order lines were not all inserted");
	pfree(values);
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
	SPIPlanPtr	plan = find_by_cart_plan;

	if (plan == NULL)
		plan = prepare_once(&find_by_cart_plan,
							psprintf("SELECT %s, %s FROM %s WHERE %s OPERATOR(pg_catalog.=) $1",
									 column_name(OM_TABLE_ORDERS, Anum_orders_order_id),
									 column_name(OM_TABLE_ORDERS, Anum_orders_command_digest),
									 om_tables[OM_TABLE_ORDERS].qualified,
									 column_name(OM_TABLE_ORDERS, Anum_orders_cart_id)),
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
	Datum		values[Natts_outbox];
	int64		position = 0;

	/*
	 * Have the transaction id before the position is drawn: the consumer
	 * feed relies on every transaction holding a position having an xid
	 * older than the moment the position was handed out (see
	 * order_mgmt.sequence_events in the install script).
	 */
	(void) GetTopTransactionId();

	values[Anum_outbox_id - 1] = UUIDPGetDatum(event_id);
	values[Anum_outbox_aggregatetype - 1] = CStringGetTextDatum(OM_AGGREGATE_TYPE);
	values[Anum_outbox_aggregateid - 1] = UUIDPGetDatum(order_id);
	values[Anum_outbox_type - 1] = CStringGetTextDatum(type);
	values[Anum_outbox_payload - 1] = JsonbPGetDatum(payload);
	values[Anum_outbox_order_version - 1] = Int32GetDatum(order_version);
	values[Anum_outbox_schema_version - 1] = CStringGetTextDatum(OM_CONTRACT_VERSION);
	values[Anum_outbox_occurred_at - 1] = TimestampTzGetDatum(occurred_at);
	values[Anum_outbox_xact_id - 1] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	if (store_insert(OM_TABLE_OUTBOX, 1, values, NULL, &position) != 1)
		elog(ERROR, "outbox row was not inserted");
	return position;
}

/*
 * Move a CREATED order to new_status with the SQL UPDATE, the lifecycle
 * triggers doing the rest; false if no row changed.  (cancel_order and
 * complete_order use it when lifecycle_transition cannot do the same
 * without the executor.)
 */
bool
store_transition_order(const pg_uuid_t *order_id, const char *new_status,
					   const char *reason, bool has_expected,
					   int32 expected_version, int32 *new_version)
{
	Oid			argtypes[4] = {UUIDOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];
	char		nulls[4];
	bool		isnull;
	SPIPlanPtr	plan = transition_plan;

	if (plan == NULL)
	{
		const char *status = column_name(OM_TABLE_ORDERS, Anum_orders_status);
		const char *version = column_name(OM_TABLE_ORDERS, Anum_orders_version);

		plan = prepare_once(&transition_plan,
							psprintf("UPDATE %s SET %s = $2, %s = $3 "
									 "WHERE %s OPERATOR(pg_catalog.=) $1 "
									 "AND %s OPERATOR(pg_catalog.=) '%s' "
									 "AND ($4 IS NULL OR %s OPERATOR(pg_catalog.=) $4) "
									 "RETURNING %s",
									 om_tables[OM_TABLE_ORDERS].qualified, status,
									 column_name(OM_TABLE_ORDERS,
												 Anum_orders_cancellation_reason),
									 column_name(OM_TABLE_ORDERS, Anum_orders_order_id),
									 status, OM_STATUS_CREATED, version, version),
							4, argtypes);
	}
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

/* Read the lines of an order into *order, in line order. */
static void
read_lines(StoredOrder *order)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	SPIPlanPtr	plan = read_lines_plan;
	uint64		i;

	if (plan == NULL)
		plan = prepare_once(&read_lines_plan,
							psprintf("SELECT %s, %s, %s FROM %s "
									 "WHERE %s OPERATOR(pg_catalog.=) $1 ORDER BY %s",
									 column_name(OM_TABLE_ORDER_LINES, Anum_order_lines_product_id),
									 column_name(OM_TABLE_ORDER_LINES, Anum_order_lines_quantity),
									 column_name(OM_TABLE_ORDER_LINES, Anum_order_lines_unit_price),
									 om_tables[OM_TABLE_ORDER_LINES].qualified,
									 column_name(OM_TABLE_ORDER_LINES, Anum_order_lines_order_id),
									 column_name(OM_TABLE_ORDER_LINES, Anum_order_lines_line_no)),
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

/* where read_order_plan's result has each column (attnum[Anum - 1]) */
static AttrNumber read_order_attnums[Natts_orders];

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
	Datum		row[Natts_orders];
	bool		isnull[Natts_orders];
	SPIPlanPtr	plan = read_order_plan;

	if (plan == NULL)
	{
		StringInfoData sql;
		int			n = 0;
		int			i;

		/* the OM_COL_READ columns, in descriptor order */
		for (i = 0; i < Natts_orders; i++)
			read_order_attnums[i] =
				(om_tables[OM_TABLE_ORDERS].columns[i].flags & OM_COL_READ) ? ++n : 0;
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT ");
		append_columns(&sql, OM_TABLE_ORDERS, OM_COL_READ);
		appendStringInfo(&sql, " FROM %s WHERE %s OPERATOR(pg_catalog.=) $1",
						 om_tables[OM_TABLE_ORDERS].qualified,
						 column_name(OM_TABLE_ORDERS, Anum_orders_order_id));
		plan = prepare_once(&read_order_plan, sql.data, 1, argtypes);
	}
	values[0] = UUIDPGetDatum(order_id);
	execute_plan(plan, values, NULL, !fresh_snapshot, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, row, isnull);
	om_order_from_values(row, isnull, read_order_attnums, order);
	if (with_lines)
		read_lines(order);
	return true;
}
