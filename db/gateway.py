"""The hot path's queries: key lookup (on a cache miss), admission, settlement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date

import asyncpg

# A key with its customer's policy, for the per-process auth cache.
SELECT_KEY_FOR_AUTH = """
SELECT k.id, k.customer_id, k.secret_hash, k.kind, k.revoked_at IS NOT NULL AS revoked,
       k.cap_uc, k.rpm_limit, k.max_devices, k.require_install,
       k.allowed_providers, k.allowed_models,
       c.active AS customer_active, c.rpm_limit AS customer_rpm_limit,
       c.allowed_providers AS customer_allowed_providers,
       c.allowed_models AS customer_allowed_models
FROM api_keys k JOIN customers c ON c.id = k.customer_id
WHERE k.id = $1
"""

ADMIT_BATCH = """
SELECT * FROM kaixu_admit_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                $15, $16)
ORDER BY idx
"""

SETTLE_BATCH = """
SELECT * FROM kaixu_settle_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                 $15, $16, $17, $18, $19, $20, $21)
"""


RELEASE = "DELETE FROM reservations WHERE id = $1"

# Spares taken by calls: from now on they are those calls' reservations (a reaper bills them).
# The rows locked by id first, as a settlement batch locks its reservations (ledger.sql): a
# claim batch and a settlement batch that share calls would otherwise deadlock.
CLAIM_SPARES = """
WITH locked AS (
    SELECT r.id FROM reservations r WHERE r.id = ANY($1::bigint[]) ORDER BY r.id FOR UPDATE
)
UPDATE reservations r
SET spare = false, request_id = c.request_id, provider = c.provider, model = c.model,
    input_tokens = c.input_tokens, input_cost_uc = c.input_cost_uc
FROM locked l,
     unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[])
     AS c(id, request_id, provider, model, input_tokens, input_cost_uc)
WHERE r.id = l.id AND c.id = l.id
"""

RELEASE_SPARES = "DELETE FROM reservations WHERE id = ANY($1::bigint[]) AND spare"

# Outbox lines of calls that may have died with their process, billed as a reaper bills.
APPLY_REAPED = """
SELECT kaixu_apply_settlements($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                               $15, $16, $17, $18, $19, $20, $21, true)
"""


async def release(pool: asyncpg.Pool, reservation_id: int) -> None:
    """A reservation given back unused (a request that costs nothing, e.g. count_tokens)."""
    await pool.execute(RELEASE, reservation_id)


async def fetch_key_for_auth(pool: asyncpg.Pool, key_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(SELECT_KEY_FOR_AUTH, key_id)


@dataclass(frozen=True, slots=True)
class Admission:
    """One request asking to be admitted, as kaixu_admit_batch takes it, with what its
    reservation records of the call (for a reaper, should this process die)."""

    key_id: str
    estimate_uc: int
    install_id: str | None
    user_agent: str | None
    provider: str
    model: str
    request_id: str
    input_tokens: int
    input_cost_uc: int
    spares: int = 0  # spare reservations wanted besides (kaixu_reserve)


@dataclass(frozen=True, slots=True)
class Claim:
    """A spare reservation taken by a call: the call it now belongs to."""

    reservation_id: int
    request_id: str
    provider: str
    model: str
    input_tokens: int
    input_cost_uc: int


async def claim_spares(pool: asyncpg.Pool, claims: list[Claim]) -> list[None]:
    await pool.execute(
        CLAIM_SPARES,
        [c.reservation_id for c in claims],
        [c.request_id for c in claims],
        [c.provider for c in claims],
        [c.model for c in claims],
        [c.input_tokens for c in claims],
        [c.input_cost_uc for c in claims],
    )
    return [None] * len(claims)


async def release_spares(pool: asyncpg.Pool, reservation_ids: list[int]) -> None:
    """Spares given back unclaimed; one claimed meanwhile is left alone."""
    await pool.execute(RELEASE_SPARES, reservation_ids)


async def admit_batch(
    pool: asyncpg.Pool,
    batch: list[Admission],
    ttl_s: int,
    gateway_ceiling_uc: int | None,
    owner: str,
    pending: Mapping[int, int] | None = None,
    released: list[int] | None = None,
) -> list[asyncpg.Record]:
    """Admit (or refuse) each request in one transaction; one row per request, in order. The
    reservations made belong to `owner` (this process); `pending` maps the reservations of its
    settlements not yet known to be committed to their costs (counted as booked); `released`,
    its unclaimed spares given back first."""
    pending = pending or {}
    return await pool.fetch(
        ADMIT_BATCH,
        [a.key_id for a in batch],
        [a.estimate_uc for a in batch],
        ttl_s,
        [a.install_id for a in batch],
        [a.user_agent for a in batch],
        gateway_ceiling_uc,
        owner,
        [a.provider for a in batch],
        [a.model for a in batch],
        [a.request_id for a in batch],
        [a.input_tokens for a in batch],
        [a.input_cost_uc for a in batch],
        list(pending),
        list(pending.values()),
        [a.spares for a in batch],
        released or [],
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """One request's outcome, as kaixu_settle_batch takes it."""

    reservation_id: int
    customer_id: str
    key_id: str
    month: date
    install_id: str | None
    provider: str
    model: str
    upstream_model: str | None
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_uc: int
    status: str
    cost_source: str
    latency_ms: int
    request_id: str
    error: str | None
    clamped: bool = False  # the reported usage was beyond what the request could produce
    upstream_id: str | None = None  # the upstream that served the call (or failed it last)
    attempts: int | None = None  # how many upstreams were tried
    # Written when a call took a spare, before its upstream call: if the process dies before
    # the real settlement, the call is billed from this, as a reaper would (kaixu_reap).
    reaped: bool = False


SETTLEMENT_FIELDS = [f.name for f in fields(Settlement)]
_COLUMNS = [name for name in SETTLEMENT_FIELDS if name != "reaped"]  # the SQL's arrays


def _columns(batch: list[Settlement]) -> list[list[object]]:
    return [[getattr(item, name) for item in batch] for name in _COLUMNS]


async def settle_batch(pool: asyncpg.Pool, batch: list[Settlement]) -> list[asyncpg.Record]:
    """Apply the settlements in one transaction; one row per settlement, in no set order."""
    return await pool.fetch(SETTLE_BATCH, *_columns(batch))


async def apply_reaped(pool: asyncpg.Pool, batch: list[Settlement]) -> None:
    """Bill calls as a reaper does (one `aborted` row each, replaced by a real settlement
    later); a call already settled is left as it is."""
    await pool.execute(APPLY_REAPED, *_columns(batch))
