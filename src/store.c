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
 * executor when the tables are as the extension made them (direct_write.c),
 * and through the SPI statements otherwise.
 *
 * While this file inserts orders, lines or events through SPI it raises a
 * flag that the insert guards of lifecycle.c check: rows reach those
 * tables only through the order functions and the lifecycle triggers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "direct_write.h"
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
 * The tables create_order writes directly when it can (direct_write.c):
 * the columns it supplies to each, in the order of the values arrays below.
 */

/* rows of order_lines formed and inserted at a time */
#define DIRECT_LINES_BATCH 64

static const DirectColumn order_columns[] = {
	{"order_id", UUIDOID, true}, {"cart_id", UUIDOID, true}, {"customer_id", UUIDOID, true},
	{"status", TEXTOID, true}, {"total", INT8OID, true}, {"currency", TEXTOID, true},
	{"payment_authorization_id", TEXTOID, true}, {"version", INT4OID, true},
	{"created_at", TIMESTAMPTZOID, true}, {"command_digest", BYTEAOID, true}
};

static const DirectColumn line_columns[] = {
	{"order_id", UUIDOID, true}, {"line_no", INT4OID, true}, {"product_id", UUIDOID, true},
	{"quantity", INT4OID, true}, {"unit_price", INT8OID, true}
};

static const DirectColumn event_columns[] = {
	{"id", UUIDOID, true}, {"aggregatetype", TEXTOID, true}, {"aggregateid", UUIDOID, true},
	{"type", TEXTOID, true}, {"payload", JSONBOID, true}, {"order_version", INT4OID, true},
	{"schema_version", TEXTOID, true}, {"occurred_at", TIMESTAMPTZOID, true},
	{"xact_id", XID8OID, true}
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
