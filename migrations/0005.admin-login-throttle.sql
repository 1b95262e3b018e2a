-- depends: 0004.usage-and-accounting
-- Failed admin password attempts (login form and X-Admin-Password), one row each, so every
-- gateway process sees the same count per client address. Rows older than the throttle window
-- are pruned whenever a new failure is recorded.

CREATE TABLE admin_login_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address     text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_login_failures_address_idx ON admin_login_failures (address, failed_at DESC);
CREATE INDEX admin_login_failures_time_idx ON admin_login_failures (failed_at);

-- The admin usage page reads one customer's month newest first, paged by id (keyset).
CREATE INDEX usage_events_customer_month_id_idx ON usage_events (customer_id, month, id DESC);
