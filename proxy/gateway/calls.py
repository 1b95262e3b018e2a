"""One upstream call's life: admission (one round trip), metering, settlement (one round trip).

Shared by every client route, native and OpenAI-compatible alike; routes only parse requests
and format answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
from aiohttp import web

from db import gateway as queries
from proxy import errors
from proxy.gateway.ledger import Settler
from proxy.gateway.policy import KeyPolicy
from proxy.middleware import REQUEST_ID
from proxy.money import estimate_tokens, uc_to_cents
from proxy.pricing import Price
from proxy.providers.base import ChatRequest, Completion, Finish, Provider, StreamEvent, Usage
from proxy.settings import Settings
from proxy.state import ADMITTER, PRICE_BOOK, PROVIDERS, SETTINGS, SETTLER

log = logging.getLogger("kaixu.calls")

MESSAGE_OVERHEAD_TOKENS = 4
MAX_TOKEN_COUNT = 2**31 - 1  # the usage columns are 32-bit


def clean_text(value: str | None, limit: int) -> str | None:
    """Text from outside (an upstream, a header) made storable: valid UTF-8, no NUL, bounded."""
    if value is None:
        return None
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")[:limit]


def bounded(tokens: int) -> int:
    """A token count from an upstream, kept to what can be stored and billed (never negative)."""
    return min(
        max(int(tokens), 0), MAX_TOKEN_COUNT
    )  # role markers and separators each message costs


class ClientGone(Exception):
    """The client disconnected (or stalled) while we were streaming to it."""


@dataclass(frozen=True, slots=True)
class MonthState:
    month: date
    cap_uc: int
    extra_uc: int
    spent_uc: int
    key_cap_uc: int | None
    key_spent_uc: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> MonthState:
        return cls(
            row["month"], row["cap_uc"], row["extra_uc"], row["spent_uc"],
            row["key_cap_uc"], row["key_spent_uc"],
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month.strftime("%Y-%m"),
            "cap_cents": uc_to_cents(self.cap_uc),
            "extra_cents": uc_to_cents(self.extra_uc),
            "spent_cents": uc_to_cents(self.spent_uc),
            "key_cap_cents": None if self.key_cap_uc is None else uc_to_cents(self.key_cap_uc),
            "key_spent_cents": uc_to_cents(self.key_spent_uc),
        }


def estimate_input_tokens(chat: ChatRequest) -> int:
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in chat.messages)


def check_allowed(policy: KeyPolicy, chat: ChatRequest) -> None:
    if not policy.allows_provider(chat.provider):
        raise errors.Forbidden(
            f"Provider {chat.provider!r} is not allowed for this key.", type="provider_not_allowed"
        )
    if not policy.allows_model(chat.model):
        raise errors.Forbidden(
            f"Model {chat.model!r} is not allowed for this key.", type="model_not_allowed"
        )


def lookup_price(request: web.Request, chat: ChatRequest) -> Price:
    price = request.app[PRICE_BOOK].table.lookup(chat.provider, chat.model)
    if price is None:
        raise errors.ModelNotPriced(
            f"No price is known for {chat.provider}/{chat.model}, so it cannot be billed."
            " The operator can add one in the price table."
        )
    return price


@dataclass(slots=True)
class Call:
    """An admitted request: its reservation is held until `settle` runs, exactly once."""

    settings: Settings
    settler: Settler
    policy: KeyPolicy
    chat: ChatRequest
    provider: Provider
    price: Price
    reservation_id: int
    month: MonthState
    input_estimate: int
    install_id: str | None
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    text_parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish: Finish | None = None
    upstream_model: str | None = None
    settled: MonthState | None = None
    billed: Usage = field(default_factory=Usage)
    cost_uc: int = 0
    cost_source: str = "none"

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def observe(self, event: StreamEvent) -> str | None:
        """Record one stream event; return its text if it is a delta."""
        if isinstance(event, str):
            self.text_parts.append(event)
            return event
        if isinstance(event, Usage):
            self.usage = event
        else:
            self.finish = event
            self.upstream_model = event.model or self.upstream_model
        return None

    def record(self, completion: Completion) -> None:
        self.text_parts = [completion.text]
        self.usage = completion.usage
        self.finish = Finish(completion.finish_reason, completion.model)
        self.upstream_model = completion.model

    async def complete(self) -> Completion:
        async with asyncio.timeout(self.settings.upstream_total_timeout_s):
            return await self.provider.complete(self.chat)

    def _bill(self, status: str, error: errors.GatewayError | None) -> None:
        """What to charge: reported usage if the provider finished and said; otherwise an
        estimate from the prompt and the text actually produced; nothing if it refused."""
        # An estimate never exceeds what was asked for (nor, so, what was reserved).
        produced = min(estimate_tokens(self.text), self.chat.max_tokens)
        if getattr(error, "rejected", False):
            self.billed, self.cost_source = Usage(), "none"
        elif self.usage is not None and self.finish is not None and status == "ok":
            self.billed, self.cost_source = self.usage, "reported"
        elif self.usage is not None:
            known = self.usage
            self.billed = Usage(
                input_tokens=known.input_tokens
                if known.total_input_tokens
                else self.input_estimate,
                cached_input_tokens=known.cached_input_tokens,
                cache_write_tokens=known.cache_write_tokens,
                output_tokens=max(known.output_tokens, produced),
            )
            self.cost_source = "estimated"
        else:
            self.billed = Usage(input_tokens=self.input_estimate, output_tokens=produced)
            self.cost_source = "estimated"
        b = self.billed
        self.billed = Usage(
            bounded(b.input_tokens), bounded(b.cached_input_tokens),
            bounded(b.cache_write_tokens), bounded(b.output_tokens),
        )  # fmt: skip
        self.cost_uc = self.price.cost_uc(self.billed)

    async def settle(self, status: str, error: errors.GatewayError | None = None) -> MonthState:
        """Write the usage row and release the reservation, exactly once; the write goes on
        even if this request is cancelled."""
        if self.settled is not None:
            return self.settled
        self._bill(status, error)
        settlement = queries.Settlement(
            reservation_id=self.reservation_id,
            customer_id=self.policy.customer_id,
            key_id=self.policy.key_id,
            month=self.month.month,
            install_id=self.install_id,
            provider=self.chat.provider,
            model=self.chat.model,
            upstream_model=clean_text(self.upstream_model, 200),
            input_tokens=self.billed.total_input_tokens,
            cached_input_tokens=self.billed.cached_input_tokens,
            cache_write_tokens=self.billed.cache_write_tokens,
            output_tokens=self.billed.output_tokens,
            cost_uc=self.cost_uc,
            status=status,
            cost_source=self.cost_source,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            request_id=self.request_id,
            error=clean_text(error.message, 500) if error else None,
        )
        try:
            row = await self.settler.submit(settlement)
        except Exception:
            # The reservation expires unused; the log keeps the figures for reconciliation.
            log.error(
                "settle failed; usage not recorded",
                extra={"request_id": self.request_id, "cost_uc": self.cost_uc,
                       "reservation_id": self.reservation_id},
            )  # fmt: skip
            raise
        self.settled = MonthState.from_row(row)
        return self.settled

    def usage_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.billed.total_input_tokens,
            "output_tokens": self.billed.output_tokens,
            "cached_input_tokens": self.billed.cached_input_tokens,
            "cache_write_tokens": self.billed.cache_write_tokens,
            "cost_cents": uc_to_cents(self.cost_uc),
            "estimated": self.cost_source == "estimated",
        }


def install_id(request: web.Request) -> str | None:
    """X-Kaixu-Install-Id: 1–128 printable characters, or absent."""
    value = request.headers.get("X-Kaixu-Install-Id")
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not value.isprintable():
        raise errors.InvalidRequest("X-Kaixu-Install-Id must be 1 to 128 printable characters.")
    return value


CAP_MESSAGES = {
    "customer": "This customer's monthly allowance (cap plus prepaid credit) is used up.",
    "key": "This key's own monthly cap is used up.",
    "gateway": "The gateway's monthly spending ceiling is reached; ask the operator.",
}


async def admit(request: web.Request, policy: KeyPolicy, chat: ChatRequest) -> Call:
    """Every check before the upstream call, and the reservation, in one round trip."""
    app = request.app
    settings = app[SETTINGS]
    device = install_id(request)
    if device is None and policy.require_install:
        raise errors.Forbidden(
            "This key requires the X-Kaixu-Install-Id header.", type="install_id_required"
        )
    check_allowed(policy, chat)
    price = lookup_price(request, chat)
    input_estimate = estimate_input_tokens(chat)
    reserve_uc = price.cost_uc(Usage(input_tokens=input_estimate, output_tokens=chat.max_tokens))
    row = await app[ADMITTER].submit(
        queries.Admission(
            key_id=policy.key_id,
            estimate_uc=reserve_uc,
            install_id=device,
            user_agent=clean_text(request.headers.get("User-Agent"), 512) or None,
        )
    )
    outcome = row["outcome"]
    if outcome != "ok":
        raise refusal(outcome, row, policy)
    return Call(
        settings=settings,
        settler=app[SETTLER],
        policy=policy,
        chat=chat,
        provider=app[PROVIDERS][chat.provider],
        price=price,
        reservation_id=row["reservation_id"],
        month=MonthState.from_row(row),
        input_estimate=input_estimate,
        install_id=device,
        request_id=request[REQUEST_ID],
    )


def refusal(outcome: str, row: asyncpg.Record, policy: KeyPolicy) -> errors.GatewayError:
    """The contract's error for an admission that did not pass."""
    if outcome == "cap_exceeded":
        month = MonthState.from_row(row).to_json()
        return errors.CapExceeded(CAP_MESSAGES[row["limit_scope"]], month=month)
    if outcome == "rate_limited":
        wait = max(1, math.ceil(row["retry_after_s"]))
        scope = row["limit_scope"]
        rpm = policy.rpm_limit if scope == "key" else policy.customer_rpm_limit
        return errors.RateLimited(
            f"Over this {scope}'s limit of {rpm} requests per minute; retry in {wait} s.",
            retry_after_s=wait,
        )
    if outcome == "device_limit":
        return errors.Forbidden(
            f"All {policy.max_devices} device seats of this key are taken;"
            " the operator can revoke an old device to free one.",
            type="device_limit",
        )
    if outcome == "device_revoked":
        return errors.Forbidden("This device was revoked for this key.", type="device_revoked")
    return errors.Unauthorized("This API key is revoked or its customer is inactive.")


