"""Runs one fake upstream standalone: `python -m tests.fakes --provider openai --port 9001`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable

from . import PROVIDERS, FakeUpstream


async def serve(provider: str, host: str, port: int) -> None:
    fake = FakeUpstream(provider, host, port, record=False)
    await fake.start()
    print(f"fake {provider} listening on {fake.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.close()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("--provider", required=True, choices=sorted(PROVIDERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(serve(args.provider, args.host, args.port))


if __name__ == "__main__":
    main()
