/*-------------------------------------------------------------------------
 *
 * currency.h
 *	  The ISO 4217 currency list: which codes exist, and their minor units.
 *
 * Layer 0 (helpers): calls nothing of order_mgmt.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OM_CURRENCY_H
#define OM_CURRENCY_H

#include "postgres.h"

/* minor-unit exponent of an active ISO 4217 code, or -1 if there is none */
extern int	currency_minor_unit(const char *code, int len);

#endif							/* OM_CURRENCY_H */
