-- depends: 0014.upstreams
-- Usage rollups: per customer, month, UTC day, key, provider and model, the requests, every
-- token kind and the cost of the usage rows, kept exact in the settlement's own statement and,
-- for any other writer, by a trigger (db/sql/rollups.sql and ledger.sql). The usage panel's totals and breakdowns
-- and invoices read these instead of scanning the month's rows.

CREATE TABLE usage_rollups (
    customer_id         text NOT NULL,
    month               date NOT NULL,
    day                 date NOT NULL,
    key_id              text NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    requests            bigint NOT NULL DEFAULT 0,
    input_tokens        bigint NOT NULL DEFAULT 0,
    cached_input_tokens bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    cost_uc             bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, month, day, key_id, provider, model)
);

-- Whether the rows that predate the rollups have been summed in: db/sql/rollups.sql does it
-- once, in the transaction that installs the triggers, so no row is missed or counted twice.
CREATE TABLE usage_rollups_state (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    backfilled  boolean NOT NULL DEFAULT false
);
INSERT INTO usage_rollups_state DEFAULT VALUES;
