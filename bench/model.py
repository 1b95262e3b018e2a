"""The benchmark's results as plain dataclasses, and the small statistics they need."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from bench.wrk import WrkResult

if TYPE_CHECKING:
    from bench.floor import FloorRun

# A non-stream JSON answer, Server-Sent Events, a non-stream answer of two tool calls (tools
# declared in the request), and the Anthropic Messages route streamed (passed through to the
# fake Anthropic): the full benchmark runs all four, the quick one the first two.
MODES = ("chat", "stream", "tools", "messages")
QUICK_MODES = ("chat", "stream")


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile with linear interpolation between ranks (numpy's default)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclasses.dataclass(slots=True)
class Cell:
    """One wrk run: a target (direct or gateway), a mode, a concurrency, and CPU spent."""

    target: str
    mode: str
    concurrency: int
    wrk: WrkResult
    log_level: str = "WARNING"
    # CPU seconds each measured process tree spent during the run ("gateway", "postgres").
    cpu_s: dict[str, float] = dataclasses.field(default_factory=dict)
    # CPU seconds spent meanwhile by processes that are not part of the benchmark: a busy
    # machine (another job, a test suite) lowers every number, and this says so.
    other_cpu_s: float = 0.0

    @property
    def other_cpus(self) -> float:
        """The outside load, in CPUs busy on average during the run."""
        return self.other_cpu_s / self.wrk.duration_s if self.wrk.duration_s else 0.0

    def cpu_ms_per_request(self, name: str) -> float | None:
        if name not in self.cpu_s or not self.wrk.requests:
            return None
        return self.cpu_s[name] * 1000 / self.wrk.requests

    @property
    def label(self) -> str:
        return f"{self.target} {self.mode} c={self.concurrency}"


@dataclasses.dataclass(slots=True)
class Ttfb:
    """Sequential streamed requests: seconds from sending to the first body chunk."""

    target: str
    samples_s: list[float]
    errors: int = 0

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples_s, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.samples_s, 99) * 1000


@dataclasses.dataclass(slots=True)
class Export:
    """The streamed usage CSV export and the serving worker's resident memory meanwhile."""

    status: int
    rows: int
    bytes: int
    seconds: float
    rss_before_kb: int
    rss_peak_kb: int
    samples: int

    @property
    def rss_increase_kb(self) -> int:
        return self.rss_peak_kb - self.rss_before_kb


@dataclasses.dataclass(slots=True)
class Soak:
    """Non-stream load until `requests` were served; each worker's RSS after warm-up and end."""

    requests: int
    warmup_requests: int
    seconds: float
    failed: int
    rss_warm_kb: dict[int, int]
    rss_end_kb: dict[int, int]

    def change_percent(self, pid: int) -> float:
        warm = self.rss_warm_kb[pid]
        return (self.rss_end_kb[pid] - warm) * 100 / warm


@dataclasses.dataclass(slots=True)
class WorkersRun:
    """Everything measured through a gateway of `workers` processes."""

    workers: int
    cells: list[Cell] = dataclasses.field(default_factory=list)
    ttfb: Ttfb | None = None
    idle_rss_kb: dict[int, int] = dataclasses.field(default_factory=dict)  # per worker pid
    supervisor_rss_kb: int | None = None  # WORKERS > 1: the parent that only supervises
    peak_rss_kb: dict[int, int] = dataclasses.field(default_factory=dict)  # VmHWM after cells
    export: Export | None = None
    soak: Soak | None = None

    def cell(self, mode: str, concurrency: int, log_level: str = "WARNING") -> Cell | None:
        for cell in self.cells:
            if (cell.mode, cell.concurrency, cell.log_level) == (mode, concurrency, log_level):
                return cell
        return None


@dataclasses.dataclass(slots=True)
class BenchRun:
    """One `python -m bench`: the direct baseline and one WorkersRun per WORKERS value."""

    settings: dict[str, str]
    machine: dict[str, str]
    versions: dict[str, str]
    started: str
    concurrencies: list[int]
    direct: list[Cell] = dataclasses.field(default_factory=list)
    direct_ttfb: Ttfb | None = None
    runs: list[WorkersRun] = dataclasses.field(default_factory=list)
    floor: FloorRun | None = None
    elapsed_s: float = 0.0

    def direct_cell(self, mode: str, concurrency: int) -> Cell | None:
        for cell in self.direct:
            if (cell.mode, cell.concurrency) == (mode, concurrency):
                return cell
        return None
