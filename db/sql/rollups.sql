-- Usage rollups (table: migration 0015): per customer, month, UTC day, key, provider and model,
-- the requests, token counts and cost of the usage rows. Statement-level triggers on
-- usage_events keep them equal to the rows in the writing transaction itself — the settlement
-- batch, a reaper's, a real settlement replacing a reaper's estimate, or any SQL an operator
-- runs — each adding one grouped upsert per statement, in key order. A settlement batch
-- locks its groups' rows first, in one sorted pass (kaixu_record_usage), so the two triggers
-- its statement fires take no new lock. TRUNCATE empties the rollups too.
--
-- Re-running this file takes a SHARE ROW EXCLUSIVE lock on usage_events for the rest of the
-- db/sql transaction (CREATE TRIGGER): settlements wait those milliseconds. That lock is also
-- what makes the one-time backfill below exact: no row can be written between the rows it sums
-- and the triggers taking over.

-- Adds grouped deltas (one row per group, as `grouped` below) to the rollups, in key order.
CREATE OR REPLACE FUNCTION kaixu_rollup_add(p_groups jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollups AS r (customer_id, month, day, key_id, provider, model, requests,
        input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc)
    SELECT g.customer_id, g.month, g.day, g.key_id, g.provider, g.model, g.requests,
           g.input_tokens, g.cached_input_tokens, g.cache_write_tokens, g.output_tokens,
           g.cost_uc
    FROM jsonb_to_recordset(p_groups) AS g(customer_id text, month date, day date, key_id text,
        provider text, model text, requests bigint, input_tokens bigint,
        cached_input_tokens bigint, cache_write_tokens bigint, output_tokens bigint,
        cost_uc bigint)
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (customer_id, month, day, key_id, provider, model) DO UPDATE SET
        requests = r.requests + excluded.requests,
        input_tokens = r.input_tokens + excluded.input_tokens,
        cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens,
        cost_uc = r.cost_uc + excluded.cost_uc;
END;
$$;

-- The trigger of all three: rows written (`added`) count in; rows changed or removed count
-- out as they were (`removed`) and, changed, back in as they are now (`added`). Each branch
-- names only the transition tables its operation has (PL/pgSQL plans a statement when it
-- first runs).
CREATE OR REPLACE FUNCTION kaixu_rollup_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_groups jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(g) INTO v_groups FROM (
            SELECT customer_id, month, (created_at AT TIME ZONE 'UTC')::date AS day, key_id,
                   provider, model, count(*) AS requests, sum(input_tokens) AS input_tokens,
                   sum(cached_input_tokens) AS cached_input_tokens,
                   sum(cache_write_tokens) AS cache_write_tokens,
                   sum(output_tokens) AS output_tokens, sum(cost_uc) AS cost_uc
            FROM added GROUP BY 1, 2, 3, 4, 5, 6) g;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(g) INTO v_groups FROM (
            SELECT customer_id, month, day, key_id, provider, model, sum(n) AS requests,
                   sum(n * input_tokens) AS input_tokens,
                   sum(n * cached_input_tokens) AS cached_input_tokens,
                   sum(n * cache_write_tokens) AS cache_write_tokens,
                   sum(n * output_tokens) AS output_tokens, sum(n * cost_uc) AS cost_uc
            FROM (SELECT -1 AS n, * FROM removed UNION ALL SELECT 1, * FROM added) d
            CROSS JOIN LATERAL (SELECT (d.created_at AT TIME ZONE 'UTC')::date AS day) t
            GROUP BY 1, 2, 3, 4, 5, 6) g;
    ELSIF TG_OP = 'TRUNCATE' THEN
        TRUNCATE usage_rollups;
        RETURN NULL;
    ELSE
        SELECT jsonb_agg(g) INTO v_groups FROM (
            SELECT customer_id, month, (created_at AT TIME ZONE 'UTC')::date AS day, key_id,
                   provider, model, -count(*) AS requests, -sum(input_tokens) AS input_tokens,
                   -sum(cached_input_tokens) AS cached_input_tokens,
                   -sum(cache_write_tokens) AS cache_write_tokens,
                   -sum(output_tokens) AS output_tokens, -sum(cost_uc) AS cost_uc
            FROM removed GROUP BY 1, 2, 3, 4, 5, 6) g;
    END IF;
    IF v_groups IS NOT NULL THEN
        PERFORM kaixu_rollup_add(v_groups);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER usage_rollup_insert AFTER INSERT ON usage_events
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION kaixu_rollup_rows();
CREATE OR REPLACE TRIGGER usage_rollup_update AFTER UPDATE ON usage_events
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION kaixu_rollup_rows();
CREATE OR REPLACE TRIGGER usage_rollup_delete AFTER DELETE ON usage_events
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION kaixu_rollup_rows();
CREATE OR REPLACE TRIGGER usage_rollup_truncate AFTER TRUNCATE ON usage_events
    FOR EACH STATEMENT EXECUTE FUNCTION kaixu_rollup_rows();

-- Every rollup row as the usage rows say it should be (the reconciliation command compares
-- and repairs with it: db/rollups.py).
CREATE OR REPLACE VIEW kaixu_rollups_from_rows AS
SELECT customer_id, month, (created_at AT TIME ZONE 'UTC')::date AS day, key_id, provider,
       model, count(*)::bigint AS requests, sum(input_tokens)::bigint AS input_tokens,
       sum(cached_input_tokens)::bigint AS cached_input_tokens,
       sum(cache_write_tokens)::bigint AS cache_write_tokens,
       sum(output_tokens)::bigint AS output_tokens, sum(cost_uc)::bigint AS cost_uc
FROM usage_events
GROUP BY 1, 2, 3, 4, 5, 6;

-- Once (db.migrate calls it after this file, in the same transaction): the rows written before
-- the triggers existed; the lock CREATE TRIGGER took above holds new ones back.
CREATE OR REPLACE FUNCTION kaixu_rollups_backfill() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT backfilled FROM usage_rollups_state) THEN
        INSERT INTO usage_rollups (customer_id, month, day, key_id, provider, model, requests,
            input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc)
        SELECT * FROM kaixu_rollups_from_rows;
        UPDATE usage_rollups_state SET backfilled = true;
    END IF;
END;
$$;
