"""Alerts fired (by the settlement's SQL, kaixu_fire_alerts) and their delivery outbox: the
admin's list, and the delivery workers' claim and record."""

from __future__ import annotations

import datetime as dt

import asyncpg

# Newest first, each with its deliveries counted by state. The overall state: `none` (no
# webhook took it), `pending` while any delivery may still be tried, else `failed` if any
# gave up, else `delivered`.
SELECT_ALERTS = """
SELECT a.id, a.customer_id, a.month, a.kind, a.threshold, a.spent_uc, a.allowance_uc,
       a.extra_uc, a.created_at,
       jsonb_build_object(
           'state', CASE WHEN d.webhooks = 0 THEN 'none' WHEN d.pending > 0 THEN 'pending'
                         WHEN d.failed > 0 THEN 'failed' ELSE 'delivered' END,
           'webhooks', d.webhooks, 'delivered', d.delivered, 'pending', d.pending,
           'failed', d.failed) AS delivery
FROM alerts a
CROSS JOIN LATERAL (
    SELECT count(*) AS webhooks,
           count(*) FILTER (WHERE x.state = 'delivered') AS delivered,
           count(*) FILTER (WHERE x.state = 'pending') AS pending,
           count(*) FILTER (WHERE x.state = 'failed') AS failed
    FROM alert_deliveries x WHERE x.alert_id = a.id
) d
WHERE ($1::text IS NULL OR a.customer_id = $1) AND ($2::date IS NULL OR a.month = $2)
  AND ($3::bigint IS NULL OR a.id < $3)
ORDER BY a.id DESC LIMIT $4
"""
# Due rows, skipping those another process holds, leased for `lease_s` (the attempt's time and
# a margin): a process that dies mid-attempt leaves its rows to be tried again after that.
# Deliveries of an inactive webhook wait until it is active again.
CLAIM_DUE = """
WITH due AS (
    SELECT x.id FROM alert_deliveries x
    WHERE x.state = 'pending' AND x.next_attempt_at <= now()
      AND EXISTS (SELECT 1 FROM alert_webhooks w WHERE w.id = x.webhook_id AND w.active)
    ORDER BY x.next_attempt_at, x.id
    LIMIT $1
    FOR UPDATE OF x SKIP LOCKED
)
UPDATE alert_deliveries d SET next_attempt_at = now() + make_interval(secs => $2)
FROM due, alerts a, alert_webhooks w
WHERE d.id = due.id AND a.id = d.alert_id AND w.id = d.webhook_id
RETURNING d.id, d.attempts, d.webhook_id, w.url, w.secret_enc, a.id AS alert_id,
          a.customer_id, a.month, a.kind, a.threshold, a.spent_uc, a.allowance_uc, a.extra_uc,
          a.created_at
"""
# One attempt's outcome. A failure is tried again after `delay_s`, unless that would be later
# than `retry_for_s` after the delivery was queued: then it gives up (failed). A delivery gone
# meanwhile (its webhook deleted) records nothing.
RECORD_ATTEMPT = """
WITH updated AS (
    UPDATE alert_deliveries SET
        attempts = attempts + 1,
        state = CASE WHEN $2 THEN 'delivered'
                     WHEN created_at + make_interval(secs => $7)
                          < now() + make_interval(secs => $6) THEN 'failed'
                     ELSE 'pending' END,
        next_attempt_at = now() + make_interval(secs => $6),
        finished_at = CASE WHEN $2 OR created_at + make_interval(secs => $7)
                                < now() + make_interval(secs => $6) THEN now() END
    WHERE id = $1 AND state = 'pending'
    RETURNING id, state
)
INSERT INTO alert_delivery_attempts (delivery_id, status_code, error, duration_ms)
SELECT id, $3, $4, $5 FROM updated
RETURNING (SELECT state FROM updated)
"""
SELECT_DELIVERIES = """
SELECT x.id, x.alert_id, x.webhook_id, x.state, x.attempts, x.next_attempt_at, x.created_at,
       x.finished_at, t.at AS last_attempt_at, t.status_code AS last_status_code,
       t.error AS last_error
FROM alert_deliveries x
LEFT JOIN LATERAL (
    SELECT at, status_code, error FROM alert_delivery_attempts
    WHERE delivery_id = x.id ORDER BY id DESC LIMIT 1
) t ON true
WHERE x.alert_id = $1
ORDER BY x.id
"""


async def list_alerts(
    conn: asyncpg.Connection | asyncpg.Pool,
    customer_id: str | None,
    month: dt.date | None,
    before_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ALERTS, customer_id, month, before_id, limit)


async def deliveries(conn: asyncpg.Connection, alert_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_DELIVERIES, alert_id)


async def claim_due(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[asyncpg.Record]:
    return await pool.fetch(CLAIM_DUE, limit, lease_s)


async def record_attempt(
    pool: asyncpg.Pool,
    delivery_id: int,
    *,
    ok: bool,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    delay_s: float,
    retry_for_s: float,
) -> str | None:
    """The delivery's state after this attempt (None: it is gone)."""
    return await pool.fetchval(
        RECORD_ATTEMPT, delivery_id, ok, status_code, error, duration_ms, delay_s, retry_for_s
    )
