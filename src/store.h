/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Reading and writing the order tables: store_insert (direct or
 *	  through SPI) and the SPI statements built from order_schema.c.
 *
 * Layer 1 (storage).  Every SQL statement order_mgmt runs in C lives in
 * store.c.  Callers must be connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_STORE_H
#define OM_STORE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "order_schema.h"

/* true while order_mgmt itself is inserting orders, lines or events */
extern bool store_internal_write_active(void);

/*
 * Insert nrows rows into table, values[row * ncolumns + Anum - 1] for its
 * OM_COL_INSERT columns (nulls likewise, or NULL); directly when the table
 * allows it, else through SPI.  Returns the rows inserted (0: the arbiter
 * holds the key) and sets *returned to the returning column, if any.
 */
extern uint64 store_insert(OmTableId table, int nrows, const Datum *values,
						   const bool *nulls, int64 *returned);

/* insert the order row; false if the cart already has an order */
extern bool store_insert_order(const StoredOrder *order);

/* insert the order's lines, numbered from 1 in the order listed */
extern void store_insert_lines(const StoredOrder *order);

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

#endif							/* OM_STORE_H */
