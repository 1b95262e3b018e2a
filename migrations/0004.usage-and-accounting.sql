-- depends: 0003.list-prices
-- Monthly spend counters, cost reservations, usage rows, prepaid credit. (This migration also
-- created the first admission and settlement functions; functions now live in db/sql/ and are
-- re-created by every migrate, and 0011 drops the ones no longer live.)

ALTER TABLE customers ADD COLUMN extra_uc bigint NOT NULL DEFAULT 0;  -- prepaid credit left

CREATE TABLE customer_months (
    customer_id     text NOT NULL REFERENCES customers (id),
    month           date NOT NULL,                 -- first day of the month, UTC
    spent_uc        bigint NOT NULL DEFAULT 0,     -- settled cost
    reserved_uc     bigint NOT NULL DEFAULT 0,     -- held by requests still in flight
    credit_used_uc  bigint NOT NULL DEFAULT 0,     -- part of spent_uc drawn from extra_uc
    PRIMARY KEY (customer_id, month)
);

CREATE TABLE key_months (
    key_id          text NOT NULL REFERENCES api_keys (id),
    month           date NOT NULL,
    spent_uc        bigint NOT NULL DEFAULT 0,
    reserved_uc     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, month)
);

-- A request's maximum cost, held from admission to settlement. A request that never settles
-- (crashed process) is swept once expires_at passes, so no leak can block a customer.
CREATE TABLE reservations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     text NOT NULL,
    key_id          text NOT NULL,
    month           date NOT NULL,
    amount_uc       bigint NOT NULL CHECK (amount_uc >= 0),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_expiry_idx ON reservations (customer_id, expires_at);

CREATE TABLE usage_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at          timestamptz NOT NULL DEFAULT now(),
    month               date NOT NULL,
    customer_id         text NOT NULL REFERENCES customers (id),
    key_id              text NOT NULL REFERENCES api_keys (id),
    install_id          text,
    provider            text NOT NULL,
    model               text NOT NULL,
    upstream_model      text,
    input_tokens        integer NOT NULL DEFAULT 0,  -- all input, cached and cache writes included
    cached_input_tokens integer NOT NULL DEFAULT 0,
    cache_write_tokens  integer NOT NULL DEFAULT 0,
    output_tokens       integer NOT NULL DEFAULT 0,  -- reasoning/thinking included
    cost_uc             bigint NOT NULL DEFAULT 0 CHECK (cost_uc >= 0),
    status              text NOT NULL CHECK (status IN ('ok', 'error', 'aborted')),
    cost_source         text NOT NULL CHECK (cost_source IN ('reported', 'estimated', 'none')),
    latency_ms          integer NOT NULL DEFAULT 0,
    request_id          text,
    error               text,
    -- One row per admitted request: a settle retried after a lost reply inserts nothing.
    reservation_id      bigint UNIQUE
);
CREATE INDEX usage_events_customer_idx ON usage_events (customer_id, created_at DESC);
CREATE INDEX usage_events_month_idx ON usage_events (month, customer_id);
