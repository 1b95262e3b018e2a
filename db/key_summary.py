"""A client key's own view of itself (GET /v1/key): its limits, its customer's, and the month.

Never the secret hash, never another key's row: the one query is by the caller's own key id.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

# The month's figures come from kaixu_books (db/sql/limits.sql), the function admission reads
# them with, so they are the month object a chat answer of this key would carry: this process's
# settlements not yet committed ($2, $3: reservation id → cost) count as booked. `revoked` and
# `customer_active` are read again here: the per-process key cache is never trusted for them.
# Reserved is what requests in flight hold: unclaimed spare reservations (proxy/ledger/spares.py)
# are left out, being no request's and given back within a second.
SELECT_KEY_SUMMARY = """
SELECT k.kind, k.last4, k.label, k.cap_uc, k.rpm_limit, k.max_devices, k.require_install,
       k.allowed_providers, k.allowed_models, k.revoked_at IS NOT NULL AS revoked,
       c.active AS customer_active, c.monthly_cap_uc AS customer_cap_uc,
       c.rpm_limit AS customer_rpm_limit, c.allowed_providers AS customer_allowed_providers,
       c.allowed_models AS customer_allowed_models,
       m.month, b.cap_uc AS month_cap_uc, b.extra_uc, b.spent_uc, b.key_spent_uc,
       b.reserved_uc - (SELECT coalesce(sum(r.amount_uc), 0)::bigint FROM reservations r
                        WHERE r.customer_id = k.customer_id AND r.spare
                          AND r.expires_at > now()) AS reserved_uc,
       b.key_reserved_uc - (SELECT coalesce(sum(r.amount_uc), 0)::bigint FROM reservations r
                            WHERE r.lineage_id = k.lineage_id AND r.spare
                              AND r.expires_at > now()) AS key_reserved_uc
FROM api_keys k
JOIN customers c ON c.id = k.customer_id
CROSS JOIN LATERAL (SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date AS month) m
CROSS JOIN LATERAL kaixu_books(k.customer_id, k.lineage_id, m.month, $2::bigint[],
                               $3::bigint[]) b
WHERE k.id = $1
"""


async def key_summary(
    pool: asyncpg.Pool, key_id: str, pending: Mapping[int, int]
) -> asyncpg.Record | None:
    """The key's limits, its customer's and this month's figures; None for an unknown key."""
    return await pool.fetchrow(SELECT_KEY_SUMMARY, key_id, list(pending), list(pending.values()))
