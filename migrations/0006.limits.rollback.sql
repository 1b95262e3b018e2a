-- Restore the functions of 0004 and drop what 0006 added.
DROP FUNCTION kaixu_admit(text, bigint, integer, text, text, bigint);
DROP FUNCTION kaixu_settle(bigint, text, text, date, text, text, text, text, integer, integer,
    integer, integer, bigint, text, text, integer, text, text);
DROP FUNCTION kaixu_sweep_reservations(text);
DROP FUNCTION kaixu_gcra(text, integer, boolean);
DROP FUNCTION kaixu_gateway_shard(text);
DROP TABLE gateway_months;
DROP TABLE rate_limits;
DROP TABLE devices;

CREATE FUNCTION kaixu_sweep_reservations(p_customer_id text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        DELETE FROM reservations
        WHERE customer_id = p_customer_id AND expires_at < now()
        RETURNING key_id, month, amount_uc
    LOOP
        UPDATE customer_months SET reserved_uc = reserved_uc - r.amount_uc
        WHERE customer_id = p_customer_id AND month = r.month;
        UPDATE key_months SET reserved_uc = reserved_uc - r.amount_uc
        WHERE key_id = r.key_id AND month = r.month;
    END LOOP;
END;
$$;

CREATE FUNCTION kaixu_admit(p_key_id text, p_estimate_uc bigint, p_ttl_s integer)
RETURNS TABLE (
    outcome text, reservation_id bigint, month date, cap_uc bigint, extra_uc bigint,
    spent_uc bigint, key_cap_uc bigint, key_spent_uc bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    v_key api_keys%ROWTYPE;
    v_customer customers%ROWTYPE;
    v_cm customer_months%ROWTYPE;
    v_km key_months%ROWTYPE;
    v_reservation bigint;
BEGIN
    SELECT * INTO v_key FROM api_keys WHERE id = p_key_id;
    IF NOT FOUND OR v_key.revoked_at IS NOT NULL THEN
        RETURN QUERY SELECT 'unauthorized', NULL::bigint, v_month, 0::bigint, 0::bigint,
            0::bigint, NULL::bigint, 0::bigint;
        RETURN;
    END IF;

    INSERT INTO customer_months AS cm (customer_id, month) VALUES (v_key.customer_id, v_month)
    ON CONFLICT (customer_id, month) DO UPDATE SET spent_uc = cm.spent_uc
    RETURNING * INTO v_cm;  -- the row lock serialises this customer's admissions
    PERFORM kaixu_sweep_reservations(v_key.customer_id);
    SELECT * INTO v_cm FROM customer_months cm
    WHERE cm.customer_id = v_key.customer_id AND cm.month = v_month;
    INSERT INTO key_months AS km (key_id, month) VALUES (p_key_id, v_month)
    ON CONFLICT (key_id, month) DO UPDATE SET spent_uc = km.spent_uc
    RETURNING * INTO v_km;
    -- Read after taking the lock: sees every settle that committed before us.
    SELECT * INTO v_customer FROM customers WHERE id = v_key.customer_id;

    IF NOT v_customer.active THEN
        outcome := 'unauthorized';
    ELSIF greatest(v_customer.monthly_cap_uc - v_cm.spent_uc, 0) + v_customer.extra_uc
            - v_cm.reserved_uc < p_estimate_uc
        OR (v_key.cap_uc IS NOT NULL
            AND v_key.cap_uc - v_km.spent_uc - v_km.reserved_uc < p_estimate_uc) THEN
        outcome := 'cap_exceeded';
    ELSE
        INSERT INTO reservations (customer_id, key_id, month, amount_uc, expires_at)
        VALUES (v_key.customer_id, p_key_id, v_month, p_estimate_uc,
                now() + make_interval(secs => p_ttl_s))
        RETURNING id INTO v_reservation;
        UPDATE customer_months SET reserved_uc = reserved_uc + p_estimate_uc
        WHERE customer_id = v_key.customer_id AND customer_months.month = v_month;
        UPDATE key_months SET reserved_uc = reserved_uc + p_estimate_uc
        WHERE key_id = p_key_id AND key_months.month = v_month;
        outcome := 'ok';
    END IF;
    RETURN QUERY SELECT outcome, v_reservation, v_month, v_customer.monthly_cap_uc,
        v_customer.extra_uc, v_cm.spent_uc, v_key.cap_uc, v_km.spent_uc;
END;
$$;

CREATE FUNCTION kaixu_settle(
    p_reservation_id bigint, p_customer_id text, p_key_id text, p_month date,
    p_install_id text, p_provider text, p_model text, p_upstream_model text,
    p_input_tokens integer, p_cached_input_tokens integer, p_cache_write_tokens integer,
    p_output_tokens integer, p_cost_uc bigint, p_status text, p_cost_source text,
    p_latency_ms integer, p_request_id text, p_error text
)
RETURNS TABLE (
    month date, cap_uc bigint, extra_uc bigint, spent_uc bigint,
    key_cap_uc bigint, key_spent_uc bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_usage_id bigint;
    v_released bigint;
    v_cap bigint;
    v_cm customer_months%ROWTYPE;
    v_draw bigint;
BEGIN
    SELECT * INTO v_cm FROM customer_months cm
    WHERE cm.customer_id = p_customer_id AND cm.month = p_month FOR UPDATE;

    INSERT INTO usage_events (month, customer_id, key_id, install_id, provider, model,
        upstream_model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
        cost_uc, status, cost_source, latency_ms, request_id, error, reservation_id)
    VALUES (p_month, p_customer_id, p_key_id, p_install_id, p_provider, p_model,
        p_upstream_model, p_input_tokens, p_cached_input_tokens, p_cache_write_tokens,
        p_output_tokens, p_cost_uc, p_status, p_cost_source, p_latency_ms, p_request_id,
        p_error, p_reservation_id)
    ON CONFLICT (reservation_id) DO NOTHING
    RETURNING id INTO v_usage_id;

    IF v_usage_id IS NOT NULL THEN
        DELETE FROM reservations WHERE id = p_reservation_id RETURNING amount_uc INTO v_released;
        v_released := coalesce(v_released, 0);  -- already swept: nothing left to release
        SELECT monthly_cap_uc INTO v_cap FROM customers WHERE id = p_customer_id;
        v_draw := greatest(v_cm.spent_uc + p_cost_uc - v_cap, 0)
                  - greatest(v_cm.spent_uc - v_cap, 0);
        UPDATE customer_months cm SET spent_uc = cm.spent_uc + p_cost_uc,
            reserved_uc = cm.reserved_uc - v_released,
            credit_used_uc = cm.credit_used_uc + v_draw
        WHERE cm.customer_id = p_customer_id AND cm.month = p_month;
        UPDATE key_months km SET spent_uc = km.spent_uc + p_cost_uc,
            reserved_uc = km.reserved_uc - v_released
        WHERE km.key_id = p_key_id AND km.month = p_month;
        IF v_draw <> 0 THEN
            UPDATE customers SET extra_uc = customers.extra_uc - v_draw WHERE id = p_customer_id;
        END IF;
    END IF;

    RETURN QUERY
    SELECT cm.month, c.monthly_cap_uc, c.extra_uc, cm.spent_uc, k.cap_uc, km.spent_uc
    FROM customer_months cm
    JOIN customers c ON c.id = cm.customer_id
    JOIN api_keys k ON k.id = p_key_id
    JOIN key_months km ON km.key_id = p_key_id AND km.month = cm.month
    WHERE cm.customer_id = p_customer_id AND cm.month = p_month;
END;
$$;
