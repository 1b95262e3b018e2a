"""Measurements besides wrk: stream time-to-first-byte, memory, and the CSV export's memory."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request

import aiohttp

from bench import procfs
from bench.model import Export, Ttfb

EXPORT_SAMPLE_S = 0.02


async def _ttfb(url: str, body: bytes, authorization: str | None, n: int, warmup: int) -> Ttfb:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    samples: list[float] = []
    errors = 0
    # One kept-alive connection, as wrk's c=1: the handshake is not part of what we time.
    connector = aiohttp.TCPConnector(limit=1)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for i in range(warmup + n):
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                first = await response.content.readany()
                elapsed = time.perf_counter() - start
                rest = await response.read()
            if response.status != 200 or not (first or rest):
                errors += 1
            elif i >= warmup:
                samples.append(elapsed)
    return Ttfb(target="", samples_s=samples, errors=errors)


def ttfb(
    target: str, url: str, body: bytes, authorization: str | None, n: int, warmup: int = 20
) -> Ttfb:
    """`n` sequential streamed requests (after `warmup` untimed ones): send to first chunk."""
    result = asyncio.run(_ttfb(url, body, authorization, n, warmup))
    result.target = target
    return result


def rss_kb(pids: list[int]) -> dict[int, int]:
    return {pid: procfs.status_kb(pid, "VmRSS") or 0 for pid in pids}


def hwm_kb(pids: list[int]) -> dict[int, int]:
    return {pid: procfs.status_kb(pid, "VmHWM") or 0 for pid in pids}


class RssSampler(threading.Thread):
    """Samples the VmRSS of some processes every `interval` seconds, keeping each one's peak."""

    def __init__(self, pids: list[int], interval: float = EXPORT_SAMPLE_S) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = rss_kb(pids)
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            for pid, kb in rss_kb(list(self.peak)).items():
                self.peak[pid] = max(self.peak[pid], kb)
            self.samples += 1

    def finish(self) -> dict[int, int]:
        self._done.set()
        self.join()
        return self.peak


def export_usage_csv(base_url: str, password: str, customer_id: str, workers: list[int]) -> Export:
    """Download the usage CSV while sampling the workers' RSS; the serving worker is the one
    whose RSS grew most (with SO_REUSEPORT we cannot tell in advance which one serves it)."""
    before = rss_kb(workers)
    sampler = RssSampler(workers)
    sampler.start()
    url = f"{base_url}/admin/api/exports/usage.csv?customer_id={customer_id}"
    request = urllib.request.Request(url, headers={"X-Admin-Password": password})
    status = size = newlines = 0
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status = response.status
            while chunk := response.read(64 * 1024):
                size += len(chunk)
                newlines += chunk.count(b"\n")
    except urllib.error.HTTPError as exc:
        status = exc.code
    finally:
        seconds = time.perf_counter() - start
        peak = sampler.finish()
    served_by = max(workers, key=lambda pid: peak[pid] - before[pid])
    return Export(
        status=status,
        rows=max(newlines - 1, 0),  # the header line is not a row
        bytes=size,
        seconds=seconds,
        rss_before_kb=before[served_by],
        rss_peak_kb=peak[served_by],
        samples=sampler.samples,
    )
