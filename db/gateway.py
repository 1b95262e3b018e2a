"""The hot path's queries: key lookup (on a cache miss), admission, settlement."""

from __future__ import annotations

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

ADMIT = "SELECT * FROM kaixu_admit($1, $2, $3, $4, $5, $6)"

SETTLE = """
SELECT * FROM kaixu_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                           $16, $17, $18)
"""


async def fetch_key_for_auth(pool: asyncpg.Pool, key_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(SELECT_KEY_FOR_AUTH, key_id)


async def admit(
    pool: asyncpg.Pool,
    *,
    key_id: str,
    estimate_uc: int,
    ttl_s: int,
    install_id: str | None,
    user_agent: str | None,
    gateway_ceiling_uc: int | None,
) -> asyncpg.Record:
    return await pool.fetchrow(
        ADMIT, key_id, estimate_uc, ttl_s, install_id, user_agent, gateway_ceiling_uc
    )


async def settle(
    pool: asyncpg.Pool,
    *,
    reservation_id: int,
    customer_id: str,
    key_id: str,
    month: date,
    install_id: str | None,
    provider: str,
    model: str,
    upstream_model: str | None,
    input_tokens: int,
    cached_input_tokens: int,
    cache_write_tokens: int,
    output_tokens: int,
    cost_uc: int,
    status: str,
    cost_source: str,
    latency_ms: int,
    request_id: str,
    error: str | None,
) -> asyncpg.Record:
    return await pool.fetchrow(
        SETTLE, reservation_id, customer_id, key_id, month, install_id, provider, model,
        upstream_model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
        cost_uc, status, cost_source, latency_ms, request_id, error,
    )  # fmt: skip
