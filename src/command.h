/*-------------------------------------------------------------------------
 *
 * command.h
 *	  Reading and validating a CreateOrder v1.0.0 command.
 *
 * Layer 4 (API input): used by orders.c only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_COMMAND_H
#define OM_COMMAND_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "order_schema.h"

/* longest paymentAuthorizationId accepted, in bytes */
#define OM_MAX_PAYMENT_AUTH_LEN 255

/* ereport if a command of size bytes is over order_mgmt.max_command_bytes */
extern void command_check_size(Size size);

/*
 * The command's cartId, checked as create_order checks it (a JSON object
 * with a canonical uuid string there), or ereport(ERROR): what a router
 * needs to route the command.
 */
extern void command_read_cart_id(Jsonb *command, pg_uuid_t *cart_id);

/*
 * Validate command and fill in the order it makes (cart, customer, lines,
 * total, currency, payment authorization, digest), or ereport(ERROR)
 * naming the bad field.
 */
extern void command_read_create_order(Jsonb *command, StoredOrder *out);

#endif							/* OM_COMMAND_H */
