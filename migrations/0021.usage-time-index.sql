-- depends: 0020.alerts
-- The usage rows by time: the admin overview's requests per minute and errors per provider read
-- only the last hour's rows through it (db/overview.py), never a month's partition whole. Made
-- on the partitioned parent, so every partition has it and each one created later gets it
-- (kaixu_usage_partitions_ensure); a database not partitioned yet gets it on the plain table,
-- and db/partitioning.py's swap carries it over. The build holds settlements back (they insert
-- rows) for as long as it takes; their answers do not wait for them (docs/hot-path.md).
CREATE INDEX usage_events_created_idx ON usage_events (created_at);
