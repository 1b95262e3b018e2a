"""The provider interface: a normalized request in, one stream of upstream events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from core import errors
from core.chat import ChatRequest
from core.events import UpstreamEvent
from proxy.providers.answer_body import read_answer
from proxy.providers.sse import read_events
from proxy.providers.upstream_errors import http_error, translate_client_errors


class Provider(Protocol):
    name: str

    def events(self, request: ChatRequest, *, stream: bool) -> AsyncIterator[UpstreamEvent]:
        """The answer as events: with `stream`, as the provider streams it; without, parsed
        from one JSON answer. Failures are raised as GatewayError (or TimeoutError)."""
        ...

    async def close(self) -> None: ...


@dataclass
class HttpProvider:
    """Shared plumbing for providers spoken to over HTTP: one pooled session, timeouts, JSON.

    A provider module says only how its wire format looks: `url`, `headers`, `body`, and how
    to read a completion (`completion_events`) and a stream's SSE events (`stream_events`).
    """

    name: str
    base_url: str
    api_key: str
    connect_timeout_s: float
    read_timeout_s: float
    session: aiohttp.ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self.connect_timeout_s, sock_read=self.read_timeout_s
            ),
            connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300),
            headers={"User-Agent": "kaixu-gateway/0.1"},
        )

    async def close(self) -> None:
        await self.session.close()

    def url(self, request: ChatRequest, stream: bool) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def completion_events(self, answer: Any) -> list[UpstreamEvent]:
        raise NotImplementedError

    def stream_events(self, events: AsyncIterator[Any]) -> AsyncIterator[UpstreamEvent]:
        raise NotImplementedError

    def events(self, request: ChatRequest, *, stream: bool) -> AsyncIterator[UpstreamEvent]:
        return self._stream(request) if stream else self._complete(request)

    async def _post(self, request: ChatRequest, stream: bool) -> aiohttp.ClientResponse:
        data = orjson.dumps(self.body(request, stream))
        return await self.session.post(self.url(request, stream), data=data, headers=self.headers())

    async def _complete(self, request: ChatRequest) -> AsyncIterator[UpstreamEvent]:
        with translate_client_errors(self.name):
            async with await self._post(request, False) as resp:
                raw = await read_answer(resp, self.name, rejected=resp.status >= 400)
                if resp.status >= 400:
                    raise http_error(self.name, self.api_key, resp.status, raw)
            try:
                answer = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise errors.UpstreamError(f"{self.name} answered with malformed JSON") from None
            parsed = self.completion_events(answer)  # a wrong shape is the upstream's error
        for event in parsed:
            yield event

    async def _stream(self, request: ChatRequest) -> AsyncIterator[UpstreamEvent]:
        with translate_client_errors(self.name):
            async with await self._post(request, True) as resp:
                if resp.status >= 400:
                    raw = await read_answer(resp, self.name, rejected=True)
                    raise http_error(self.name, self.api_key, resp.status, raw)
                async for event in self.stream_events(read_events(resp, self.name)):
                    yield event
