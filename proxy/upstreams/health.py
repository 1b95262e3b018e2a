"""One upstream's health as this process sees it: the recent outcomes of its attempts, and the
cool-down that keeps a failing upstream out of the routing order for a while.

A failure that is the upstream's (connect error, timeout, 401/403 on its key, 408, 429, 5xx,
529, a stream it broke) cools it down: for its Retry-After when it sent one, else for a period
that doubles with each failure in a row (1 s up to 60 s; 30 s up to 10 min for a refused key).
The first success ends the cool-down and the count. Cooling upstreams are tried only after
every other one (proxy/upstreams/pool.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median
from typing import Any, NamedTuple

WINDOW = 200  # outcomes kept per upstream
WINDOW_S = 900.0  # the health shown covers the last 15 minutes
LATENCIES_SHARED = 50  # latencies each process shares with the admin (for the merged p50)
BASE_COOLDOWN_S = (1.0, 60.0)
KEY_COOLDOWN_S = (30.0, 600.0)  # a refused key does not fix itself in a second
MAX_RETRY_AFTER_S = 600.0

# Kinds of failed attempt (the Prometheus label, the health's error counts).
CONNECT = "connect"
TIMEOUT = "timeout"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
KEY_REFUSED = "key_refused"
CLIENT_ERROR = "client_error"  # the request's own fault: never cools, never retried
MID_STREAM = "mid_stream"
BAD_ANSWER = "bad_answer"


class Outcome(NamedTuple):  # a tuple: one is made per attempt, on the hot path
    at: float  # wall clock
    ok: bool
    latency_ms: int | None
    kind: str | None


@dataclass(slots=True)
class Health:
    cooling_until: float = 0.0  # monotonic; 0: not cooling
    failures_in_row: int = 0
    last_error: str | None = None
    last_error_at: float | None = None  # wall clock
    outcomes: deque[Outcome] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def succeeded(self, latency_s: float) -> None:
        self.cooling_until = 0.0
        self.failures_in_row = 0
        self.outcomes.append(Outcome(time.time(), True, round(latency_s * 1000), None))

    def failed(self, kind: str, message: str, retry_after_s: float | None = None) -> None:
        self.outcomes.append(Outcome(time.time(), False, None, kind))
        self.last_error, self.last_error_at = message[:300], time.time()
        if kind == CLIENT_ERROR:
            return
        self.failures_in_row += 1
        base, ceiling = KEY_COOLDOWN_S if kind == KEY_REFUSED else BASE_COOLDOWN_S
        period = min(base * 2 ** (self.failures_in_row - 1), ceiling)
        if retry_after_s is not None:
            period = min(max(retry_after_s, 0.0), MAX_RETRY_AFTER_S)
        self.cooling_until = max(self.cooling_until, time.monotonic() + period)

    def cooling_until_wall(self) -> float | None:
        left = self.cooling_until - time.monotonic()
        return time.time() + left if left > 0 else None

    def snapshot(self) -> dict[str, Any]:
        """What this process shares (JSON): counts and latencies of the window, cooling. One
        pass, newest first (it runs with every heartbeat)."""
        since = time.time() - WINDOW_S
        ok = failed = 0
        errors: dict[str, int] = {}
        latencies: list[int] = []
        for at, succeeded, latency_ms, kind in reversed(self.outcomes):
            if at < since:
                break  # older ones are older still
            if succeeded:
                ok += 1
                if len(latencies) < LATENCIES_SHARED:
                    latencies.append(latency_ms or 0)
            else:
                failed += 1
                if kind:
                    errors[kind] = errors.get(kind, 0) + 1
        return {
            "ok": ok,
            "failed": failed,
            "errors": errors,
            "latencies_ms": latencies,
            "cooling_until": self.cooling_until_wall(),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


def merge(snapshots: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' snapshots of one upstream as one health (the admin's)."""
    ok = failed = 0
    errors: dict[str, int] = {}
    latencies: list[int] = []
    cooling: float | None = None
    last_error, last_error_at = None, None
    now = time.time()
    for snap in snapshots:
        ok += int(snap.get("ok") or 0)
        failed += int(snap.get("failed") or 0)
        for kind, count in (snap.get("errors") or {}).items():
            errors[kind] = errors.get(kind, 0) + int(count)
        latencies.extend(int(v) for v in snap.get("latencies_ms") or ())
        until = snap.get("cooling_until")
        if until is not None and until > now:
            cooling = max(cooling or 0.0, float(until))
        at = snap.get("last_error_at")
        if at is not None and (last_error_at is None or at > last_error_at):
            last_error, last_error_at = snap.get("last_error"), float(at)
    total = ok + failed
    return {
        "requests": total,
        "errors": failed,
        "errors_by_kind": errors,
        "success_rate": round(ok / total, 4) if total else None,
        "latency_p50_ms": round(median(latencies)) if latencies else None,
        "cooling_until": cooling,
        "last_error": last_error,
        "last_error_at": last_error_at,
    }
