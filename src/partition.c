/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  Partitions of a sharded cluster: partition keys of carts, commands and
 *	  order ids, the assignment of partitions to this database, and the
 *	  checks the order functions make against it.
 *
 * A router (order_mgmt_router, with PL/Proxy) sends create_order to the
 * partition of the command's cart and the other order functions to the
 * partition their order id carries; there is no lookup table.  The key of
 * a cart is the 32-bit FNV-1a hash of the uuid's 16 bytes, in network
 * order, cut to OM_PARTITION_KEY_BITS bits: stable across versions and
 * platforms, and the same for "ABC..." and "abc..." since the bytes are.
 * An order id carries its cart's key in the ten bits after the variant,
 * which RFC 9562 leaves random.  With N partitions the partition is
 * key & (N - 1), so a cluster can split partitions without new ids.
 *
 * assign_partitions() records the partition count and the partitions this
 * database holds in order_mgmt.partition_assignment; each backend keeps a
 * copy, dropped by the relcache invalidation assign_partitions() sends.
 * Every check first takes RowShareLock on that table (cheap, a fast-path
 * lock, and the moment pending invalidations are read), and
 * assign_partitions() takes ExclusiveLock, which conflicts with it (not
 * with AccessShareLock, so a plain SELECT of the table never waits): a
 * reassignment waits for the commands running under the old one, and the
 * commands after it see the new one.  Without an
 * assignment the database holds every partition.
 *
 * Layer 1 (storage): reads order_mgmt.partition_assignment with a heap scan
 * and writes it with SPI, its name and columns from order_schema.c.  The
 * key of a command (command_partition_key) is in orders.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "order_mgmt.h"
#include "order_schema.h"
#include "partition.h"
#include "uuid7.h"

/* order_mgmt.partition_assignment, and the name of its column anum */
#define ASSIGNMENT (&om_tables[OM_TABLE_PARTITION_ASSIGNMENT])
#define ASSIGNMENT_COLUMN(anum) (ASSIGNMENT->columns[(anum) - 1].name)

/* how many held partitions an error detail lists before it stops */
#define DETAIL_MAX_LISTED 32

/* This backend's copy of order_mgmt.partition_assignment. */
typedef struct PartitionAssignment
{
	Oid			relid;			/* the table, or InvalidOid: not looked up */
	bool		valid;			/* the fields below are the table's row */
	bool		provisional;	/* read in parallel mode: reread after it */
	bool		assigned;		/* a row exists; else every partition is held */
	int			count;			/* partition count */
	int			nheld;			/* how many partitions are held */
	bool		held[OM_MAX_PARTITIONS];
} PartitionAssignment;

static PartitionAssignment assignment;
static bool callback_registered = false;

/* set while assign_partitions() writes the table (lifecycle.c's guard lets it) */
static bool assigning = false;

/* Relcache invalidation: forget the copy (and the OID on a drop). */
static void
partition_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == assignment.relid)
	{
		assignment.valid = false;
		assignment.relid = InvalidOid;
	}
}

/*
 * (Sub)transaction abort: forget the copy.  assign_partitions() of the
 * aborted transaction may have been read into it by a check in the same
 * statement, and the relcache invalidation of a statement that did not
 * end is not replayed locally at abort.
 */
static void
partition_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		assignment.valid = false;
}

/* Subtransaction abort: as partition_xact_callback. */
static void
partition_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		assignment.valid = false;
}

/* The OID of order_mgmt.partition_assignment, or InvalidOid (before 1.3.0). */
static Oid
assignment_relid(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(partition_relcache_callback, (Datum) 0);
		RegisterXactCallback(partition_xact_callback, NULL);
		RegisterSubXactCallback(partition_subxact_callback, NULL);
		callback_registered = true;
	}
	if (!OidIsValid(assignment.relid))
	{
		Oid			nsp = get_namespace_oid(OM_SCHEMA, true);

		assignment.relid = OidIsValid(nsp) ?
			get_relname_relid(ASSIGNMENT->relname, nsp) : InvalidOid;
		assignment.valid = false;
	}
	return assignment.relid;
}

/*
 * Fill the copy from the table's row, read with a new snapshot (in READ
 * COMMITTED it sees what committed before our lock).  In parallel mode
 * (a worker, or the leader of a parallel plan) no new snapshot can be
 * taken: the statement's is used, which may predate a reassignment whose
 * invalidation our lock already consumed, so such a copy is provisional
 * and read again once out of parallel mode.  The scan checks no privileges: the views
 * that ask partition_held() run it as their reader, who may not read the
 * table.
 */
