-- depends: 0021.usage-time-index
-- Prices that keep up with the providers: 1-hour cache writes priced apart from 5-minute ones
-- (Anthropic bills them at 2x input, 5-minute ones at 1.25x), reasoning output priced apart
-- where a provider does, and model aliases (a name the provider answers with, or an operator's
-- own, priced as its base model). NULL prices fall back as documented in core/pricing.py.

ALTER TABLE prices
    ADD COLUMN cache_write_1h_uc_per_mtok bigint CHECK (cache_write_1h_uc_per_mtok >= 0),
    ADD COLUMN long_cache_write_1h_uc_per_mtok bigint
        CHECK (long_cache_write_1h_uc_per_mtok >= 0),
    ADD COLUMN reasoning_output_uc_per_mtok bigint CHECK (reasoning_output_uc_per_mtok >= 0);

CREATE TABLE model_aliases (
    provider    text NOT NULL CHECK (provider ~ '^[a-z0-9_-]{1,32}$'),
    alias       text NOT NULL CHECK (length(alias) BETWEEN 1 AND 128),
    model       text NOT NULL CHECK (length(model) BETWEEN 1 AND 128),
    shipped     boolean NOT NULL DEFAULT false,  -- from migrations/aliases.csv, not an operator
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, alias),
    CHECK (alias <> model)
);
