/*-------------------------------------------------------------------------
 *
 * order_schema.c
 *	  The descriptors of order_mgmt's tables, statuses, cancellation
 *	  reasons and event kinds, and what is derived from them alone.
 *
 * Layer 0 (schema): calls nothing of order_mgmt.  store.c builds its SQL
 * statements from these descriptors, direct_write.c its executor-free
 * writes, lifecycle.c its checks, events.c its payloads, partition.c its
 * reads and writes of the assignment; the install and update scripts hold
 * the same names in their CREATE TABLE and CHECK constraints.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "order_schema.h"

/* a column without a StoredOrder field */
#define COL(name, type, flags) {name, type, flags, OM_FIELD_NONE, 0, -1}
/* a column held in StoredOrder.member */
#define FIELD(name, type, flags, field, member) \
	{name, type, flags, field, offsetof(StoredOrder, member), -1}
/* a nullable time held in StoredOrder.member, set when StoredOrder.isset */
#define TIME_IF(name, flags, member, isset) \
	{name, TIMESTAMPTZOID, flags, OM_FIELD_TIMESTAMPTZ, \
	 offsetof(StoredOrder, member), offsetof(StoredOrder, isset)}

#define INS OM_COL_INSERT
#define RD OM_COL_READ
#define ESS OM_COL_ESSENTIAL
#define LC OM_COL_LIFECYCLE

static const OmColumn orders_columns[Natts_orders] = {
	[Anum_orders_order_id - 1] =
	FIELD("order_id", UUIDOID, INS | RD | ESS, OM_FIELD_UUID, order_id),
	[Anum_orders_cart_id - 1] =
	FIELD("cart_id", UUIDOID, INS | RD | ESS, OM_FIELD_UUID, cart_id),
	[Anum_orders_customer_id - 1] =
	FIELD("customer_id", UUIDOID, INS | RD | ESS, OM_FIELD_UUID, customer_id),
	[Anum_orders_status - 1] =
	FIELD("status", TEXTOID, INS | RD | OM_COL_STATUS, OM_FIELD_TEXT, status),
	[Anum_orders_total - 1] =
	FIELD("total", INT8OID, INS | RD | ESS, OM_FIELD_INT64, total),
	[Anum_orders_currency - 1] =
	FIELD("currency", TEXTOID, INS | RD | ESS, OM_FIELD_CODE, currency),
	[Anum_orders_payment_authorization_id - 1] =
	FIELD("payment_authorization_id", TEXTOID, INS | RD | ESS, OM_FIELD_TEXT,
		  payment_authorization_id),
	[Anum_orders_version - 1] =
	FIELD("version", INT4OID, INS | RD | LC, OM_FIELD_INT32, version),
	[Anum_orders_created_at - 1] =
	FIELD("created_at", TIMESTAMPTZOID, INS | RD | ESS, OM_FIELD_TIMESTAMPTZ,
		  created_at),
	[Anum_orders_completed_at - 1] =
	TIME_IF("completed_at", RD | LC, completed_at, completed),
	[Anum_orders_cancelled_at - 1] =
	TIME_IF("cancelled_at", RD | LC, cancelled_at, cancelled),
	[Anum_orders_cancellation_reason - 1] =
	FIELD("cancellation_reason", TEXTOID, RD | LC, OM_FIELD_TEXT,
		  cancellation_reason),
	[Anum_orders_command_digest - 1] =
	FIELD("command_digest", BYTEAOID, INS | ESS, OM_FIELD_DIGEST, command_digest),
};

static const OmColumn order_lines_columns[Natts_order_lines] = {
	[Anum_order_lines_order_id - 1] = COL("order_id", UUIDOID, INS),
	[Anum_order_lines_line_no - 1] = COL("line_no", INT4OID, INS),
	[Anum_order_lines_product_id - 1] = COL("product_id", UUIDOID, INS),
	[Anum_order_lines_quantity - 1] = COL("quantity", INT4OID, INS),
	[Anum_order_lines_unit_price - 1] = COL("unit_price", INT8OID, INS),
};

