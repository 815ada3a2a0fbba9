/*-------------------------------------------------------------------------
 *
 * order_schema.h
 *	  What order_mgmt knows of its tables, once: the columns of orders,
 *	  order_lines, outbox and partition_assignment, the statuses, the
 *	  cancellation reasons and the event kinds.
 *
 * Layer 0 (schema): includes only PostgreSQL headers and calls nothing of
 * order_mgmt.  Every other file takes its table, column, status, reason and
 * event names from here; the install and upgrade scripts are the one other
 * place that spells them (docs/development.md, "Adding an order field").
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_ORDER_SCHEMA_H
#define OM_ORDER_SCHEMA_H

#include "postgres.h"

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

/* the schema of the extension's tables */
#define OM_SCHEMA "order_mgmt"

/* bytes of the command fingerprint (SHA-256) */
#define OM_DIGEST_LEN 32

/* most columns of one of the tables below */
#define OM_MAX_COLUMNS 16

/* the tables order_mgmt writes itself */
typedef enum OmTableId
{
	OM_TABLE_ORDERS,
	OM_TABLE_ORDER_LINES,
	OM_TABLE_OUTBOX,
	OM_TABLE_PARTITION_ASSIGNMENT,	/* 1.3.0; read and written by partition.c */
	OM_NTABLES
} OmTableId;

/*
 * The columns of each table, numbered as the install script creates them
 * (an upgrade adds its columns at the end).  The number indexes the
 * descriptor (column Anum_x is columns[Anum_x - 1]) and the value arrays of
 * store_insert; the attribute number a column has in a live table is
 * looked up by name (om_attnums, direct_write.c).
 */
typedef enum OrdersAttr
{
	Anum_orders_order_id = 1,
	Anum_orders_cart_id,
	Anum_orders_customer_id,
	Anum_orders_status,
	Anum_orders_total,
	Anum_orders_currency,
	Anum_orders_payment_authorization_id,
	Anum_orders_version,
	Anum_orders_created_at,
	Anum_orders_completed_at,
	Anum_orders_cancelled_at,
	Anum_orders_cancellation_reason,
	Anum_orders_command_digest,
	Natts_orders = Anum_orders_command_digest
} OrdersAttr;

typedef enum OrderLinesAttr
{
	Anum_order_lines_order_id = 1,
	Anum_order_lines_line_no,
	Anum_order_lines_product_id,
	Anum_order_lines_quantity,
	Anum_order_lines_unit_price,
	Natts_order_lines = Anum_order_lines_unit_price
} OrderLinesAttr;

typedef enum OutboxAttr
{
	Anum_outbox_position = 1,
	Anum_outbox_id,
	Anum_outbox_aggregatetype,
	Anum_outbox_aggregateid,
	Anum_outbox_type,
	Anum_outbox_payload,
	Anum_outbox_order_version,
	Anum_outbox_schema_version,
	Anum_outbox_occurred_at,
	Anum_outbox_xact_id,
	Natts_outbox = Anum_outbox_xact_id
} OutboxAttr;

/* created by the 1.2.0 to 1.3.0 update script; at most one row */
typedef enum PartitionAssignmentAttr
{
	Anum_partition_assignment_partition_count = 1,
	Anum_partition_assignment_partitions,
	Anum_partition_assignment_assigned_at,
	Anum_partition_assignment_assigned_by,
	Anum_partition_assignment_singleton,
	Natts_partition_assignment = Anum_partition_assignment_singleton
} PartitionAssignmentAttr;

/* what a column is to order_mgmt (OmColumn.flags) */
#define OM_COL_INSERT		0x01	/* an insert supplies it */
#define OM_COL_READ			0x02	/* orders: part of a StoredOrder read back */
#define OM_COL_ESSENTIAL	0x04	/* orders: fixed when the order is created */
#define OM_COL_LIFECYCLE	0x08	/* orders: set only with a status change */
#define OM_COL_STATUS		0x10	/* orders: the status */

/* where the value of an orders column is in a StoredOrder */
typedef enum OmField
{
	OM_FIELD_NONE,				/* not in a StoredOrder */
	OM_FIELD_UUID,				/* pg_uuid_t */
	OM_FIELD_TEXT,				/* char *, NULL for SQL NULL */
	OM_FIELD_CODE,				/* char[4], a NUL-terminated code */
	OM_FIELD_INT32,
	OM_FIELD_INT64,
	OM_FIELD_TIMESTAMPTZ,		/* TimestampTz; NULL when the bool at
								 * set_offset is false (if there is one) */
	OM_FIELD_DIGEST				/* uint8[OM_DIGEST_LEN], stored as bytea */
} OmField;

/* One column: its name, its type, its role and its place in a StoredOrder. */
typedef struct OmColumn
{
	const char *name;
	Oid			type;
	uint8		flags;
	OmField		field;
	int			offset;			/* in StoredOrder, for field != NONE */
	int			set_offset;		/* TIMESTAMPTZ: its bool "is set", or -1 */
} OmColumn;

