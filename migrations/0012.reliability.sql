-- depends: 0011.live-sql
-- Billing through outages and crashes (issue 12):
-- * reservations belong to a live process (`owner`, heart-beating in gateway_processes) and
--   carry what a reaper needs to settle them when that process dies: the call's provider,
--   model, device, request id and input estimate;
-- * a key's own cap counts its lineage (a rotated key and the keys it replaced): key_months
--   rows and reservations are booked under api_keys.lineage_id (the first key's id);
-- * usage rows say whether the reported usage was clamped, and whether a reaper wrote them
--   (a late real settlement then replaces the reaper's estimate);
-- * credit balances are bounded, so no sequence of top-ups can overflow the books.

-- Signatures that change; db/sql/ re-creates them after this migration.
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint);
DROP FUNCTION IF EXISTS kaixu_reserve(text, text, bigint, bigint, integer, bigint, date);
DROP FUNCTION IF EXISTS kaixu_books(text, text, date);
DROP FUNCTION IF EXISTS kaixu_settle_batch(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[]);
DROP FUNCTION IF EXISTS kaixu_record_usage(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[]);

-- What a reservation records of its call, for a reaper to settle it (db/sql/limits.sql).
CREATE TYPE kaixu_call AS (
    owner text, provider text, model text, install_id text, request_id text,
    input_tokens integer, input_cost_uc bigint
);

CREATE TABLE gateway_processes (
    id            text PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE api_keys ADD COLUMN lineage_id text;
WITH RECURSIVE chain (id, lineage_id) AS (
    SELECT id, id FROM api_keys WHERE rotated_from IS NULL
    UNION ALL
    SELECT k.id, c.lineage_id FROM api_keys k JOIN chain c ON k.rotated_from = c.id
)
UPDATE api_keys a SET lineage_id = chain.lineage_id FROM chain WHERE a.id = chain.id;
UPDATE api_keys SET lineage_id = id WHERE lineage_id IS NULL;
ALTER TABLE api_keys ALTER COLUMN lineage_id SET NOT NULL;
CREATE INDEX api_keys_lineage_idx ON api_keys (lineage_id);

-- key_months.key_id now names the lineage: fold the rows of rotated keys into it.
INSERT INTO key_months AS km (key_id, month, spent_uc)
SELECT k.lineage_id, m.month, sum(m.spent_uc)
FROM key_months m JOIN api_keys k ON k.id = m.key_id
WHERE k.lineage_id <> k.id
GROUP BY 1, 2
ON CONFLICT (key_id, month) DO UPDATE SET spent_uc = km.spent_uc + excluded.spent_uc;
DELETE FROM key_months m USING api_keys k WHERE k.id = m.key_id AND k.lineage_id <> k.id;

ALTER TABLE reservations
    ADD COLUMN owner          text,
    ADD COLUMN lineage_id     text,
    ADD COLUMN provider       text,
    ADD COLUMN model          text,
    ADD COLUMN install_id     text,
    ADD COLUMN request_id     text,
    ADD COLUMN input_tokens   integer NOT NULL DEFAULT 0,
    ADD COLUMN input_cost_uc  bigint NOT NULL DEFAULT 0;
UPDATE reservations r SET lineage_id = k.lineage_id FROM api_keys k WHERE k.id = r.key_id;
UPDATE reservations SET lineage_id = key_id WHERE lineage_id IS NULL;
ALTER TABLE reservations ALTER COLUMN lineage_id SET NOT NULL;
DROP INDEX reservations_key_idx;
CREATE INDEX reservations_lineage_idx ON reservations (lineage_id, expires_at);
CREATE INDEX reservations_owner_idx ON reservations (owner);

ALTER TABLE usage_events
    ADD COLUMN clamped boolean NOT NULL DEFAULT false,
    ADD COLUMN reaped  boolean NOT NULL DEFAULT false;

-- 10^12 cents of credit at most (core.money.MAX_CENTS): top-ups beyond it are refused.
ALTER TABLE customers ADD CONSTRAINT customers_extra_bound CHECK (extra_uc <= 1000000000000000000);