static const OmColumn outbox_columns[Natts_outbox] = {
	[Anum_outbox_position - 1] = COL("position", INT8OID, 0),
	[Anum_outbox_id - 1] = COL("id", UUIDOID, INS),
	[Anum_outbox_aggregatetype - 1] = COL("aggregatetype", TEXTOID, INS),
	[Anum_outbox_aggregateid - 1] = COL("aggregateid", UUIDOID, INS),
	[Anum_outbox_type - 1] = COL("type", TEXTOID, INS),
	[Anum_outbox_payload - 1] = COL("payload", JSONBOID, INS),
	[Anum_outbox_order_version - 1] = COL("order_version", INT4OID, INS),
	[Anum_outbox_schema_version - 1] = COL("schema_version", TEXTOID, INS),
	[Anum_outbox_occurred_at - 1] = COL("occurred_at", TIMESTAMPTZOID, INS),
	[Anum_outbox_xact_id - 1] = COL("xact_id", XID8OID, INS),
};

static const OmColumn partition_assignment_columns[Natts_partition_assignment] = {
	[Anum_partition_assignment_partition_count - 1] =
	COL("partition_count", INT4OID, INS),
	[Anum_partition_assignment_partitions - 1] =
	COL("partitions", INT4ARRAYOID, INS),
	[Anum_partition_assignment_assigned_at - 1] =
	COL("assigned_at", TIMESTAMPTZOID, 0),
	[Anum_partition_assignment_assigned_by - 1] = COL("assigned_by", NAMEOID, 0),
	[Anum_partition_assignment_singleton - 1] = COL("singleton", BOOLOID, 0),
};

StaticAssertDecl(Natts_orders <= OM_MAX_COLUMNS &&
				 Natts_order_lines <= OM_MAX_COLUMNS &&
				 Natts_outbox <= OM_MAX_COLUMNS &&
				 Natts_partition_assignment <= OM_MAX_COLUMNS,
				 "OM_MAX_COLUMNS is too small");

const OmTable om_tables[OM_NTABLES] = {
	[OM_TABLE_ORDERS] = {
		"orders", OM_SCHEMA ".orders", orders_columns, Natts_orders,
		.arbiter = Anum_orders_cart_id, .key = Anum_orders_order_id
	},
	[OM_TABLE_ORDER_LINES] = {
		"order_lines", OM_SCHEMA ".order_lines", order_lines_columns,
		Natts_order_lines
	},
	[OM_TABLE_OUTBOX] = {
		"outbox", OM_SCHEMA ".outbox", outbox_columns, Natts_outbox,
		.returning = Anum_outbox_position
	},
	[OM_TABLE_PARTITION_ASSIGNMENT] = {
		"partition_assignment", OM_SCHEMA ".partition_assignment",
		partition_assignment_columns, Natts_partition_assignment
	},
};

const char *const om_statuses[] = {
	OM_STATUS_CREATED, OM_STATUS_COMPLETED, OM_STATUS_CANCELLED
};
const int	om_nstatuses = lengthof(om_statuses);

const char *const om_cancellation_reasons[] = {
	"CUSTOMER_REQUESTED", "PAYMENT_FAILED", "OUT_OF_STOCK", "FRAUD"
};
const int	om_ncancellation_reasons = lengthof(om_cancellation_reasons);

const OmEventKindInfo om_event_kinds[OM_NEVENT_KINDS] = {
	[OM_EVENT_CREATED] = {"OrderCreated", OM_STATUS_CREATED, "order_created", 5,
		{OM_PAYLOAD_ORDER_ID, OM_PAYLOAD_CUSTOMER_ID, OM_PAYLOAD_TOTAL,
		OM_PAYLOAD_CURRENCY, OM_PAYLOAD_CREATED_AT}},
	[OM_EVENT_COMPLETED] = {"OrderCompleted", OM_STATUS_COMPLETED, "order_completed", 3,
		{OM_PAYLOAD_ORDER_ID, OM_PAYLOAD_CUSTOMER_ID, OM_PAYLOAD_COMPLETED_AT}},
	[OM_EVENT_CANCELLED] = {"OrderCancelled", OM_STATUS_CANCELLED, "order_cancelled", 4,
		{OM_PAYLOAD_ORDER_ID, OM_PAYLOAD_CUSTOMER_ID, OM_PAYLOAD_REASON,
		OM_PAYLOAD_CANCELLED_AT}},
};

