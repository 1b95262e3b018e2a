"""Fake OpenAI, Anthropic and Gemini upstreams that speak the real wire formats.

Usage::

    fake = FakeUpstream("openai")      # or "anthropic" / "gemini"
    await fake.start()                  # 127.0.0.1, a free port, in the running loop
    fake.base_url                       # openai: http://127.0.0.1:PORT/v1, others: http://127.0.0.1:PORT
    fake.requests                       # [RecordedRequest(method, path, headers, body, json), ...]
    await fake.close()

Routes: openai `POST /v1/chat/completions` and `POST /v1/responses` (`openai_responses`);
anthropic `POST /v1/messages` and `POST /v1/messages/count_tokens`; gemini
`POST /{v1beta,v1}/models/{model}:generateContent` and `:streamGenerateContent` (key in
`x-goog-api-key` or `?key=`). A recorded `path` includes the query string.
`fail_next(status, count, headers)` and `failing` make the server itself fail (a rate-limited
key, an outage), whatever the request says.

The behaviour of each request is chosen by `fake:NAME[=VALUE]` tokens in the text of the last
user message: text, usage, cached, cache_write, reasoning, error, mid-stream-error, cut,
early-end, crlf, lf, tiny-reads, slow, stall, tools, call-ids, thought-signature, malformed-tool,
incomplete, error-event (see `common.parse_directives`). Tool calls, the agent loop, structured
output and images are answered in each provider's own format (see `tools`, `schema_values`,
`images`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from .anthropic import AnthropicProvider
from .common import Directives, FakeProvider, RecordedRequest, parse_directives, send_stream
from .gemini import GeminiProvider
from .openai import OpenAIProvider

__all__ = ["PROVIDERS", "Directives", "FakeUpstream", "RecordedRequest", "parse_directives"]

PROVIDERS: dict[str, type[FakeProvider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}


class FakeUpstream:
    """An aiohttp server playing one provider; `record=False` keeps no request (benchmarks)."""

    def __init__(
        self, provider: str, host: str = "127.0.0.1", port: int = 0, *, record: bool = True
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; choose from {sorted(PROVIDERS)}")
        self.provider_name = provider
        self.provider = PROVIDERS[provider]()
        self.host = host
        self.port = port
        self.record = record
        self.requests: list[RecordedRequest] = []
        # Server-wide failures, whatever the request says (a rate-limited or broken key):
        # the next `failures` answers, then `failing` for every request until it is None.
        self.failures: deque[tuple[int, dict[str, str]]] = deque()
        self.failing: tuple[int, dict[str, str]] | None = None
        self._runner: web.AppRunner | None = None

    def fail_next(self, status: int, count: int = 1, headers: dict[str, str] | None = None) -> None:
        """The next `count` requests get the provider's own error answer of `status`."""
        self.failures.extend([(status, headers or {})] * count)

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an SDK takes as its base URL (OpenAI's includes `/v1`)."""
        return self.root_url + self.provider.url_prefix

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.provider.add_routes(app, self._handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _handle(
        self,
        request: web.Request,
        stream: bool | None = None,
        provider: FakeProvider | None = None,
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if self.record:
            self.requests.append(
                RecordedRequest(
                    request.method, request.path_qs, CIMultiDict(request.headers), raw, body
                )
            )
        provider = provider or self.provider
        forced = self.failures.popleft() if self.failures else self.failing
        if forced is not None:
            answer = provider.error_response(forced[0])
            answer.headers.update(forced[1])
            return answer
        failure = provider.auth_error(request)
        if failure is None:
            failure = provider.body_error(body)
        if failure is not None:  # (a Response is falsy: it is an empty mapping)
            return failure
        d = parse_directives(provider.last_user_text(body), provider.default_text)
        failure = provider.conversation_error(body, d)
        if failure is not None:
            return failure
        if d.slow > 0:
            await asyncio.sleep(d.slow)
        if d.error is not None:
            return provider.error_response(d.error)
        if provider.is_stream(request, body, stream):
            return await send_stream(request, d, provider.stream_plan(request, body, d))
        return provider.completion(request, body, d)
