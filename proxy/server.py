"""Serving: one worker in this process, or N worker processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal

from core.settings import Settings
from proxy.infra.log import configure_logging

log = logging.getLogger("kaixu.server")

# Python's collector, left at its defaults (a young pass every 700 allocations, and full passes
# over every object alive since start), took ~15 % of a worker's CPU under load (measured:
# docs/benchmarks.md). What is alive once the app has started (modules, caches, pools) is
# frozen out of every pass, and young passes run every 20,000 allocations: the hot path frees
# everything by reference counting. A reference cycle would wait long for a pass, holding its
# call's prompt: tests/test_memory_cycles.py keeps every way a call ends free of them.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _serve_until_signal(settings: Settings, banner_text: str | None) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully: stop listening, run the on_shutdown
    hooks, wait up to SHUTDOWN_GRACE_S for running handlers, then the cleanup contexts."""
    from aiohttp import web

    from proxy.app import create_app
    from proxy.http.protocol import GatewayRunner

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = GatewayRunner(
        create_app(settings), access_log=None, shutdown_timeout=settings.shutdown_grace_s
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.workers > 1)
        await site.start()
        tune_gc()
        if banner_text:
            print(banner_text, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def run_worker(settings: Settings, banner_text: str | None) -> None:
    """Serve in this process (on uvloop) until SIGINT/SIGTERM."""
    import uvloop

    configure_logging(settings.log_level)
    uvloop.run(_serve_until_signal(settings, banner_text))


def _spawned_worker(settings: Settings, banner_text: str | None) -> None:
    # Its own process group: a terminal's Ctrl-C reaches only the supervisor, which then
    # stops each worker exactly once with SIGTERM.
    os.setpgrp()
    run_worker(settings, banner_text)


def serve(settings: Settings, banner_text: str) -> None:
    if settings.workers == 1:
        run_worker(settings, banner_text)
        return
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(banner: str | None) -> multiprocessing.Process:
        worker = context.Process(target=_spawned_worker, args=(settings, banner), daemon=False)
        worker.start()
        return worker

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive() and worker.pid:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = [start(banner_text if i == 0 else None) for i in range(settings.workers)]
    while not stopping:
        multiprocessing.connection.wait([w.sentinel for w in workers])
        for i, worker in enumerate(workers):
            if not worker.is_alive() and not stopping:
                log.error("worker exited, starting another", extra={"exitcode": worker.exitcode})
                workers[i] = start(None)
    for worker in workers:
        worker.join()