/* True if reason is one of the contract's cancellation reasons. */
bool
om_is_cancellation_reason(const char *reason)
{
	int			i;

	for (i = 0; i < om_ncancellation_reasons; i++)
		if (strcmp(reason, om_cancellation_reasons[i]) == 0)
			return true;
	return false;
}

/* The event that moving an order into status produces; false if none. */
bool
om_event_kind_for_status(const char *status, OrderEventKind *kind)
{
	int			i;

	for (i = 0; i < OM_NEVENT_KINDS; i++)
		if (strcmp(status, om_event_kinds[i].status) == 0)
		{
			*kind = (OrderEventKind) i;
			return true;
		}
	return false;
}

/* Names joined for a message: "A, B, C" with last before the last one. */
char *
om_join_names(const char *const *names, int n, const char *last)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, i == n - 1 ? last : ", ");
		appendStringInfoString(&buf, names[i]);
	}
	return buf.data;
}

/* The value of column col of order, and whether it is NULL. */
static Datum
order_field_value(const StoredOrder *order, const OmColumn *col, bool *isnull)
{
	const char *p = (const char *) order + col->offset;

	*isnull = false;
	switch (col->field)
	{
		case OM_FIELD_UUID:
			return UUIDPGetDatum((pg_uuid_t *) p);
		case OM_FIELD_TEXT:
			*isnull = *(char *const *) p == NULL;
			return *isnull ? (Datum) 0 : CStringGetTextDatum(*(char *const *) p);
		case OM_FIELD_CODE:
			return CStringGetTextDatum(p);
		case OM_FIELD_INT32:
			return Int32GetDatum(*(const int32 *) p);
		case OM_FIELD_INT64:
			return Int64GetDatum(*(const int64 *) p);
		case OM_FIELD_TIMESTAMPTZ:
			*isnull = col->set_offset >= 0 &&
				!*((const bool *) ((const char *) order + col->set_offset));
			return TimestampTzGetDatum(*(const TimestampTz *) p);
		case OM_FIELD_DIGEST:
			{
				bytea	   *b = palloc(VARHDRSZ + OM_DIGEST_LEN);

				SET_VARSIZE(b, VARHDRSZ + OM_DIGEST_LEN);
				memcpy(VARDATA(b), p, OM_DIGEST_LEN);
				return PointerGetDatum(b);
			}
		case OM_FIELD_NONE:
			break;
	}
	elog(ERROR, "column \"%s\" of orders has no order field", col->name);
	return (Datum) 0;			/* keep the compiler quiet */
}

/* The values of the columns of order that have one of flags. */
void
om_order_to_values(const StoredOrder *order, uint8 flags, Datum *values,
				   bool *nulls)
{
	int			i;

	for (i = 0; i < Natts_orders; i++)
		if (orders_columns[i].flags & flags)
			values[i] = order_field_value(order, &orders_columns[i], &nulls[i]);
}

