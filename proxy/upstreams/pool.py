"""A provider name's upstreams, and failover among them.

A call tries the enabled upstreams that serve its model in routing order (core.upstreams):
lowest priority first, weighted random within it, cooling ones last. A failure that is the
upstream's, before its first event reaches the call (and so before any byte reaches the
client), moves on to the next, at most UPSTREAM_MAX_ATTEMPTS; the call's own deadline bounds
them all. Once an event has been passed on, the call is that upstream's, for better or worse.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from core import errors
from core.chat import ChatRequest
from core.events import UpstreamEvent
from core.upstreams import UpstreamSpec, routing_order
from proxy.providers.base import HttpProvider, Prepared, Route
from proxy.upstreams import health as kinds
from proxy.upstreams.health import Health

log = logging.getLogger("kaixu.upstreams")

# Told of every attempt: (upstream, outcome: "ok" or a failure kind, seconds to its answer).
AttemptObserver = Callable[["Upstream", str, float], None]


@dataclass(eq=False, slots=True)
class Upstream:
    """One upstream, live: what it is, how it is spoken to, how it has been doing."""

    spec: UpstreamSpec
    transport: HttpProvider
    health: Health

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def priority(self) -> int:
        return self.spec.priority

    @property
    def weight(self) -> int:
        return self.spec.weight

    @property
    def cooling_until(self) -> float:
        return self.health.cooling_until


def failure_kind(exc: BaseException) -> tuple[str, bool]:
    """The kind of a failed attempt, and whether the next upstream may be tried for it."""
    if isinstance(exc, errors.UpstreamTimeout):
        return kinds.TIMEOUT, True
    if not isinstance(exc, errors.UpstreamError):
        return kinds.BAD_ANSWER, False
    status = exc.upstream_status
    if status is None:  # no HTTP answer: a connection that failed, or an unreadable answer
        return (kinds.CONNECT, True) if exc.rejected else (kinds.BAD_ANSWER, False)
    if status in (401, 403):  # our key for it, never the client's fault
        return kinds.KEY_REFUSED, True
    if status == 429:
        return kinds.RATE_LIMITED, True
    if status == 408:
        return kinds.TIMEOUT, True
    if status >= 500:  # Anthropic's 529 (overloaded) included
        return kinds.SERVER_ERROR, True
    return kinds.CLIENT_ERROR, False


class ProviderPool:
    """The Provider of a name with upstreams: one wire format, failover across its upstreams."""

    def __init__(
        self,
        name: str,
        api: str,
        upstreams: list[Upstream],
        *,
        max_attempts: int,
        observe: AttemptObserver | None = None,
    ) -> None:
        assert upstreams, "a pool has at least one upstream"
        self.name, self.api = name, api
        self.upstreams = upstreams
        self.max_attempts = max_attempts
        self.observe = observe
        self.needs_image_bytes = upstreams[0].transport.needs_image_bytes

    def serving(self, model: str) -> list[Upstream]:
        """The enabled upstreams that serve `model`, in the order to try them."""
        candidates = [u for u in self.upstreams if u.spec.enabled and u.spec.serves(model)]
        return routing_order(candidates, time.monotonic())

    def serves(self, model: str) -> bool:
        return any(u.spec.enabled and u.spec.serves(model) for u in self.upstreams)

    def _check_served(self, model: str) -> HttpProvider:
        """Before anything is reserved: a model no upstream is set up for is the client's 400;
        one whose upstreams are all disabled is the gateway's 502."""
        configured = self.upstreams  # the common case: one upstream for every model
        if len(configured) > 1 or configured[0].spec.models is not None:
            configured = [u for u in self.upstreams if u.spec.serves(model)]
        if not configured:
            raise errors.InvalidRequest(
                f"Provider {self.name!r} does not serve model {model!r} on this gateway.",
                param="model",
            )
        if not any(u.spec.enabled for u in configured):
            raise errors.UpstreamError(
                f"Every upstream of {self.name} that serves {model!r} is disabled.", rejected=True
            )
        return configured[0].transport

    def prepare(self, chat: ChatRequest, stream: bool, request_id: str = "") -> Prepared:
        return self._check_served(chat.model).prepare(chat, stream, request_id)

    def forward(self, prepared: Prepared) -> Prepared:
        self._check_served(prepared.chat.model)
        return prepared

    async def events(self, prepared: Prepared, route: Route) -> AsyncIterator[UpstreamEvent]:
        order = self.serving(prepared.chat.model)
        if not order:  # disabled since the request was prepared
            raise self._none_left()
        last: BaseException | None = None
        try:
            for upstream in order[: self.max_attempts]:
                route.upstream_id, route.attempts = upstream.id, route.attempts + 1
                started = time.perf_counter()
                answered = False
                try:
                    async with aclosing(upstream.transport.events(prepared)) as events:
                        async for event in events:
                            if not answered:
                                answered = True
                                latency = time.perf_counter() - started
                            yield event
                except Exception as exc:
                    kind, retriable = failure_kind(exc)
                    if answered:
                        kind = kinds.MID_STREAM if kind != kinds.CLIENT_ERROR else kind
                    self._failed(upstream, kind, exc, time.perf_counter() - started)
                    if answered or not retriable:
                        raise
                    last = exc
                    continue
                if answered:
                    upstream.health.succeeded(latency)
                    self._observe(upstream, "ok", latency)
                return
            assert last is not None
            raise last
        finally:
            last = None  # kept, the failure's traceback through this frame would be a cycle

    def _failed(self, upstream: Upstream, kind: str, exc: BaseException, seconds: float) -> None:
        message = str(getattr(exc, "message", "") or type(exc).__name__)
        retry_after = getattr(exc, "retry_after_s", None)
        upstream.health.failed(kind, message, retry_after)
        self._observe(upstream, kind, seconds)
        if kind != kinds.CLIENT_ERROR:
            detail = {"provider": self.name, "upstream": upstream.id, "kind": kind}
            log.warning("upstream attempt failed", extra={**detail, "detail": message[:200]})

    def _observe(self, upstream: Upstream, outcome: str, seconds: float) -> None:
        if self.observe is not None:
            self.observe(upstream, outcome, seconds)

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request outside any call (count_tokens), with the same failover."""
        order = self.serving(str(body.get("model") or ""))[: self.max_attempts]
        if not order:
            raise self._none_left()
        answer: tuple[int, bytes] | None = None
        for upstream in order:
            try:
                answer = await upstream.transport.post_json(path, body, headers)
            except errors.GatewayError as exc:
                kind, retriable = failure_kind(exc)
                upstream.health.failed(kind, exc.message)
                if not retriable or upstream is order[-1]:
                    raise
                continue
            status = answer[0]
            if status in (401, 403, 408, 429) or status >= 500:
                upstream.health.failed(kinds.SERVER_ERROR, f"answered {status}")
                continue
            return answer
        assert answer is not None
        return answer

    def _none_left(self) -> errors.UpstreamError:
        return errors.UpstreamError(f"No enabled upstream of {self.name} is left.", rejected=True)
