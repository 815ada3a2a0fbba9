/*-------------------------------------------------------------------------
 *
 * cloudevents.c
 *	  Rendering lifecycle events as CloudEvents 1.0 structured JSON.
 *
 * A CloudEvent wraps the v1.0.0 payload ("data") with its envelope:
 * "id" is the event id, "type" the contract's event name, "subject" the
 * order id, "time" when it happened, "dataschema" names the payload's
 * schema and version.  The extension attribute "orderversion" carries
 * the order's version, so a consumer can apply an order's events in
 * order and drop stale ones.
 *
 * The same builder serves the logical decoding messages (event_mode
 * "message" or "both") and order_mgmt.cloudevent(), which renders an
 * outbox row.
 *
 * Layer 0 (helpers): calls json_out.c only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cloudevents.h"
#include "json_out.h"
#include "order_mgmt.h"

/* Build the CloudEvent of one lifecycle event. */
Jsonb *
cloudevent_build(const pg_uuid_t *event_id, const char *type,
				 const pg_uuid_t *order_id, TimestampTz occurred_at,
				 int32 order_version, Jsonb *payload)
{
	JsonbParseState *state = NULL;
	JsonbValue	data;
	char		dataschema[128];

	snprintf(dataschema, sizeof(dataschema), "urn:acme:ordering:schema:%s:%s",
			 type, OM_CONTRACT_VERSION);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	json_put_cstring(&state, "specversion", "1.0");
	json_put_uuid(&state, "id", event_id);
	json_put_cstring(&state, "source", OM_CLOUDEVENTS_SOURCE);
	json_put_cstring(&state, "type", type);
	json_put_uuid(&state, "subject", order_id);
	json_put_timestamp(&state, "time", occurred_at);
	json_put_cstring(&state, "datacontenttype", "application/json");
	json_put_cstring(&state, "dataschema", dataschema);
	json_put_int64(&state, "orderversion", order_version);
	json_put_key(&state, "data");
	data.type = jbvBinary;
	data.val.binary.data = &payload->root;
	data.val.binary.len = VARSIZE(payload) - VARHDRSZ;
	pushJsonbValue(&state, WJB_VALUE, &data);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* A non-null column of an outbox row; ereport if it is null. */
static Datum
outbox_column(HeapTupleHeader row, const char *name)
{
	bool		isnull;
	Datum		value = GetAttributeByName(row, name, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("outbox event has no \"%s\"", name)));
	return value;
}

PG_FUNCTION_INFO_V1(order_mgmt_cloudevent);

/* SQL: order_mgmt.cloudevent(event order_mgmt.outbox) returns jsonb. */
Datum
order_mgmt_cloudevent(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	char	   *type = TextDatumGetCString(outbox_column(row, "type"));

	PG_RETURN_JSONB_P(cloudevent_build(DatumGetUUIDP(outbox_column(row, "id")),
									   type,
									   DatumGetUUIDP(outbox_column(row, "aggregateid")),
									   DatumGetTimestampTz(outbox_column(row, "occurred_at")),
									   DatumGetInt32(outbox_column(row, "order_version")),
									   DatumGetJsonbP(outbox_column(row, "payload"))));
}
