-- Admission: GCRA rate limits, device seats, the reservation against the caps, and the batch.
-- Live definitions: db/migrate.py re-creates them after the migrations on every migrate, so
-- this file is the only place to change them (docs/sql.md).
--
-- Lock order of an admission: the customer's admission lock (a transaction-scoped advisory
-- lock), then the key row (only for a new device on a key with max_devices), devices, the
-- customer's then the key's rate_limits row, then the reservation it inserts. Every one of
-- these belongs to one customer, and a batch takes customers in the order of their admission
-- lock's key, so batches cannot deadlock. Settlements take none of these.

-- One GCRA step for a scope: returns 0 if a request fits now (and records it when p_commit),
-- else the seconds until it would.
CREATE OR REPLACE FUNCTION kaixu_gcra(p_scope text, p_rpm integer, p_commit boolean)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    v_period interval := interval '60 seconds';
    v_interval interval := v_period / p_rpm;
    v_tat timestamptz;
    v_new timestamptz;
BEGIN
    INSERT INTO rate_limits (scope, tat) VALUES (p_scope, now()) ON CONFLICT DO NOTHING;
    SELECT tat INTO v_tat FROM rate_limits WHERE scope = p_scope FOR UPDATE;
    v_new := greatest(v_tat, now()) + v_interval;
    IF v_new - now() > v_period THEN
        RETURN extract(epoch FROM (v_new - now() - v_period));
    END IF;
    IF p_commit THEN
        UPDATE rate_limits SET tat = v_new WHERE scope = p_scope;
    END IF;
    RETURN 0;
END;
$$;

-- The device's seat on its key: NULL when the request may go on (a new device is registered,
-- a known one's last_seen refreshed at most every 30 s), else why it may not. A new device on
-- a key with max_devices queues on the key row, so concurrent first requests from many devices
-- can never take more seats than there are.
CREATE OR REPLACE FUNCTION kaixu_device_seat(
    p_key_id text, p_customer_id text, p_max_devices integer, p_install_id text,
    p_user_agent text
)
RETURNS kaixu_admission_outcome
LANGUAGE plpgsql AS $$
DECLARE
    v_device devices%ROWTYPE;
    v_seats integer;
BEGIN
    SELECT * INTO v_device FROM devices WHERE key_id = p_key_id AND install_id = p_install_id;
    IF NOT FOUND AND p_max_devices IS NOT NULL THEN
        PERFORM 1 FROM api_keys WHERE id = p_key_id FOR NO KEY UPDATE;
        SELECT * INTO v_device FROM devices
        WHERE key_id = p_key_id AND install_id = p_install_id;
        IF NOT FOUND THEN
            SELECT count(*) INTO v_seats FROM devices
            WHERE key_id = p_key_id AND revoked_at IS NULL;
            IF v_seats >= p_max_devices THEN
                RETURN 'device_limit';
            END IF;
        END IF;
    END IF;
    IF v_device.id IS NULL THEN
        INSERT INTO devices (key_id, customer_id, install_id, user_agent)
        VALUES (p_key_id, p_customer_id, p_install_id, p_user_agent)
        ON CONFLICT (key_id, install_id) DO UPDATE SET last_seen = now();
    ELSIF v_device.revoked_at IS NOT NULL THEN
        RETURN 'device_revoked';
    ELSIF v_device.last_seen < now() - interval '30 seconds' THEN
        UPDATE devices SET last_seen = now(),
            user_agent = coalesce(p_user_agent, devices.user_agent)
        WHERE id = v_device.id;
    END IF;
    RETURN NULL;
END;
$$;

-- The customer's and the key's rate limits (NULL rpm: none). Both apply, and a request is
-- counted in either only when both have room. retry_after_s is 0 when it was counted; else
-- limit_scope names the limit with the longer wait.
CREATE OR REPLACE FUNCTION kaixu_rate_limit(
    p_customer_id text, p_customer_rpm integer, p_key_id text, p_key_rpm integer,
    OUT retry_after_s double precision, OUT limit_scope text
)
RETURNS record
LANGUAGE plpgsql AS $$
DECLARE
    v_wait_customer double precision := 0;
    v_wait_key double precision := 0;
