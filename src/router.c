/*-------------------------------------------------------------------------
 *
 * router.c
 *	  The order functions of a router database (the extension
 *	  order_mgmt_router): each forwards its call through PL/Proxy to the
 *	  shard that holds the call's partition, and hands the caller the
 *	  shard's error as the shard raised it, or OM003 when the shard cannot
 *	  be reached.
 *
 * A router's create_order, get_order, cancel_order and complete_order are
 * all this file's order_mgmt_router_forward.  It calls the PL/Proxy
 * function forward_NAME of its own schema, with its own arguments, which
 * computes the partition (RUN ON the key functions of partition.c) and
 * runs NAME on that partition's shard.  The report functions gather_NAME
 * are order_mgmt_router_gather, which collects the rows forward_gather_NAME
 * brings from every shard the same way.
 *
 * PL/Proxy passes a shard's SQLSTATE on but wraps the text ("F(n): [db]
 * REMOTE ERROR: ...", "Remote detail: ..."); the wrapping is taken off, so
 * a caller gets through a router the error it gets from a shard.  When
 * PL/Proxy cannot connect, loses the connection or times out it raises
 * XX000; that becomes OM003 (ERRCODE_OM_SHARD_UNREACHABLE), with PL/Proxy's
 * words as the detail and a hint that says whether the call may have run.
 * So does what PL/Proxy passes on as a shard's error when it is the end of
 * the shard's session (a FATAL such as a shutdown's, or libpq's words for a
 * lost connection): a router session whose shard restarted meets it.
 * PL/Proxy's own timeouts are only looked at when a shard sends something,
 * so order_mgmt.router_timeout bounds a call with a timer of ours that
 * cancels it; a call cancelled that way is OM003 too.  Errors are
 * rewritten after they were thrown, in PG_CATCH, and thrown again; nothing
 * runs in between, so no subtransaction is needed.
 *
 * Layer 5 (API), router side: it calls only PL/Proxy, through the
 * function manager, and reads the router_timeout setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/tuplestore.h"

#include "order_mgmt.h"

/* prefix of the PL/Proxy function a router function forwards to */
#define FORWARD_PREFIX "forward_"

/* what PL/Proxy puts before a shard's own message, detail and hint */
#define REMOTE_MESSAGE_MARK "REMOTE ERROR: "
#define REMOTE_DETAIL_MARK "Remote detail: "
#define REMOTE_HINT_MARK "Remote hint: "

/* order_mgmt.router_timeout's timer, registered on first use */
static TimeoutId router_timeout_id = MAX_TIMEOUTS;

/* set when that timer cancelled the call in progress */
static volatile sig_atomic_t router_timed_out = false;

/* the PL/Proxy function a router function calls, looked up once per call site */
typedef struct ForwardTarget
{
	FmgrInfo	flinfo;			/* forward_NAME */
	char	   *name;			/* NAME, for messages */
} ForwardTarget;

PG_FUNCTION_INFO_V1(order_mgmt_router_forward);
PG_FUNCTION_INFO_V1(order_mgmt_router_gather);

/* Looks up forward_NAME(same arguments) in the schema of the function called. */
static pg_noinline ForwardTarget *
lookup_forward_target(FmgrInfo *caller)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	char	   *schema;
	char	   *target_name;
	List	   *qualified;
	Oid			target;
	ForwardTarget *result;
	MemoryContext oldcxt;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(caller->fn_oid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", caller->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tuple);

	schema = get_namespace_name(proc->pronamespace);
	target_name = psprintf(FORWARD_PREFIX "%s", NameStr(proc->proname));
	qualified = list_make2(makeString(schema), makeString(target_name));
	target = LookupFuncName(qualified, proc->pronargs,
							proc->proargtypes.values, true);
	if (!OidIsValid(target))
		elog(ERROR, "function %s.%s of the router is missing", schema,
			 target_name);

	oldcxt = MemoryContextSwitchTo(caller->fn_mcxt);
	result = palloc(sizeof(ForwardTarget));
	result->name = pstrdup(NameStr(proc->proname));
	fmgr_info(target, &result->flinfo);
	MemoryContextSwitchTo(oldcxt);

	ReleaseSysCache(tuple);
	return result;
}

/* The forward target of a call site, looked up on its first call. */
static ForwardTarget *
forward_target(FmgrInfo *caller)
{
	if (caller->fn_extra == NULL)
		caller->fn_extra = lookup_forward_target(caller);
	return (ForwardTarget *) caller->fn_extra;
}

/*
 * The router timeout fired: cancel the call as a query cancel would, which
 * PL/Proxy's wait loop notices within a second (it then drops a connection
 * still being made, or asks the shard to cancel a query it is running).
 */
