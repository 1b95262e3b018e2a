-- depends: 0001.customers-and-keys
-- The price table, per provider and model. Prices are integer micro-cents per 1M tokens
-- (1 USD per 1M tokens = 100,000,000). The list prices are loaded by 0003 from prices.csv.

CREATE TABLE prices (
    provider                text NOT NULL CHECK (provider ~ '^[a-z0-9_-]{1,32}$'),
    model                   text NOT NULL CHECK (length(model) BETWEEN 1 AND 128),
    input_uc_per_mtok       bigint NOT NULL CHECK (input_uc_per_mtok >= 0),
    output_uc_per_mtok      bigint NOT NULL CHECK (output_uc_per_mtok >= 0),
    cached_input_uc_per_mtok bigint CHECK (cached_input_uc_per_mtok >= 0),  -- NULL: as input
    cache_write_uc_per_mtok bigint CHECK (cache_write_uc_per_mtok >= 0),    -- NULL: as input
    -- Above this many input tokens the long_* prices apply (Claude Sonnet, Gemini 2.5 Pro).
    long_context_threshold  integer CHECK (long_context_threshold > 0),
    long_input_uc_per_mtok  bigint CHECK (long_input_uc_per_mtok >= 0),
    long_output_uc_per_mtok bigint CHECK (long_output_uc_per_mtok >= 0),
    long_cached_input_uc_per_mtok bigint CHECK (long_cached_input_uc_per_mtok >= 0),
    long_cache_write_uc_per_mtok  bigint CHECK (long_cache_write_uc_per_mtok >= 0),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, model),
    CHECK ((long_context_threshold IS NULL) = (long_input_uc_per_mtok IS NULL)
           AND (long_input_uc_per_mtok IS NULL) = (long_output_uc_per_mtok IS NULL))
);
