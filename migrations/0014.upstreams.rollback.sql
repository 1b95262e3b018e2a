-- Table changes only (docs/sql.md): the next migrate re-creates the functions (the old
-- kaixu_settle_batch signature, kept as a shim, is the older release's own again).
DROP FUNCTION IF EXISTS kaixu_settle_batch(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[], text[], smallint[]);
DROP FUNCTION IF EXISTS kaixu_apply_settlements(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[], text[], smallint[], boolean);
DROP FUNCTION IF EXISTS kaixu_record_usage(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[], text[], smallint[], boolean);
ALTER TABLE gateway_processes DROP COLUMN upstream_health;
ALTER TABLE usage_events DROP COLUMN upstream_id, DROP COLUMN attempts;
DROP TABLE upstreams;
