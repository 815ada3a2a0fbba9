/*-------------------------------------------------------------------------
 *
 * command.h
 *	  Reading and validating a CreateOrder v1.0.0 command.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_COMMAND_H
#define OM_COMMAND_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/uuid.h"

/* longest paymentAuthorizationId accepted, in bytes */
#define OM_MAX_PAYMENT_AUTH_LEN 255

/* bytes of the command fingerprint (SHA-256) */
#define OM_DIGEST_LEN 32

/* one item of the order, as validated */
typedef struct OrderLine
{
	pg_uuid_t	product_id;
	int32		quantity;
	int64		unit_price;		/* minor units */
} OrderLine;

/* a CreateOrder command that passed every rule of the contract */
typedef struct CreateOrderCommand
{
	pg_uuid_t	cart_id;
	pg_uuid_t	customer_id;
	int			nlines;
	OrderLine  *lines;			/* in the order the command gave them */
	int64		total;			/* minor units */
	char		currency[4];	/* ISO 4217 code, NUL-terminated */
	char	   *payment_authorization_id;	/* NULL when absent */
	/* SHA-256 of the order's content: same cart + same digest = replay */
	uint8		digest[OM_DIGEST_LEN];
} CreateOrderCommand;

/* ereport if a command of size bytes is over order_mgmt.max_command_bytes */
extern void command_check_size(Size size);

/* validate command and fill *out, or ereport(ERROR) naming the bad field */
extern void command_read_create_order(Jsonb *command, CreateOrderCommand *out);

/* the cancellation reasons of the contract; false if reason is not one */
extern bool command_is_cancellation_reason(const char *reason);

#endif							/* OM_COMMAND_H */
