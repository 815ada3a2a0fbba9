/*-------------------------------------------------------------------------
 *
 * lifecycle.h
 *	  The lifecycle rules: the triggers on the order tables, and the
 *	  transition cancel_order and complete_order make without the executor.
 *
 * Layer 3 (rules): called by orders.c; calls events.c and below.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_LIFECYCLE_H
#define OM_LIFECYCLE_H

#include "postgres.h"

#include "utils/uuid.h"

/* what lifecycle_transition did */
typedef enum LifecycleOutcome
{
	LIFECYCLE_MOVED,			/* the order moved, its event is written */
	LIFECYCLE_NOT_MOVED,		/* no CREATED order (at that version) */
	LIFECYCLE_USE_SQL			/* the table must be updated with SQL */
} LifecycleOutcome;

/*
 * Move a CREATED order to new_status (when has_expected, only from
 * expected_version), as the UPDATE of store_transition_order with the
 * lifecycle triggers would, and set *new_version.
 */
extern LifecycleOutcome lifecycle_transition(const pg_uuid_t *order_id,
											 const char *new_status,
											 const char *reason,
											 bool has_expected,
											 int32 expected_version,
											 int32 *new_version);

/* the words used in messages about moving an order into new_status */
extern const char *lifecycle_verb(const char *new_status);

/* ereport that order_id, being in status, cannot move to new_status */
extern void lifecycle_report_final(const pg_uuid_t *order_id, const char *status,
								   const char *new_status) pg_attribute_noreturn();

/* ereport unless reason is a cancellation reason of the contract */
extern void lifecycle_check_reason(const char *reason);

#endif							/* OM_LIFECYCLE_H */
