"""The list prices of December 2026 (prices.csv) and the shipped model aliases (aliases.csv).

A model the table lacks is added; a row the table has keeps its prices (an operator's edit
wins: `python -m proxy prices import migrations/prices.csv` applies the list over it, showing
what changes), and only gains the prices this release adds (1-hour cache writes, reasoning
output), where it had none. Shipped aliases are added unless the name has one already.
"""

import csv
from decimal import Decimal
from pathlib import Path

from yoyo import step

__depends__ = {"0022.price-catalog"}

HERE = Path(__file__).parent
UC_PER_USD = Decimal(100_000_000)  # 100 cents x 1,000,000 micro-cents
PRICES = (
    "input", "output", "cached_input", "cache_write", "cache_write_1h", "reasoning_output",
    "long_input", "long_output", "long_cached_input", "long_cache_write", "long_cache_write_1h",
)  # fmt: skip
NEW = ("cache_write_1h", "reasoning_output", "long_cache_write_1h")


def _uc(text: str | None) -> int | None:
    if not text:
        return None
    value = Decimal(text) * UC_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"price {text} is finer than a micro-cent per 1M tokens")
    return int(value)


def _prices() -> list[dict]:
    with (HERE / "prices.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def apply(conn) -> None:
    columns = ", ".join(f"{name}_uc_per_mtok" for name in PRICES)
    marks = ", ".join(["%s"] * (len(PRICES) + 3))
    fill = ", ".join(f"{n}_uc_per_mtok = coalesce(prices.{n}_uc_per_mtok,"
                     f" excluded.{n}_uc_per_mtok)" for n in NEW)  # fmt: skip
    rows = [
        (row["provider"], row["model"], int(row["long_context_threshold"] or 0) or None,
         *(_uc(row.get(name)) for name in PRICES))
        for row in _prices()
    ]  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO prices (provider, model, long_context_threshold, {columns})"
            f" VALUES ({marks}) ON CONFLICT (provider, model) DO UPDATE SET {fill}",
            rows,
        )
        with (HERE / "aliases.csv").open(newline="") as f:
            aliases = [(r["provider"], r["alias"], r["model"]) for r in csv.DictReader(f)]
        cur.executemany(
            "INSERT INTO model_aliases (provider, alias, model, shipped) VALUES (%s, %s, %s, true)"
            " ON CONFLICT (provider, alias) DO NOTHING",
            aliases,
        )


def rollback(conn) -> None:
    # The prices added stay (the table before this release can hold them); the aliases go.
    with conn.cursor() as cur:
        cur.execute("DELETE FROM model_aliases WHERE shipped")


steps = [step(apply, rollback)]
