"""The pieces of failover on their own: the routing order, cool-downs, sealing of keys."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest

from core.upstreams import UpstreamSpec, routing_order
from proxy.infra.secretbox import SecretBox, SecretBoxError
from proxy.upstreams import health as health_module
from proxy.upstreams.health import Health, merge


@dataclass
class Member:
    name: str
    priority: int = 0
    weight: int = 1
    cooling_until: float = 0.0


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


def test_lower_priorities_come_first_and_cooling_ones_last_soonest_first() -> None:
    members = [
        Member("backup", priority=5),
        Member("cool-late", cooling_until=200.0),
        Member("main"),
        Member("cool-soon", priority=-3, cooling_until=150.0),
    ]
    assert names(routing_order(members, now=100.0)) == ["main", "backup", "cool-soon", "cool-late"]
    # Once a cool-down has passed, the upstream is back in its own place.
    assert names(routing_order(members, now=175.0))[:2] == ["cool-soon", "main"]


def test_weights_share_the_first_place_in_proportion() -> None:
    rng = random.Random(7)
    members = [Member("a", weight=1), Member("b", weight=2), Member("c", weight=7)]
    firsts = Counter(routing_order(members, 0.0, rng)[0].name for _ in range(20_000))
    for name, weight in (("a", 1), ("b", 2), ("c", 7)):
        assert abs(firsts[name] / 20_000 - weight / 10) < 0.015
    # Every member is tried once, whatever the draw.
    assert sorted(names(routing_order(members, 0.0, rng))) == ["a", "b", "c"]


def test_model_patterns() -> None:
    spec = UpstreamSpec("u", "groq", "openai", "http://x", "k", models=("llama-*", "gemma2-9b"))
    assert spec.serves("llama-3.3-70b") and spec.serves("gemma2-9b")
    assert not spec.serves("gemma2-9b-it") and not spec.serves("mixtral")
    assert UpstreamSpec("u", "groq", "openai", "http://x", "k").serves("anything")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(health_module, "time", clock)
    return clock


def test_a_cool_down_grows_with_failures_in_a_row_and_a_success_ends_it(clock: Clock) -> None:
    health = Health()
    periods = []
    for _ in range(8):
        health.failed(health_module.SERVER_ERROR, "503")
        periods.append(health.cooling_until - clock.now)
    assert periods == [1, 2, 4, 8, 16, 32, 60, 60]
    health.succeeded(0.2)
    assert health.cooling_until == 0 and health.failures_in_row == 0
    health.failed(health_module.KEY_REFUSED, "401")
    assert health.cooling_until - clock.now == 30  # a refused key waits longer


def test_retry_after_is_honoured_and_client_faults_never_cool(clock: Clock) -> None:
    health = Health()
    health.failed(health_module.RATE_LIMITED, "429", retry_after_s=42)
    assert health.cooling_until - clock.now == 42
    other = Health()
    other.failed(health_module.CLIENT_ERROR, "400")
    assert other.cooling_until == 0 and other.failures_in_row == 0


def test_health_merges_over_processes(clock: Clock) -> None:
    one, two = Health(), Health()
    for ms in (10, 20, 30):
        one.succeeded(ms / 1000)
    two.succeeded(0.1)
    two.failed(health_module.TIMEOUT, "no answer", retry_after_s=5)
    merged = merge([one.snapshot(), two.snapshot()])
    assert merged["requests"] == 5 and merged["errors"] == 1
    assert merged["success_rate"] == 0.8 and merged["latency_p50_ms"] == 25
    assert merged["errors_by_kind"] == {"timeout": 1} and merged["cooling_until"] == 1005
    assert merged["last_error"] == "no answer"
    assert merge([])["success_rate"] is None


def test_sealed_keys_open_only_with_their_secret_and_their_row() -> None:
    box = SecretBox("a" * 40)
    sealed = box.seal(b"sk-provider-key", b"up_1")
    assert b"sk-provider-key" not in sealed
    assert box.open(sealed, b"up_1") == b"sk-provider-key"
    with pytest.raises(SecretBoxError):
        box.open(sealed, b"up_2")  # copied onto another row
    with pytest.raises(SecretBoxError):
        SecretBox("b" * 40).open(sealed, b"up_1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SecretBoxError):
        box.open(tampered, b"up_1")
    rotated = SecretBox("b" * 40, previous=("a" * 40,))
    assert rotated.open(sealed, b"up_1") == b"sk-provider-key"
    assert not rotated.is_current(sealed) and rotated.is_current(rotated.seal(b"x", b"up_1"))
