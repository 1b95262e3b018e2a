-- The triggers, then what they call, then the tables (docs/sql.md: functions are re-created by
-- the next migrate of a checkout that has them).
DROP TRIGGER IF EXISTS usage_rollup_rows ON usage_events;
DROP TRIGGER IF EXISTS usage_rollup_truncate ON usage_events;
DROP FUNCTION IF EXISTS kaixu_rollup_row();
DROP FUNCTION IF EXISTS kaixu_rollup_truncate();
DROP FUNCTION IF EXISTS kaixu_rollup_change(usage_events, integer);
DROP FUNCTION IF EXISTS kaixu_rollups_backfill();
DROP VIEW IF EXISTS kaixu_rollups_from_rows;
DROP TABLE usage_rollups_state;
DROP TABLE usage_rollups;
