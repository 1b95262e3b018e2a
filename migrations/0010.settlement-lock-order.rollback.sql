-- Back to 0008's settlement.
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
    v_customers text[];
    v_keys text[];
    v_months date[];
    v_costs bigint[];
    v_row record;
    v_spent bigint;
    v_draw bigint;
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
    SELECT array_agg(customer_id), array_agg(key_id), array_agg(month), array_agg(cost_uc)
    INTO v_customers, v_keys, v_months, v_costs
    FROM inserted;
    IF v_customers IS NULL THEN  -- every one of them was settled before
        v_customers := '{}'; v_keys := '{}'; v_months := '{}'; v_costs := '{}';
    END IF;

    -- Each customer's month: the spend, and credit drawn for the part beyond the cap.
    FOR v_row IN
        SELECT u.customer_id, u.month, sum(u.cost_uc) AS cost_uc
        FROM unnest(v_customers, v_months, v_costs) AS u(customer_id, month, cost_uc)
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
    INSERT INTO key_months AS km (key_id, month, spent_uc)
    SELECT u.key_id, u.month, sum(u.cost_uc)
    FROM unnest(v_keys, v_months, v_costs) AS u(key_id, month, cost_uc)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (key_id, month) DO UPDATE SET spent_uc = km.spent_uc + excluded.spent_uc;
    INSERT INTO gateway_months AS g (month, shard, spent_uc)
    SELECT u.month, kaixu_gateway_shard(u.customer_id), sum(u.cost_uc)
    FROM unnest(v_customers, v_months, v_costs) AS u(customer_id, month, cost_uc)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (month, shard) DO UPDATE SET spent_uc = g.spent_uc + excluded.spent_uc;

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