BEGIN
    IF p_customer_rpm IS NOT NULL THEN
        v_wait_customer := kaixu_gcra('customer:' || p_customer_id, p_customer_rpm, false);
    END IF;
    IF p_key_rpm IS NOT NULL THEN
        v_wait_key := kaixu_gcra('key:' || p_key_id, p_key_rpm, false);
    END IF;
    IF v_wait_customer > 0 OR v_wait_key > 0 THEN
        retry_after_s := greatest(v_wait_customer, v_wait_key);
        limit_scope := CASE WHEN v_wait_key > v_wait_customer THEN 'key' ELSE 'customer' END;
        RETURN;
    END IF;
    IF p_customer_rpm IS NOT NULL THEN
        PERFORM kaixu_gcra('customer:' || p_customer_id, p_customer_rpm, true);
    END IF;
    IF p_key_rpm IS NOT NULL THEN
        PERFORM kaixu_gcra('key:' || p_key_id, p_key_rpm, true);
    END IF;
    retry_after_s := 0;
END;
$$;

-- A customer's and a key lineage's month (a key's own cap counts the keys it replaced by
-- rotation): the caps' inputs and what the live reservations hold (expired
-- ones count for nothing). ONE statement, so one snapshot: a settlement is seen either entirely
-- (spend up, its reservation gone) or not at all (its reservation, never smaller than its cost,
-- still held). Read after the admission lock, it sees every settlement committed before it.
-- p_pending_*: the admitting process's settlements handed to its writer, not yet known to be
-- committed (their calls were answered). A pending one whose reservation is still here is
-- counted as booked, at its cost, as its commit will book it; one already committed has no
-- reservation left and is in the spend: never counted twice.
CREATE OR REPLACE FUNCTION kaixu_books(
    p_customer_id text, p_lineage_id text, p_month date, p_pending_ids bigint[],
    p_pending_costs_uc bigint[],
    OUT cap_uc bigint, OUT extra_uc bigint, OUT spent_uc bigint, OUT key_spent_uc bigint,
    OUT reserved_uc bigint, OUT key_reserved_uc bigint
)
RETURNS record
LANGUAGE plpgsql AS $$
DECLARE
    v_held_uc bigint;  -- the reservations of pending settlements, customer and lineage
    v_key_held_uc bigint;
    v_booked_uc bigint;  -- their costs
    v_key_booked_uc bigint;
BEGIN
    SELECT c.monthly_cap_uc, c.extra_uc, coalesce(cm.spent_uc, 0), coalesce(km.spent_uc, 0),
           (SELECT coalesce(sum(r.amount_uc), 0) FROM reservations r
            WHERE r.customer_id = c.id AND r.expires_at > now()),
           (SELECT coalesce(sum(r.amount_uc), 0) FROM reservations r
            WHERE r.lineage_id = p_lineage_id AND r.expires_at > now()),
           q.held_uc, q.key_held_uc, q.booked_uc, q.key_booked_uc
    INTO cap_uc, extra_uc, spent_uc, key_spent_uc, reserved_uc, key_reserved_uc, v_held_uc,
         v_key_held_uc, v_booked_uc, v_key_booked_uc
    FROM customers c
    LEFT JOIN customer_months cm ON cm.customer_id = c.id AND cm.month = p_month
    LEFT JOIN key_months km ON km.key_id = p_lineage_id AND km.month = p_month
    -- From the pending side, through the primary key, in one pass: a few index probes,
    -- however many reservations the customer holds (one row: an aggregate).
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(r.amount_uc) FILTER (WHERE r.customer_id = c.id), 0) AS held_uc,
               coalesce(sum(r.amount_uc) FILTER (WHERE r.lineage_id = p_lineage_id), 0)
                   AS key_held_uc,
               coalesce(sum(p.cost_uc) FILTER (WHERE r.customer_id = c.id), 0) AS booked_uc,
               coalesce(sum(p.cost_uc) FILTER (WHERE r.lineage_id = p_lineage_id), 0)
                   AS key_booked_uc
        FROM unnest(p_pending_ids, p_pending_costs_uc) AS p(id, cost_uc)
        JOIN reservations r ON r.id = p.id
        WHERE r.expires_at > now()
    ) q
    WHERE c.id = p_customer_id;
    -- Pending ones move from reserved to spent, the part beyond the cap drawing the credit,
    -- as kaixu_book_customer_months will book them.
    reserved_uc := reserved_uc - v_held_uc;
    key_reserved_uc := key_reserved_uc - v_key_held_uc;
    extra_uc := extra_uc - (greatest(spent_uc + v_booked_uc - cap_uc, 0)
                            - greatest(spent_uc - cap_uc, 0));
    spent_uc := spent_uc + v_booked_uc;
    key_spent_uc := key_spent_uc + v_key_booked_uc;
