-- depends: 0018.spare-reservations
-- Named admin accounts with a role each. ADMIN_PASSWORD stays the bootstrap owner (a session
-- without an account); a session of an account is refused the moment the account is disabled
-- or removed, because every admin request reads its session row joined to the account.

CREATE TABLE admins (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role            text NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
    password_hash   text NOT NULL,          -- argon2id, in its own encoded form (salt inside)
    totp_sealed     bytea,                  -- the TOTP secret, sealed (proxy/infra/secretbox.py)
    totp_enabled    boolean NOT NULL DEFAULT false,
    totp_last_step  bigint,                 -- a code's time step is accepted once
    disabled_at     timestamptz,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX admins_email_idx ON admins (lower(email));

-- NULL: a session of the bootstrap owner (signed in with ADMIN_PASSWORD).
ALTER TABLE admin_sessions ADD COLUMN admin_id bigint REFERENCES admins (id) ON DELETE CASCADE;
CREATE INDEX admin_sessions_admin_idx ON admin_sessions (admin_id) WHERE revoked_at IS NULL;
