-- Settlement: usage rows, the month books, credit drawn, the gateway's sharded month totals.
-- Live definitions: db/migrate.py re-creates them after the migrations on every migrate, so
-- this file is the only place to change them (docs/sql.md).
--
-- Lock order of a settlement batch: its reservations (by id, first thing in
-- kaixu_record_usage: spare claims lock them by id too, so a claim batch and a settlement
-- batch sharing calls cannot deadlock), the usage rollup rows it touches (sorted, in
-- kaixu_record_usage), then customers, then customer months, then key months, then gateway
-- shards, each sorted. A batch may draw credit from a customer (its customers row)
-- between two of that customer's months (at a month boundary), so every batch locks a
-- customer's balance before any of its months; admissions take none of these locks. The
-- alerts a batch fires (kaixu_fire_alerts) are new rows inserted after the customer months,
-- under the customers' locks already held, so they add no lock another batch could want first.
--
-- One-statement helpers are PL/pgSQL too: it keeps each statement's plan for the session, while
-- before PostgreSQL 18 (compose runs 16) a SQL function's statements are planned on every call.

-- The gateway_months shard of a customer: the gateway's month totals are split so that
-- customers do not queue on one row lock.
CREATE OR REPLACE FUNCTION kaixu_gateway_shard(p_customer_id text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashtext(p_customer_id)) % 16)::smallint $$;

