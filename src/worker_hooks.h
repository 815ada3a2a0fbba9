/*-------------------------------------------------------------------------
 *
 * worker_hooks.h
 *	  What backends tell the launcher: a new or dropped extension, and the
 *	  database commands that need a database to themselves.
 *
 * Layer 3 (hooks): backend hooks; call notify.c and launcher.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_WORKER_HOOKS_H
#define OM_WORKER_HOOKS_H

#include "postgres.h"

/* at preload: the object access and utility hooks, the commit callback */
extern void worker_hooks_init(void);

#endif							/* OM_WORKER_HOOKS_H */