static void
router_timeout_handler(void)
{
	router_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Starts order_mgmt.router_timeout's timer for a forwarded call. */
static void
start_router_timeout(void)
{
	router_timed_out = false;
	if (om_router_timeout <= 0)
		return;
	if (router_timeout_id == MAX_TIMEOUTS)
		router_timeout_id = RegisterTimeout(USER_TIMEOUT, router_timeout_handler);
	enable_timeout_after(router_timeout_id, om_router_timeout);
}

/* Stops the timer after a forwarded call ended, answered or not. */
static void
stop_router_timeout(bool answered)
{
	if (router_timeout_id != MAX_TIMEOUTS)
		disable_timeout(router_timeout_id, false);
	if (answered && router_timed_out)
	{
		/* it fired after the answer came: there is nothing to cancel */
		QueryCancelPending = false;
		router_timed_out = false;
	}
}

/* The text after MARK in TEXT, or TEXT itself without MARK. */
static char *
after_mark(char *text, const char *mark)
{
	char	   *found;

	if (text == NULL)
		return NULL;
	found = strstr(text, mark);
	if (found == NULL)
		return text;
	return pstrdup(found + strlen(mark));
}

/* True when PL/Proxy raised ERROR because it could not talk to a shard. */
static bool
is_unreachable_error(ErrorData *edata)
{
	static const char *const signs[] = {
		"PQconnect", "connect timeout", "query timeout", "Lost result",
		"PQconsumeInput", "PQsendQuery", "PQflush", "PQgetResult",
		"poll() failed", "Unfinished connection"
	};

	if (edata->funcname == NULL || strncmp(edata->funcname, "plproxy", 7) != 0)
		return false;
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
		ERRCODE_TO_CATEGORY(ERRCODE_CONNECTION_EXCEPTION))
		return true;
	if (edata->sqlerrcode != ERRCODE_INTERNAL_ERROR || edata->message == NULL)
		return false;
	for (size_t i = 0; i < lengthof(signs); i++)
		if (strstr(edata->message, signs[i]) != NULL)
			return true;
	return false;
}

/*
 * True when what PL/Proxy passes on as the shard's error says that the
 * shard's session ended rather than that the call failed: a FATAL of the
 * shard (shutting down, crashed, database dropped, idle session timeout),
 * a connection exception, or libpq's own words for a connection it lost,
 * which carry no SQLSTATE (PL/Proxy makes them XX000) and no severity.  A
 * pooled router session meets these when its shard restarted since its
 * last call.
 */
static bool
is_lost_session_error(ErrorData *edata)
{
	if (edata->funcname == NULL ||
		strcmp(edata->funcname, "plproxy_remote_error") != 0)
		return false;
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
		ERRCODE_TO_CATEGORY(ERRCODE_CONNECTION_EXCEPTION))
		return true;
	switch (edata->sqlerrcode)
	{
		case ERRCODE_ADMIN_SHUTDOWN:
		case ERRCODE_CRASH_SHUTDOWN:
		case ERRCODE_CANNOT_CONNECT_NOW:
		case ERRCODE_DATABASE_DROPPED:
		case ERRCODE_IDLE_SESSION_TIMEOUT:
			return true;
		case ERRCODE_INTERNAL_ERROR:
			return edata->message == NULL ||
				strstr(edata->message, REMOTE_MESSAGE_MARK) == NULL;
		default:
			return false;
	}
}

/* True when the shard cannot have run the call: no connection was made. */
static bool
is_connect_error(ErrorData *edata)
{
	return strstr(edata->message, "PQconnect") != NULL ||
		strstr(edata->message, "connect timeout") != NULL;
}

/*
 * The hint of an OM003: a report needs every shard; an order call says
 * whether it may have run and why retrying it is safe.
 */
static int
unreachable_hint(ForwardTarget *target, bool may_have_run)
{
	if (strncmp(target->name, "gather_", 7) == 0)
		return errhint("A report needs every shard; retry when the shard is back.");
	if (!may_have_run)
		return errhint("The call was not carried out. Calls for other partitions go on; retry this one when the shard is back.");
	return errhint("The shard may have carried out the call. Retrying is safe: create_order is idempotent on cartId, and cancel_order or complete_order with expected_version tells whether it was applied.");
}

/* Raises OM003 for a call that PL/Proxy could not deliver or finish. */
static void
report_unreachable(ForwardTarget *target, ErrorData *edata)
{
	/* PL/Proxy's text after "function F(n): " names the database and the cause */
	char	   *cause = strstr(edata->message, "): ");

	cause = pstrdup(cause ? cause + 3 : edata->message);
	for (size_t len = strlen(cause); len > 0 && isspace((unsigned char) cause[len - 1]); len--)
		cause[len - 1] = '\0';
	if (is_connect_error(edata))
		ereport(ERROR,
				(errcode(ERRCODE_OM_SHARD_UNREACHABLE),
				 errmsg("the shard for this %s call cannot be reached",
						target->name),
				 errdetail("PL/Proxy could not connect: %s", cause),
				 unreachable_hint(target, false)));
	ereport(ERROR,
			(errcode(ERRCODE_OM_SHARD_UNREACHABLE),
			 errmsg("the shard for this %s call stopped answering",
					target->name),
			 errdetail("PL/Proxy lost the call: %s", cause),
			 unreachable_hint(target, true)));
}

