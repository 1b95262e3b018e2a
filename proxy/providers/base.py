"""The provider interface: a normalized request in, one stream of upstream events out."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from core import errors
from core.chat import ChatRequest
from core.events import RawEvent, UpstreamEvent
from proxy.providers.answer_body import read_answer
from proxy.providers.sse import SSEEvent, read_events
from proxy.providers.upstream_errors import http_error, translate_client_errors


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request translated to the provider's wire format, before anything is reserved: what
    the provider cannot take is a 400 here, not a failed (and billed) call."""

    chat: ChatRequest
    stream: bool
    url: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""  # for ids the gateway has to make up (Gemini's tool calls)
    # A provider-native route's request: `body` is the client's own (forwarded as it came),
    # and the answer comes back as RawEvents besides the events billing reads.
    passthrough: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # e.g. anthropic-beta


async def with_raw(
    sse: AsyncIterator[SSEEvent],
    parse: Callable[[AsyncIterator[SSEEvent], Prepared], AsyncIterator[UpstreamEvent]],
    prepared: Prepared,
) -> AsyncIterator[UpstreamEvent]:
    """Each SSE event as it came (a RawEvent), followed by what `parse` reads from it."""
    pending: deque[RawEvent] = deque()

    async def recorded() -> AsyncIterator[SSEEvent]:
        async for event in sse:
            # "message" is what an unnamed event is called: written back unnamed, as it came
            name = None if event.event == "message" else event.event
            pending.append(RawEvent(name, event.data))
            yield event

    try:
        async for parsed in parse(recorded(), prepared):
            while pending:
                yield pending.popleft()
            yield parsed
    except errors.UpstreamError as error:
        if pending:  # the provider's own failure event: the client gets it as it came
            error.passed_through = True
        while pending:
            yield pending.popleft()
        raise
    while pending:
        yield pending.popleft()


class Provider(Protocol):
    name: str
    # Needs image bytes, not URLs: the route fetches URL images first (routes/images.py).
    needs_image_bytes: bool

    def prepare(self, chat: ChatRequest, stream: bool, request_id: str = "") -> Prepared:
        """The request in the provider's format; InvalidRequest for what it cannot take."""
        ...

    def events(self, prepared: Prepared) -> AsyncIterator[UpstreamEvent]:
        """The answer as events: streamed as the provider streams it, or parsed from one JSON
        answer. Failures are raised as GatewayError (or TimeoutError)."""
        ...

    async def close(self) -> None: ...


@dataclass
class HttpProvider:
    """Shared plumbing for providers spoken to over HTTP: one pooled session, timeouts, JSON.

    A provider module says only how its wire format looks: `url`, `headers`, `body`, and how
    to read a completion (`completion_events`) and a stream's SSE events (`stream_events`).
    """

    needs_image_bytes = False
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

    def completion_events(self, answer: Any, prepared: Prepared) -> list[UpstreamEvent]:
        raise NotImplementedError

    def stream_events(
        self, events: AsyncIterator[Any], prepared: Prepared
    ) -> AsyncIterator[UpstreamEvent]:
        raise NotImplementedError

    def prepare(self, chat: ChatRequest, stream: bool, request_id: str = "") -> Prepared:
        return Prepared(chat, stream, self.url(chat, stream), self.body(chat, stream), request_id)

    def forward(
        self,
        chat: ChatRequest,
        path: str,
        body: dict[str, Any],
        *,
        stream: bool,
        headers: dict[str, str] | None = None,
        request_id: str = "",
    ) -> Prepared:
        """A provider-native request, forwarded as it came to `path` under the base URL;
        `chat` only sizes the reservation (core.native_body)."""
        return Prepared(chat, stream, self.base_url + path, body, request_id, passthrough=True,
                        headers=headers or {})  # fmt: skip

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request outside any call (Anthropic's count_tokens): status and body."""
        with translate_client_errors(self.name):
            url, data = self.base_url + path, orjson.dumps(body)
            async with self.session.post(
                url,
                data=data,
                headers={**self.headers(), **headers},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                return resp.status, await read_answer(resp, self.name, rejected=True)

    def events(self, prepared: Prepared) -> AsyncIterator[UpstreamEvent]:
        return self._stream(prepared) if prepared.stream else self._complete(prepared)

    async def _post(self, prepared: Prepared) -> aiohttp.ClientResponse:
        data = orjson.dumps(prepared.body)
        headers = {**self.headers(), **prepared.headers}
        return await self.session.post(prepared.url, data=data, headers=headers)

    async def _complete(self, prepared: Prepared) -> AsyncIterator[UpstreamEvent]:
        with translate_client_errors(self.name):
            async with await self._post(prepared) as resp:
                raw = await read_answer(resp, self.name, rejected=resp.status >= 400)
                if resp.status >= 400:
                    raise http_error(self.name, self.api_key, resp.status, raw)
            if prepared.passthrough:
                yield RawEvent(None, raw.decode("utf-8", "replace"))
            try:
                answer = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise errors.UpstreamError(f"{self.name} answered with malformed JSON") from None
            # a wrong shape is the upstream's error
            parsed = self.completion_events(answer, prepared)
        for event in parsed:
            yield event

    async def _stream(self, prepared: Prepared) -> AsyncIterator[UpstreamEvent]:
        with translate_client_errors(self.name):
            async with await self._post(prepared) as resp:
                if resp.status >= 400:
                    raw = await read_answer(resp, self.name, rejected=True)
                    raise http_error(self.name, self.api_key, resp.status, raw)
                sse = read_events(resp, self.name)
                if prepared.passthrough:
                    events = with_raw(sse, self.stream_events, prepared)
                else:
                    events = self.stream_events(sse, prepared)
                async for event in events:
                    yield event
