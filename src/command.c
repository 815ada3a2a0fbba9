/*-------------------------------------------------------------------------
 *
 * command.c
 *	  Reading and validating a CreateOrder v1.0.0 command.
 *
 * The command arrives as jsonb, exactly as checkout sends it.  Every rule
 * of the contract is checked here, before anything is written: required
 * fields and their JSON types, canonical uuids, at least one item,
 * integral quantities (>= 1) and prices (>= 0), no product twice, an ISO
 * 4217 currency, and a total equal to the sum of quantity x unitPrice,
 * computed with overflow checks.  Unknown fields are ignored so that
 * newer clients keep working.
 *
 * Every rejection names the offending field (items[2].quantity) and its
 * value in the error detail, and carries one of the SQLSTATEs documented
 * in the README.
 *
 * Layer 4 (API input), read by orders.c: calls order_schema.c, currency.c
 * and uuid7.c.  A command is read into the StoredOrder it makes (its content
 * columns and digest); a new order field is read here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "command.h"
#include "currency.h"
#include "order_mgmt.h"
#include "uuid7.h"

/* how much of a bad value an error detail shows */
#define SHOWN_VALUE_CHARS 40

/* The JSON type of v, as the error details call it. */
static const char *
json_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvArray:
			return "an array";
		case jbvObject:
			return "an object";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" :
				(JsonContainerIsObject(v->val.binary.data) ? "an object" : "a scalar");
		default:
			return "an unknown JSON value";
	}
}

/* A short, printable rendering of a scalar for error details. */
static char *
shown_value(const JsonbValue *v)
{
	StringInfoData buf;
	const char *text;
	int			len;

	switch (v->type)
	{
		case jbvString:
			text = v->val.string.val;
			len = v->val.string.len;
			break;
		case jbvNumeric:
			text = DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
			len = strlen(text);
			break;
		default:
			return pstrdup(json_type_name(v));
	}

	initStringInfo(&buf);
	if (v->type == jbvString)
		appendStringInfoChar(&buf, '"');
	if (len > SHOWN_VALUE_CHARS)
	{
		/* cut on a character boundary, then say it was cut */
		len = pg_mbcliplen(text, len, SHOWN_VALUE_CHARS);
		appendBinaryStringInfo(&buf, text, len);
		appendStringInfoString(&buf, "...");
	}
	else
		appendBinaryStringInfo(&buf, text, len);
	if (v->type == jbvString)
		appendStringInfoChar(&buf, '"');
	return buf.data;
}

/* Reject a value of the wrong JSON type. */
static void
pg_attribute_noreturn()
reject_type(const char *field, const char *expected, const JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid CreateOrder command: field \"%s\" must be %s",
					field, expected),
			 errdetail("Field \"%s\" is %s.", field, json_type_name(v))));
}

/* Look up a field of an object container; NULL if it is absent. */
static JsonbValue *
find_field(JsonbContainer *object, const char *key)
{
	return getKeyJsonValueFromContainer(object, key, strlen(key), NULL);
}

/*
 * The name of a field as error messages give it: key for a field of the
 * command, items[item].key for a field of an item.  Built only when a
 * message needs it.
 */
static char *
field_name(const char *key, int item)
{
	if (item < 0)
		return pstrdup(key);
	return psprintf("items[%d].%s", item, key);
}

/* Look up a field that must be present (of items[item] when item >= 0). */
static JsonbValue *
require_field(JsonbContainer *object, const char *key, int item)
{
	JsonbValue *v = find_field(object, key);

	if (v == NULL)
	{
		char	   *field = field_name(key, item);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: field \"%s\" is missing",
						field),
				 errdetail("Field \"%s\" is required by CreateOrder %s.",
						   field, OM_CONTRACT_VERSION)));
	}
	return v;
}

/* Read a required canonical uuid string field. */
static void
read_uuid(JsonbContainer *object, const char *key, int item, pg_uuid_t *out)
{
	JsonbValue *v = require_field(object, key, item);

	if (v->type != jbvString)
		reject_type(field_name(key, item), "a uuid string", v);
	if (!uuid_parse_canonical(v->val.string.val, v->val.string.len, out))
	{
		char	   *field = field_name(key, item);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid CreateOrder command: field \"%s\" is not a valid uuid",
						field),
				 errdetail("Field \"%s\" is %s; a uuid is written as 8-4-4-4-12 hexadecimal digits.",
						   field, shown_value(v))));
	}
}

