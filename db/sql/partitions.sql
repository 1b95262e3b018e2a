-- The monthly partitions of usage_events (the conversion: db/partitioning.py; retention:
-- proxy/upkeep/retention.py). Each partition holds the billing months [from_month, to_month);
-- the first, the table as it was before partitioning, has no lower bound (from_month NULL).

CREATE OR REPLACE VIEW kaixu_usage_partitions AS
SELECT c.relname::text AS name,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([0-9-]+)'\)$re$))[1]::date
           AS from_month,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$TO \('([0-9-]+)'\)$re$))[1]::date
           AS to_month
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'usage_events' AND p.relnamespace = 'public'::regnamespace;

-- Creates the partitions of this UTC month and the `p_ahead` months after it that none holds
-- yet; returns how many it created. Several processes may call it at once (the advisory lock
-- makes them take turns); CREATE TABLE ... PARTITION OF locks the parent for a moment, so the
-- caller's lock_timeout bounds how long writers can queue behind it.
CREATE OR REPLACE FUNCTION kaixu_usage_partitions_ensure(p_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_first date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    v_month date;
    v_created integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table
                   WHERE partrelid = to_regclass('public.usage_events')) THEN
        RETURN 0;  -- not converted yet (db/partitioning.py)
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('kaixu_usage_partitions_ensure'));
    FOR i IN 0..p_ahead LOOP
        v_month := (v_first + make_interval(months => i))::date;
        IF NOT EXISTS (SELECT 1 FROM kaixu_usage_partitions
                       WHERE coalesce(from_month <= v_month, true) AND to_month > v_month) THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                           'usage_events_' || to_char(v_month, 'YYYY_MM'), v_month,
                           (v_month + interval '1 month')::date);
            v_created := v_created + 1;
        END IF;
    END LOOP;
    RETURN v_created;
END;
$$;
