-- Table changes only (docs/sql.md); the next migrate of an older checkout re-creates its
-- functions. key_months stays folded by lineage: the spend is not split back per key.
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint,
    text, text[], text[], text[], integer[], bigint[]);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint, kaixu_call);
DROP FUNCTION IF EXISTS kaixu_reserve(text, text, text, bigint, bigint, integer, bigint, date,
    kaixu_call);
DROP FUNCTION IF EXISTS kaixu_books(text, text, date);
DROP FUNCTION IF EXISTS kaixu_settle_batch(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[]);
DROP FUNCTION IF EXISTS kaixu_record_usage(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[], boolean);
DROP FUNCTION IF EXISTS kaixu_reap(text, double precision);
DROP TRIGGER IF EXISTS api_keys_lineage ON api_keys;
DROP FUNCTION IF EXISTS kaixu_key_lineage();
ALTER TABLE customers DROP CONSTRAINT customers_extra_bound;
ALTER TABLE usage_events DROP COLUMN clamped, DROP COLUMN reaped;
DROP INDEX reservations_owner_idx;
DROP INDEX reservations_lineage_idx;
CREATE INDEX reservations_key_idx ON reservations (key_id, expires_at);
ALTER TABLE reservations
    DROP COLUMN owner, DROP COLUMN lineage_id, DROP COLUMN provider, DROP COLUMN model,
    DROP COLUMN install_id, DROP COLUMN request_id, DROP COLUMN input_tokens,
    DROP COLUMN input_cost_uc;
DROP INDEX api_keys_lineage_idx;
ALTER TABLE api_keys DROP COLUMN lineage_id;
DROP TABLE gateway_processes;
DROP TYPE kaixu_call;