static void
assignment_read(Oid relid)
{
	Relation	rel;
	TableScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tuple;
	AttrNumber	count_attnum;
	AttrNumber	partitions_attnum;

	memset(assignment.held, 0, sizeof(assignment.held));
	assignment.assigned = false;
	assignment.count = 1;
	assignment.nheld = 0;

	snapshot = RegisterSnapshot(IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot());
	rel = table_open(relid, NoLock);
	count_attnum = om_attnum(OM_TABLE_PARTITION_ASSIGNMENT, rel,
							 Anum_partition_assignment_partition_count);
	partitions_attnum = om_attnum(OM_TABLE_PARTITION_ASSIGNMENT, rel,
								  Anum_partition_assignment_partitions);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	tuple = heap_getnext(scan, ForwardScanDirection);
	if (tuple != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		datum;
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		int			i;

		assignment.assigned = true;
		assignment.count = DatumGetInt32(heap_getattr(tuple, count_attnum, desc, &isnull));
		if (isnull || assignment.count < 1 || assignment.count > OM_MAX_PARTITIONS)
			elog(ERROR, "invalid partition count in %s", ASSIGNMENT->qualified);
		datum = heap_getattr(tuple, partitions_attnum, desc, &isnull);
		if (isnull)
			elog(ERROR, "no partitions in %s", ASSIGNMENT->qualified);
		deconstruct_array(DatumGetArrayTypeP(datum), INT4OID, sizeof(int32), true,
						  TYPALIGN_INT, &elems, &nulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			int32		p = DatumGetInt32(elems[i]);

			if (nulls[i] || p < 0 || p >= assignment.count)
				elog(ERROR, "invalid partition in %s", ASSIGNMENT->qualified);
			if (!assignment.held[p])
				assignment.nheld++;
			assignment.held[p] = true;
		}
	}
	table_endscan(scan);
	table_close(rel, NoLock);
	UnregisterSnapshot(snapshot);
	assignment.valid = true;
	assignment.provisional = IsInParallelMode();
}

/*
 * Bring the copy up to date under RowShareLock on the table; false if
 * the table does not exist (the SQL objects are older than 1.3.0).
 */
static bool
assignment_load(void)
{
	Oid			relid = assignment_relid();

	if (!OidIsValid(relid))
		return false;
	LockRelationOid(relid, RowShareLock);
	/* the lock read the invalidations: a dropped table is now forgotten */
	if (!OidIsValid(assignment.relid))
		return assignment_load();
	if (!assignment.valid || (assignment.provisional && !IsInParallelMode()))
		assignment_read(relid);
	return true;
}

/* Whether this database holds the partition of key. */
static bool
key_is_held(uint32 key)
{
	if (!assignment_load() || !assignment.assigned)
		return true;
	return assignment.held[key & (uint32) (assignment.count - 1)];
}

