-- Settlement: usage rows, the month books, credit drawn, the gateway's sharded month totals.
-- Live definitions: db/migrate.py re-creates them after the migrations on every migrate, so
-- this file is the only place to change them (docs/sql.md).
--
-- Lock order of a settlement batch: customers, then customer months, then key months, then
-- gateway shards, each sorted. A batch may draw credit from a customer (its customers row)
-- between two of that customer's months (at a month boundary), so every batch locks a
-- customer's balance before any of its months; admissions take none of these locks.
--
-- One-statement helpers are PL/pgSQL too: it keeps each statement's plan for the session, while
-- before PostgreSQL 18 (compose runs 16) a SQL function's statements are planned on every call.

-- The gateway_months shard of a customer: the gateway's month totals are split so that
-- customers do not queue on one row lock.
CREATE OR REPLACE FUNCTION kaixu_gateway_shard(p_customer_id text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashtext(p_customer_id)) % 16)::smallint $$;

-- Writes the usage rows and deletes their reservations, once per reservation: one settled
-- before (a retry after a lost reply) inserts and deletes nothing. Returns the newly settled
-- items as parallel arrays (empty when there are none).
CREATE OR REPLACE FUNCTION kaixu_record_usage(
    p_reservation_ids bigint[], p_customer_ids text[], p_key_ids text[], p_months date[],
    p_install_ids text[], p_providers text[], p_models text[], p_upstream_models text[],
    p_input_tokens integer[], p_cached_input_tokens integer[], p_cache_write_tokens integer[],
    p_output_tokens integer[], p_costs_uc bigint[], p_statuses text[], p_cost_sources text[],
    p_latencies_ms integer[], p_request_ids text[], p_errors text[],
    OUT customer_ids text[], OUT key_ids text[], OUT months date[], OUT costs_uc bigint[]
)
RETURNS record
LANGUAGE plpgsql AS $$
BEGIN
    WITH items AS (
        SELECT * FROM unnest(
            p_reservation_ids, p_customer_ids, p_key_ids, p_months, p_install_ids, p_providers,
            p_models, p_upstream_models, p_input_tokens, p_cached_input_tokens,
            p_cache_write_tokens, p_output_tokens, p_costs_uc, p_statuses, p_cost_sources,
            p_latencies_ms, p_request_ids, p_errors
        ) AS i(reservation_id, customer_id, key_id, month, install_id, provider, model,
               upstream_model, input_tokens, cached_input_tokens, cache_write_tokens,
               output_tokens, cost_uc, status, cost_source, latency_ms, request_id, error)
    ), inserted AS (
        INSERT INTO usage_events (month, customer_id, key_id, install_id, provider, model,
            upstream_model, input_tokens, cached_input_tokens, cache_write_tokens,
            output_tokens, cost_uc, status, cost_source, latency_ms, request_id, error,
            reservation_id)
        SELECT month, customer_id, key_id, install_id, provider, model, upstream_model,
            input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc,
            status, cost_source, latency_ms, request_id, error, reservation_id
        FROM items
        ON CONFLICT (reservation_id) DO NOTHING
        RETURNING reservation_id, customer_id, key_id, month, cost_uc
    ), released AS (
        DELETE FROM reservations r USING inserted i WHERE r.id = i.reservation_id
    )
    SELECT coalesce(array_agg(customer_id), '{}'), coalesce(array_agg(key_id), '{}'),
           coalesce(array_agg(month), '{}'), coalesce(array_agg(cost_uc), '{}')
    INTO customer_ids, key_ids, months, costs_uc
    FROM inserted;
END;
$$;

-- Adds the costs to each customer's month (parallel arrays, one element per settled item) and
-- draws credit for the part beyond the cap. Locks the customers first, sorted, then their
-- months, sorted.
CREATE OR REPLACE FUNCTION kaixu_book_customer_months(
    p_customer_ids text[], p_months date[], p_costs_uc bigint[]
)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_row record;
    v_spent bigint;
    v_draw bigint;
