"""One admitted call's life after admission: the upstream events metered into call events, and
the settlement, exactly once, however the call ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from core import errors
from core.billing import Bounds, Transcript, bill
from core.chat import ChatRequest
from core.events import (
    CallEvent,
    CallResult,
    Failed,
    Finished,
    RawEvent,
    Started,
    TextDelta,
    ToolCallDelta,
    UpstreamEvent,
)
from core.finish import standard_finish
from core.month import MonthState
from core.outcomes import UsageStatus
from core.policy import KeyPolicy
from core.pricing import Price
from core.text import clean_text
from db.gateway import Settlement
from proxy.ledger.outbox import Segment
from proxy.ledger.running import RunningCalls
from proxy.ledger.spares import Pool
from proxy.ledger.writers import Settler
from proxy.providers.base import Prepared, Provider, Route
from proxy.providers.upstream_errors import upstream_timeout

log = logging.getLogger("kaixu.calls")

PASSED_ON = (TextDelta, ToolCallDelta, RawEvent)  # the upstream events a route renders


@dataclass(frozen=True, slots=True)
class Client:
    """Who is calling, beyond the key: the device and this request's id."""

    install_id: str | None
    user_agent: str | None
    request_id: str


@dataclass(eq=False, slots=True)
class Call:
    """An admitted request: its reservation is held until `settle` runs, exactly once."""

    settler: Settler
    policy: KeyPolicy
    chat: ChatRequest
    provider: Provider
    prepared: Prepared
    price: Price
    reservation_id: int
    month: MonthState  # as admitted
    bounds: Bounds
    client: Client
    total_timeout_s: float
    running: RunningCalls
    lease: Pool | None = None  # the spares of its key and device, whose month it books into
    held: Segment | None = None  # its outbox line while it runs on a spare (Gate._claim)
    started: float = field(default_factory=time.perf_counter)
    transcript: Transcript = field(default_factory=Transcript)
    route: Route = field(default_factory=Route)  # the upstream(s) tried
    result: CallResult | None = None
    settling: bool = False  # settle() ran (its write may have failed: never twice)
    expired: bool = False  # UPSTREAM_TOTAL_TIMEOUT_S passed
    cut_by: errors.GatewayError | None = None  # why the gateway ended it (revoked, stopping)
    _puller: asyncio.Task[object] | None = None  # the task waiting for the next event
    _cancels: int = 0  # cancellations of _puller by the deadline or a cut, not yet taken back

    async def events(self) -> AsyncIterator[CallEvent]:
        """`Started` once the provider answered at all, the deltas, then `Finished` or
        `Failed` (settled). A failure before `Started` is settled and raised, so the route
        answers it as an ordinary error. However the consumer stops (client gone, cancelled),
        the call is settled: as `aborted` if nothing else."""
        loop = asyncio.get_running_loop()
        # One timer for the whole call (not one per event): it interrupts a waiting pull.
        deadline = loop.call_at(loop.time() + self.total_timeout_s, self._deadline_passed)
        accepted = ended = False
        self.running.add(self)
        consumer = asyncio.current_task()  # the task that pulls every event (its handler's)
        try:
            async with aclosing(self.provider.events(self.prepared, self.route)) as upstream:
                while (event := await self._pull(upstream, consumer)) is not None:
                    if not accepted:
                        accepted = True
                        yield Started(self.month)
                    self.transcript.observe(event)
                    if isinstance(event, PASSED_ON):
                        yield event
            if self.transcript.end is None:
                raise errors.UpstreamError(
                    f"{self.chat.provider} ended the stream before its end marker"
                )
            malformed = None if self.prepared.passthrough else self.transcript.malformed_tool_call()
            if malformed is not None:  # never a silent stop: the client could not use it
                raise errors.UpstreamError(f"{self.chat.provider} sent {malformed}")
            ended = True
        except Exception as exc:
            error = self._as_error(exc, accepted)
            result = await self.settle(UsageStatus.ERROR, error)
            if not accepted:
                raise error from None  # the middleware answers it and drops its tracebacks
            # Through this frame they would form a cycle; a bug's was logged by _as_error.
            errors.forget_tracebacks(error)
            yield Failed(error, result)
            return
        finally:
            deadline.cancel()
            self.running.discard(self)
            if not ended and not self.settling:  # the consumer went away, or a bug broke it
                await self.settle(UsageStatus.ABORTED)
        yield Finished(await self.settle(UsageStatus.OK))

    async def _pull(
        self, upstream: AsyncIterator[UpstreamEvent], task: asyncio.Task[object] | None
    ) -> UpstreamEvent | None:
        """The next upstream event, None at the end (`task`: the one waiting for it). The
        deadline passing interrupts the wait with TimeoutError."""
        if self.cut_by is not None:
            raise self.cut_by
        if self.expired:
            raise TimeoutError
        self._puller = task
        try:
            return await anext(upstream)
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:
            ours, self._cancels = self._cancels, 0
            if not ours or task is None:
                raise
            for _ in range(ours):  # the deadline and a cut may both have come: take back each
                task.uncancel()
            if task.cancelling():  # cancelled from outside too (the handler's end): that wins
                raise
            if self.cut_by is not None:
                raise self.cut_by from None
            raise TimeoutError from None
        finally:
            self._puller = None

    def _interrupt(self) -> None:
        """Cancel the wait for the next event, counted so that _pull takes back just ours."""
        if self._puller is not None and self._puller.cancel():
            self._cancels += 1

    def _deadline_passed(self) -> None:
        self.expired = True
        self._interrupt()

    def cut(self, reason: errors.GatewayError) -> None:
        """End the call now with `reason` (key revoked, customer deactivated, gateway stopping):
        the client gets it as an error, billed for what was produced."""
        if self.cut_by is None:
            self.cut_by = reason
            self._interrupt()

    def _as_error(self, exc: Exception, accepted: bool) -> errors.GatewayError:
        """The call's own deadline passing is a timeout like any other (a 504); a bug is kept
        in the log and reaches the client as the contract's error, billed like any failure."""
        if isinstance(exc, errors.GatewayError):
            return exc
        if isinstance(exc, TimeoutError):
            return upstream_timeout(self.chat.provider, phase="finish" if accepted else "answer")
        log.error("call failed inside the gateway", exc_info=exc,
                  extra={"request_id": self.client.request_id})  # fmt: skip
        if not accepted:
            return errors.InternalError("The gateway failed before the provider answered.")
        return errors.UpstreamError("The gateway failed while relaying the provider's answer.")

    async def settle(
        self, status: UsageStatus, error: errors.GatewayError | None = None
    ) -> CallResult:
        """Hand the usage row and the reservation's release to the settler, exactly once
        (committed moments later, whatever happens to this request)."""
        if self.result is not None:
            return self.result
        self.settling = True
        billed = bill(self.transcript, status, error, self.bounds)
        usage, source = billed.usage, billed.source
        if billed.clamped:
            log.warning(
                "reported usage beyond the request's bounds; clamped",
                extra={"request_id": self.client.request_id, "provider": self.chat.provider,
                       "reported": str(self.transcript.usage)},
            )  # fmt: skip
        cost_uc = self.price.cost_uc(usage)
        upstream_model = clean_text(self.transcript.upstream_model, 200)
        settlement = Settlement(
            reservation_id=self.reservation_id,
            customer_id=self.policy.customer_id,
            key_id=self.policy.key_id,
            month=self.month.month,
            install_id=self.client.install_id,
            provider=self.chat.provider,
            model=self.chat.model,
            upstream_model=upstream_model,
            input_tokens=usage.total_input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            cost_uc=cost_uc,
            status=status.value,
            cost_source=source.value,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            request_id=self.client.request_id,
            error=clean_text(error.message, 500) if error else None,
            clamped=billed.clamped,
            upstream_id=self.route.upstream_id,
            attempts=self.route.attempts or None,
        )
        # Committed after the answer (outbox.py).
        written = self.settler.settle_later(settlement, held=self.held)
        if self.lease is not None:
            self.lease.book(cost_uc)
        if self.settler.backlogged:  # backpressure; cancelling this wait loses nothing
            with contextlib.suppress(Exception):  # a refused write is logged by the settler
                await asyncio.shield(written)
        end = self.transcript.end
        tool_calls = self.transcript.tool_calls
        self.result = CallResult(
            finish_reason=standard_finish(end.finish_reason, tool_calls=bool(tool_calls))
            if end
            else None,
            tool_calls=tool_calls,
            upstream_model=upstream_model,
            usage=usage,
            cost_uc=cost_uc,
            cost_source=source.value,
            # The month as admitted, with this call's cost booked as the settlement will.
            month=self.month.after(cost_uc),
        )
        return self.result