/* The held partitions as "{0,2,...}", for an error detail. */
static char *
held_list(void)
{
	StringInfoData buf;
	int			listed = 0;
	int			p;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (p = 0; p < assignment.count; p++)
	{
		if (!assignment.held[p])
			continue;
		if (listed == DETAIL_MAX_LISTED)
		{
			appendStringInfoString(&buf, ",...");
			break;
		}
		appendStringInfo(&buf, listed > 0 ? ",%d" : "%d", p);
		listed++;
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* ereport OM002 for what (a cart or an order) of partition key. */
static void
pg_attribute_noreturn()
report_not_held(const char *what, const pg_uuid_t *id, uint32 key)
{
	char		text[UUID_TEXT_LEN + 1];

	uuid_format(id, text);
	ereport(ERROR,
			(errcode(ERRCODE_OM_PARTITION_NOT_HELD),
			 errmsg("%s %s belongs to partition %u, which this database does not hold",
					what, text, key & (uint32) (assignment.count - 1)),
			 errdetail("The cluster has %d partitions; this database holds %s.",
					   assignment.count, held_list()),
			 errhint("Send the call through the cluster's router, and check the router's "
					 "configuration against order_mgmt.assign_partitions().")));
}

/* FNV-1a (32 bits) of the cart id's 16 bytes, cut to the key's bits. */
uint32
partition_cart_key(const pg_uuid_t *cart_id)
{
	uint32		hash = 2166136261u;
	int			i;

	for (i = 0; i < UUID_LEN; i++)
	{
		hash ^= cart_id->data[i];
		hash *= 16777619u;
	}
	return hash & (OM_MAX_PARTITIONS - 1);
}

/* The key in an order id: byte 8's low 6 bits, then byte 9's high 4. */
uint32
partition_order_key(const pg_uuid_t *order_id)
{
	return ((uint32) (order_id->data[8] & 0x3F) << 4) | (order_id->data[9] >> 4);
}

/* Write key into the bits partition_order_key reads; the variant stays. */
void
partition_stamp_order_id(pg_uuid_t *order_id, uint32 key)
{
	order_id->data[8] = (uint8) (0x80 | ((key >> 4) & 0x3F));
	order_id->data[9] = (uint8) (((key & 0x0F) << 4) | (order_id->data[9] & 0x0F));
}

/* ereport OM002 unless the cart's partition is held here. */
void
partition_check_cart(const pg_uuid_t *cart_id)
{
	uint32		key = partition_cart_key(cart_id);

	if (!key_is_held(key))
		report_not_held("cart", cart_id, key);
}

/* ereport OM002 unless the order id's partition is held here. */
void
partition_check_order(const pg_uuid_t *order_id)
{
	uint32		key = partition_order_key(order_id);

	if (!key_is_held(key))
		report_not_held("order", order_id, key);
}

PG_FUNCTION_INFO_V1(order_mgmt_cart_partition_key);

/* SQL: order_mgmt.cart_partition_key(cart_id uuid) returns integer */
Datum
order_mgmt_cart_partition_key(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32((int32) partition_cart_key(PG_GETARG_UUID_P(0)));
}

PG_FUNCTION_INFO_V1(order_mgmt_order_partition_key);

/*
 * SQL: order_mgmt.order_partition_key(order_id uuid) returns integer (STRICT),
 * and a router's order_route_key(order_id uuid), which is not strict: it
 * sends a NULL id to partition 0, whose shard reports the NULL as a direct
 * call would.
 */
Datum
order_mgmt_order_partition_key(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_INT32(0);
	PG_RETURN_INT32((int32) partition_order_key(PG_GETARG_UUID_P(0)));
}

PG_FUNCTION_INFO_V1(order_mgmt_partition_held);

/* SQL: order_mgmt.partition_held(order_id uuid) returns boolean */
Datum
order_mgmt_partition_held(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(key_is_held(partition_order_key(PG_GETARG_UUID_P(0))));
}

/* Validate assign_partitions' arguments; the held partitions in held[]. */
static void
check_assignment(int32 count, ArrayType *partitions, bool *held)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;

	if (count < 1 || count > OM_MAX_PARTITIONS || (count & (count - 1)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition count must be a power of two between 1 and %d",
						OM_MAX_PARTITIONS),
				 errdetail("The partition count given is %d.", count)));
	if (ARR_NDIM(partitions) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must be a one-dimensional array"),
				 errdetail("The array given has %d dimensions.", ARR_NDIM(partitions))));
	deconstruct_array(partitions, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	if (nelems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must not be empty"),
				 errdetail("A database holds at least one partition of the cluster.")));
	memset(held, 0, sizeof(bool) * OM_MAX_PARTITIONS);
	for (i = 0; i < nelems; i++)
	{
		int32		p;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("partitions must not contain NULL"),
					 errdetail("Element %d of the array is NULL.", i + 1)));
		p = DatumGetInt32(elems[i]);
		if (p < 0 || p >= count)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition %d is out of range for %d partitions", p, count),
					 errdetail("Partitions are numbered from 0 to %d.", count - 1)));
		if (held[p])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition %d is listed twice", p)));
		held[p] = true;
	}
}

/*
 * With more than one partition, every stored order must carry its cart's
 * key in its id (orders made before 1.3.0 carry none): ereport 55000 if
 * one does not.
 */
