DROP INDEX IF EXISTS usage_events_created_idx;