/*
 * Rethrows, in PG_CATCH, the error a forwarded call raised: a shard's own
 * error without PL/Proxy's wrapping, OM003 for a shard out of reach,
 * anything else as it was.
 */
static pg_attribute_noreturn() void
rethrow_from_shard(ForwardTarget *target, MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (is_lost_session_error(edata))
	{
		/* the shard ended the session (or libpq lost it): not the call's error */
		FlushErrorState();
		report_unreachable(target, edata);
	}
	if (edata->funcname != NULL &&
		strcmp(edata->funcname, "plproxy_remote_error") == 0)
	{
		/* the shard's own error: its SQLSTATE, its words */
		FlushErrorState();
		edata->message = after_mark(edata->message, REMOTE_MESSAGE_MARK);
		edata->detail = after_mark(edata->detail, REMOTE_DETAIL_MARK);
		edata->hint = after_mark(edata->hint, REMOTE_HINT_MARK);
		ReThrowError(edata);
	}
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && router_timed_out)
	{
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_OM_SHARD_UNREACHABLE),
				 errmsg("the shard for this %s call did not answer within %d ms",
						target->name, om_router_timeout),
				 errdetail("order_mgmt.router_timeout cancelled the call."),
				 unreachable_hint(target, true)));
	}
	if (is_unreachable_error(edata))
	{
		FlushErrorState();
		report_unreachable(target, edata);
	}
	FreeErrorData(edata);
	PG_RE_THROW();
}

/* Sets up CALL to run TARGET with the arguments of FCINFO. */
static void
init_forward_call(FunctionCallInfo call, ForwardTarget *target,
				  FunctionCallInfo fcinfo, ReturnSetInfo *rsinfo)
{
	InitFunctionCallInfoData(*call, &target->flinfo, fcinfo->nargs,
							 fcinfo->fncollation, NULL, (Node *) rsinfo);
	for (int i = 0; i < fcinfo->nargs; i++)
		call->args[i] = fcinfo->args[i];
}

/*
 * order_mgmt_router_forward: a router's create_order, get_order,
 * cancel_order or complete_order, run on the shard of the call's partition.
 */
Datum
order_mgmt_router_forward(PG_FUNCTION_ARGS)
{
	ForwardTarget *const target = forward_target(fcinfo->flinfo);
	LOCAL_FCINFO(call, FUNC_MAX_ARGS);
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	init_forward_call(call, target, fcinfo, NULL);
	start_router_timeout();
	PG_TRY();
	{
		result = FunctionCallInvoke(call);
	}
	PG_CATCH();
	{
		stop_router_timeout(false);
		rethrow_from_shard(target, cxt);
	}
	PG_END_TRY();
	stop_router_timeout(true);

	if (call->isnull)
		PG_RETURN_NULL();
	return result;
}

/*
 * order_mgmt_router_gather: a router's report function (gather_NAME),
 * the rows of forward_gather_NAME from every shard, as one materialized set.
 */
Datum
order_mgmt_router_gather(PG_FUNCTION_ARGS)
{
	ForwardTarget *const target = forward_target(fcinfo->flinfo);
	ReturnSetInfo *const rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LOCAL_FCINFO(call, FUNC_MAX_ARGS);
	ReturnSetInfo call_rsinfo;
	MemoryContext cxt = CurrentMemoryContext;

	InitMaterializedSRF(fcinfo, 0);

	memset(&call_rsinfo, 0, sizeof(call_rsinfo));
	call_rsinfo.type = T_ReturnSetInfo;
	call_rsinfo.econtext = rsinfo->econtext;
	call_rsinfo.expectedDesc = rsinfo->setDesc;
	call_rsinfo.allowedModes = (int) SFRM_ValuePerCall;
	call_rsinfo.returnMode = SFRM_ValuePerCall;
	init_forward_call(call, target, fcinfo, &call_rsinfo);

	start_router_timeout();
	PG_TRY();
	{
		for (;;)
		{
			Datum		row;
			HeapTupleData tuple;

			call->isnull = false;
			call_rsinfo.isDone = ExprSingleResult;
			row = FunctionCallInvoke(call);
			if (call_rsinfo.isDone == ExprEndResult)
				break;
			if (call->isnull)
				elog(ERROR, "%s returned a null row", target->name);

			tuple.t_data = DatumGetHeapTupleHeader(row);
			tuple.t_len = HeapTupleHeaderGetDatumLength(tuple.t_data);
			ItemPointerSetInvalid(&tuple.t_self);
			tuple.t_tableOid = InvalidOid;
			tuplestore_puttuple(rsinfo->setResult, &tuple);

			if (call_rsinfo.isDone != ExprMultipleResult)
				break;
		}
	}
	PG_CATCH();
	{
		stop_router_timeout(false);
		rethrow_from_shard(target, cxt);
	}
	PG_END_TRY();
	stop_router_timeout(true);

	return (Datum) 0;
}
