/*-------------------------------------------------------------------------
 *
 * notify_worker.h
 *	  The notification queues in shared memory and the workers that drain
 *	  them (order_mgmt.notifications = background).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_NOTIFY_WORKER_H
#define OM_NOTIFY_WORKER_H

#include "postgres.h"

#include "utils/guc.h"

/* longest channel name and payload one queue entry holds (with the NUL) */
#define OM_NOTIFY_CHANNEL_LEN 32
#define OM_NOTIFY_PAYLOAD_LEN 224

/* most databases order_mgmt.worker_databases may name */
#define OM_NOTIFY_MAX_DATABASES 32

/* one notification: a channel and a payload, as NOTIFY takes them */
typedef struct OmNotification
{
	char		channel[OM_NOTIFY_CHANNEL_LEN];
	char		payload[OM_NOTIFY_PAYLOAD_LEN];
} OmNotification;

/* settings, see order_mgmt.c */
extern char *om_worker_databases;
extern int	om_notify_queue_size;
extern int	om_notify_batch_delay;

/* check hook of order_mgmt.worker_databases: a list of distinct names */
extern bool notify_worker_check_databases(char **newval, void **extra,
										  GucSource source);

/* at preload: ask for shared memory and register one worker per database */
extern void notify_worker_preload(void);

/* the queue of the current database, or -1 if it has no worker */
extern int	notify_queue_for_database(void);

/*
 * Append n notifications of transaction xid to queue q, as pending (or as
 * committed); false, appending nothing, if they do not all fit.
 */
extern bool notify_queue_push(int q, const OmNotification *items, int n,
							  TransactionId xid, bool committed,
							  uint64 *first_seq);

/* mark the entries a push returned committed or aborted, and wake the worker */
extern void notify_queue_finish(int q, uint64 first_seq, int n, bool committed);

/* count one transaction that notified in-process because q was full */
extern void notify_queue_count_overflow(int q);

/* keep the notifications of a transaction being prepared; false if no room */
extern bool notify_prepared_add(int q, const OmNotification *items, int n,
								TransactionId xid);

/* drop what notify_prepared_add kept for xid (its PREPARE failed) */
extern void notify_prepared_forget(int q, TransactionId xid);

/*
 * Take out of q's prepared area the notifications of prepared transactions
 * that have committed (dropping those rolled back); returns how many, in
 * *items (palloc'd).
 */
extern int	notify_prepared_take_finished(int q, OmNotification **items);

/* set the latch of q's worker, if it runs */
extern void notify_queue_wake(int q);

/* entry point of a worker (bgw_function_name) */
extern PGDLLEXPORT void om_notify_worker_main(Datum main_arg);

#endif							/* OM_NOTIFY_WORKER_H */
