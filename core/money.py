"""Exact money: integer micro-cents (uc, 1e-6 of a US cent), priced per 1M tokens, rounded once.

JSON carries cents as numbers with up to 6 decimals; inside, every amount is an int of uc.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

UC_PER_CENT = 1_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per 1M tokens
MAX_CENTS = Decimal(10) ** 12  # a sanity bound for amounts an operator types in
# The most credit a customer can hold (a CHECK in the database too): with the monthly cap, also
# bounded by MAX_CENTS, every sum the books take stays far inside a bigint.
MAX_CREDIT_UC = int(MAX_CENTS) * UC_PER_CENT


def cost_uc(priced_tokens: list[tuple[int, int]]) -> int:
    """Cost of (tokens, uc-per-1M-tokens) pairs: one exact sum, rounded once, half-up."""
    total = 0
    for tokens, price in priced_tokens:  # a loop, not sum(genexpr): this runs per request
        total += tokens * price
    return (total + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT


def uc_to_cents(uc: int) -> int | float:
    """A JSON number of cents: an int when whole, else a float that prints exactly its 6
    decimals (floats keep 15 significant digits: exact below $10 million)."""
    whole, fraction = divmod(uc, UC_PER_CENT)
    return whole if fraction == 0 else uc / UC_PER_CENT


def _exact_amount(value: object, *, field: str, unit: str, limit: Decimal, scale: int) -> int:
    """A JSON number (or numeric string) in `unit`, 0..limit, as an exact integer of 1/scale.

    Raises ValueError with a sentence naming the field; the caller maps it to a 400.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{field} must be {unit}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} must be {unit}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{field} must be {unit}, zero or more")
    if amount > limit:
        raise ValueError(f"{field} is too large")
    scaled = amount * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{field} is finer than a micro-cent")
    return int(scaled)


def cents_to_uc(value: object, *, field: str) -> int:
    """A number of cents (at most 6 decimals, not negative) as uc."""
    return _exact_amount(
        value, field=field, unit="a number of cents", limit=MAX_CENTS, scale=UC_PER_CENT
    )


def usd_per_mtok_to_uc(value: object, *, field: str) -> int:
    """A price in USD per 1M tokens (as the operator reads it) as uc per 1M tokens."""
    return _exact_amount(
        value, field=field, unit="a price in USD per 1M tokens", limit=Decimal(1_000_000),
        scale=100 * UC_PER_CENT,
    )  # fmt: skip


def uc_to_usd_per_mtok(uc: int) -> float:
    return uc / (100 * UC_PER_CENT)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 ASCII characters per token, one token per other character.

    Used only where a provider reported nothing (cut streams) and for reservations.
    """
    ascii_chars = sum(1 for ch in text if ch < "\x80") if not text.isascii() else len(text)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)
