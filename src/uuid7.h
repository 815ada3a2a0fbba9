/*-------------------------------------------------------------------------
 *
 * uuid7.h
 *	  UUIDv7 generation and strict parsing of textual uuids.
 *
 * Layer 0 (helpers): calls nothing of order_mgmt.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_UUID7_H
#define OM_UUID7_H

#include "postgres.h"

#include "utils/uuid.h"

/* length of the canonical 8-4-4-4-12 form, without the terminator */
#define UUID_TEXT_LEN 36

/* fill *out with a new time-ordered RFC 9562 version 7 uuid */
extern void uuid7_generate(pg_uuid_t *out);

/* parse exactly the canonical 8-4-4-4-12 hex form; false if it is not */
extern bool uuid_parse_canonical(const char *text, int len, pg_uuid_t *out);

/* write the canonical lower-case form of *uuid and a terminator to buf */
extern void uuid_format(const pg_uuid_t *uuid, char *buf);

#endif							/* OM_UUID7_H */
