-- Back to counted reservations (0006): restore the columns from the live reservations, then
-- the functions.
DROP FUNCTION kaixu_settle_batch(bigint[], text[], text[], date[], text[], text[], text[],
    text[], integer[], integer[], integer[], integer[], bigint[], text[], text[], integer[],
    text[], text[]);
DROP FUNCTION kaixu_admit(text, bigint, integer, text, text, bigint);
DROP INDEX reservations_key_idx;
DROP INDEX reservations_expires_idx;
ALTER TABLE customer_months ADD COLUMN reserved_uc bigint NOT NULL DEFAULT 0;
ALTER TABLE key_months ADD COLUMN reserved_uc bigint NOT NULL DEFAULT 0;
ALTER TABLE gateway_months ADD COLUMN reserved_uc bigint NOT NULL DEFAULT 0;
UPDATE customer_months cm SET reserved_uc = r.total
FROM (SELECT customer_id, month, sum(amount_uc) AS total FROM reservations
      GROUP BY customer_id, month) r
WHERE cm.customer_id = r.customer_id AND cm.month = r.month;
UPDATE key_months km SET reserved_uc = r.total
FROM (SELECT key_id, month, sum(amount_uc) AS total FROM reservations GROUP BY key_id, month) r
WHERE km.key_id = r.key_id AND km.month = r.month;

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
        UPDATE gateway_months SET reserved_uc = reserved_uc - r.amount_uc
        WHERE month = r.month AND shard = kaixu_gateway_shard(p_customer_id);
    END LOOP;
END;
$$;

