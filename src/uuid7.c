/*-------------------------------------------------------------------------
 *
 * uuid7.c
 *	  Time-ordered order and event ids (RFC 9562 UUIDv7), and uuid text.
 *
 * Layout of the ids we make: 48 bits of Unix time in milliseconds, the
 * version (7), 12 bits of sub-millisecond time (RFC 9562 section 6.2,
 * method 3), the variant, and 62 random bits (order ids give ten of them
 * to their cart's partition key, partition.c).  Within one backend the
 * ids are strictly increasing even when the clock stands still or steps
 * back, so a backend's orders sort in the order it created them, and new
 * keys land at the right edge of the primary-key index.
 *
 * Layer 0 (helpers): calls nothing of order_mgmt.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "uuid7.h"

/* the last (unix_ms << 12 | sub_ms) this backend used */
static uint64 last_timestamp = 0;

/*
 * Random bytes drawn from pg_strong_random ahead of need: one call per
 * RANDOM_POOL_SIZE / 8 ids instead of one per id (the call, not the bytes,
 * is what costs).  The pool belongs to the process that filled it, so a
 * child forked with a copy never reuses its parent's bytes.
 */
#define RANDOM_POOL_SIZE 256
static uint8 random_pool[RANDOM_POOL_SIZE];
static int	random_pool_used = RANDOM_POOL_SIZE;
static int	random_pool_pid = 0;

/* Copy 8 unused strong random bytes to out. */
static void
random_bytes8(uint8 *out)
{
	if (random_pool_used + 8 > RANDOM_POOL_SIZE || random_pool_pid != MyProcPid)
	{
		if (!pg_strong_random(random_pool, RANDOM_POOL_SIZE))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bits for a uuid")));
		random_pool_used = 0;
		random_pool_pid = MyProcPid;
	}
	memcpy(out, random_pool + random_pool_used, 8);
	/* never hand out the same bytes twice */
	memset(random_pool + random_pool_used, 0, 8);
	random_pool_used += 8;
}

/* Fill *out with a new time-ordered version 7 uuid. */
void
uuid7_generate(pg_uuid_t *out)
{
	struct timespec now;
	uint64		unix_ms;
	uint64		sub_ms;
	uint64		stamp;

	clock_gettime(CLOCK_REALTIME, &now);
	unix_ms = (uint64) now.tv_sec * 1000 + now.tv_nsec / 1000000;
	/* nanoseconds within the millisecond scaled to 12 bits */
	sub_ms = ((uint64) (now.tv_nsec % 1000000) << 12) / 1000000;
	stamp = (unix_ms << 12) | sub_ms;

	/* keep ids of this backend strictly increasing */
	if (stamp <= last_timestamp)
		stamp = last_timestamp + 1;
	last_timestamp = stamp;

	random_bytes8(out->data + 8);

	/* 48-bit milliseconds, big-endian */
	unix_ms = stamp >> 12;
	out->data[0] = (uint8) (unix_ms >> 40);
	out->data[1] = (uint8) (unix_ms >> 32);
	out->data[2] = (uint8) (unix_ms >> 24);
	out->data[3] = (uint8) (unix_ms >> 16);
	out->data[4] = (uint8) (unix_ms >> 8);
	out->data[5] = (uint8) unix_ms;
	/* version 7 and the 12 sub-millisecond bits */
	out->data[6] = (uint8) (0x70 | ((stamp >> 8) & 0x0F));
	out->data[7] = (uint8) (stamp & 0xFF);
	/* RFC 9562 variant: 10xx */
	out->data[8] = (uint8) (0x80 | (out->data[8] & 0x3F));
}

/* Value of one hex digit, or -1. */
static inline int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse exactly the canonical 8-4-4-4-12 form; false if text is not one. */
bool
uuid_parse_canonical(const char *text, int len, pg_uuid_t *out)
{
	int			pos = 0;
	int			i;

	if (len != UUID_TEXT_LEN)
		return false;
	for (i = 0; i < UUID_LEN; i++)
	{
		int			hi,
					lo;

		if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
		{
			if (text[pos] != '-')
				return false;
			pos++;
		}
		hi = hex_value(text[pos]);
		lo = hex_value(text[pos + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[i] = (uint8) ((hi << 4) | lo);
		pos += 2;
	}
	return true;
}

/* Write the canonical lower-case text of *uuid, NUL-terminated, to buf. */
void
uuid_format(const pg_uuid_t *uuid, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = buf;
	int			i;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0F];
	}
	*p = '\0';
}

PG_FUNCTION_INFO_V1(order_mgmt_uuid_generate_v7);

/* SQL: order_mgmt.uuid_generate_v7() returns a new time-ordered uuid. */
Datum
order_mgmt_uuid_generate_v7(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	uuid7_generate(result);
	PG_RETURN_UUID_P(result);
}
