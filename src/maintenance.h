/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  The maintenance worker: refresh_reports() and purge_events() on their
 *	  schedules, with each run recorded.
 *
 * Layer 1 (delivery workers): calls launcher.c, its sibling.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_MAINTENANCE_H
#define OM_MAINTENANCE_H

#include "postgres.h"

/* settings, see order_mgmt.c (seconds; 0 turns a task off) */
extern int	om_refresh_interval;
extern int	om_purge_interval;
extern int	om_event_retention;

/* entry point of a maintenance worker (bgw_function_name) */
extern PGDLLEXPORT void om_maintenance_main(Datum main_arg);

#endif							/* OM_MAINTENANCE_H */
