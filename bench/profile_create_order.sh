#!/usr/bin/env bash
# Instructions per created order, counted by callgrind: order_mgmt's
# create_order against the same rows written by one hand-written SQL
# statement (a CTE into bare copies of the tables: the practical limit) and
# by a PL/pgSQL implementation of the same contract.  See bench/PROFILE.md.
#
#   bench/profile_create_order.sh                        # as root
#   PG_CONFIG=/path/to/pg_config N=2000 bench/profile_create_order.sh
#
# It does NOT build or install the extension: it uses the order_mgmt
# installed in the PostgreSQL of PG_CONFIG (default: pg_config on PATH, else
# /usr/lib/postgresql/15/bin/pg_config).  Needs valgrind.
#
# As root it runs everything as the "postgres" account: a throwaway cluster
# in a temporary directory (fsync off; order_mgmt.notifications = off,
# order_mgmt.event_mode = outbox), set up with a short-lived server on a
# unix socket only (no TCP port), then stopped.  Every measurement is one
# single-user backend (postgres --single) run under
# valgrind --tool=callgrind that reads, one transaction per line,
#
#   PREPARE w AS <contender>;  EXECUTE w;  EXECUTE w;  ...
#
# Each contender runs twice, with N0 and N0 + N executions, and the report
# is (Ir(N0 + N) - Ir(N0)) / N: the instructions one more order costs,
# startup, PREPARE and planning excluded, commit included.  Every contender
# gets the same input: the command text with a fresh cartId and customerId
# (gen_random_uuid()) cast to jsonb, as a client would send it; the
# "input only" line is that cost alone (SELECT of the cast).
#
# Contenders, each for a 3-line and a 50-line cart:
#   input only    SELECT (command)::jsonb IS NOT NULL
#   create_order  SELECT order_mgmt.create_order((command)::jsonb)
#   cte           one INSERT ... WITH: the order row, its lines from
#                 jsonb_array_elements, the outbox row with its payload,
#                 into bare.orders / bare.order_lines / bare.outbox (same
#                 columns, constraints and indexes, no triggers)
#   plpgsql       bare.create_order(jsonb): the contract in PL/pgSQL
#                 (validation, digest, idempotency, event), same bare tables
#
# Environment: PG_CONFIG, N=2000, N0=200, LINES="3 50",
#   CONTENDERS="input create_order cte plpgsql", KEEP=1 keeps the directory
#   (callgrind.out.* files, for callgrind_annotate), WORKDIR=... to choose it,
#   TOP=25 also prints, per contender, the TOP functions by inclusive
#   instructions per order (the same difference of two runs, per function;
#   the frames every statement goes through, PortalRun to ExecutorRun, are
#   left out).  Counts grow a little with N (bigger tables, deeper indexes):
#   compare contenders measured with the same N.
set -euo pipefail
# shellcheck source=lib/profile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/profile.sh"
LINES=${LINES:-"3 50"}
CONTENDERS=${CONTENDERS:-"input create_order cte plpgsql"}

profile_cluster

