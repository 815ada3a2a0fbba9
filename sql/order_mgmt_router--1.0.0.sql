/* order_mgmt_router--1.0.0.sql: the router of a sharded order_mgmt cluster (docs/sharding.md) */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION order_mgmt_router" to load this file. \quit
