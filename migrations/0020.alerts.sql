-- depends: 0019.admin-accounts
-- Spend alerts (docs/api.md, Alerts): thresholds per customer, the alerts fired (once per
-- customer, month, kind and threshold: the unique key the settlement's insert relies on),
-- the operator's webhooks and the delivery outbox, written in the settlement's transaction
-- (kaixu_fire_alerts in db/sql/ledger.sql) and emptied by every process's delivery worker.
ALTER TABLE customers
    ADD COLUMN alert_thresholds smallint[] NOT NULL DEFAULT '{50,80,100}'
        CHECK (cardinality(alert_thresholds) <= 10
               AND 1 <= ALL (alert_thresholds) AND 100 >= ALL (alert_thresholds)),
    ADD COLUMN credit_low_uc bigint CHECK (credit_low_uc >= 0);

CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    month date NOT NULL,
    kind text NOT NULL CHECK (kind IN ('threshold', 'credit_low')),
    threshold smallint NOT NULL,  -- a percent of the allowance; 0 for credit_low
    spent_uc bigint NOT NULL,  -- the month's spend after the settlement that fired it
    allowance_uc bigint NOT NULL,  -- cap + the month's credit (drawn and left)
    extra_uc bigint NOT NULL,  -- the credit left after that settlement
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, month, kind, threshold)
);

CREATE TABLE alert_webhooks (
    id text PRIMARY KEY,
    url text NOT NULL,
    secret_enc bytea NOT NULL,  -- sealed by proxy/infra/secretbox.py, bound to the id
    events text[],  -- the kinds delivered; NULL: every kind
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: one row per alert and webhook, inserted with the alert.
CREATE TABLE alert_deliveries (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    webhook_id text NOT NULL REFERENCES alert_webhooks (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (alert_id, webhook_id)
);
-- What the workers poll: the pending rows only, by when they are due.
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_webhook ON alert_deliveries (webhook_id);

CREATE TABLE alert_delivery_attempts (
    id bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    status_code integer,  -- NULL: no answer (refused, timed out)
    error text,  -- NULL: a 2xx
    duration_ms integer NOT NULL
);
CREATE INDEX alert_delivery_attempts_delivery ON alert_delivery_attempts (delivery_id);
