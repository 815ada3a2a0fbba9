/*-------------------------------------------------------------------------
 *
 * json_out.c
 *	  Building jsonb values in C: keys, strings, uuids, integers, times.
 *
 * Event payloads and get_order's answer are built directly as JsonbValue
 * trees with pushJsonbValue, never by printing text and parsing it again.
 * Timestamps are RFC 3339 in UTC ("Z"), as the contract asks.
 *
 * Layer 0 (helpers): calls uuid7.c only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/datetime.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "json_out.h"
#include "uuid7.h"

/* Format ts as RFC 3339 UTC with microseconds, e.g. 2026-11-25T13:18:10.123456Z. */
void
format_rfc3339_utc(TimestampTz ts, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for an RFC 3339 time")));
	if (tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for an RFC 3339 time")));
	snprintf(buf, RFC3339_BUFLEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* Push an object key. */
void
json_put_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

/* Push "key": "value" where value has len bytes. */
void
json_put_string(JsonbParseState **state, const char *key,
				const char *value, int len)
{
	JsonbValue	v;

	json_put_key(state, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = len;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": "value" for a NUL-terminated value. */
void
json_put_cstring(JsonbParseState **state, const char *key, const char *value)
{
	json_put_string(state, key, value, strlen(value));
}

/* Push "key": "canonical uuid text". */
void
json_put_uuid(JsonbParseState **state, const char *key, const pg_uuid_t *value)
{
	char	   *buf = palloc(UUID_TEXT_LEN + 1);

	uuid_format(value, buf);
	json_put_string(state, key, buf, UUID_TEXT_LEN);
}

/* Push "key": integer. */
void
json_put_int64(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	json_put_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": "RFC 3339 UTC time". */
void
json_put_timestamp(JsonbParseState **state, const char *key, TimestampTz value)
{
	char	   *buf = palloc(RFC3339_BUFLEN);

	format_rfc3339_utc(value, buf);
	json_put_cstring(state, key, buf);
}
