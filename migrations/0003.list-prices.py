"""Load the shipped list prices (prices.csv, USD per 1M tokens) into the price table."""

import csv
from decimal import Decimal
from pathlib import Path

from yoyo import step

__depends__ = {"0002.prices"}

PRICES_CSV = Path(__file__).with_name("prices.csv")
UC_PER_USD = Decimal(100_000_000)  # 100 cents x 1,000,000 micro-cents
PRICE_COLUMNS = (
    "input",
    "output",
    "cached_input",
    "cache_write",
    "long_input",
    "long_output",
    "long_cached_input",
    "long_cache_write",
)


def _uc(text: str) -> int | None:
    if not text:
        return None
    value = Decimal(text) * UC_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"price {text} is finer than a micro-cent per 1M tokens")
    return int(value)


def _rows() -> list[tuple]:
    with PRICES_CSV.open(newline="") as f:
        return [
            (
                row["provider"],
                row["model"],
                *(_uc(row[c]) for c in PRICE_COLUMNS),
                int(row["long_context_threshold"]) if row["long_context_threshold"] else None,
            )
            for row in csv.DictReader(f)
        ]


def apply(conn) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO prices (provider, model, input_uc_per_mtok, output_uc_per_mtok,
                   cached_input_uc_per_mtok, cache_write_uc_per_mtok, long_input_uc_per_mtok,
                   long_output_uc_per_mtok, long_cached_input_uc_per_mtok,
                   long_cache_write_uc_per_mtok, long_context_threshold)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (provider, model) DO NOTHING""",
            _rows(),
        )


def rollback(conn) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "DELETE FROM prices WHERE provider = %s AND model = %s",
            [row[:2] for row in _rows()],
        )


steps = [step(apply, rollback)]
