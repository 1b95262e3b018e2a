-- depends: 0012.reliability
-- Admin sign-in sessions: a token works only while its row is live, so signing out (or ending
-- sessions from the admin) refuses it on every process at once. The token itself is never
-- stored, only its keyed HMAC-SHA256.

CREATE TABLE admin_sessions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    address     text,
    user_agent  text
);
CREATE INDEX admin_sessions_live_idx ON admin_sessions (expires_at) WHERE revoked_at IS NULL;

-- The password throttle now counts per scope: `address:<ip>` for anonymous attempts,
-- `device:<id>` for a browser or script that signed in before (its device token).
ALTER TABLE admin_login_failures RENAME COLUMN address TO scope;
UPDATE admin_login_failures SET scope = 'address:' || scope;
ALTER INDEX admin_login_failures_address_idx RENAME TO admin_login_failures_scope_idx;
