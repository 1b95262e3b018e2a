"""What every route's answer shares: a non-stream call gathered into one answer, and the
billed usage as the gateway reports it."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from core.events import CallResult, Failed, Finished, TextDelta
from core.money import uc_to_cents
from proxy.ledger.call import Call


async def collect(call: Call) -> tuple[str, CallResult]:
    """Run a non-stream call to its end: the answer's text and what it was billed."""
    parts: list[str] = []
    async with aclosing(call.events()) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Finished):
                return "".join(parts), event.result
    raise AssertionError("a call's events end with Finished or Failed")


def usage_json(result: CallResult) -> dict[str, Any]:
    billed = result.usage
    return {
        "input_tokens": billed.total_input_tokens,
        "output_tokens": billed.output_tokens,
        "cached_input_tokens": billed.cached_input_tokens,
        "cache_write_tokens": billed.cache_write_tokens,
        "cost_cents": uc_to_cents(result.cost_uc),
        "estimated": result.cost_source == "estimated",
    }
