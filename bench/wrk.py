"""Runs wrk (the load generator) with bench/post.lua and parses its text output."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("post.lua")
PERCENTILES = (50, 75, 90, 99)
# wrk prints times with the largest unit that keeps the number >= 1 (us, ms, s, then m, h).
TIME_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}

_TIME = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$")
_REQUESTS = re.compile(r"^\s*(\d+) requests in (\S+),")
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkError(RuntimeError):
    """wrk did not run, or printed something that is not a result (e.g. 'unable to connect')."""


@dataclasses.dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run: completed requests, rate, latency percentiles (µs) and the failures."""

    requests: int
    duration_s: float
    rps: float
    latency_us: dict[int, float]
    non_2xx: int = 0
    socket_errors: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def p50_us(self) -> float:
        return self.latency_us[50]

    @property
    def p99_us(self) -> float:
        return self.latency_us[99]

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def failed(self) -> int:
        """Responses that were not 2xx/3xx plus socket errors (wrk counts them separately)."""
        return self.non_2xx + self.socket_error_count


def parse_time_us(text: str) -> float:
    """'58.00us', '1.33ms', '1.10s', '2.00m' -> microseconds."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * TIME_UNITS_US[match.group(2)]


def parse_output(text: str) -> WrkResult:
    """Parse `wrk --latency` output; WrkError when a part every result has is missing."""
    latency: dict[int, float] = {}
    requests = duration_s = rps = None
    non_2xx = 0
    socket_errors: dict[str, int] = {}
    in_distribution = False
    for line in text.splitlines():
        if line.strip() == "Latency Distribution":
            in_distribution = True
            continue
        if in_distribution:
            if match := _PERCENTILE.match(line):
                latency[round(float(match.group(1)))] = parse_time_us(match.group(2))
                continue
            in_distribution = False
        if match := _REQUESTS.match(line):
            requests = int(match.group(1))
            duration_s = parse_time_us(match.group(2)) / 1e6
        elif match := _RPS.match(line):
            rps = float(match.group(1))
        elif match := _NON_2XX.match(line):
            non_2xx = int(match.group(1))
        elif match := _SOCKET.match(line):
            names = ("connect", "read", "write", "timeout")
            socket_errors = dict(zip(names, map(int, match.groups()), strict=True))
    missing = [p for p in PERCENTILES if p not in latency]
    if requests is None or duration_s is None or rps is None or missing:
        raise WrkError(f"unexpected wrk output:\n{text.strip()}")
    return WrkResult(requests, duration_s, rps, latency, non_2xx, socket_errors)


def threads_for(concurrency: int) -> int:
    # One thread per connection at c=1; two otherwise: on a small machine more wrk threads
    # would only take CPU from the processes being measured.
    return 1 if concurrency == 1 else 2


def run(
    url: str,
    body: bytes,
    concurrency: int,
    duration_s: int,
    authorization: str | None = None,
    timeout_s: int = 10,
) -> WrkResult:
    """POST `body` to `url` with `concurrency` connections for `duration_s` whole seconds."""
    argv = [
        "wrk",
        f"-t{threads_for(concurrency)}",
        f"-c{concurrency}",
        f"-d{duration_s}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    env = {**os.environ, "BENCH_BODY": body.decode(), "BENCH_AUTHORIZATION": authorization or ""}
    try:
        # wrk stops itself after -d; the timeout only guards against a wedged run.
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=duration_s + timeout_s + 30
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk failed ({done.returncode}): {(done.stdout + done.stderr).strip()}")
    return parse_output(done.stdout)


def version() -> str:
    """First line of `wrk -v`, e.g. 'wrk debian/4.1.0-3+b2 [epoll]'."""
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].removeprefix("wrk ") if first else "unknown"
