-- depends: 0006.limits
-- The operator's money: credit top-ups (manual and Stripe), Stripe webhook events, frozen
-- invoice snapshots, and the audit log of admin actions.

CREATE TABLE topups (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id         text NOT NULL REFERENCES customers (id),
    amount_uc           bigint NOT NULL CHECK (amount_uc > 0),
    source              text NOT NULL CHECK (source IN ('manual', 'stripe')),
    note                text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    actor               text NOT NULL,              -- who: 'admin@<address>' or 'stripe'
    stripe_session_id   text UNIQUE,                -- a Checkout Session credits exactly once
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topups_customer_idx ON topups (customer_id, created_at DESC);

-- Every Stripe event received, verified or not credited, for the operator to inspect.
CREATE TABLE stripe_events (
    event_id        text PRIMARY KEY,
    type            text NOT NULL,
    session_id      text,
    customer_id     text,                           -- from the session's metadata, unchecked
    amount_uc       bigint,
    outcome         text NOT NULL,                  -- credited | duplicate | unpaid | unknown_customer | ignored
    payload         jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_session_idx ON stripe_events (session_id);

-- Invoices are frozen snapshots: later price changes or late usage never alter one. A second
-- snapshot of the same month is a new version; the old one is kept.
CREATE TABLE invoices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     text NOT NULL REFERENCES customers (id),
    month           date NOT NULL,
    version         integer NOT NULL,
    snapshot        jsonb NOT NULL,
    total_uc        bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, month, version)
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,                      -- 'admin:token' | 'admin:password' | 'stripe'
    address     text,                               -- the client address of the admin request
    action      text NOT NULL,                      -- e.g. 'key.rotate', 'topup.create'
    customer_id text,
    target      text,                               -- the id acted on
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, id DESC);
CREATE INDEX audit_log_at_idx ON audit_log (id DESC);
