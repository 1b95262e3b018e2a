"""Upstreams: who answers a provider's calls (a base URL and a key), and the routing order.

Pure: no I/O. proxy/upstreams/ holds the live side (health, failover, the registry)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

WIRE_APIS = ("openai", "anthropic", "gemini")
BUILTIN_PROVIDERS = ("openai", "anthropic", "gemini")
DEMO_PROVIDER = "demo"  # built in, answered by the gateway itself: never an upstream
# Where a new provider name's calls go unless the operator says otherwise.
DEFAULT_API = {"anthropic": "anthropic", "gemini": "gemini"}


def default_api(provider: str) -> str:
    return DEFAULT_API.get(provider, "openai")


def env_upstream_id(provider: str) -> str:
    return f"env-{provider}"


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """One upstream as configured: everything needed to call it, the key in plain text (only
    ever in memory)."""

    id: str
    provider: str
    api: str
    base_url: str
    api_key: str
    models: tuple[str, ...] | None = None  # patterns, a trailing * a prefix; None: every model
    priority: int = 0
    weight: int = 1
    enabled: bool = True
    headers: tuple[tuple[str, str], ...] = ()  # extra headers; the value "{api_key}" is the key
    label: str = ""

    def serves(self, model: str) -> bool:
        if self.models is None:
            return True
        return any(model_matches(pattern, model) for pattern in self.models)

    @property
    def key_last4(self) -> str:
        return self.api_key[-4:]

    @property
    def connection(self) -> tuple[object, ...]:
        """What the transport is made of: an upstream changed in any of these gets a new one."""
        return (self.api, self.base_url, self.api_key, self.headers)


def model_matches(pattern: str, model: str) -> bool:
    if pattern.endswith("*"):
        return model.startswith(pattern[:-1])
    return model == pattern


class Routable(Protocol):
    """What routing reads of an upstream: its order keys and whether it is cooling down."""

    @property
    def priority(self) -> int: ...
    @property
    def weight(self) -> int: ...
    @property
    def cooling_until(self) -> float: ...  # monotonic seconds; 0: not cooling


R = TypeVar("R", bound=Routable)


def routing_order(candidates: Sequence[R], now: float, rng: random.Random | None = None) -> list[R]:
    """The order to try upstreams in: those not cooling down by priority (lowest first), within
    one priority a weighted random order (each next one drawn with probability weight / the
    weights left); then the cooling ones, soonest recovered first, as a last resort rather than
    failing without trying."""
    if len(candidates) == 1:  # the common case: nothing to order
        return list(candidates)
    rng = rng or random
    ready = [c for c in candidates if c.cooling_until <= now]
    cooling = [c for c in candidates if c.cooling_until > now]
    cooling.sort(key=lambda c: c.cooling_until)
    order: list[R] = []
    for priority in sorted({c.priority for c in ready}):
        tier = [c for c in ready if c.priority == priority]
        while tier:
            pick = rng.uniform(0, sum(c.weight for c in tier))
            for index, candidate in enumerate(tier):
                pick -= candidate.weight
                if pick <= 0 or index == len(tier) - 1:
                    order.append(tier.pop(index))
                    break
    return order + cooling