BEGIN
    PERFORM 1 FROM customers WHERE id = ANY(p_customer_ids) ORDER BY id FOR NO KEY UPDATE;
    FOR v_row IN
        SELECT u.customer_id, u.month, sum(u.cost_uc) AS cost_uc
        FROM unnest(p_customer_ids, p_months, p_costs_uc) AS u(customer_id, month, cost_uc)
        GROUP BY u.customer_id, u.month ORDER BY u.customer_id, u.month
    LOOP
        INSERT INTO customer_months AS cm (customer_id, month, spent_uc)
        VALUES (v_row.customer_id, v_row.month, v_row.cost_uc)
        ON CONFLICT (customer_id, month) DO UPDATE SET spent_uc = cm.spent_uc + excluded.spent_uc
        RETURNING cm.spent_uc INTO v_spent;
        SELECT greatest(v_spent - c.monthly_cap_uc, 0)
               - greatest(v_spent - v_row.cost_uc - c.monthly_cap_uc, 0)
        INTO v_draw FROM customers c WHERE c.id = v_row.customer_id;
        IF v_draw <> 0 THEN
            UPDATE customer_months SET credit_used_uc = credit_used_uc + v_draw
            WHERE customer_id = v_row.customer_id AND month = v_row.month;
            UPDATE customers SET extra_uc = customers.extra_uc - v_draw
            WHERE id = v_row.customer_id;
        END IF;
    END LOOP;
END;
$$;

-- Adds the costs to each key's month, locking the rows sorted.
CREATE OR REPLACE FUNCTION kaixu_book_key_months(
    p_key_ids text[], p_months date[], p_costs_uc bigint[]
)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO key_months AS km (key_id, month, spent_uc)
    SELECT u.key_id, u.month, sum(u.cost_uc)
    FROM unnest(p_key_ids, p_months, p_costs_uc) AS u(key_id, month, cost_uc)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (key_id, month) DO UPDATE SET spent_uc = km.spent_uc + excluded.spent_uc;
END;
$$;

-- Adds the costs to the gateway's month totals, each to its customer's shard, locking the
-- shard rows sorted.
CREATE OR REPLACE FUNCTION kaixu_book_gateway_months(
    p_customer_ids text[], p_months date[], p_costs_uc bigint[]
)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gateway_months AS g (month, shard, spent_uc)
    SELECT u.month, kaixu_gateway_shard(u.customer_id), sum(u.cost_uc)
    FROM unnest(p_customer_ids, p_months, p_costs_uc) AS u(customer_id, month, cost_uc)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (month, shard) DO UPDATE SET spent_uc = g.spent_uc + excluded.spent_uc;
END;
$$;

-- Settles many requests at once (parallel arrays, one element per request), in the lock order
-- above. Idempotent per reservation: one already settled inserts and changes nothing, and still
-- gets its row. One row per request: its month's figures after the batch, in no set order.
CREATE OR REPLACE FUNCTION kaixu_settle_batch(
    p_reservation_ids bigint[], p_customer_ids text[], p_key_ids text[], p_months date[],
    p_install_ids text[], p_providers text[], p_models text[], p_upstream_models text[],
    p_input_tokens integer[], p_cached_input_tokens integer[], p_cache_write_tokens integer[],
    p_output_tokens integer[], p_costs_uc bigint[], p_statuses text[], p_cost_sources text[],
    p_latencies_ms integer[], p_request_ids text[], p_errors text[]
)
RETURNS TABLE (
    reservation_id bigint, month date, cap_uc bigint, extra_uc bigint, spent_uc bigint,
    key_cap_uc bigint, key_spent_uc bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_new record;
BEGIN
    SELECT * INTO v_new FROM kaixu_record_usage(
        p_reservation_ids, p_customer_ids, p_key_ids, p_months, p_install_ids, p_providers,
        p_models, p_upstream_models, p_input_tokens, p_cached_input_tokens,
        p_cache_write_tokens, p_output_tokens, p_costs_uc, p_statuses, p_cost_sources,
        p_latencies_ms, p_request_ids, p_errors);
    PERFORM kaixu_book_customer_months(v_new.customer_ids, v_new.months, v_new.costs_uc);
    PERFORM kaixu_book_key_months(v_new.key_ids, v_new.months, v_new.costs_uc);
    PERFORM kaixu_book_gateway_months(v_new.customer_ids, v_new.months, v_new.costs_uc);

    RETURN QUERY
    SELECT i.reservation_id, i.month, c.monthly_cap_uc, c.extra_uc,
           coalesce(cm.spent_uc, 0), k.cap_uc, coalesce(km.spent_uc, 0)
    FROM unnest(p_reservation_ids, p_customer_ids, p_key_ids, p_months)
         AS i(reservation_id, customer_id, key_id, month)
    JOIN customers c ON c.id = i.customer_id
    JOIN api_keys k ON k.id = i.key_id
    LEFT JOIN customer_months cm ON cm.customer_id = i.customer_id AND cm.month = i.month
    LEFT JOIN key_months km ON km.key_id = i.key_id AND km.month = i.month;
END;
$$;
