DROP FUNCTION kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint);
DROP FUNCTION kaixu_admit_one(text, bigint, integer, text, text, bigint);

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
    v_key api_keys%ROWTYPE;
    v_customer customers%ROWTYPE;
    v_device devices%ROWTYPE;
    v_seats integer;
    v_wait_customer double precision := 0;
    v_wait_key double precision := 0;
    v_books record;
    v_gateway_used bigint;
    v_reservation bigint;
BEGIN
    -- Commit without waiting for the WAL flush. If the database crashed before the flush,
    -- this reservation (and device registration, rate-limit step) is gone with it: the
    -- settlement then deletes nothing and still records the usage, so the books stay right;
    -- only this in-flight request's hold was lost.
    PERFORM set_config('synchronous_commit', 'off', true);

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

    -- Spend. This customer's admissions queue here, one at a time; settlements do not take
    -- this lock. Everything below is read in ONE snapshot taken after the lock, so a
    -- settlement is seen either entirely (spend up, its reservation gone) or not at all
    -- (its reservation, never smaller than its cost, still held).
    PERFORM pg_advisory_xact_lock(1, hashtext(v_key.customer_id));
    SELECT c.monthly_cap_uc AS cap_uc, c.extra_uc,
           coalesce(cm.spent_uc, 0) AS spent_uc, coalesce(km.spent_uc, 0) AS key_spent_uc,
           (SELECT coalesce(sum(r.amount_uc), 0) FROM reservations r
            WHERE r.customer_id = c.id AND r.expires_at > now()) AS reserved_uc,
           (SELECT coalesce(sum(r.amount_uc), 0) FROM reservations r
            WHERE r.key_id = p_key_id AND r.expires_at > now()) AS key_reserved_uc
    INTO v_books
    FROM customers c
    LEFT JOIN customer_months cm ON cm.customer_id = c.id AND cm.month = v_month
    LEFT JOIN key_months km ON km.key_id = p_key_id AND km.month = v_month
    WHERE c.id = v_key.customer_id;

    IF greatest(v_books.cap_uc - v_books.spent_uc, 0) + v_books.extra_uc
            - v_books.reserved_uc < p_estimate_uc THEN
        outcome := 'cap_exceeded'; limit_scope := 'customer';
    ELSIF v_key.cap_uc IS NOT NULL
            AND v_key.cap_uc - v_books.key_spent_uc - v_books.key_reserved_uc < p_estimate_uc THEN
        outcome := 'cap_exceeded'; limit_scope := 'key';
    ELSIF p_gateway_ceiling_uc IS NOT NULL THEN
        SELECT (SELECT coalesce(sum(g.spent_uc), 0) FROM gateway_months g WHERE g.month = v_month)
             + (SELECT coalesce(sum(r.amount_uc), 0) FROM reservations r
                WHERE r.expires_at > now())
        INTO v_gateway_used;
        IF p_gateway_ceiling_uc - v_gateway_used < p_estimate_uc THEN
            outcome := 'cap_exceeded'; limit_scope := 'gateway';
        END IF;
    END IF;

    IF outcome IS NULL THEN
        INSERT INTO reservations (customer_id, key_id, month, amount_uc, expires_at)
        VALUES (v_key.customer_id, p_key_id, v_month, p_estimate_uc,
                now() + make_interval(secs => p_ttl_s))
        RETURNING id INTO v_reservation;
        outcome := 'ok';
    END IF;
    RETURN QUERY SELECT outcome, v_reservation, 0::double precision, limit_scope, v_month,
        v_books.cap_uc, v_books.extra_uc, v_books.spent_uc, v_key.cap_uc, v_books.key_spent_uc;
END;
$$;