static void
check_stored_keys(int32 count)
{
	Datum		arg = Int32GetDatum(count - 1);
	Oid			argtype = INT4OID;
	int64		strays;
	bool		isnull;
	const OmTable *orders = &om_tables[OM_TABLE_ORDERS];

	if (count == 1)
		return;
	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.count(*) FROM %s o "
									   "WHERE (" OM_SCHEMA ".order_partition_key(o.%s) "
									   "OPERATOR(pg_catalog.#) " OM_SCHEMA ".cart_partition_key(o.%s)) "
									   "OPERATOR(pg_catalog.&) $1 OPERATOR(pg_catalog.<>) 0",
									   orders->qualified,
									   orders->columns[Anum_orders_order_id - 1].name,
									   orders->columns[Anum_orders_cart_id - 1].name),
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the orders without a partition key");
	strays = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	if (strays > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database holds orders whose ids carry no partition key"),
				 errdetail_plural("%lld order was created before order_mgmt 1.3.0: its id does not "
								  "say which of %d partitions it belongs to.",
								  "%lld orders were created before order_mgmt 1.3.0: their ids do not "
								  "say which of %d partitions they belong to.",
								  (unsigned long) strays,
								  (long long) strays, count),
				 errhint("Such a database can be a cluster of one partition; see "
						 "\"Sharding\" in the documentation.")));
}

PG_FUNCTION_INFO_V1(order_mgmt_assign_partitions);

/*
 * SQL: order_mgmt.assign_partitions(partition_count integer, partitions
 * integer[]): record which partitions of the cluster this database holds.
 * Superuser or the extension's owner only.
 */
Datum
order_mgmt_assign_partitions(PG_FUNCTION_ARGS)
{
	int32		count;
	ArrayType  *partitions;
	bool	   *held = palloc(sizeof(bool) * OM_MAX_PARTITIONS);
	Oid			relid;
	Oid			extension;
	Oid			argtypes[2] = {
		ASSIGNMENT->columns[Anum_partition_assignment_partition_count - 1].type,
		ASSIGNMENT->columns[Anum_partition_assignment_partitions - 1].type
	};
	Datum		args[2];
	int32		previous_count = 0;
	bool		isnull;
	int			p;
	ArrayBuildState *sorted = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("null value not allowed for argument \"%s\" of assign_partitions()",
						PG_ARGISNULL(0) ? "partition_count" : "partitions")));
	count = PG_GETARG_INT32(0);
	partitions = PG_GETARG_ARRAYTYPE_P(1);

	extension = get_extension_oid("order_mgmt", false);
	if (!superuser() && !pg_extension_ownercheck(extension, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to assign partitions"),
				 errdetail("Only a superuser or the owner of extension order_mgmt may assign partitions.")));
	check_assignment(count, partitions, held);

	relid = assignment_relid();
	if (!OidIsValid(relid))
		elog(ERROR, "table %s does not exist", ASSIGNMENT->qualified);
	/* wait for the commands running under the old assignment */
	LockRelationOid(relid, ExclusiveLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(psprintf("SELECT a.%s FROM %s a",
							 ASSIGNMENT_COLUMN(Anum_partition_assignment_partition_count),
							 ASSIGNMENT->qualified),
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", ASSIGNMENT->qualified);
	if (SPI_processed > 0)
		previous_count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull));
	/* a scan of the orders, only when the count changes */
	if (count != previous_count)
		check_stored_keys(count);

	for (p = 0; p < count; p++)
		if (held[p])
			sorted = accumArrayResult(sorted, Int32GetDatum(p), false, INT4OID,
									  CurrentMemoryContext);
	args[0] = Int32GetDatum(count);
	args[1] = sorted ? makeArrayResult(sorted, CurrentMemoryContext) :
		PointerGetDatum(construct_empty_array(INT4OID));

	assigning = true;
	PG_TRY();
	{
		if (SPI_execute(psprintf("DELETE FROM %s", ASSIGNMENT->qualified),
						false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not clear %s", ASSIGNMENT->qualified);
		if (SPI_execute_with_args(psprintf("INSERT INTO %s (%s, %s) VALUES ($1, $2)",
										   ASSIGNMENT->qualified,
										   ASSIGNMENT_COLUMN(Anum_partition_assignment_partition_count),
										   ASSIGNMENT_COLUMN(Anum_partition_assignment_partitions)),
								  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write %s", ASSIGNMENT->qualified);
	}
	PG_FINALLY();
	{
		assigning = false;
	}
	PG_END_TRY();
	SPI_finish();

	/* every backend (this one too) rereads the table after our commit */
	CacheInvalidateRelcacheByRelid(relid);
	assignment.valid = false;
	PG_RETURN_VOID();
}

/* Whether assign_partitions() is writing the assignment table now. */
bool
partition_assignment_writing(void)
{
	return assigning;
}