/* True if a JSON number is below zero. */
static bool
numeric_is_negative(Numeric num)
{
	static Numeric zero = NULL;

	if (numeric_is_nan(num))
		return false;
	if (zero == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		zero = int64_to_numeric(0);
		MemoryContextSwitchTo(old);
	}
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(num),
											 NumericGetDatum(zero))) < 0;
}

/* Convert a JSON number to int64: false if it is fractional or out of range. */
static bool
numeric_to_int64_exact(Numeric num, int64 *out, bool *fractional)
{
	static Numeric int64_min = NULL;
	static Numeric int64_max = NULL;

	*fractional = false;
	if (numeric_is_nan(num) || numeric_is_inf(num))
		return false;
	if (DatumGetInt32(DirectFunctionCall1(numeric_min_scale,
										  NumericGetDatum(num))) > 0)
	{
		*fractional = true;
		return false;
	}
	if (int64_min == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		int64_min = int64_to_numeric(PG_INT64_MIN);
		int64_max = int64_to_numeric(PG_INT64_MAX);
		MemoryContextSwitchTo(old);
	}
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(num),
										  NumericGetDatum(int64_min))) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(num),
										  NumericGetDatum(int64_max))) > 0)
		return false;
	*out = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(num)));
	return true;
}

/*
 * The common case of read_integer, cheaply: a number written without a
 * fraction that fits in int32.  false sends the caller down the exact path.
 */
static bool
numeric_to_small_integer(Numeric num, int64 *out)
{
	bool		error = false;
	int32		value;

	if (numeric_is_nan(num) || numeric_is_inf(num) ||
		DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(num))) != 0)
		return false;
	value = numeric_int4_opt_error(num, &error);
	if (error)
		return false;
	*out = value;
	return true;
}

/*
 * Read a required integer field that must be >= min and <= max; values
 * beyond the type's range are SQLSTATE 22003, others 22023.
 */
static int64
read_integer(JsonbContainer *object, const char *key, int item,
			 int64 min, int64 max, const char *rule)
{
	JsonbValue *v = require_field(object, key, item);
	char	   *field;
	int64		value;
	bool		fractional;

	if (v->type != jbvNumeric)
		reject_type(field_name(key, item), "an integer", v);
	if (numeric_to_small_integer(v->val.numeric, &value) && value >= min && value <= max)
		return value;

	/* not a plain integer in range: find out what is wrong with it */
	field = field_name(key, item);
	if (min >= 0 && numeric_is_negative(v->val.numeric))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: field \"%s\" %s", field, rule),
				 errdetail("Field \"%s\" is %s.", field, shown_value(v))));
	if (!numeric_to_int64_exact(v->val.numeric, &value, &fractional))
	{
		if (fractional)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid CreateOrder command: field \"%s\" must be an integer",
							field),
					 errdetail("Field \"%s\" is %s.", field, shown_value(v))));
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("invalid CreateOrder command: field \"%s\" is out of range",
						field),
				 errdetail("Field \"%s\" is %s; it must lie between " INT64_FORMAT " and " INT64_FORMAT ".",
						   field, shown_value(v), min, max)));
	}
	if (value < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: field \"%s\" %s", field, rule),
				 errdetail("Field \"%s\" is " INT64_FORMAT ".", field, value)));
	if (value > max)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("invalid CreateOrder command: field \"%s\" is out of range",
						field),
				 errdetail("Field \"%s\" is " INT64_FORMAT "; it must lie between " INT64_FORMAT " and " INT64_FORMAT ".",
						   field, value, min, max)));
	return value;
}

/* Read the currency: three capital letters naming an active ISO 4217 code. */
static void
read_currency(JsonbContainer *object, char *out)
{
	JsonbValue *v = require_field(object, "currency", -1);
	const char *s;
	int			i;

	if (v->type != jbvString)
		reject_type("currency", "a string", v);
	s = v->val.string.val;
	for (i = 0; i < v->val.string.len; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			break;
	if (v->val.string.len != 3 || i != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: field \"currency\" must be three capital letters"),
				 errdetail("Field \"currency\" is %s.", shown_value(v))));
	if (currency_minor_unit(s, 3) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: unknown currency code"),
				 errdetail("Field \"currency\" is %s, which is not an active ISO 4217 currency code.",
						   shown_value(v))));
	memcpy(out, s, 3);
	out[3] = '\0';
}