CREATE FUNCTION kaixu_admit(
    p_key_id text, p_estimate_uc bigint, p_ttl_s integer, p_install_id text,
    p_user_agent text, p_gateway_ceiling_uc bigint
)
RETURNS TABLE (
    outcome text, reservation_id bigint, retry_after_s double precision, limit_scope text,
    month date, cap_uc bigint, extra_uc bigint, spent_uc bigint, key_cap_uc bigint,
    key_spent_uc bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    v_shard smallint;
    v_key api_keys%ROWTYPE;
    v_customer customers%ROWTYPE;
    v_cm customer_months%ROWTYPE;
    v_km key_months%ROWTYPE;
    v_device devices%ROWTYPE;
    v_seats integer;
    v_wait_customer double precision := 0;
    v_wait_key double precision := 0;
    v_gateway_used bigint;
    v_reservation bigint;
BEGIN
    SELECT * INTO v_key FROM api_keys WHERE id = p_key_id;
    IF FOUND THEN
        SELECT * INTO v_customer FROM customers WHERE id = v_key.customer_id;
    END IF;
    IF NOT FOUND OR v_key.revoked_at IS NOT NULL OR NOT v_customer.active THEN
        RETURN QUERY SELECT 'unauthorized', NULL::bigint, 0::double precision, 'key',
            v_month, 0::bigint, 0::bigint, 0::bigint, NULL::bigint, 0::bigint;
        RETURN;
    END IF;

    -- Device seat. New devices on a key with max_devices queue on the key row, so concurrent
    -- first requests from many devices can never take more seats than there are.
    IF p_install_id IS NOT NULL THEN
        SELECT * INTO v_device FROM devices WHERE key_id = p_key_id AND install_id = p_install_id;
        IF NOT FOUND AND v_key.max_devices IS NOT NULL THEN
            PERFORM 1 FROM api_keys WHERE id = p_key_id FOR NO KEY UPDATE;
            SELECT * INTO v_device FROM devices
            WHERE key_id = p_key_id AND install_id = p_install_id;
            IF NOT FOUND THEN
                SELECT count(*) INTO v_seats FROM devices
                WHERE key_id = p_key_id AND revoked_at IS NULL;
                IF v_seats >= v_key.max_devices THEN
                    outcome := 'device_limit';
                END IF;
            END IF;
        END IF;
        IF outcome IS NULL AND v_device.id IS NULL THEN
            INSERT INTO devices (key_id, customer_id, install_id, user_agent)
            VALUES (p_key_id, v_key.customer_id, p_install_id, p_user_agent)
            ON CONFLICT (key_id, install_id) DO UPDATE SET last_seen = now()
            RETURNING * INTO v_device;
        ELSIF v_device.revoked_at IS NOT NULL THEN
            outcome := 'device_revoked';
        ELSIF v_device.id IS NOT NULL AND v_device.last_seen < now() - interval '30 seconds' THEN
            UPDATE devices SET last_seen = now(),
                user_agent = coalesce(p_user_agent, devices.user_agent)
            WHERE id = v_device.id;
        END IF;
        IF outcome IS NOT NULL THEN
            RETURN QUERY SELECT outcome, NULL::bigint, 0::double precision, 'key',
                v_month, 0::bigint, 0::bigint, 0::bigint, NULL::bigint, 0::bigint;
            RETURN;
        END IF;
    END IF;

    -- Rate limits: both the customer's and the key's apply; a request is counted only when
    -- both have room.
    IF v_customer.rpm_limit IS NOT NULL THEN
        v_wait_customer := kaixu_gcra('customer:' || v_customer.id, v_customer.rpm_limit, false);
    END IF;
    IF v_key.rpm_limit IS NOT NULL THEN
        v_wait_key := kaixu_gcra('key:' || p_key_id, v_key.rpm_limit, false);
    END IF;
    IF v_wait_customer > 0 OR v_wait_key > 0 THEN
        RETURN QUERY SELECT 'rate_limited', NULL::bigint, greatest(v_wait_customer, v_wait_key),
            CASE WHEN v_wait_key > v_wait_customer THEN 'key' ELSE 'customer' END,
            v_month, 0::bigint, 0::bigint, 0::bigint, NULL::bigint, 0::bigint;
        RETURN;
    END IF;
    IF v_customer.rpm_limit IS NOT NULL THEN
        PERFORM kaixu_gcra('customer:' || v_customer.id, v_customer.rpm_limit, true);
    END IF;
    IF v_key.rpm_limit IS NOT NULL THEN
        PERFORM kaixu_gcra('key:' || p_key_id, v_key.rpm_limit, true);
    END IF;

    -- Spend: the customer's month row lock serialises this customer's admissions.
    INSERT INTO customer_months AS cm (customer_id, month) VALUES (v_key.customer_id, v_month)
    ON CONFLICT (customer_id, month) DO UPDATE SET spent_uc = cm.spent_uc;
    PERFORM kaixu_sweep_reservations(v_key.customer_id);
    SELECT * INTO v_cm FROM customer_months cm
    WHERE cm.customer_id = v_key.customer_id AND cm.month = v_month;
    INSERT INTO key_months AS km (key_id, month) VALUES (p_key_id, v_month)
    ON CONFLICT (key_id, month) DO UPDATE SET spent_uc = km.spent_uc
    RETURNING * INTO v_km;
    -- Read after taking the lock: sees every settle and top-up that committed before us.
    SELECT * INTO v_customer FROM customers WHERE id = v_key.customer_id;

    IF greatest(v_customer.monthly_cap_uc - v_cm.spent_uc, 0) + v_customer.extra_uc
            - v_cm.reserved_uc < p_estimate_uc THEN
        outcome := 'cap_exceeded'; limit_scope := 'customer';
    ELSIF v_key.cap_uc IS NOT NULL
            AND v_key.cap_uc - v_km.spent_uc - v_km.reserved_uc < p_estimate_uc THEN
        outcome := 'cap_exceeded'; limit_scope := 'key';
    ELSIF p_gateway_ceiling_uc IS NOT NULL THEN
        SELECT coalesce(sum(g.spent_uc + g.reserved_uc), 0) INTO v_gateway_used
        FROM gateway_months g WHERE g.month = v_month;
        IF p_gateway_ceiling_uc - v_gateway_used < p_estimate_uc THEN
            outcome := 'cap_exceeded'; limit_scope := 'gateway';
        END IF;
    END IF;

    IF outcome IS NULL THEN
        v_shard := kaixu_gateway_shard(v_key.customer_id);
        INSERT INTO reservations (customer_id, key_id, month, amount_uc, expires_at)
        VALUES (v_key.customer_id, p_key_id, v_month, p_estimate_uc,
                now() + make_interval(secs => p_ttl_s))
        RETURNING id INTO v_reservation;
        UPDATE customer_months SET reserved_uc = reserved_uc + p_estimate_uc
        WHERE customer_id = v_key.customer_id AND customer_months.month = v_month;
        UPDATE key_months SET reserved_uc = reserved_uc + p_estimate_uc
        WHERE key_id = p_key_id AND key_months.month = v_month;
        INSERT INTO gateway_months AS g (month, shard, reserved_uc)
        VALUES (v_month, v_shard, p_estimate_uc)
        ON CONFLICT (month, shard) DO UPDATE SET reserved_uc = g.reserved_uc + p_estimate_uc;
        outcome := 'ok';
    END IF;
    RETURN QUERY SELECT outcome, v_reservation, 0::double precision, limit_scope, v_month,
        v_customer.monthly_cap_uc, v_customer.extra_uc, v_cm.spent_uc, v_key.cap_uc,
        v_km.spent_uc;
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
        INSERT INTO gateway_months AS g (month, shard, spent_uc, reserved_uc)
        VALUES (p_month, kaixu_gateway_shard(p_customer_id), p_cost_uc, -v_released)
        ON CONFLICT (month, shard) DO UPDATE
        SET spent_uc = g.spent_uc + p_cost_uc, reserved_uc = g.reserved_uc - v_released;
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
