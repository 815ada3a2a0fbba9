/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Reading and writing the order tables: cached SPI plans, and direct
 *	  inserts for the rows of a new order and of events.
 *
 * Every SQL statement order_mgmt runs lives in store.c.  Callers must be
 * connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_STORE_H
#define OM_STORE_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "command.h"

/* an order as stored: one row of order_mgmt.orders, and maybe its lines */
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
	int			nlines;			/* -1 when the lines were not read */
	OrderLine  *lines;
} StoredOrder;

/* true while order_mgmt itself is inserting orders, lines or events */
extern bool store_internal_write_active(void);

/* insert the order row; false if the cart already has an order */
extern bool store_insert_order(const pg_uuid_t *order_id,
							   const CreateOrderCommand *cmd,
							   TimestampTz created_at);

/* insert the order's lines, numbered from 1 in the command's order */
extern void store_insert_lines(const pg_uuid_t *order_id,
							   const CreateOrderCommand *cmd);

/* the order made from cart_id and its command digest; false if none */
extern bool store_find_order_by_cart(const pg_uuid_t *cart_id,
									 pg_uuid_t *order_id,
									 uint8 *digest);

/* append an event to the outbox; returns its position */
extern int64 store_insert_event(const pg_uuid_t *event_id,
								const pg_uuid_t *order_id,
								const char *type, Jsonb *payload,
								int32 order_version, TimestampTz occurred_at);

/*
 * Move a CREATED order to new_status (and, when has_expected, only from
 * expected_version); returns false if no row was changed.
 */
extern bool store_transition_order(const pg_uuid_t *order_id,
								   const char *new_status, const char *reason,
								   bool has_expected, int32 expected_version,
								   int32 *new_version);

/* read an order, with its lines when with_lines; false if there is none */
extern bool store_read_order(const pg_uuid_t *order_id, bool with_lines,
							 bool fresh_snapshot, StoredOrder *order);

/* a text column of an order row as a C string, or NULL */
extern char *store_text_column(HeapTuple tuple, TupleDesc desc, const char *name);

/* decode a row of order_mgmt.orders into *order (lines not read) */
extern void store_order_from_tuple(HeapTuple tuple, TupleDesc desc,
								   StoredOrder *order);

#endif							/* OM_STORE_H */
