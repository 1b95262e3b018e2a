"""The provider interface: a normalized request in, one stream of upstream events out."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from core import errors
from core.chat import ChatRequest
from core.events import RawEvent, UpstreamEvent
from proxy.providers.answer_body import read_answer
from proxy.providers.sse import SSEEvent, read_events
from proxy.providers.upstream_errors import http_error, redact, translate_client_errors


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request translated to the provider's wire format, before anything is reserved: what
    the provider cannot take is a 400 here, not a failed (and billed) call."""

    chat: ChatRequest
    stream: bool
    path: str = ""  # under the upstream's base URL: the same for every upstream of the provider
    body: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""  # for ids the gateway has to make up (Gemini's tool calls)
    # A provider-native route's request: `body` is the client's own (forwarded as it came),
    # and the answer comes back as RawEvents besides the events billing reads.
    passthrough: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # e.g. anthropic-beta


def native_request(
    chat: ChatRequest,
    path: str,
    body: dict[str, Any],
    *,
    stream: bool,
    headers: dict[str, str] | None = None,
    request_id: str = "",
) -> Prepared:
    """A provider-native request, forwarded as it came to `path` under the upstream's base URL;
    `chat` only sizes the reservation (core.native_body)."""
    return Prepared(chat, stream, path, body, request_id, passthrough=True, headers=headers or {})


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
        async with aclosing(recorded()) as source, aclosing(parse(source, prepared)) as parsed_all:
            async for parsed in parsed_all:
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


@dataclass(slots=True)
class Route:
    """Which upstream a call went to (the last one tried) and how many were tried."""

    upstream_id: str | None = None
    attempts: int = 0


class Provider(Protocol):
    """A provider name as clients use it: one or more upstreams behind one wire format
    (proxy/upstreams/pool.py), or the built-in demo."""

    name: str
    api: str  # the wire format: openai | anthropic | gemini (demo: demo)
    # Needs image bytes, not URLs: the route fetches URL images first (routes/images.py).
    needs_image_bytes: bool

    def serves(self, model: str) -> bool:
        """Whether an enabled upstream serves `model` (what /v1/models lists)."""
        ...

    def prepare(self, chat: ChatRequest, stream: bool, request_id: str = "") -> Prepared:
        """The request in the provider's format; InvalidRequest for what it cannot take."""
        ...

    def forward(self, prepared: Prepared) -> Prepared:
        """A provider-native request (made by `native_request`), checked before anything is
        reserved: InvalidRequest for what this provider cannot take."""
        ...

    def events(self, prepared: Prepared, route: Route) -> AsyncIterator[UpstreamEvent]:
        """The answer as events: streamed as the provider streams it, or parsed from one JSON
        answer. Failures are raised as GatewayError (or TimeoutError). `route` is filled in
        with the upstream(s) tried."""
        ...

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request outside any call (Anthropic's count_tokens): status and body."""
        ...


def upstream_session(connect_timeout_s: float, read_timeout_s: float) -> aiohttp.ClientSession:
    """The pooled HTTP session every upstream call goes through (connections kept per host)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        ),
        connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300),
        headers={"User-Agent": "kaixu-gateway/0.1"},
    )


API_KEY_PLACEHOLDER = "{api_key}"
# The headers a wire format sends the key in; an extra header carrying the key replaces them.
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key"})


@dataclass
class HttpProvider:
    """One upstream spoken to over HTTP: its base URL, key, extra headers; timeouts, JSON.

    A provider module says only how its wire format looks: `path`, `auth_headers`, `body`, and
    how to read a completion (`completion_events`) and a stream's SSE events
    (`stream_events`). The session is shared by every upstream unless none is given.
    """

    needs_image_bytes = False
    name: str
    base_url: str
    api_key: str
    connect_timeout_s: float
    read_timeout_s: float
    extra_headers: tuple[tuple[str, str], ...] = ()  # "{api_key}" stands for the key
    session: aiohttp.ClientSession | None = None
    _owns_session: bool = field(init=False, default=False)
    _headers: dict[str, str] = field(init=False, default_factory=dict)
    _base: str = field(init=False, default="")
    _query: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if self.session is None:
            self.session = upstream_session(self.connect_timeout_s, self.read_timeout_s)
            self._owns_session = True
        self._headers = self.request_headers()
        # A base URL may carry a query every request needs (Azure's api-version).
        self._base, _, self._query = self.base_url.partition("?")

    def url(self, path: str) -> str:
        if not self._query:
            return self._base + path
        return f"{self._base}{path}{'&' if '?' in path else '?'}{self._query}"

    async def close(self) -> None:
        if self._owns_session and self.session is not None:
            await self.session.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never reach a client or a log: the key, and long header values."""
        values = [v for _, v in self.extra_headers if len(v) >= 8 and v != API_KEY_PLACEHOLDER]
        return (self.api_key, *values)

    def request_headers(self) -> dict[str, str]:
        """The wire format's headers, then the extra ones (replacing any of the same name)."""
        extra = {name.lower(): value for name, value in self.extra_headers}
        carries_key = API_KEY_PLACEHOLDER in extra.values()
        headers = {
            name: value
            for name, value in self.auth_headers().items()
            if name.lower() not in extra and not (carries_key and name.lower() in AUTH_HEADERS)
        }
        for name, value in self.extra_headers:
            headers[name] = self.api_key if value == API_KEY_PLACEHOLDER else value
        headers["Content-Type"] = "application/json"
        return headers

    def path(self, request: ChatRequest, stream: bool) -> str:
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
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
        return Prepared(chat, stream, self.path(chat, stream), self.body(chat, stream), request_id)

    def forward(self, prepared: Prepared) -> Prepared:
        return prepared

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request outside any call (Anthropic's count_tokens): status and body."""
        assert self.session is not None
        with translate_client_errors(self.name):
            url, data = self.url(path), orjson.dumps(body)
            async with self.session.post(
                url,
                data=data,
                headers={**self._headers, **headers},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                raw = await read_answer(resp, self.name, rejected=True)
                return resp.status, redact(raw.decode("utf-8", "replace"), self.secrets).encode()

    def events(self, prepared: Prepared) -> AsyncIterator[UpstreamEvent]:
        return self._stream(prepared) if prepared.stream else self._complete(prepared)

    async def _post(self, prepared: Prepared) -> aiohttp.ClientResponse:
        assert self.session is not None
        data = orjson.dumps(prepared.body)
        headers = {**self._headers, **prepared.headers} if prepared.headers else self._headers
        return await self.session.post(self.url(prepared.path), data=data, headers=headers)

    def _refused(self, resp: aiohttp.ClientResponse, raw: bytes) -> errors.UpstreamError:
        return http_error(self.name, self.secrets, resp.status, raw,
                          retry_after=resp.headers.get("Retry-After"))  # fmt: skip

    async def _complete(self, prepared: Prepared) -> AsyncIterator[UpstreamEvent]:
        with translate_client_errors(self.name):
            async with await self._post(prepared) as resp:
                raw = await read_answer(resp, self.name, rejected=resp.status >= 400)
                if resp.status >= 400:
                    raise self._refused(resp, raw)
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
                    raise self._refused(resp, raw)
                # Both closed here, not by the collector: a parser returns at its end marker
                # before the reader sees EOF, and an unclosed generator costs a finalizer task.
                async with aclosing(read_events(resp, self.name)) as sse:
                    if prepared.passthrough:
                        events = with_raw(sse, self.stream_events, prepared)
                    else:
                        events = self.stream_events(sse, prepared)
                    async with aclosing(events):
                        async for event in events:
                            yield event
