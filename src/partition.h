/*-------------------------------------------------------------------------
 *
 * partition.h
 *	  Partitions of a sharded cluster: the partition key of carts and order
 *	  ids, and which partitions this database holds.
 *
 * A cart's key is a hash of its uuid's 16 bytes; the ids of the orders
 * made from it carry the same key in ten bits that are otherwise random.
 * With a cluster of N partitions (a power of two up to OM_MAX_PARTITIONS)
 * the partition is key & (N - 1), for carts and order ids alike, on a
 * router and on a shard.
 *
 * Layer 1 (storage): reads order_mgmt.partition_assignment; used by
 * orders.c (the checks, and the key of a command).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_PARTITION_H
#define OM_PARTITION_H

#include "postgres.h"

#include "utils/uuid.h"

/* bits of key an order id carries, and the largest partition count */
#define OM_PARTITION_KEY_BITS 10
#define OM_MAX_PARTITIONS (1 << OM_PARTITION_KEY_BITS)

/* the partition key of a cart: FNV-1a (32 bits) of its bytes, low 10 bits */
extern uint32 partition_cart_key(const pg_uuid_t *cart_id);

/* the partition key an order id carries */
extern uint32 partition_order_key(const pg_uuid_t *order_id);

/* write key into a version 7 order id, in bits that were random */
extern void partition_stamp_order_id(pg_uuid_t *order_id, uint32 key);

/* ereport OM002 unless this database holds the cart's partition */
extern void partition_check_cart(const pg_uuid_t *cart_id);

/* ereport OM002 unless this database holds the order id's partition */
extern void partition_check_order(const pg_uuid_t *order_id);

/* whether assign_partitions() is writing the assignment now (for the guard) */
extern bool partition_assignment_writing(void);

#endif							/* OM_PARTITION_H */
