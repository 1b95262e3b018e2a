"""Command line: `python -m bench [--quick] [--workers 1,2] [--duration S] [--output PATH]
[--upstreams N]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

from bench.run import Options, main


class Preset(NamedTuple):
    workers: list[int]
    concurrencies: list[int]
    duration_s: int


FULL = Preset(workers=[1, 2], concurrencies=[1, 16, 64], duration_s=10)
# Quick: under a minute including startup (about 40 s on a 2-CPU machine).
QUICK = Preset(workers=[1], concurrencies=[1, 64], duration_s=3)


def numbers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,2 — got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the gateway against a direct baseline (see docs/benchmarks.md).",
    )
    parser.add_argument("--quick", action="store_true", help="c=1 and c=64, 3 s each, WORKERS=1")
    parser.add_argument("--workers", type=numbers, help="WORKERS values (full: 1,2; quick: 1)")
    parser.add_argument("--concurrency", type=numbers, help="full: 1,16,64; quick: 1,64")
    parser.add_argument("--duration", type=int, help="whole seconds per cell (full 10, quick 3)")
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--soak", type=int, default=0, metavar="N", help="then N requests at c=64")
    parser.add_argument("--ttfb-requests", type=int, default=200)
    parser.add_argument("--no-info-log", action="store_true", help="skip the LOG_LEVEL=INFO run")
    parser.add_argument("--upstreams", type=int, default=1, help="OpenAI upstreams (default 1)")
    parser.add_argument("--floor-only", action="store_true", help="only the bare-proxy floor")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    if args.duration is not None and args.duration < 1:
        parser.error("--duration must be at least 1 (wrk takes whole seconds)")
    return Options(
        quick=args.quick,
        workers=args.workers or preset.workers,
        concurrencies=args.concurrency or preset.concurrencies,
        duration_s=args.duration or preset.duration_s,
        output=args.output,
        soak=args.soak,
        ttfb_requests=args.ttfb_requests,
        info_log=not args.no_info_log,
        upstreams=max(args.upstreams, 1),
        floor_only=args.floor_only,
    )


if __name__ == "__main__":
    sys.exit(main(parse()))