/* Store value (NULL when isnull) of column col into order. */
static void
set_order_field(StoredOrder *order, const OmColumn *col, Datum value, bool isnull)
{
	char	   *p = (char *) order + col->offset;

	if (isnull && col->field != OM_FIELD_TEXT && col->set_offset < 0)
		elog(ERROR, "order row has no %s", col->name);
	switch (col->field)
	{
		case OM_FIELD_UUID:
			*(pg_uuid_t *) p = *DatumGetUUIDP(value);
			break;
		case OM_FIELD_TEXT:
			*(char **) p = isnull ? NULL : TextDatumGetCString(value);
			break;
		case OM_FIELD_CODE:
			text_to_cstring_buffer(DatumGetTextPP(value), p, 4);
			break;
		case OM_FIELD_INT32:
			*(int32 *) p = DatumGetInt32(value);
			break;
		case OM_FIELD_INT64:
			*(int64 *) p = DatumGetInt64(value);
			break;
		case OM_FIELD_TIMESTAMPTZ:
			*(TimestampTz *) p = isnull ? 0 : DatumGetTimestampTz(value);
			if (col->set_offset >= 0)
				*((bool *) ((char *) order + col->set_offset)) = !isnull;
			break;
		case OM_FIELD_DIGEST:
			{
				bytea	   *b = DatumGetByteaPP(value);

				if (VARSIZE_ANY_EXHDR(b) != OM_DIGEST_LEN)
					elog(ERROR, "stored command digest has %zu bytes",
						 (Size) VARSIZE_ANY_EXHDR(b));
				memcpy(p, VARDATA_ANY(b), OM_DIGEST_LEN);
				break;
			}
		case OM_FIELD_NONE:
			break;
	}
}

/*
 * Decode an orders row (values/isnull by attribute number - 1, the columns
 * at attnums[Anum - 1]) into *order: the columns flagged OM_COL_READ.
 */
void
om_order_from_values(const Datum *values, const bool *isnull,
					 const AttrNumber *attnums, StoredOrder *order)
{
	int			i;

	for (i = 0; i < Natts_orders; i++)
	{
		const OmColumn *col = &orders_columns[i];

		if (!(col->flags & OM_COL_READ))
			continue;
		if (attnums[i] == InvalidAttrNumber)
			elog(ERROR, "order_mgmt.orders has no column \"%s\"", col->name);
		set_order_field(order, col, values[attnums[i] - 1], isnull[attnums[i] - 1]);
	}
	order->nlines = -1;
	order->lines = NULL;
}

/* attribute numbers of each table, for the relation they were looked up in */
typedef struct AttnumCache
{
	Oid			relid;			/* InvalidOid: not valid */
	AttrNumber	attnums[OM_MAX_COLUMNS];
} AttnumCache;

static AttnumCache attnum_cache[OM_NTABLES];
static bool attnum_callback_registered = false;

/* Relcache invalidation: forget the attribute numbers of the relation. */
static void
attnum_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < OM_NTABLES; i++)
		if (relid == InvalidOid || relid == attnum_cache[i].relid)
			attnum_cache[i].relid = InvalidOid;
}

/*
 * The attribute numbers of table's columns in rel, attnums[Anum - 1]
 * (InvalidAttrNumber where rel has no such column), looked up once per
 * relation.
 */
const AttrNumber *
om_attnums(OmTableId table, Relation rel)
{
	AttnumCache *cache = &attnum_cache[table];
	const OmTable *t = &om_tables[table];
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;
	int			j;

	if (cache->relid == RelationGetRelid(rel))
		return cache->attnums;
	if (!attnum_callback_registered)
	{
		CacheRegisterRelcacheCallback(attnum_relcache_callback, (Datum) 0);
		attnum_callback_registered = true;
	}
	for (i = 0; i < t->ncolumns; i++)
	{
		cache->attnums[i] = InvalidAttrNumber;
		for (j = 0; j < desc->natts; j++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, j);

			if (!attr->attisdropped &&
				strcmp(NameStr(attr->attname), t->columns[i].name) == 0)
			{
				cache->attnums[i] = attr->attnum;
				break;
			}
		}
	}
	cache->relid = RelationGetRelid(rel);
	return cache->attnums;
}

/* The attribute number of column anum of table in rel; elog if none. */
AttrNumber
om_attnum(OmTableId table, Relation rel, AttrNumber anum)
{
	AttrNumber	attnum = om_attnums(table, rel)[anum - 1];

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "%s has no column \"%s\"", om_tables[table].qualified,
			 om_tables[table].columns[anum - 1].name);
	return attnum;
}
