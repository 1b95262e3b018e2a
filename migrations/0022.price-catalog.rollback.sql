DROP TABLE model_aliases;
ALTER TABLE prices
    DROP COLUMN cache_write_1h_uc_per_mtok,
    DROP COLUMN long_cache_write_1h_uc_per_mtok,
    DROP COLUMN reasoning_output_uc_per_mtok;
