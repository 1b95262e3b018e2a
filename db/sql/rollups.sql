-- Usage rollups (table: migration 0015): per customer, month, UTC day, key, provider and model,
-- the requests, token counts and cost of the usage rows, equal to the rows at every commit.
-- Settlement (kaixu_record_usage in ledger.sql, the reaper's too) upserts them itself, in key
-- order, in its own statement. Every other writer of usage_events — a process of an older
-- release during an upgrade, an operator's SQL — is caught by the row trigger below, which
-- the settlement skips (it sets kaixu.rollups_kept for its statement): a WHEN that costs the
-- settlement nothing. TRUNCATE empties the rollups too.
--
-- Re-running this file takes a SHARE ROW EXCLUSIVE lock on usage_events for the rest of the
-- db/sql transaction (CREATE TRIGGER): settlements wait those milliseconds. That lock is also
-- what makes the one-time backfill below exact: no row can be written between the rows it sums
-- and the trigger (or the new settlement) taking over; a write blocked meanwhile sees the
-- trigger once it resumes.

-- Adds one row to its group (n = 1) or takes it out (n = -1).
CREATE OR REPLACE FUNCTION kaixu_rollup_change(p_row usage_events, p_n integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollups AS r (customer_id, month, day, key_id, provider, model, requests,
        input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc)
    VALUES (p_row.customer_id, p_row.month, (p_row.created_at AT TIME ZONE 'UTC')::date,
            p_row.key_id, p_row.provider, p_row.model, p_n, p_n * p_row.input_tokens,
            p_n * p_row.cached_input_tokens, p_n * p_row.cache_write_tokens,
            p_n * p_row.output_tokens, p_n * p_row.cost_uc)
    ON CONFLICT (customer_id, month, day, key_id, provider, model) DO UPDATE SET
        requests = r.requests + excluded.requests,
        input_tokens = r.input_tokens + excluded.input_tokens,
        cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens,
        cost_uc = r.cost_uc + excluded.cost_uc;
END;
$$;

CREATE OR REPLACE FUNCTION kaixu_rollup_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM kaixu_rollup_change(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM kaixu_rollup_change(NEW, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION kaixu_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE usage_rollups;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER usage_rollup_rows AFTER INSERT OR UPDATE OR DELETE ON usage_events
    FOR EACH ROW WHEN (current_setting('kaixu.rollups_kept', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION kaixu_rollup_row();
CREATE OR REPLACE TRIGGER usage_rollup_truncate AFTER TRUNCATE ON usage_events
    FOR EACH STATEMENT EXECUTE FUNCTION kaixu_rollup_truncate();

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
