"""The provider interface: a normalized request in, text and usage out, errors translated once."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import orjson

from proxy import errors


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    provider: str
    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float | None = None
    stop: tuple[str, ...] = ()

    def split_system(self) -> tuple[str, list[Message]]:
        """System text joined (for providers that take it apart) and the other messages."""
        system = "\n\n".join(m.content for m in self.messages if m.role == "system")
        return system, [m for m in self.messages if m.role != "system"]


@dataclass(slots=True)
class Usage:
    """Tokens as billed: input_tokens excludes cached reads and cache writes, which are priced
    on their own; output_tokens includes reasoning/thinking tokens."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    """The terminal marker of a stream (OpenAI [DONE], Anthropic message_stop, Gemini's last
    chunk). A stream that ends without one failed, however cleanly the connection closed."""

    finish_reason: str | None = None
    model: str | None = None


@dataclass(slots=True)
class Completion:
    text: str
    usage: Usage | None  # None: the provider reported none (then it is estimated)
    model: str | None = None
    finish_reason: str | None = None


# What a stream yields: text deltas (str), usage as known so far (Usage, cumulative: the last
# one wins), and once, at the end, Finish.
StreamEvent = str | Usage | Finish


class Provider(Protocol):
    name: str

    async def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def close(self) -> None: ...


@dataclass
class HttpProvider:
    """Shared plumbing for providers spoken to over HTTP: one pooled session, timeouts, JSON."""

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

    async def post_json(
        self, url: str, body: dict, headers: dict[str, str], parse: Callable[[dict], Completion]
    ) -> Completion:
        """POST a JSON body; `parse` reads the answer (an answer of the wrong shape is the
        upstream's error, like any other)."""
        with translate_client_errors(self.name):
            async with self.session.post(url, data=orjson.dumps(body), headers=headers) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise self.http_error(resp.status, raw, rejected=True)
            try:
                answer = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise errors.UpstreamError(f"{self.name} answered with malformed JSON") from None
            return parse(answer)

    @contextlib.asynccontextmanager
    async def open_stream(
        self, url: str, body: dict, headers: dict[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        with translate_client_errors(self.name):
            async with self.session.post(url, data=orjson.dumps(body), headers=headers) as resp:
                if resp.status >= 400:
                    raise self.http_error(resp.status, await resp.read(), rejected=True)
                yield resp

    def http_error(self, status: int, raw: bytes, rejected: bool = False) -> errors.UpstreamError:
        detail = self.redact(error_detail(raw))
        return errors.UpstreamError(f"{self.name} answered {status}: {detail}", rejected=rejected)

    def stream_error(self, data: str) -> errors.UpstreamError:
        """An error event inside a started (200) stream: output may already have been produced."""
        detail = self.redact(error_detail(data.encode()))
        return errors.UpstreamError(f"{self.name} failed mid-stream: {detail}")

    def redact(self, text: str) -> str:
        """Provider messages may quote the key they were sent; never pass ours on."""
        if self.api_key:
            text = text.replace(self.api_key, "[redacted]")
        return _KEY_LIKE.sub("[redacted]", text)


_KEY_LIKE = re.compile(r"\b(?:sk|sk-ant|AIza)[-_A-Za-z0-9*]{12,}")


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


@contextlib.contextmanager
def translate_client_errors(provider: str) -> Iterator[None]:
    """aiohttp's low-level failures become the contract's 502 / 504 in this one place."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError:
        raise errors.UpstreamTimeout(
            f"could not connect to {provider} in time", rejected=True
        ) from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise errors.UpstreamTimeout(f"{provider} did not answer in time") from None
    except aiohttp.ClientConnectorError:
        # The request never reached the provider: nothing to bill.
        raise errors.UpstreamError(f"could not connect to {provider}", rejected=True) from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        raise errors.UpstreamError(f"{provider} closed the connection mid-answer") from None
    except aiohttp.ClientError as exc:
        raise errors.UpstreamError(f"{provider} request failed ({type(exc).__name__})") from None
    except (AttributeError, KeyError, TypeError, ValueError):
        # JSON of an unexpected shape (a string where an object belongs, …): the upstream's
        # fault, reported as such rather than as our 500.
        raise errors.UpstreamError(f"{provider} sent an answer of an unexpected shape") from None