/* Read the optional paymentAuthorizationId; NULL when absent. */
static char *
read_payment_authorization(JsonbContainer *object)
{
	JsonbValue *v = find_field(object, "paymentAuthorizationId");

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		reject_type("paymentAuthorizationId", "a string", v);
	if (v->val.string.len > OM_MAX_PAYMENT_AUTH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("invalid CreateOrder command: field \"paymentAuthorizationId\" is too long"),
				 errdetail("Field \"paymentAuthorizationId\" has %d bytes; at most %d are accepted.",
						   v->val.string.len, OM_MAX_PAYMENT_AUTH_LEN)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Read items[i] into *line. */
static void
read_line(JsonbContainer *items, int i, OrderLine *line)
{
	JsonbValue *item = getIthJsonbValueFromContainer(items, i);
	JsonbContainer *object;

	if (item->type != jbvBinary || !JsonContainerIsObject(item->val.binary.data))
		reject_type(psprintf("items[%d]", i), "an object", item);
	object = item->val.binary.data;

	read_uuid(object, "productId", i, &line->product_id);
	line->quantity = (int32) read_integer(object, "quantity", i,
										  1, PG_INT32_MAX, "must be at least 1");
	line->unit_price = read_integer(object, "unitPrice", i,
									0, PG_INT64_MAX, "must not be negative");
}

/* qsort_arg comparator: line indexes by product id, then by index */
static int
compare_line_index(const void *a, const void *b, void *arg)
{
	const OrderLine *lines = (const OrderLine *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	int			cmp = memcmp(lines[ia].product_id.data,
							 lines[ib].product_id.data, UUID_LEN);

	if (cmp != 0)
		return cmp;
	return (ia > ib) - (ia < ib);
}

/* Append an int64 in big-endian order to the digest input at *p. */
static void
digest_int64(uint8 **p, int64 value)
{
	int			i;

	for (i = 0; i < 8; i++)
		*(*p)++ = (uint8) ((uint64) value >> (56 - 8 * i));
}

/* Append raw bytes to the digest input at *p. */
static void
digest_bytes(uint8 **p, const void *data, size_t len)
{
	memcpy(*p, data, len);
	*p += len;
}

/*
 * Check that no product appears twice, and fingerprint the order's
 * content: customer, currency, total, payment authorization and the
 * lines in product order (so a replay that lists them differently is
 * still the same order).
 */
static void
check_lines_and_digest(StoredOrder *cmd)
{
	int		   *order = palloc(sizeof(int) * cmd->nlines);
	pg_cryptohash_ctx *ctx;
	uint8	   *input;
	uint8	   *p;
	size_t		payauth_len;
	int			i;

	for (i = 0; i < cmd->nlines; i++)
		order[i] = i;
	qsort_arg(order, cmd->nlines, sizeof(int), compare_line_index, cmd->lines);

	for (i = 1; i < cmd->nlines; i++)
	{
		const OrderLine *a = &cmd->lines[order[i - 1]];
		const OrderLine *b = &cmd->lines[order[i]];

		if (memcmp(a->product_id.data, b->product_id.data, UUID_LEN) == 0)
		{
			char		text[UUID_TEXT_LEN + 1];

			uuid_format(&a->product_id, text);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid CreateOrder command: product %s appears more than once", text),
					 errdetail("Fields \"items[%d].productId\" and \"items[%d].productId\" are both \"%s\"; "
							   "an order lists each product once, with its quantity.",
							   order[i - 1], order[i], text)));
		}
	}

	/* the digest's input, laid out in one buffer and hashed at once */
	payauth_len = cmd->payment_authorization_id ?
		strlen(cmd->payment_authorization_id) : 0;
	input = palloc(UUID_LEN + 3 + 8 + 8 + payauth_len + 8 +
				   (Size) cmd->nlines * (UUID_LEN + 8 + 8));
	p = input;
	digest_bytes(&p, cmd->customer_id.data, UUID_LEN);
	digest_bytes(&p, cmd->currency, 3);
	digest_int64(&p, cmd->total);
	if (cmd->payment_authorization_id)
	{
		digest_int64(&p, payauth_len);
		digest_bytes(&p, cmd->payment_authorization_id, payauth_len);
	}
	else
		digest_int64(&p, -1);
	digest_int64(&p, cmd->nlines);
	for (i = 0; i < cmd->nlines; i++)
	{
		const OrderLine *line = &cmd->lines[order[i]];

		digest_bytes(&p, line->product_id.data, UUID_LEN);
		digest_int64(&p, line->quantity);
		digest_int64(&p, line->unit_price);
	}

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not start the command digest");
	if (pg_cryptohash_update(ctx, input, p - input) < 0)
		elog(ERROR, "could not update the command digest: %s",
			 pg_cryptohash_error(ctx));
	if (pg_cryptohash_final(ctx, cmd->command_digest, OM_DIGEST_LEN) < 0)
		elog(ERROR, "could not finish the command digest: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	pfree(input);
	pfree(order);
}

/* Check that total equals the sum of quantity x unitPrice, without overflow. */
static void
check_total(const StoredOrder *cmd)
{
	int64		sum = 0;
	int			i;

	for (i = 0; i < cmd->nlines; i++)
	{
		int64		amount;

		if (pg_mul_s64_overflow(cmd->lines[i].unit_price,
								(int64) cmd->lines[i].quantity, &amount) ||
			pg_add_s64_overflow(sum, amount, &sum))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("invalid CreateOrder command: the order's amount is out of range"),
					 errdetail("The sum of quantity x unitPrice exceeds " INT64_FORMAT " at \"items[%d]\".",
							   PG_INT64_MAX, i)));
	}
	if (sum != cmd->total)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: total does not match the items"),
				 errdetail("Field \"total\" is " INT64_FORMAT ", but quantity x unitPrice over the items adds up to " INT64_FORMAT ".",
						   cmd->total, sum)));
}

