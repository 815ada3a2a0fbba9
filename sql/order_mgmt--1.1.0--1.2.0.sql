/* order_mgmt--1.1.0--1.2.0.sql: maintenance that runs itself, and the views an operator watches */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION order_mgmt UPDATE TO '1.2.0'" to load this file. \quit

-- As in the base script, every name is schema-qualified and every operator
-- is written as OPERATOR(pg_catalog.x).

------------------------------------------------------------------------
-- Maintenance runs: refresh_reports() and purge_events() record each run
------------------------------------------------------------------------

------------------------------------------------------------------------
-- Watching it: the stats views
------------------------------------------------------------------------
