"""Upstream failures translated into the gateway's errors, in this one place: aiohttp's client
errors, providers' HTTP error bodies, and error events inside a started stream."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import aiohttp
import orjson

from core import errors

_KEY_LIKE = re.compile(r"\b(?:sk|sk-ant|AIza)[-_A-Za-z0-9*]{12,}")


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Provider messages may quote the key they were sent; never pass ours on."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds (its HTTP-date form is read as absent), bounded to an hour."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return min(max(seconds, 0.0), 3600.0) if seconds == seconds else None  # NaN: absent


def error_detail(raw: bytes) -> str:
    """The type and message from any of the three providers' error bodies."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip() or "no detail"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:300]
    kind = error.get("type") or error.get("status") or error.get("code") or "error"
    message = error.get("message") or ""
    return f"{kind}: {message}"[:500]


def http_error(
    provider: str,
    secrets: tuple[str, ...],
    status: int,
    raw: bytes,
    *,
    retry_after: str | None = None,
) -> errors.UpstreamError:
    """The provider refused the request with an HTTP error status: nothing was generated."""
    detail = redact(error_detail(raw), secrets)
    error = errors.UpstreamError(f"{provider} answered {status}: {detail}", rejected=True)
    # A provider-native route answers the provider's own refusal of the client's request as
    # it came (proxy/routes/passthrough.py); kept off the error's JSON. Failover reads the
    # status and Retry-After (proxy/upstreams/pool.py).
    error.upstream_status = status
    error.upstream_body = redact(raw.decode("utf-8", "replace"), secrets)
    error.retry_after_s = retry_after_s(retry_after)
    return error


def stream_error(provider: str, secrets: tuple[str, ...], data: str) -> errors.UpstreamError:
    """An error event inside a started (200) stream: output may already have been produced."""
    detail = redact(error_detail(data.encode()), secrets)
    return errors.UpstreamError(f"{provider} failed mid-stream: {detail}")


def upstream_timeout(provider: str, *, phase: str) -> errors.UpstreamTimeout:
    """Every timeout of an upstream call becomes the contract's 504 here. `phase`: `connect`
    (the request never reached the provider: nothing to bill), `answer` (no byte came for too
    long) or `finish` (the whole call outlived UPSTREAM_TOTAL_TIMEOUT_S after it started)."""
    if phase == "connect":
        return errors.UpstreamTimeout(f"could not connect to {provider} in time", rejected=True)
    return errors.UpstreamTimeout(f"{provider} did not {phase} in time")


def _client_error(provider: str, exc: aiohttp.ClientError) -> errors.GatewayError:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return upstream_timeout(provider, phase="connect")
    if isinstance(exc, aiohttp.ServerTimeoutError):  # no byte within UPSTREAM_READ_TIMEOUT_S
        return upstream_timeout(provider, phase="answer")
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The request never reached the provider: nothing to bill.
        return errors.UpstreamError(f"could not connect to {provider}", rejected=True)
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return errors.UpstreamError(f"{provider} closed the connection mid-answer")
    return errors.UpstreamError(f"{provider} request failed ({type(exc).__name__})")


@contextlib.contextmanager
def translate_client_errors(provider: str) -> Iterator[None]:
    """aiohttp's low-level failures become the contract's 502 / 504 in this one place."""
    try:
        yield
    except aiohttp.ClientError as exc:
        # aiohttp keeps a payload failure in the response's reader as well: with its traceback
        # (our frames, which hold the response) that is a cycle keeping the whole call, prompt
        # included, alive until the collector runs.
        exc.__traceback__ = None
        raise _client_error(provider, exc) from None
    except (AttributeError, KeyError, TypeError, ValueError):
        # JSON of an unexpected shape (a string where an object belongs, …): the upstream's
        # fault, reported as such rather than as our 500.
        raise errors.UpstreamError(f"{provider} sent an answer of an unexpected shape") from None
