"""The checks around the load: one request that must succeed first, and a TTFB line."""

from __future__ import annotations

import urllib.error
import urllib.request

from bench.admin import SetupError
from bench.model import Ttfb


def check(url: str, body: bytes, authorization: str, mode: str, target: str) -> None:
    """One request that must succeed before any load: a wrong setup fails here, clearly."""
    headers = {"Content-Type": "application/json", "Authorization": authorization,
               "anthropic-version": "2023-06-01"}  # as bench/post.lua sends  # fmt: skip
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise SetupError(f"{target} {mode} answered {exc.code}: {detail}") from exc
    expected = {("stream", "direct"): "[DONE]", ("messages", "direct"): "message_stop"}.get(
        (mode, target), "usage"
    )
    if expected not in text:
        raise SetupError(f"{target} {mode}: unexpected answer {text[:500]!r}")


def print_ttfb(result: Ttfb) -> None:
    print(
        f"  TTFB {result.target}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
        f" ({len(result.samples_s)} requests, {result.errors} errors)",
        flush=True,
    )
