-- depends: 0003.list-prices
-- Monthly spend counters, cost reservations, usage rows, prepaid credit, and the two functions
-- that make up the hot path's database work: kaixu_admit (before the upstream call) and
-- kaixu_settle (after it). Each is one round trip. Lock order, everywhere: customer_months,
-- then key_months, then customers — so concurrent admits, settles and sweeps never deadlock.

ALTER TABLE customers ADD COLUMN extra_uc bigint NOT NULL DEFAULT 0;  -- prepaid credit left

CREATE TABLE customer_months (
    customer_id     text NOT NULL REFERENCES customers (id),
    month           date NOT NULL,                 -- first day of the month, UTC
    spent_uc        bigint NOT NULL DEFAULT 0,     -- settled cost
    reserved_uc     bigint NOT NULL DEFAULT 0,     -- held by requests still in flight
    credit_used_uc  bigint NOT NULL DEFAULT 0,     -- part of spent_uc drawn from extra_uc
    PRIMARY KEY (customer_id, month)
);

CREATE TABLE key_months (
    key_id          text NOT NULL REFERENCES api_keys (id),
    month           date NOT NULL,
    spent_uc        bigint NOT NULL DEFAULT 0,
    reserved_uc     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, month)
);

-- A request's maximum cost, held from admission to settlement. A request that never settles
-- (crashed process) is swept once expires_at passes, so no leak can block a customer.
CREATE TABLE reservations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     text NOT NULL,
    key_id          text NOT NULL,
    month           date NOT NULL,
    amount_uc       bigint NOT NULL CHECK (amount_uc >= 0),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_expiry_idx ON reservations (customer_id, expires_at);

CREATE TABLE usage_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at          timestamptz NOT NULL DEFAULT now(),
    month               date NOT NULL,
    customer_id         text NOT NULL REFERENCES customers (id),
    key_id              text NOT NULL REFERENCES api_keys (id),
    install_id          text,
    provider            text NOT NULL,
    model               text NOT NULL,
    upstream_model      text,
    input_tokens        integer NOT NULL DEFAULT 0,  -- all input, cached and cache writes included
    cached_input_tokens integer NOT NULL DEFAULT 0,
    cache_write_tokens  integer NOT NULL DEFAULT 0,
    output_tokens       integer NOT NULL DEFAULT 0,  -- reasoning/thinking included
    cost_uc             bigint NOT NULL DEFAULT 0 CHECK (cost_uc >= 0),
    status              text NOT NULL CHECK (status IN ('ok', 'error', 'aborted')),
    cost_source         text NOT NULL CHECK (cost_source IN ('reported', 'estimated', 'none')),
    latency_ms          integer NOT NULL DEFAULT 0,
    request_id          text,
    error               text,
    -- One row per admitted request: a settle retried after a lost reply inserts nothing.
    reservation_id      bigint UNIQUE
);
CREATE INDEX usage_events_customer_idx ON usage_events (customer_id, created_at DESC);
CREATE INDEX usage_events_month_idx ON usage_events (month, customer_id);

-- Release reservations of this customer that outlived their request. Caller holds the
-- customer_months row lock of the current month.
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

-- Admission: checks the key is live and reserves p_estimate_uc against the customer's
-- allowance (cap + credit) and the key's own cap. outcome: 'ok', 'unauthorized' or
-- 'cap_exceeded'; the month figures are returned either way (402 bodies carry them).
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

-- Settlement: writes the usage row, adds the cost to the month's spend (drawing credit for the
-- part beyond the cap), releases the reservation. Idempotent per reservation.
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
