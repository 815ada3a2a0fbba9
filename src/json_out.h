/*-------------------------------------------------------------------------
 *
 * json_out.h
 *	  Small helpers to build the jsonb objects we return and emit.
 *
 * Layer 0 (helpers): calls uuid7.c only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_JSON_OUT_H
#define OM_JSON_OUT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* room for "YYYY-MM-DDTHH:MM:SS.ffffffZ" and a terminator, and some slack */
#define RFC3339_BUFLEN 40

/* format ts as RFC 3339 in UTC with microseconds, e.g. 2026-11-25T13:18:10.123456Z */
extern void format_rfc3339_utc(TimestampTz ts, char *buf);

/* push "key": value pairs onto an object under construction */
extern void json_put_string(JsonbParseState **state, const char *key,
							const char *value, int len);
extern void json_put_cstring(JsonbParseState **state, const char *key,
							 const char *value);
extern void json_put_uuid(JsonbParseState **state, const char *key,
						  const pg_uuid_t *value);
extern void json_put_int64(JsonbParseState **state, const char *key,
						   int64 value);
extern void json_put_timestamp(JsonbParseState **state, const char *key,
							   TimestampTz value);
extern void json_put_key(JsonbParseState **state, const char *key);

#endif							/* OM_JSON_OUT_H */
