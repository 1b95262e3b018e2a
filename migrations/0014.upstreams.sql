-- depends: 0013.admin-sessions
-- Upstreams: the provider credentials an operator adds in the admin (the environment's keys
-- are upstreams too, held in memory, never stored). Keys and extra headers are kept only
-- encrypted (AES-GCM under a key derived from KAIXU_SECRET: proxy/infra/secretbox.py).
-- Usage rows name the upstream that served the call and how many upstreams were tried.

CREATE TABLE upstreams (
    id           text PRIMARY KEY,
    provider     text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    api          text NOT NULL CHECK (api IN ('openai', 'anthropic', 'gemini')),
    label        text NOT NULL DEFAULT '',
    base_url     text NOT NULL,
    key_enc      bytea NOT NULL,
    key_last4    text NOT NULL,
    headers_enc  bytea,                     -- an encrypted JSON object; NULL: none
    header_names text[] NOT NULL DEFAULT '{}',
    models       text[],                    -- patterns (a trailing * is a prefix); NULL: all
    priority     integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    weight       integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upstreams_provider_idx ON upstreams (provider);

-- Nullable without a default: a catalogue change only, however many rows the table holds.
ALTER TABLE usage_events ADD COLUMN upstream_id text, ADD COLUMN attempts smallint;

-- Each process's recent view of its upstreams (success, latency, cooling), written with its
-- heartbeat; the admin merges the live processes' views.
ALTER TABLE gateway_processes ADD COLUMN upstream_health jsonb;

-- The settlement functions take the upstream and attempts (db/sql/ledger.sql). The old
-- kaixu_settle_batch signature stays, as a shim, for the processes of the previous release
-- still running during a rolling upgrade.
DROP FUNCTION IF EXISTS kaixu_apply_settlements(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[], boolean);
DROP FUNCTION IF EXISTS kaixu_record_usage(bigint[], text[], text[], date[], text[], text[],
    text[], text[], integer[], integer[], integer[], integer[], bigint[], text[], text[],
    integer[], text[], text[], boolean[], boolean);