# ---- setup with a short-lived server -------------------------------------
{
	profile_bare_tables
	cat <<'EOF'
-- The CreateOrder contract in PL/pgSQL, as a team would write it.
CREATE FUNCTION bare.create_order(command jsonb) RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_cart		uuid;
	v_customer	uuid;
	v_total		bigint;
	v_currency	text;
	v_payauth	text;
	v_items		jsonb;
	v_n		integer;
	v_sum		numeric := 0;
	v_digest	bytea;
	v_id		uuid;
	v_existing	uuid;
	v_old_digest	bytea;
	v_created	timestamptz := now();
	v_item		jsonb;
	i		integer;
BEGIN
	IF command IS NULL THEN
		RAISE EXCEPTION 'command must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF jsonb_typeof(command) <> 'object' THEN
		RAISE EXCEPTION 'the command must be a JSON object' USING ERRCODE = '22023';
	END IF;
	IF jsonb_typeof(command->'cartId') IS DISTINCT FROM 'string' OR
	   command->>'cartId' !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'invalid cartId' USING ERRCODE = '22P02';
	END IF;
	IF jsonb_typeof(command->'customerId') IS DISTINCT FROM 'string' OR
	   command->>'customerId' !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'invalid customerId' USING ERRCODE = '22P02';
	END IF;
	v_cart := (command->>'cartId')::uuid;
	v_customer := (command->>'customerId')::uuid;
	v_items := command->'items';
	IF jsonb_typeof(v_items) IS DISTINCT FROM 'array' OR jsonb_array_length(v_items) = 0 THEN
		RAISE EXCEPTION 'items must be a non-empty array' USING ERRCODE = '22023';
	END IF;
	v_n := jsonb_array_length(v_items);
	IF v_n > 1000 THEN
		RAISE EXCEPTION 'too many items' USING ERRCODE = '54000';
	END IF;
	FOR i IN 0 .. v_n - 1 LOOP
		v_item := v_items->i;
		IF jsonb_typeof(v_item) IS DISTINCT FROM 'object'
		   OR jsonb_typeof(v_item->'productId') IS DISTINCT FROM 'string'
		   OR v_item->>'productId' !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			RAISE EXCEPTION 'invalid items[%].productId', i USING ERRCODE = '22P02';
		END IF;
		IF jsonb_typeof(v_item->'quantity') IS DISTINCT FROM 'number'
		   OR (v_item->>'quantity')::numeric < 1
		   OR (v_item->>'quantity')::numeric <> trunc((v_item->>'quantity')::numeric) THEN
			RAISE EXCEPTION 'invalid items[%].quantity', i USING ERRCODE = '22023';
		END IF;
		IF jsonb_typeof(v_item->'unitPrice') IS DISTINCT FROM 'number'
		   OR (v_item->>'unitPrice')::numeric < 0
		   OR (v_item->>'unitPrice')::numeric <> trunc((v_item->>'unitPrice')::numeric) THEN
			RAISE EXCEPTION 'invalid items[%].unitPrice', i USING ERRCODE = '22023';
		END IF;
		v_sum := v_sum + (v_item->>'quantity')::int * (v_item->>'unitPrice')::bigint;
	END LOOP;
	IF (SELECT count(DISTINCT e->>'productId') FROM jsonb_array_elements(v_items) e) <> v_n THEN
		RAISE EXCEPTION 'a product appears more than once' USING ERRCODE = '22023';
	END IF;
	IF jsonb_typeof(command->'total') IS DISTINCT FROM 'number'
	   OR (command->>'total')::numeric < 0
	   OR (command->>'total')::numeric <> trunc((command->>'total')::numeric) THEN
		RAISE EXCEPTION 'invalid total' USING ERRCODE = '22023';
	END IF;
	v_total := (command->>'total')::bigint;
	IF v_total <> v_sum THEN
		RAISE EXCEPTION 'total does not match the items' USING ERRCODE = '22023';
	END IF;
	v_currency := command->>'currency';
	IF jsonb_typeof(command->'currency') IS DISTINCT FROM 'string'
	   OR NOT EXISTS (SELECT FROM order_mgmt.currencies c WHERE c.code = v_currency) THEN
		RAISE EXCEPTION 'invalid currency' USING ERRCODE = '22023';
	END IF;
	IF command ? 'paymentAuthorizationId' THEN
		IF jsonb_typeof(command->'paymentAuthorizationId') <> 'string' THEN
			RAISE EXCEPTION 'invalid paymentAuthorizationId' USING ERRCODE = '22023';
		END IF;
		v_payauth := command->>'paymentAuthorizationId';
		IF octet_length(v_payauth) > 255 THEN
			RAISE EXCEPTION 'paymentAuthorizationId too long' USING ERRCODE = '22001';
		END IF;
	END IF;

	-- the order's content, lines in product order: a replay in another order matches
	v_digest := sha256(convert_to(jsonb_build_array(v_customer, v_currency, v_total, v_payauth,
		(SELECT jsonb_agg(jsonb_build_array(e->>'productId', (e->>'quantity')::int,
											(e->>'unitPrice')::bigint)
						  ORDER BY e->>'productId')
		   FROM jsonb_array_elements(v_items) e))::text, 'UTF8'));

	v_id := order_mgmt.uuid_generate_v7();
	INSERT INTO bare.orders (order_id, cart_id, customer_id, status, total, currency,
							 payment_authorization_id, version, created_at, command_digest)
	VALUES (v_id, v_cart, v_customer, 'CREATED', v_total, v_currency, v_payauth, 1,
			v_created, v_digest)
	ON CONFLICT (cart_id) DO NOTHING;
	IF NOT FOUND THEN
		SELECT o.order_id, o.command_digest INTO v_existing, v_old_digest
		  FROM bare.orders o WHERE o.cart_id = v_cart;
		IF v_old_digest IS DISTINCT FROM v_digest THEN
			RAISE EXCEPTION 'cart % already has an order with different content', v_cart
				USING ERRCODE = '23505';
		END IF;
		RETURN v_existing;
	END IF;

	INSERT INTO bare.order_lines (order_id, line_no, product_id, quantity, unit_price)
	SELECT v_id, e.n, (e.v->>'productId')::uuid, (e.v->>'quantity')::int, (e.v->>'unitPrice')::bigint
	  FROM jsonb_array_elements(v_items) WITH ORDINALITY AS e(v, n);

	PERFORM pg_current_xact_id();
	INSERT INTO bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version,
							 schema_version, occurred_at, xact_id)
	VALUES (order_mgmt.uuid_generate_v7(), 'order', v_id, 'OrderCreated',
			jsonb_build_object('orderId', v_id, 'customerId', v_customer, 'total', v_total,
							   'currency', v_currency, 'createdAt', bare.rfc3339(v_created)),
			1, '1.0.0', v_created, pg_current_xact_id());
	RETURN v_id;
END;
$$;
EOF
} | profile_setup