END;
$$;

-- The books check: reserves p_estimate_uc if the customer's allowance (what is left of the cap,
-- plus credit), the key's cap and the gateway's ceiling all have room for it beside the live
-- reservations. The caller holds the admission lock. The reservation records its call (owner
-- process, provider, model, input estimate): a reaper settles it from these if that process
-- dies (ledger.sql, kaixu_reap).
-- p_spares: how many spare reservations of the same amount the process would like besides,
-- for the next requests of this key and device (proxy/ledger/spares.py). It gets fewer near a
-- limit: spares take at most a quarter of the room left beyond this request and the 16 after
-- it (so none unless 21 fit). Near a limit every request is counted here; what another
-- process holds idle is what it was granted further from the limit, given back within about
-- a second (LIFETIME_S), so a burst at the cap is refused beside it only in that second.
CREATE OR REPLACE FUNCTION kaixu_reserve(
    p_customer_id text, p_key_id text, p_lineage_id text, p_key_cap_uc bigint,
    p_estimate_uc bigint, p_ttl_s integer, p_gateway_ceiling_uc bigint, p_month date,
    p_call kaixu_call, p_pending_ids bigint[], p_pending_costs_uc bigint[], p_spares integer
)
RETURNS TABLE (
    outcome kaixu_admission_outcome, reservation_id bigint, retry_after_s double precision,
    limit_scope text, month date, cap_uc bigint, extra_uc bigint, spent_uc bigint,
    key_cap_uc bigint, key_spent_uc bigint, spare_ids bigint[]
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_books record;
    v_gateway_used bigint;
    v_reservation bigint;
    v_room bigint;  -- the least room left among the limits, beside the live reservations
    v_spares integer := 0;
    v_spare_ids bigint[];
BEGIN
    v_books := kaixu_books(p_customer_id, p_lineage_id, p_month, p_pending_ids,
                           p_pending_costs_uc);
    v_room := greatest(v_books.cap_uc - v_books.spent_uc, 0) + v_books.extra_uc
              - v_books.reserved_uc;
    IF v_room < p_estimate_uc THEN
        limit_scope := 'customer';
    ELSIF p_key_cap_uc IS NOT NULL
            AND p_key_cap_uc - v_books.key_spent_uc - v_books.key_reserved_uc < p_estimate_uc THEN
        limit_scope := 'key';
    ELSIF p_gateway_ceiling_uc IS NOT NULL THEN
        SELECT (SELECT coalesce(sum(g.spent_uc), 0) FROM gateway_months g WHERE g.month = p_month)
             + (SELECT coalesce(sum(coalesce(p.cost_uc, r.amount_uc)), 0) FROM reservations r
                LEFT JOIN unnest(p_pending_ids, p_pending_costs_uc) AS p(id, cost_uc)
                    ON p.id = r.id
                WHERE r.expires_at > now())
        INTO v_gateway_used;
        IF p_gateway_ceiling_uc - v_gateway_used < p_estimate_uc THEN
            limit_scope := 'gateway';
        END IF;
        v_room := least(v_room, p_gateway_ceiling_uc - v_gateway_used);
    END IF;

    IF limit_scope IS NULL THEN
        INSERT INTO reservations (customer_id, key_id, lineage_id, month, amount_uc, expires_at,
            owner, provider, model, install_id, request_id, input_tokens, input_cost_uc)
        VALUES (p_customer_id, p_key_id, p_lineage_id, p_month, p_estimate_uc,
                now() + make_interval(secs => p_ttl_s), p_call.owner, p_call.provider,
                p_call.model, p_call.install_id, p_call.request_id, p_call.input_tokens,
                p_call.input_cost_uc)
        RETURNING id INTO v_reservation;
        outcome := 'ok';
        IF p_key_cap_uc IS NOT NULL THEN
            v_room := least(v_room,
                            p_key_cap_uc - v_books.key_spent_uc - v_books.key_reserved_uc);
        END IF;
        IF p_spares > 0 AND p_estimate_uc > 0 THEN
            v_spares := least(p_spares,
                              greatest(v_room - 17 * p_estimate_uc, 0) / (4 * p_estimate_uc));
        END IF;
        IF v_spares > 0 THEN
            WITH made AS (
                INSERT INTO reservations (customer_id, key_id, lineage_id, month, amount_uc,
                    expires_at, owner, provider, model, install_id, spare)
                SELECT p_customer_id, p_key_id, p_lineage_id, p_month, p_estimate_uc,
                       now() + make_interval(secs => p_ttl_s), p_call.owner, p_call.provider,
                       p_call.model, p_call.install_id, true
                FROM generate_series(1, v_spares)
                RETURNING id
            )
            SELECT array_agg(id) INTO v_spare_ids FROM made;
        END IF;
    ELSE
        outcome := 'cap_exceeded';
    END IF;
    RETURN QUERY SELECT outcome, v_reservation, 0::double precision, limit_scope, p_month,
        v_books.cap_uc, v_books.extra_uc, v_books.spent_uc, p_key_cap_uc, v_books.key_spent_uc,
        coalesce(v_spare_ids, '{}');
END;
$$;

-- The admission of one request: key live and customer active, then, under this customer's
-- admission lock, device seat, rate limits and the books check. One row whatever the outcome;
-- a refusal before the books check carries zero month figures. A key or customer with a rate
-- limit gets no spares: every one of its requests is counted here.
CREATE OR REPLACE FUNCTION kaixu_admit_one(
    p_key_id text, p_estimate_uc bigint, p_ttl_s integer, p_install_id text,
    p_user_agent text, p_gateway_ceiling_uc bigint, p_call kaixu_call, p_pending_ids bigint[],
    p_pending_costs_uc bigint[], p_spares integer
)
RETURNS TABLE (
    outcome kaixu_admission_outcome, reservation_id bigint, retry_after_s double precision,
    limit_scope text, month date, cap_uc bigint, extra_uc bigint, spent_uc bigint,
    key_cap_uc bigint, key_spent_uc bigint, spare_ids bigint[]
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    v_key api_keys%ROWTYPE;
    v_customer customers%ROWTYPE;
    v_refused kaixu_admission_outcome;
    v_wait double precision;
    v_scope text := 'key';
BEGIN
    SELECT * INTO v_key FROM api_keys WHERE id = p_key_id;
    IF FOUND THEN
        SELECT * INTO v_customer FROM customers WHERE id = v_key.customer_id;
    END IF;
    IF NOT FOUND OR v_key.revoked_at IS NOT NULL OR NOT v_customer.active THEN
        v_refused := 'unauthorized';
    ELSE
        -- Taken before any row lock: every lock below belongs to this customer, so batches
        -- that take customers in the order of this lock's key cannot deadlock.
        PERFORM pg_advisory_xact_lock(1, hashtext(v_key.customer_id));
        IF p_install_id IS NOT NULL THEN
            v_refused := kaixu_device_seat(p_key_id, v_key.customer_id, v_key.max_devices,
                                           p_install_id, p_user_agent);
        END IF;
    END IF;
    IF v_refused IS NULL THEN
        SELECT * INTO v_wait, v_scope
        FROM kaixu_rate_limit(v_customer.id, v_customer.rpm_limit, p_key_id, v_key.rpm_limit);
        IF v_wait = 0 THEN
            RETURN QUERY SELECT * FROM kaixu_reserve(v_key.customer_id, p_key_id,
                v_key.lineage_id, v_key.cap_uc, p_estimate_uc, p_ttl_s, p_gateway_ceiling_uc,
                v_month, p_call, p_pending_ids, p_pending_costs_uc,
                CASE WHEN v_key.rpm_limit IS NULL AND v_customer.rpm_limit IS NULL
                     THEN p_spares ELSE 0 END);
            RETURN;
        END IF;
        v_refused := 'rate_limited';
    END IF;
    RETURN QUERY SELECT v_refused, NULL::bigint, coalesce(v_wait, 0), v_scope, v_month,
        0::bigint, 0::bigint, 0::bigint, NULL::bigint, 0::bigint, '{}'::bigint[];
END;
$$;

-- Every admission waiting at the same moment (in one process), in one round trip and one
-- transaction: kaixu_admit_one for each, customers taken in the order of their admission lock's
-- key (unknown keys last). One row per request, idx its 1-based position in the arrays.
-- p_owner is the admitting process (gateway_processes.id), owner of every reservation made;
-- p_pending_*, its settlements not yet known to be committed (kaixu_books); p_spares, the
-- spare reservations wanted with each (kaixu_reserve); p_released_ids, spares of its own it
-- gives back unused, deleted first so that their room counts for these admissions.
CREATE OR REPLACE FUNCTION kaixu_admit_batch(
    p_key_ids text[], p_estimates_uc bigint[], p_ttl_s integer, p_install_ids text[],
    p_user_agents text[], p_gateway_ceiling_uc bigint, p_owner text, p_providers text[],
    p_models text[], p_request_ids text[], p_input_tokens integer[], p_input_costs_uc bigint[],
    p_pending_ids bigint[], p_pending_costs_uc bigint[], p_spares integer[],
    p_released_ids bigint[]
)
RETURNS TABLE (
    idx integer, outcome kaixu_admission_outcome, reservation_id bigint,
    retry_after_s double precision, limit_scope text, month date, cap_uc bigint,
    extra_uc bigint, spent_uc bigint, key_cap_uc bigint, key_spent_uc bigint, spare_ids bigint[]
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_item record;
BEGIN
    -- Commit without waiting for the WAL flush. If the database crashed before the flush,
    -- these reservations (and device registrations, rate-limit steps) are gone with it: the
    -- settlements then delete nothing and still record the usage, so the books stay right;
    -- only these in-flight requests' holds were lost.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF cardinality(p_released_ids) > 0 THEN
        DELETE FROM reservations
        WHERE id = ANY(p_released_ids) AND owner = p_owner AND spare;
    END IF;
    FOR v_item IN
        SELECT u.idx, u.key_id, u.estimate_uc, u.install_id, u.user_agent, u.spares,
               ROW(p_owner, u.provider, u.model, u.install_id, u.request_id, u.input_tokens,
                   u.input_cost_uc)::kaixu_call AS call
        FROM unnest(p_key_ids, p_estimates_uc, p_install_ids, p_user_agents, p_providers,
                    p_models, p_request_ids, p_input_tokens, p_input_costs_uc, p_spares)
             WITH ORDINALITY AS u(key_id, estimate_uc, install_id, user_agent, provider, model,
                                  request_id, input_tokens, input_cost_uc, spares, idx)
        LEFT JOIN api_keys k ON k.id = u.key_id
        ORDER BY hashtext(k.customer_id), u.idx
    LOOP
        RETURN QUERY SELECT v_item.idx::integer, a.*
        FROM kaixu_admit_one(v_item.key_id, v_item.estimate_uc, p_ttl_s, v_item.install_id,
                             v_item.user_agent, p_gateway_ceiling_uc, v_item.call,
                             p_pending_ids, p_pending_costs_uc, v_item.spares) AS a;
    END LOOP;
END;
$$;
