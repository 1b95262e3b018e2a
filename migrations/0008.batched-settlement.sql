-- depends: 0007.billing
-- Throughput without giving up exactness.
--
-- Before: admission and settlement both locked the customer's month row, and settlement held
-- that lock through its WAL flush, so every customer's requests queued behind each other's
-- disk writes. Now:
-- * what is reserved is no longer a counter but the sum of the live rows in `reservations`
--   (those not yet expired), read in the same snapshot as the spend;
-- * admissions of one customer queue on a transaction-scoped advisory lock instead, and
--   commit without waiting for their WAL flush (see the comment inside kaixu_admit);
-- * settlements never touch what admissions lock, and are applied in batches: every
--   settlement waiting at the same moment shares one transaction and one WAL flush, while
--   each is still committed before its request is answered.
-- Expired reservations simply stop counting: nothing has to be swept for the books to be right.

ALTER TABLE customer_months DROP COLUMN reserved_uc;
ALTER TABLE key_months DROP COLUMN reserved_uc;
ALTER TABLE gateway_months DROP COLUMN reserved_uc;
CREATE INDEX reservations_key_idx ON reservations (key_id, expires_at);
CREATE INDEX reservations_expires_idx ON reservations (expires_at);
DROP FUNCTION kaixu_sweep_reservations(text);
DROP FUNCTION kaixu_settle(bigint, text, text, date, text, text, text, text, integer, integer,
    integer, integer, bigint, text, text, integer, text, text);
DROP FUNCTION kaixu_admit(text, bigint, integer, text, text, bigint);

-- Admission: key live, customer active, device seat, rate limits, then the reservation against
-- the customer's allowance, the key's cap and the gateway's ceiling — one round trip.
-- outcome: ok | unauthorized | device_revoked | device_limit | rate_limited | cap_exceeded.
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

-- Settle many requests at once (parallel arrays, one element per request). Idempotent per
-- reservation: a reservation already settled inserts and changes nothing. Rows are locked in a
-- fixed order (each customer's month and balance, by customer; then key months; then gateway
-- shards; each sorted), so concurrent batches cannot deadlock; admissions take none of these.
CREATE FUNCTION kaixu_settle_batch(
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
