/*-------------------------------------------------------------------------
 *
 * orders.c
 *	  The order functions: create_order, cancel_order, complete_order and
 *	  get_order.
 *
 * create_order validates the command (command.c), writes the order and
 * its lines, and emits OrderCreated, all in the caller's transaction.  It
 * is idempotent on the cart: replaying the same command returns the first
 * order's id and writes nothing; a different command for the same cart
 * is a conflict.  Concurrent calls for one cart meet at the unique index
 * on cart_id (INSERT ... ON CONFLICT DO NOTHING), so they make one order
 * and every caller gets its id.
 *
 * cancel_order and complete_order are a single UPDATE of a CREATED order;
 * the lifecycle triggers (lifecycle.c) check the transition, bump the
 * version, stamp the time and emit the event, exactly as they do for a
 * direct UPDATE.  When the orders table is as the extension made it,
 * lifecycle_transition does the same without the executor.  When nothing
 * was updated, a second look tells the caller why: no such order, a final
 * status, or another version.
 *
 * create_order refuses a cart, and the others an order id, of a partition
 * this database does not hold (partition.c); command_partition_key gives a
 * router the partition key of a command, with create_order's checks.
 *
 * Layer 5 (API): the SQL-callable order functions.  Calls command.c,
 * lifecycle.c, events.c, store.c, partition.c and order_schema.c; nothing
 * calls it.
 * get_order's response (build_order_json) renders every order field.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "command.h"
#include "events.h"
#include "json_out.h"
#include "lifecycle.h"
#include "order_mgmt.h"
#include "order_schema.h"
#include "partition.h"
#include "store.h"
#include "uuid7.h"

/* how often a transition is retried when its diagnosis finds no reason */
#define TRANSITION_ATTEMPTS 3

/* ereport that argument argname of function must not be NULL. */
static void
pg_attribute_noreturn()
report_null_argument(const char *function, const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("null value not allowed for argument \"%s\" of %s()",
					argname, function)));
}

PG_FUNCTION_INFO_V1(order_mgmt_create_order);

/* SQL: order_mgmt.create_order(command jsonb) returns the order id. */
Datum
order_mgmt_create_order(PG_FUNCTION_ARGS)
{
	StoredOrder order;
	pg_uuid_t  *order_id = palloc(sizeof(pg_uuid_t));

	if (PG_ARGISNULL(0))
		report_null_argument("create_order", "command");
	/* measure before detoasting, so an oversized command is never expanded */
	command_check_size(toast_raw_datum_size(PG_GETARG_DATUM(0)));
	/* the order the command makes, a new CREATED order at version 1 */
	command_read_create_order(PG_GETARG_JSONB_P(0), &order);
	/* the cart's partition must be ours; the id carries its key */
	partition_check_cart(&order.cart_id);
	uuid7_generate(&order.order_id);
	partition_stamp_order_id(&order.order_id, partition_cart_key(&order.cart_id));
	order.status = OM_STATUS_CREATED;
	order.version = 1;
	order.created_at = GetCurrentTransactionStartTimestamp();
	*order_id = order.order_id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (store_insert_order(&order))
	{
		store_insert_lines(&order);
		events_emit(OM_EVENT_CREATED, &order);
	}
	else
	{
		uint8		digest[OM_DIGEST_LEN];

		if (!store_find_order_by_cart(&order.cart_id, order_id, digest))
			elog(ERROR, "cart conflicts with an order that cannot be read");
		if (memcmp(digest, order.command_digest, OM_DIGEST_LEN) != 0)
		{
			char		cart[UUID_TEXT_LEN + 1];
			char		existing[UUID_TEXT_LEN + 1];

			uuid_format(&order.cart_id, cart);
			uuid_format(order_id, existing);
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("cart %s already has an order with different content", cart),
					 errdetail("Order %s was created from cart %s by a different CreateOrder command; "
							   "a replay must repeat the command exactly.", existing, cart)));
		}
	}

	SPI_finish();
	PG_RETURN_UUID_P(order_id);
}

/*
 * Move order_id from CREATED to new_status and return its new version,
 * or ereport why that cannot be done.
 */
