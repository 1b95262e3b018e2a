-- depends: 0005.admin-login-throttle
-- Limits that hold across processes: device seats, GCRA rate limits, a gateway-wide monthly
-- ceiling. Admission checks them all in its one round trip (db/sql/limits.sql).

CREATE TABLE devices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id      text NOT NULL REFERENCES api_keys (id),
    customer_id text NOT NULL REFERENCES customers (id),
    install_id  text NOT NULL,
    user_agent  text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    UNIQUE (key_id, install_id)
);
CREATE INDEX devices_customer_idx ON devices (customer_id, last_seen DESC);

-- GCRA state: the theoretical arrival time of the next request, per scope
-- ('customer:<id>' or 'key:<id>'). A smooth limit: no 2x burst at a window boundary.
CREATE TABLE rate_limits (
    scope   text PRIMARY KEY,
    tat     timestamptz NOT NULL
);

-- Gateway-wide month totals, split in shards so customers do not queue on one row lock.
CREATE TABLE gateway_months (
    month       date NOT NULL,
    shard       smallint NOT NULL,
    spent_uc    bigint NOT NULL DEFAULT 0,
    reserved_uc bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, shard)
);
-- The shard is kaixu_gateway_shard(customer_id) (db/sql/ledger.sql), written out: functions
-- are created after the migrations.
INSERT INTO gateway_months (month, shard, spent_uc, reserved_uc)
SELECT month, (abs(hashtext(customer_id)) % 16)::smallint, sum(spent_uc), sum(reserved_uc)
FROM customer_months GROUP BY 1, 2;
