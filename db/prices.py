"""The price table: read it whole, replace it whole."""

from __future__ import annotations

import asyncpg

from core.pricing import Price

PRICE_COLUMNS = (
    "provider, model, input_uc_per_mtok, output_uc_per_mtok, cached_input_uc_per_mtok,"
    " cache_write_uc_per_mtok, long_context_threshold, long_input_uc_per_mtok,"
    " long_output_uc_per_mtok, long_cached_input_uc_per_mtok, long_cache_write_uc_per_mtok"
)
SELECT_PRICES = f"SELECT {PRICE_COLUMNS}, updated_at FROM prices ORDER BY provider, model"
DELETE_PRICES = "DELETE FROM prices"
INSERT_PRICE = (
    f"INSERT INTO prices ({PRICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
NOTIFY_PRICES = "SELECT pg_notify('kaixu_invalidate', 'prices')"


def price_from_row(row: asyncpg.Record) -> Price:
    return Price(
        provider=row["provider"],
        model=row["model"],
        input=row["input_uc_per_mtok"],
        output=row["output_uc_per_mtok"],
        cached_input=row["cached_input_uc_per_mtok"],
        cache_write=row["cache_write_uc_per_mtok"],
        long_context_threshold=row["long_context_threshold"],
        long_input=row["long_input_uc_per_mtok"],
        long_output=row["long_output_uc_per_mtok"],
        long_cached_input=row["long_cached_input_uc_per_mtok"],
        long_cache_write=row["long_cache_write_uc_per_mtok"],
    )


async def fetch_prices(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PRICES)


async def replace_prices(conn: asyncpg.Connection, prices: list[Price]) -> None:
    """Swap the whole table in the caller's transaction and tell every process."""
    await conn.execute(DELETE_PRICES)
    await conn.executemany(
        INSERT_PRICE,
        [
            (
                p.provider, p.model, p.input, p.output, p.cached_input, p.cache_write,
                p.long_context_threshold, p.long_input, p.long_output, p.long_cached_input,
                p.long_cache_write,
            )
            for p in prices
        ],
    )  # fmt: skip
    await conn.execute(NOTIFY_PRICES)