-- Writes the usage rows and deletes their reservations, once per reservation: one settled
-- before (a retry after a lost reply) inserts and deletes nothing, except that a real
-- settlement replaces the estimate a reaper wrote for it (its process was thought dead: see
-- kaixu_reap) and books the difference. Returns what each newly booked item adds, as parallel
-- arrays (empty when there are none); key spend goes to the key's lineage.
CREATE OR REPLACE FUNCTION kaixu_record_usage(
    p_reservation_ids bigint[], p_customer_ids text[], p_key_ids text[], p_months date[],
    p_install_ids text[], p_providers text[], p_models text[], p_upstream_models text[],
    p_input_tokens integer[], p_cached_input_tokens integer[], p_cache_write_tokens integer[],
    p_output_tokens integer[], p_costs_uc bigint[], p_statuses text[], p_cost_sources text[],
    p_latencies_ms integer[], p_request_ids text[], p_errors text[], p_clamped boolean[],
    p_upstream_ids text[], p_attempts smallint[], p_reaped boolean,
    OUT customer_ids text[], OUT lineage_ids text[], OUT months date[], OUT costs_uc bigint[]
)
RETURNS record
LANGUAGE plpgsql AS $$
BEGIN
    -- This statement keeps the usage rollups itself (the `rolled` step, one sorted upsert):
    -- the rollup triggers of db/sql/rollups.sql are for every other writer, and skip it.
    PERFORM set_config('kaixu.rollups_kept', 'on', true);
    PERFORM 1 FROM reservations WHERE id = ANY(p_reservation_ids) ORDER BY id FOR UPDATE;
    WITH items AS (
        SELECT * FROM unnest(
            p_reservation_ids, p_customer_ids, p_key_ids, p_months, p_install_ids, p_providers,
            p_models, p_upstream_models, p_input_tokens, p_cached_input_tokens,
            p_cache_write_tokens, p_output_tokens, p_costs_uc, p_statuses, p_cost_sources,
            p_latencies_ms, p_request_ids, p_errors, p_clamped, p_upstream_ids, p_attempts
        ) AS i(reservation_id, customer_id, key_id, month, install_id, provider, model,
               upstream_model, input_tokens, cached_input_tokens, cache_write_tokens,
               output_tokens, cost_uc, status, cost_source, latency_ms, request_id, error,
               clamped, upstream_id, attempts)
    ), superseded AS (
        -- A reaper's estimate, replaced by the real settlement (never the other way round).
        SELECT u.id, u.month, u.cost_uc AS old_cost_uc, u.input_tokens AS old_input_tokens,
               u.cached_input_tokens AS old_cached_input_tokens,
               u.cache_write_tokens AS old_cache_write_tokens,
               u.output_tokens AS old_output_tokens
        FROM usage_events u JOIN items i USING (reservation_id, month)
        WHERE u.reaped AND NOT p_reaped
        FOR UPDATE OF u
    ), replaced AS (
        UPDATE usage_events u SET
            upstream_model = i.upstream_model, input_tokens = i.input_tokens,
            cached_input_tokens = i.cached_input_tokens,
            cache_write_tokens = i.cache_write_tokens, output_tokens = i.output_tokens,
            cost_uc = i.cost_uc, status = i.status, cost_source = i.cost_source,
            latency_ms = i.latency_ms, error = i.error, clamped = i.clamped,
            upstream_id = i.upstream_id, attempts = i.attempts, reaped = false
        FROM superseded s, items i
        WHERE u.id = s.id AND u.month = s.month AND i.reservation_id = u.reservation_id
        RETURNING u.customer_id, u.key_id, u.month, u.created_at, u.provider, u.model,
            0 AS requests, u.input_tokens - s.old_input_tokens AS input_tokens,
            u.cached_input_tokens - s.old_cached_input_tokens AS cached_input_tokens,
            u.cache_write_tokens - s.old_cache_write_tokens AS cache_write_tokens,
            u.output_tokens - s.old_output_tokens AS output_tokens,
            u.cost_uc - s.old_cost_uc AS cost_uc
    ), inserted AS (
        INSERT INTO usage_events (month, customer_id, key_id, install_id, provider, model,
            upstream_model, input_tokens, cached_input_tokens, cache_write_tokens,
            output_tokens, cost_uc, status, cost_source, latency_ms, request_id, error,
            reservation_id, clamped, upstream_id, attempts, reaped)
        SELECT month, customer_id, key_id, install_id, provider, model, upstream_model,
            input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc,
            status, cost_source, latency_ms, request_id, error, reservation_id, clamped,
            upstream_id, attempts, p_reaped
        FROM items
        -- Whichever unique index says so: (reservation_id, month) on the partitioned table,
        -- (reservation_id) on the plain one it was before (and is again if 0016 is rolled back).
        ON CONFLICT DO NOTHING
        RETURNING reservation_id, customer_id, key_id, month, created_at, provider, model,
            1 AS requests, input_tokens, cached_input_tokens, cache_write_tokens,
            output_tokens, cost_uc
    ), released AS (
        DELETE FROM reservations r USING inserted i WHERE r.id = i.reservation_id
    ), booked AS (
        SELECT customer_id, key_id, month, created_at, provider, model, requests, input_tokens,
               cached_input_tokens, cache_write_tokens, output_tokens, cost_uc
        FROM inserted
        UNION ALL
        SELECT * FROM replaced
    ), rolled AS (
        -- Rollup rows upserted in key order: batches lock them in one order, before the
        -- customers rows (see the lock order above).
        INSERT INTO usage_rollups AS r (customer_id, month, day, key_id, provider, model,
            requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
            cost_uc)
        SELECT customer_id, month, (created_at AT TIME ZONE 'UTC')::date, key_id, provider,
               model, sum(requests), sum(input_tokens), sum(cached_input_tokens),
               sum(cache_write_tokens), sum(output_tokens), sum(cost_uc)
        FROM booked
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (customer_id, month, day, key_id, provider, model) DO UPDATE SET
            requests = r.requests + excluded.requests,
            input_tokens = r.input_tokens + excluded.input_tokens,
            cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
            cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
            output_tokens = r.output_tokens + excluded.output_tokens,
            cost_uc = r.cost_uc + excluded.cost_uc
    )
    SELECT coalesce(array_agg(b.customer_id), '{}'), coalesce(array_agg(k.lineage_id), '{}'),
           coalesce(array_agg(b.month), '{}'), coalesce(array_agg(b.cost_uc), '{}')
    INTO customer_ids, lineage_ids, months, costs_uc
    FROM booked b JOIN api_keys k ON k.id = b.key_id;
    PERFORM set_config('kaixu.rollups_kept', 'off', true);
END;
$$;

-- Fires alerts (parallel arrays, one element per alert): each at most once per customer,
-- month, kind and threshold, whatever number of batches or processes cross it (the unique key),
-- with one outbox row per webhook that takes its kind, and wakes the delivery workers. Returns
-- how many fired.
CREATE OR REPLACE FUNCTION kaixu_fire_alerts(
    p_customer_ids text[], p_months date[], p_kinds text[], p_thresholds smallint[],
    p_spent_uc bigint[], p_allowance_uc bigint[], p_extra_uc bigint[]
)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_fired integer;
    v_queued integer;