static int32
transition_order(const pg_uuid_t *order_id, const char *new_status,
				 const char *reason, bool has_expected, int32 expected)
{
	int32		new_version = 0;
	int			attempt;

	partition_check_order(order_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	for (attempt = 0;; attempt++)
	{
		StoredOrder order;
		char		id[UUID_TEXT_LEN + 1];
		LifecycleOutcome outcome;

		outcome = lifecycle_transition(order_id, new_status, reason,
									   has_expected, expected, &new_version);
		if (outcome == LIFECYCLE_MOVED)
			break;
		if (outcome == LIFECYCLE_USE_SQL &&
			store_transition_order(order_id, new_status, reason,
								   has_expected, expected, &new_version))
			break;

		/* nothing changed: find out why, from the latest committed state */
		uuid_format(order_id, id);
		if (!store_read_order(order_id, false, true, &order))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("order %s does not exist", id)));
		if (strcmp(order.status, OM_STATUS_CREATED) != 0)
			lifecycle_report_final(order_id, order.status, new_status);
		if (has_expected && order.version != expected)
			ereport(ERROR,
					(errcode(ERRCODE_OM_VERSION_MISMATCH),
					 errmsg("order %s is at version %d, not %d",
							id, order.version, expected),
					 errdetail("The order changed after version %d was read.", expected),
					 errhint("Read the order again with get_order and decide whether to retry.")));
		/* the order appeared or changed under us; look again */
		if (attempt + 1 >= TRANSITION_ATTEMPTS)
			elog(ERROR, "order %s could not be %s", id, lifecycle_verb(new_status));
	}

	SPI_finish();
	return new_version;
}

PG_FUNCTION_INFO_V1(order_mgmt_cancel_order);

/* SQL: order_mgmt.cancel_order(order_id, reason, expected_version) */
Datum
order_mgmt_cancel_order(PG_FUNCTION_ARGS)
{
	char	   *reason;

	if (PG_ARGISNULL(0))
		report_null_argument("cancel_order", "order_id");
	if (PG_ARGISNULL(1))
		report_null_argument("cancel_order", "reason");
	reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	lifecycle_check_reason(reason);

	PG_RETURN_INT32(transition_order(PG_GETARG_UUID_P(0), OM_STATUS_CANCELLED,
									 reason, !PG_ARGISNULL(2),
									 PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2)));
}

PG_FUNCTION_INFO_V1(order_mgmt_complete_order);

/* SQL: order_mgmt.complete_order(order_id, expected_version) */
Datum
order_mgmt_complete_order(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		report_null_argument("complete_order", "order_id");

	PG_RETURN_INT32(transition_order(PG_GETARG_UUID_P(0), OM_STATUS_COMPLETED,
									 NULL, !PG_ARGISNULL(1),
									 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1)));
}

/* The GetOrder v1.0.0 response for a stored order, with extra fields. */
static Jsonb *
build_order_json(const StoredOrder *order)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	json_put_uuid(&state, "orderId", &order->order_id);
	json_put_uuid(&state, "cartId", &order->cart_id);
	json_put_uuid(&state, "customerId", &order->customer_id);
	json_put_cstring(&state, "status", order->status);
	json_put_int64(&state, "version", order->version);

	json_put_key(&state, "items");
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < order->nlines; i++)
	{
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		json_put_uuid(&state, "productId", &order->lines[i].product_id);
		json_put_int64(&state, "quantity", order->lines[i].quantity);
		json_put_int64(&state, "unitPrice", order->lines[i].unit_price);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&state, WJB_END_ARRAY, NULL);

	json_put_int64(&state, "total", order->total);
	json_put_cstring(&state, "currency", order->currency);
	json_put_timestamp(&state, "createdAt", order->created_at);
	if (order->completed)
		json_put_timestamp(&state, "completedAt", order->completed_at);
	if (order->cancelled)
		json_put_timestamp(&state, "cancelledAt", order->cancelled_at);
	if (order->cancellation_reason)
		json_put_cstring(&state, "cancellationReason", order->cancellation_reason);
	if (order->payment_authorization_id)
		json_put_cstring(&state, "paymentAuthorizationId",
						 order->payment_authorization_id);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

PG_FUNCTION_INFO_V1(order_mgmt_get_order);

/* SQL: order_mgmt.get_order(order_id) returns the order, or NULL. */
Datum
order_mgmt_get_order(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *order_id = PG_GETARG_UUID_P(0);
	StoredOrder order;
	Jsonb	   *built;
	Jsonb	   *result = NULL;

	partition_check_order(order_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (store_read_order(order_id, true, false, &order))
	{
		built = build_order_json(&order);
		/* copy out of SPI's memory before it is released */
		result = SPI_palloc(VARSIZE(built));
		memcpy(result, built, VARSIZE(built));
	}
	SPI_finish();

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}

PG_FUNCTION_INFO_V1(order_mgmt_command_partition_key);

/*
 * SQL: order_mgmt.command_partition_key(command jsonb) returns integer:
 * the key of the command's cart, with create_order's errors for a NULL or
 * oversized command and a missing or malformed cartId.
 */
Datum
order_mgmt_command_partition_key(PG_FUNCTION_ARGS)
{
	pg_uuid_t	cart_id;

	if (PG_ARGISNULL(0))
		report_null_argument("create_order", "command");
	command_check_size(toast_raw_datum_size(PG_GETARG_DATUM(0)));
	command_read_cart_id(PG_GETARG_JSONB_P(0), &cart_id);
	PG_RETURN_INT32((int32) partition_cart_key(&cart_id));
}
