"""Exact money: integer micro-cents (uc, 1e-6 of a US cent), priced per 1M tokens, rounded once.

JSON carries cents as numbers with up to 6 decimals; inside, every amount is an int of uc.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

UC_PER_CENT = 1_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per 1M tokens
MAX_CENTS = Decimal(10) ** 12  # a sanity bound for amounts an operator types in


def cost_uc(priced_tokens: list[tuple[int, int]]) -> int:
    """Cost of (tokens, uc-per-1M-tokens) pairs: one exact sum, rounded once, half-up."""
    total = sum(tokens * price for tokens, price in priced_tokens)
    return (total + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT


def uc_to_cents(uc: int) -> int | float:
    """A JSON number of cents: an int when whole, else a float that prints exactly its 6
    decimals (floats keep 15 significant digits: exact below $10 million)."""
    whole, fraction = divmod(uc, UC_PER_CENT)
    return whole if fraction == 0 else uc / UC_PER_CENT


def cents_to_uc(value: object, *, field: str) -> int:
    """Parse a JSON number of cents (at most 6 decimals, not negative) into uc.

    Raises ValueError with a sentence naming the field; the caller maps it to a 400.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{field} must be a number of cents")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} must be a number of cents") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{field} must be a number of cents, zero or more")
    if amount > MAX_CENTS:
        raise ValueError(f"{field} is too large")
    uc = amount * UC_PER_CENT
    if uc != uc.to_integral_value():
        raise ValueError(f"{field} has more than 6 decimals of a cent")
    return int(uc)


def usd_per_mtok_to_uc(value: object, *, field: str) -> int:
    """Parse a price in USD per 1M tokens (as the operator reads it) into uc per 1M tokens."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{field} must be a price in USD per 1M tokens")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} must be a price in USD per 1M tokens") from None
    if not amount.is_finite() or amount < 0 or amount > 1_000_000:
        raise ValueError(f"{field} must be a price between 0 and 1,000,000 USD per 1M tokens")
    uc = amount * 100 * UC_PER_CENT
    if uc != uc.to_integral_value():
        raise ValueError(f"{field} is finer than a micro-cent per 1M tokens")
    return int(uc)


def uc_to_usd_per_mtok(uc: int) -> float:
    return uc / (100 * UC_PER_CENT)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 ASCII characters per token, one token per other character.

    Used only where a provider reported nothing (cut streams) and for reservations.
    """
    ascii_chars = sum(1 for ch in text if ch < "\x80") if not text.isascii() else len(text)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)
