/*-------------------------------------------------------------------------
 *
 * orders.h
 *	  Messages shared by the order functions and the lifecycle triggers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_ORDERS_H
#define OM_ORDERS_H

#include "postgres.h"

#include "utils/uuid.h"

/* the statuses of the contract */
#define OM_STATUS_CREATED	"CREATED"
#define OM_STATUS_COMPLETED "COMPLETED"
#define OM_STATUS_CANCELLED "CANCELLED"

/* ereport that order_id, being in status, cannot move to new_status */
extern void orders_report_final(const pg_uuid_t *order_id, const char *status,
								const char *new_status) pg_attribute_noreturn();

/* ereport unless reason is a cancellation reason of the contract */
extern void orders_check_reason(const char *reason);

#endif							/* OM_ORDERS_H */