# ---- the command text: fresh cartId and customerId, fixed products --------
command_expr() {
	local lines=$1 i items="" total=0 q p
	for ((i = 1; i <= lines; i++)); do
		q=$(((i % 5) + 1))
		p=$((100 * i + 99))
		total=$((total + q * p))
		[ -n "$items" ] && items+=","
		items+=$(printf '{"productId":"00000000-0000-4000-8000-%012x","quantity":%d,"unitPrice":%d}' "$i" "$q" "$p")
	done
	printf "('{\"cartId\":\"' || gen_random_uuid() || '\",\"customerId\":\"' || gen_random_uuid() || '\",\"items\":[%s],\"total\":%d,\"currency\":\"EUR\",\"paymentAuthorizationId\":\"auth-123\"}')::jsonb" "$items" "$total"
}

statement() {
	local who=$1 cmd=$2
	case $who in
		input)
			echo "SELECT $cmd IS NOT NULL" ;;
		create_order)
			echo "SELECT order_mgmt.create_order($cmd)" ;;
		plpgsql)
			echo "SELECT bare.create_order($cmd)" ;;
		cte)
			# one statement: order row, lines, event (no validation)
			echo "WITH c AS MATERIALIZED (SELECT $cmd AS cmd, order_mgmt.uuid_generate_v7() AS id, now() AS at)," \
				"o AS (INSERT INTO bare.orders (order_id, cart_id, customer_id, status, total, currency," \
				" payment_authorization_id, version, created_at, command_digest)" \
				" SELECT c.id, (c.cmd->>'cartId')::uuid, (c.cmd->>'customerId')::uuid, 'CREATED'," \
				" (c.cmd->>'total')::bigint, c.cmd->>'currency', c.cmd->>'paymentAuthorizationId', 1, c.at," \
				" sha256(convert_to(c.cmd::text, 'UTF8')) FROM c" \
				" RETURNING order_id, customer_id, total, currency, created_at)," \
				"l AS (INSERT INTO bare.order_lines (order_id, line_no, product_id, quantity, unit_price)" \
				" SELECT c.id, e.n, (e.v->>'productId')::uuid, (e.v->>'quantity')::int, (e.v->>'unitPrice')::bigint" \
				" FROM c, jsonb_array_elements(c.cmd->'items') WITH ORDINALITY AS e(v, n))" \
				" INSERT INTO bare.outbox (id, aggregatetype, aggregateid, type, payload, order_version," \
				" schema_version, occurred_at, xact_id)" \
				" SELECT order_mgmt.uuid_generate_v7(), 'order', o.order_id, 'OrderCreated'," \
				" jsonb_build_object('orderId', o.order_id, 'customerId', o.customer_id, 'total', o.total," \
				" 'currency', o.currency, 'createdAt', bare.rfc3339(o.created_at))," \
				" 1, '1.0.0', o.created_at, pg_current_xact_id() FROM o RETURNING aggregateid" ;;
		*)
			echo "unknown contender $who" >&2; exit 1 ;;
	esac
}

# total instructions of one single-user run of n executions
run_count() {
	local who=$1 lines=$2 n=$3 tag=$4
	{
		echo "PREPARE w AS $(statement "$who" "$(command_expr "$lines")")"
		for ((k = 0; k < n; k++)); do echo "EXECUTE w"; done
	} >"$work/$who-$lines-$tag.sql"
	profile_count "$who-$lines" "$tag"
}

# Ir per order; "net" subtracts the input-only cost (the client's statement,
# the command's jsonb parse, the transaction), what the contender itself adds
declare -A ir
echo "$("$bindir/postgres" -V), $("$PG_CONFIG" --pkglibdir)/order_mgmt.so, N=$N orders (runs of N0+N minus runs of N0=$N0)"
printf '%-14s %6s %14s %14s %10s\n' contender lines "Ir/order" "net Ir/order" "net vs cte"
for lines in $LINES; do
	for who in $CONTENDERS; do
		small=$(run_count "$who" "$lines" "$N0" small)
		big=$(run_count "$who" "$lines" "$((N0 + N))" big)
		ir[$who.$lines]=$(((big - small) / N))
	done
	for who in $CONTENDERS; do
		total=${ir[$who.$lines]}
		net=$total
		ratio=-
		if [ -n "${ir[input.$lines]:-}" ]; then
			net=$((total - ${ir[input.$lines]}))
		fi
		if [ -n "${ir[cte.$lines]:-}" ] && [ "$who" != input ]; then
			ratio=$(awk -v a="$net" -v b="$((${ir[cte.$lines]} - ${ir[input.$lines]:-0}))" 'BEGIN { printf "%.2fx", a / b }')
		fi
		[ "$who" = input ] && net=-
		printf '%-14s %6s %14s %14s %10s\n' "$who" "$lines" "$total" "$net" "$ratio"
	done
done
if [ "$TOP" -gt 0 ]; then
	for lines in $LINES; do
		for who in $CONTENDERS; do
			echo "top functions of $who, $lines lines (inclusive Ir per order, % of the contender's total)"
			profile_top "$who-$lines" "${ir[$who.$lines]}"
		done
	done
fi
