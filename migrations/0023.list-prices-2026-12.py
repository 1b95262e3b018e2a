"""The list prices of December 2026 (prices.csv) and the shipped model aliases (aliases.csv).

A model new in this list is added (one the earlier list had and the table lacks was removed by
an operator, which is how a model is blocked: it stays out). A row the table has keeps its
prices, and gains the prices this release adds (1-hour cache writes, reasoning output) only
while it still has the earlier list's prices: an edited row is the operator's to complete
(`python -m proxy prices import migrations/prices.csv` shows and applies the list over it).
Shipped aliases are added unless the name has one already.
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
OLD = tuple(name for name in PRICES if name not in NEW)
# The models the earlier list (0003's first release) shipped.
EARLIER = {
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4.1-nano"),
    ("openai", "o3-mini"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("gemini", "gemini-2.0-flash"),
    ("gemini", "gemini-2.5-flash"),
    ("gemini", "gemini-2.5-pro"),
    ("demo", "demo-echo"),
}


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
    rows = [
        (row["provider"], row["model"], int(row["long_context_threshold"] or 0) or None,
         *(_uc(row.get(name)) for name in PRICES))
        for row in _prices()
    ]  # fmt: skip
    fill = ", ".join(f"{n}_uc_per_mtok = %s" for n in NEW)
    unedited = " AND ".join(
        [f"{n}_uc_per_mtok IS NOT DISTINCT FROM %s" for n in OLD]
        + ["long_context_threshold IS NOT DISTINCT FROM %s"]
    )
    with conn.cursor() as cur:
        for provider, model, threshold, *prices in rows:
            values = dict(zip(PRICES, prices, strict=True))
            if (provider, model) not in EARLIER:
                cur.execute(
                    f"INSERT INTO prices (provider, model, long_context_threshold, {columns})"
                    f" VALUES ({marks}) ON CONFLICT (provider, model) DO NOTHING",
                    (provider, model, threshold, *prices),
                )
            cur.execute(
                f"UPDATE prices SET {fill} WHERE provider = %s AND model = %s AND {unedited}",
                (*(values[n] for n in NEW), provider, model, *(values[n] for n in OLD),
                 threshold),
            )  # fmt: skip
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
