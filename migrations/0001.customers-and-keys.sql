-- Customers and their API keys (master and sub-keys).
-- Money columns end in _uc: integer micro-cents (1e-6 of a US cent), never floats.

CREATE TABLE customers (
    id                text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name              text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    plan              text NOT NULL DEFAULT 'default' CHECK (length(plan) <= 64),
    monthly_cap_uc    bigint NOT NULL DEFAULT 0 CHECK (monthly_cap_uc >= 0),
    rpm_limit         integer CHECK (rpm_limit > 0),
    allowed_providers text[],  -- NULL: every provider
    allowed_models    text[],  -- NULL: every model; entries may end in * (prefix match)
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id                text PRIMARY KEY,                 -- public id, also inside the key text
    customer_id       text NOT NULL REFERENCES customers (id),
    kind              text NOT NULL CHECK (kind IN ('master', 'sub')),
    secret_hash       bytea NOT NULL UNIQUE,            -- HMAC-SHA256 of the whole key
    last4             text NOT NULL,
    label             text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    cap_uc            bigint CHECK (cap_uc >= 0),       -- NULL: no cap of the key's own
    rpm_limit         integer CHECK (rpm_limit > 0),    -- NULL: the customer's limit applies
    max_devices       integer CHECK (max_devices > 0),  -- NULL: unlimited
    require_install   boolean NOT NULL DEFAULT false,
    allowed_providers text[],                           -- narrows the customer's list
    allowed_models    text[],
    rotated_from      text REFERENCES api_keys (id),
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX api_keys_customer_idx ON api_keys (customer_id, created_at);