/* ereport if a command of size bytes exceeds order_mgmt.max_command_bytes. */
void
command_check_size(Size size)
{
	if (size > (Size) om_max_command_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("CreateOrder command is too large"),
				 errdetail("The command takes %zu bytes; order_mgmt.max_command_bytes allows %d.",
						   size, om_max_command_bytes)));
}

/* Read a CreateOrder command's cartId, with the checks create_order makes. */
void
command_read_cart_id(Jsonb *command, pg_uuid_t *cart_id)
{
	if (!JB_ROOT_IS_OBJECT(command))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: the command must be a JSON object"),
				 errdetail("The command is %s.",
						   JB_ROOT_IS_SCALAR(command) ? "a scalar" : "an array")));
	read_uuid(&command->root, "cartId", -1, cart_id);
}

/*
 * Validate a CreateOrder command and fill *out with the order it makes
 * (everything but the id, status, version and time).
 */
void
command_read_create_order(Jsonb *command, StoredOrder *out)
{
	JsonbContainer *root = &command->root;
	JsonbValue *items;
	JsonbContainer *items_array;
	int			nitems;
	int			i;

	memset(out, 0, sizeof(StoredOrder));
	command_read_cart_id(command, &out->cart_id);
	read_uuid(root, "customerId", -1, &out->customer_id);

	items = require_field(root, "items", -1);
	if (items->type != jbvBinary || !JsonContainerIsArray(items->val.binary.data))
		reject_type("items", "an array", items);
	items_array = items->val.binary.data;
	nitems = JsonContainerSize(items_array);
	if (nitems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CreateOrder command: an order needs at least one item"),
				 errdetail("Field \"items\" is an empty array.")));
	if (nitems > om_max_lines_per_order)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("CreateOrder command has too many items"),
				 errdetail("Field \"items\" has %d items; order_mgmt.max_lines_per_order allows %d.",
						   nitems, om_max_lines_per_order)));

	out->nlines = nitems;
	out->lines = palloc(sizeof(OrderLine) * nitems);
	for (i = 0; i < nitems; i++)
		read_line(items_array, i, &out->lines[i]);

	out->total = read_integer(root, "total", -1, 0, PG_INT64_MAX,
							  "must not be negative");
	read_currency(root, out->currency);
	out->payment_authorization_id = read_payment_authorization(root);

	check_lines_and_digest(out);
	check_total(out);
}