@contextlib.asynccontextmanager
async def settled_on_failure(call: Call) -> AsyncIterator[None]:
    """Before any answer reached the client: a failure settles the call, then propagates
    (a timeout as the contract's 504)."""
    try:
        yield
    except TimeoutError:
        error = errors.UpstreamTimeout(f"{call.chat.provider} did not answer in time")
        await call.settle("error", error)
        raise error from None
    except errors.GatewayError as error:
        await call.settle("error", error)
        raise
    except BaseException:
        await call.settle("aborted")
        raise


async def run_complete(call: Call) -> None:
    """Non-stream: call the provider, then settle (also when it failed, then re-raise)."""
    async with settled_on_failure(call):
        call.record(await call.complete())
    await call.settle("ok")


SendText = Callable[[str], Awaitable[None]]
StartStream = Callable[[], Awaitable[None]]


async def run_stream(
    call: Call, start: StartStream, send_text: SendText
) -> errors.GatewayError | None:
    """Stream the answer: `start` is awaited once the provider has accepted the request (so a
    refusal, or a timeout before the first event, is still an ordinary error response, raised
    from here), then each delta goes to `send_text`. Settles however it ends.

    Returns the upstream error that ended a started stream (settled), or None on success.
    A client that goes away is settled as 'aborted' and ClientGone is raised.
    """
    deadline = asyncio.get_running_loop().time() + call.settings.upstream_total_timeout_s
    async with aclosing(call.provider.stream(call.chat)) as events:
        async with settled_on_failure(call), asyncio.timeout_at(deadline):
            try:
                first: StreamEvent | None = await anext(events)
            except StopAsyncIteration:  # anext(events, None) raised SystemError on CPython 3.11
                first = None
        try:
            await _client_write(start())
            async with asyncio.timeout_at(deadline):
                if first is not None:
                    await _deliver(call, first, send_text)
                    async for event in events:
                        await _deliver(call, event, send_text)
            if call.finish is None:
                raise errors.UpstreamError(
                    f"{call.chat.provider} ended the stream before its end marker"
                )
        except ClientGone:
            await call.settle("aborted")
            raise
        except TimeoutError:
            error = errors.UpstreamTimeout(f"{call.chat.provider} did not finish in time")
            await call.settle("error", error)
            return error
        except errors.GatewayError as error:
            await call.settle("error", error)
            return error
        except BaseException:
            await call.settle("aborted")
            raise
    await call.settle("ok")
    return None


async def _deliver(call: Call, event: StreamEvent, send_text: SendText) -> None:
    text = call.observe(event)
    if text:
        await _client_write(send_text(text))


async def _client_write(write: Awaitable[None]) -> None:
    """A failed write means the client is gone (or stalled past the send timeout)."""
    try:
        await write
    except (ConnectionResetError, TimeoutError) as exc:
        raise ClientGone() from exc