BEGIN
    WITH fired AS (
        INSERT INTO alerts (customer_id, month, kind, threshold, spent_uc, allowance_uc,
            extra_uc)
        SELECT * FROM unnest(p_customer_ids, p_months, p_kinds, p_thresholds, p_spent_uc,
            p_allowance_uc, p_extra_uc)
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (customer_id, month, kind, threshold) DO NOTHING
        RETURNING id, kind
    ), queued AS (
        INSERT INTO alert_deliveries (alert_id, webhook_id)
        SELECT f.id, w.id FROM fired f
        JOIN alert_webhooks w ON w.active AND (w.events IS NULL OR f.kind = ANY (w.events))
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM fired), (SELECT count(*) FROM queued)
    INTO v_fired, v_queued;
    IF v_queued > 0 THEN
        PERFORM pg_notify('kaixu_alerts', '');  -- at commit: the outbox has rows due
    END IF;
    RETURN v_fired;
END;
$$;

-- Adds the costs to each customer's month (parallel arrays, one element per settled item) and
-- draws credit for the part beyond the cap, never more than is left (credit never goes
-- negative; a negative cost, a reaper's estimate replaced by less, gives back what it drew).
-- Locks the customers first, sorted, then their months, sorted. Notes the alerts this booking
-- crossed (a threshold percent of the month's allowance: the cap plus the month's credit, drawn
-- and left; the credit falling below credit_low_uc) with plain arithmetic, and fires them in
-- one statement only when there are any.
CREATE OR REPLACE FUNCTION kaixu_book_customer_months(
    p_customer_ids text[], p_months date[], p_costs_uc bigint[]
)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_row record;
    v_spent bigint;
    v_draw bigint;
    v_extra bigint;
    v_credit_used bigint;
    v_cap bigint;
    v_thresholds smallint[];
    v_credit_low bigint;
    v_allowance bigint;
    v_t smallint;
    a_customers text[] := '{}';
    a_months date[] := '{}';
    a_kinds text[] := '{}';
    a_thresholds smallint[] := '{}';
    a_spent bigint[] := '{}';
    a_allowance bigint[] := '{}';
    a_extra bigint[] := '{}';
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
        RETURNING cm.spent_uc, cm.credit_used_uc INTO v_spent, v_credit_used;
        SELECT greatest(v_spent - c.monthly_cap_uc, 0)
               - greatest(v_spent - v_row.cost_uc - c.monthly_cap_uc, 0), c.extra_uc,
               c.monthly_cap_uc, c.alert_thresholds, c.credit_low_uc
        INTO v_draw, v_extra, v_cap, v_thresholds, v_credit_low
        FROM customers c WHERE c.id = v_row.customer_id;
        v_draw := least(greatest(v_draw, -v_credit_used), greatest(v_extra, 0));
        IF v_draw <> 0 THEN
            UPDATE customer_months SET credit_used_uc = credit_used_uc + v_draw
            WHERE customer_id = v_row.customer_id AND month = v_row.month;
            UPDATE customers SET extra_uc = customers.extra_uc - v_draw
            WHERE id = v_row.customer_id;
        END IF;
        -- The draw moves credit from extra to credit_used: the allowance is the same before
        -- and after this booking, so "crossed" compares the spend before and after with it.
        v_allowance := v_cap + greatest(v_extra, 0) + v_credit_used;
        IF v_row.cost_uc > 0 AND v_allowance > 0 THEN
            FOREACH v_t IN ARRAY v_thresholds LOOP
                IF (v_spent - v_row.cost_uc) * 100 < v_t * v_allowance
                   AND v_spent * 100 >= v_t * v_allowance THEN
                    a_customers := a_customers || v_row.customer_id;
                    a_months := a_months || v_row.month;
                    a_kinds := a_kinds || 'threshold'::text;
                    a_thresholds := a_thresholds || v_t;
                    a_spent := a_spent || v_spent;
                    a_allowance := a_allowance || v_allowance;
                    a_extra := a_extra || (v_extra - v_draw);
                END IF;
            END LOOP;
        END IF;
        IF v_draw > 0 AND v_extra >= v_credit_low AND v_extra - v_draw < v_credit_low THEN
            a_customers := a_customers || v_row.customer_id;
            a_months := a_months || v_row.month;
            a_kinds := a_kinds || 'credit_low'::text;
            a_thresholds := a_thresholds || 0::smallint;
            a_spent := a_spent || v_spent;
            a_allowance := a_allowance || v_allowance;
            a_extra := a_extra || (v_extra - v_draw);
        END IF;
    END LOOP;
    IF cardinality(a_customers) > 0 THEN
        PERFORM kaixu_fire_alerts(a_customers, a_months, a_kinds, a_thresholds, a_spent,
            a_allowance, a_extra);
    END IF;
END;
$$;

-- Adds the costs to each key lineage's month, locking the rows sorted.
CREATE OR REPLACE FUNCTION kaixu_book_key_months(
    p_lineage_ids text[], p_months date[], p_costs_uc bigint[]
)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO key_months AS km (key_id, month, spent_uc)
    SELECT u.key_id, u.month, sum(u.cost_uc)
    FROM unnest(p_lineage_ids, p_months, p_costs_uc) AS u(key_id, month, cost_uc)
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

-- Records and books one batch of settlements (parallel arrays) in the lock order above.
CREATE OR REPLACE FUNCTION kaixu_apply_settlements(
    p_reservation_ids bigint[], p_customer_ids text[], p_key_ids text[], p_months date[],
    p_install_ids text[], p_providers text[], p_models text[], p_upstream_models text[],
    p_input_tokens integer[], p_cached_input_tokens integer[], p_cache_write_tokens integer[],
    p_output_tokens integer[], p_costs_uc bigint[], p_statuses text[], p_cost_sources text[],
    p_latencies_ms integer[], p_request_ids text[], p_errors text[], p_clamped boolean[],
    p_upstream_ids text[], p_attempts smallint[], p_reaped boolean
)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_new record;
BEGIN
    SELECT * INTO v_new FROM kaixu_record_usage(
        p_reservation_ids, p_customer_ids, p_key_ids, p_months, p_install_ids, p_providers,
        p_models, p_upstream_models, p_input_tokens, p_cached_input_tokens,
        p_cache_write_tokens, p_output_tokens, p_costs_uc, p_statuses, p_cost_sources,
        p_latencies_ms, p_request_ids, p_errors, p_clamped, p_upstream_ids, p_attempts,
        p_reaped);
    PERFORM kaixu_book_customer_months(v_new.customer_ids, v_new.months, v_new.costs_uc);
    PERFORM kaixu_book_key_months(v_new.lineage_ids, v_new.months, v_new.costs_uc);
    PERFORM kaixu_book_gateway_months(v_new.customer_ids, v_new.months, v_new.costs_uc);
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
    p_latencies_ms integer[], p_request_ids text[], p_errors text[], p_clamped boolean[],
    p_upstream_ids text[], p_attempts smallint[]
)
RETURNS TABLE (
    reservation_id bigint, month date, cap_uc bigint, extra_uc bigint, spent_uc bigint,
    key_cap_uc bigint, key_spent_uc bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM kaixu_apply_settlements(
        p_reservation_ids, p_customer_ids, p_key_ids, p_months, p_install_ids, p_providers,
        p_models, p_upstream_models, p_input_tokens, p_cached_input_tokens,
        p_cache_write_tokens, p_output_tokens, p_costs_uc, p_statuses, p_cost_sources,
        p_latencies_ms, p_request_ids, p_errors, p_clamped, p_upstream_ids, p_attempts, false);

    RETURN QUERY
    SELECT i.reservation_id, i.month, c.monthly_cap_uc, c.extra_uc,
           coalesce(cm.spent_uc, 0), k.cap_uc, coalesce(km.spent_uc, 0)
    FROM unnest(p_reservation_ids, p_customer_ids, p_key_ids, p_months)
         AS i(reservation_id, customer_id, key_id, month)
    JOIN customers c ON c.id = i.customer_id
    JOIN api_keys k ON k.id = i.key_id
    LEFT JOIN customer_months cm ON cm.customer_id = i.customer_id AND cm.month = i.month
    LEFT JOIN key_months km ON km.key_id = k.lineage_id AND km.month = i.month;
END;
$$;

-- The signature of the release before upstreams (no upstream ids or attempts): what its
-- processes call while a rolling upgrade replaces them. Drop it a release later.
CREATE OR REPLACE FUNCTION kaixu_settle_batch(
    p_reservation_ids bigint[], p_customer_ids text[], p_key_ids text[], p_months date[],
    p_install_ids text[], p_providers text[], p_models text[], p_upstream_models text[],
    p_input_tokens integer[], p_cached_input_tokens integer[], p_cache_write_tokens integer[],
    p_output_tokens integer[], p_costs_uc bigint[], p_statuses text[], p_cost_sources text[],
    p_latencies_ms integer[], p_request_ids text[], p_errors text[], p_clamped boolean[]
)
RETURNS TABLE (
    reservation_id bigint, month date, cap_uc bigint, extra_uc bigint, spent_uc bigint,
    key_cap_uc bigint, key_spent_uc bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := coalesce(array_length(p_reservation_ids, 1), 0);
BEGIN
    RETURN QUERY SELECT * FROM kaixu_settle_batch(
        p_reservation_ids, p_customer_ids, p_key_ids, p_months, p_install_ids, p_providers,
        p_models, p_upstream_models, p_input_tokens, p_cached_input_tokens,
        p_cache_write_tokens, p_output_tokens, p_costs_uc, p_statuses, p_cost_sources,
        p_latencies_ms, p_request_ids, p_errors, p_clamped,
        array_fill(NULL::text, ARRAY[v_n]), array_fill(NULL::smallint, ARRAY[v_n]));
END;
$$;

-- Settles the reservations of dead processes: those whose owner has not heart-beaten for
-- p_stale_s (or is gone from gateway_processes), never p_self's. Each becomes one `aborted`
-- usage row billed at its input estimate (what is known), marked reaped, so that a late real
-- settlement from a process that was only cut off replaces it. Spares nobody claimed belong to
-- no call: they are deleted. At most 500 per call, skipping rows another reaper holds; returns
-- how many it settled.
CREATE OR REPLACE FUNCTION kaixu_reap(p_self text, p_stale_s double precision)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    DELETE FROM reservations r
    WHERE r.spare AND r.owner IS NOT NULL AND r.owner <> p_self
      AND NOT EXISTS (
          SELECT 1 FROM gateway_processes p
          WHERE p.id = r.owner AND p.heartbeat_at > now() - make_interval(secs => p_stale_s));
    SELECT array_agg(r.id) AS ids, array_agg(r.customer_id) AS customers,
           array_agg(r.key_id) AS keys, array_agg(r.month) AS months,
           array_agg(r.install_id) AS installs, array_agg(r.provider) AS providers,
           array_agg(r.model) AS models, array_agg(r.input_tokens) AS inputs,
           array_agg(r.input_cost_uc) AS costs,
           array_agg((extract(epoch FROM now() - r.created_at) * 1000)::integer) AS latencies,
           array_agg(r.request_id) AS requests, count(*)::integer AS n
    INTO v
    FROM (
        SELECT * FROM reservations r
        WHERE r.owner IS NOT NULL AND r.owner <> p_self AND NOT r.spare
          AND NOT EXISTS (
              SELECT 1 FROM gateway_processes p
              WHERE p.id = r.owner AND p.heartbeat_at > now() - make_interval(secs => p_stale_s))
        ORDER BY r.id
        LIMIT 500
        FOR UPDATE SKIP LOCKED
    ) r;
    IF v.n = 0 THEN
        RETURN 0;
    END IF;
    PERFORM kaixu_apply_settlements(
        v.ids, v.customers, v.keys, v.months, v.installs, v.providers, v.models,
        array_fill(NULL::text, ARRAY[v.n]), v.inputs, array_fill(0, ARRAY[v.n]),
        array_fill(0, ARRAY[v.n]), array_fill(0, ARRAY[v.n]), v.costs,
        array_fill('aborted'::text, ARRAY[v.n]), array_fill('estimated'::text, ARRAY[v.n]),
        v.latencies, v.requests,
        array_fill('The gateway process serving this call stopped; billed at its input estimate.'::text, ARRAY[v.n]),
        array_fill(false, ARRAY[v.n]), array_fill(NULL::text, ARRAY[v.n]),
        array_fill(NULL::smallint, ARRAY[v.n]), true);
    RETURN v.n;
END;
$$;