/* One table. */
typedef struct OmTable
{
	const char *relname;
	const char *qualified;		/* "order_mgmt.relname" */
	const OmColumn *columns;	/* columns[Anum - 1] */
	int			ncolumns;
	AttrNumber	arbiter;		/* insert: ON CONFLICT (arbiter) DO NOTHING */
	AttrNumber	returning;		/* insert: the int8 column returned, or 0 */
	AttrNumber	key;			/* the unique column an update finds rows by */
} OmTable;

extern const OmTable om_tables[OM_NTABLES];

/* the statuses of the contract */
#define OM_STATUS_CREATED	"CREATED"
#define OM_STATUS_COMPLETED "COMPLETED"
#define OM_STATUS_CANCELLED "CANCELLED"

/* the aggregatetype of every outbox row */
#define OM_AGGREGATE_TYPE "order"

/* the lifecycle events of the contract */
typedef enum OrderEventKind
{
	OM_EVENT_CREATED,
	OM_EVENT_COMPLETED,
	OM_EVENT_CANCELLED,
	OM_NEVENT_KINDS
} OrderEventKind;

/* the fields of an event payload (v1.0.0), each from the order */
typedef enum OmPayloadField
{
	OM_PAYLOAD_ORDER_ID,		/* orderId */
	OM_PAYLOAD_CUSTOMER_ID,		/* customerId */
	OM_PAYLOAD_TOTAL,			/* total */
	OM_PAYLOAD_CURRENCY,		/* currency */
	OM_PAYLOAD_CREATED_AT,		/* createdAt */
	OM_PAYLOAD_COMPLETED_AT,	/* completedAt */
	OM_PAYLOAD_REASON,			/* reason (the cancellation reason) */
	OM_PAYLOAD_CANCELLED_AT		/* cancelledAt */
} OmPayloadField;

#define OM_MAX_PAYLOAD_FIELDS 5

/* An event kind: its type name, the status it follows, channel and payload. */
typedef struct OmEventKindInfo
{
	const char *type;
	const char *status;
	const char *channel;
	int			nfields;
	OmPayloadField fields[OM_MAX_PAYLOAD_FIELDS];	/* in payload order */
} OmEventKindInfo;

extern const OmEventKindInfo om_event_kinds[OM_NEVENT_KINDS];

/* the statuses and cancellation reasons, in the order the contract lists them */
extern const char *const om_statuses[];
extern const int om_nstatuses;
extern const char *const om_cancellation_reasons[];
extern const int om_ncancellation_reasons;

/* one item of an order */
typedef struct OrderLine
{
	pg_uuid_t	product_id;
	int32		quantity;
	int64		unit_price;		/* minor units */
} OrderLine;

/*
 * An order: one row of order_mgmt.orders (the columns with a field), and
 * maybe its lines.  A CreateOrder command read by command.c is the order it
 * makes, without its id, status, version and times.
 */
typedef struct StoredOrder
{
	pg_uuid_t	order_id;
	pg_uuid_t	cart_id;
	pg_uuid_t	customer_id;
	char	   *status;
	int32		version;
	int64		total;
	char		currency[4];
	char	   *payment_authorization_id;	/* NULL when absent */
	TimestampTz created_at;
	bool		completed;		/* completed_at is set */
	TimestampTz completed_at;
	bool		cancelled;		/* cancelled_at is set */
	TimestampTz cancelled_at;
	char	   *cancellation_reason;	/* NULL unless cancelled */
	/* SHA-256 of the command's content: same cart + same digest = replay */
	uint8		command_digest[OM_DIGEST_LEN];
	int			nlines;			/* -1 when the lines were not read */
	OrderLine  *lines;
} StoredOrder;

/* true if reason is one of the contract's cancellation reasons */
extern bool om_is_cancellation_reason(const char *reason);

/* the event that moving an order into status produces; false if none */
extern bool om_event_kind_for_status(const char *status, OrderEventKind *kind);

/* "A, B, C<last>D": names joined for a message, e.g. with " or " */
extern char *om_join_names(const char *const *names, int n, const char *last);

/* the values of the columns of an order that have one of flags */
extern void om_order_to_values(const StoredOrder *order, uint8 flags,
							   Datum *values, bool *nulls);

/*
 * Decode the orders row whose attribute values are values/isnull (indexed
 * by attribute number - 1), its columns at attnums[Anum - 1], into *order.
 */
extern void om_order_from_values(const Datum *values, const bool *isnull,
								 const AttrNumber *attnums, StoredOrder *order);

/*
 * The attribute numbers of table's columns in rel (attnums[Anum - 1];
 * InvalidAttrNumber for a column rel does not have), looked up once per
 * relation and forgotten on its relcache invalidation.
 */
extern const AttrNumber *om_attnums(OmTableId table, Relation rel);

/* the attribute number of column anum of table in rel; elog if it has none */
extern AttrNumber om_attnum(OmTableId table, Relation rel, AttrNumber anum);

#endif							/* OM_ORDER_SCHEMA_H */
