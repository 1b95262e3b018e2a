"""The price table and the model aliases: read them whole, replace the prices whole or merge an
import into them, add and remove aliases. Every change tells every process (NOTIFY)."""

from __future__ import annotations

import asyncpg

from core.pricing import PRICE_FIELDS, Price

PRICE_COLUMNS = ", ".join(
    ["provider", "model", "long_context_threshold", *(f"{n}_uc_per_mtok" for n in PRICE_FIELDS)]
)
_PLACEHOLDERS = ", ".join(f"${n}" for n in range(1, len(PRICE_FIELDS) + 4))
SELECT_PRICES = f"SELECT {PRICE_COLUMNS}, updated_at FROM prices ORDER BY provider, model"
DELETE_PRICES = "DELETE FROM prices"
INSERT_PRICE = f"INSERT INTO prices ({PRICE_COLUMNS}) VALUES ({_PLACEHOLDERS})"
# An import sets the rows it names and leaves the others as they are.
UPSERT_PRICE = (
    INSERT_PRICE
    + " ON CONFLICT (provider, model) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in PRICE_COLUMNS.split(", ")[2:])
    + ", updated_at = now()"
)
NOTIFY_PRICES = "SELECT pg_notify('kaixu_invalidate', 'prices')"
# Writers of the table one at a time (readers go on): what a writer compared is what it changes.
LOCK_PRICES = "LOCK TABLE prices IN SHARE ROW EXCLUSIVE MODE"

SELECT_ALIASES = "SELECT provider, alias, model, shipped, created_at FROM model_aliases"
SELECT_ALIASES_ORDERED = SELECT_ALIASES + " ORDER BY provider, alias"
INSERT_ALIAS = """
INSERT INTO model_aliases (provider, alias, model) VALUES ($1, $2, $3)
ON CONFLICT (provider, alias) DO UPDATE SET model = excluded.model, shipped = false
RETURNING provider, alias, model, shipped, created_at
"""
DELETE_ALIAS = "DELETE FROM model_aliases WHERE provider = $1 AND alias = $2 RETURNING model"
# The provider names an import may price: the built-in ones, every upstream's, every priced one.
SELECT_PROVIDERS = """
SELECT provider FROM upstreams UNION SELECT provider FROM prices
UNION SELECT unnest(ARRAY['openai', 'anthropic', 'gemini'])
"""


def price_from_row(row: asyncpg.Record) -> Price:
    return Price(
        provider=row["provider"],
        model=row["model"],
        long_context_threshold=row["long_context_threshold"],
        **{name: row[f"{name}_uc_per_mtok"] for name in PRICE_FIELDS},
    )


def _values(p: Price) -> tuple:
    return (p.provider, p.model, p.long_context_threshold, *p.prices().values())


async def lock_prices(conn: asyncpg.Connection) -> None:
    """Call inside a transaction, before reading what a write will compare against."""
    await conn.execute(LOCK_PRICES)


async def fetch_prices(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PRICES)


async def replace_prices(conn: asyncpg.Connection, prices: list[Price]) -> None:
    """Swap the whole table in the caller's transaction and tell every process."""
    await conn.execute(DELETE_PRICES)
    await conn.executemany(INSERT_PRICE, [_values(p) for p in prices])
    await conn.execute(NOTIFY_PRICES)


async def upsert_prices(conn: asyncpg.Connection, prices: list[Price]) -> None:
    """Set these rows (adding the new ones) in the caller's transaction; tell every process."""
    await conn.executemany(UPSERT_PRICE, [_values(p) for p in prices])
    await conn.execute(NOTIFY_PRICES)


async def fetch_aliases(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ALIASES_ORDERED)


async def alias_map(conn: asyncpg.Connection | asyncpg.Pool) -> dict[tuple[str, str], str]:
    return {(r["provider"], r["alias"]): r["model"] for r in await conn.fetch(SELECT_ALIASES)}


async def set_alias(
    conn: asyncpg.Connection, provider: str, alias: str, model: str
) -> asyncpg.Record:
    row = await conn.fetchrow(INSERT_ALIAS, provider, alias, model)
    await conn.execute(NOTIFY_PRICES)
    return row


async def delete_alias(conn: asyncpg.Connection, provider: str, alias: str) -> str | None:
    """The model the alias named, or None when there was no such alias."""
    model = await conn.fetchval(DELETE_ALIAS, provider, alias)
    if model is not None:
        await conn.execute(NOTIFY_PRICES)
    return model


async def known_providers(conn: asyncpg.Connection | asyncpg.Pool) -> set[str]:
    return {row["provider"] for row in await conn.fetch(SELECT_PROVIDERS)}
