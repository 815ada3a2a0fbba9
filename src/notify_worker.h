/*-------------------------------------------------------------------------
 *
 * notify_worker.h
 *	  The notification queues in shared memory and the workers that drain
 *	  them (order_mgmt.notifications = worker).
 *
 * Layer 1 (delivery workers): calls launcher.c, its sibling.
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

/* shared memory for the queues of nqueues slots: request, then create */
extern void notify_queue_shmem_request(int nqueues);
extern void notify_queue_shmem_init(int nqueues);

/* empty queue q, for a slot claimed anew */
extern void notify_queue_reset(int q);

/* the queue of the current database, or -1 (its slot's generation too) */
extern int	notify_queue_for_database(uint32 *generation);

/*
 * Append n notifications of transaction xid to queue q, as pending (or as
 * committed); false, appending nothing, if they do not all fit or q no
 * longer serves this database.
 */
extern bool notify_queue_push(int q, uint32 generation,
							  const OmNotification *items, int n,
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
