"""Tool-call ids for providers that do not give one (Gemini usually does not), and Gemini's
thought signature carried inside the id: clients echo an id verbatim on the next turn, so the
signature a thinking model needs back comes back with it."""

from __future__ import annotations

GENERATED = "kxg_"  # an id the gateway made up: never sent to the provider as its own
SIGNATURE = "~"  # base64 never contains it


def make_id(provider_id: str | None, signature: str | None, *, request_id: str, index: int) -> str:
    base = provider_id or f"{GENERATED}{request_id}_{index}"
    return f"{base}{SIGNATURE}{signature}" if signature else base


def split_id(call_id: str) -> tuple[str | None, str | None]:
    """The provider's own id (None if the gateway made it up) and the thought signature."""
    base, _, signature = call_id.partition(SIGNATURE)
    return (None if base.startswith(GENERATED) else base), (signature or None)
