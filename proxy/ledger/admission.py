"""Admission: every check before the upstream call, and the cost reservation, in one round trip
(batched with every admission waiting at the same moment)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import errors, estimate
from core.billing import Bounds
from core.chat import ChatRequest
from core.month import MonthState
from core.outcomes import AdmissionOutcome
from core.policy import KeyPolicy
from core.pricing import Price
from core.usage import Usage
from db.gateway import Admission, Claim, Settlement
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.infra.cache import KeyCache, PriceBook
from proxy.infra.metrics import Metrics
from proxy.ledger.call import Call, Client
from proxy.ledger.outbox import Segment
from proxy.ledger.running import RunningCalls
from proxy.ledger.spares import Pool, Spares
from proxy.ledger.writers import Admitter, Claimer, Settler
from proxy.providers.base import Prepared, Provider

CAP_MESSAGES = {
    "customer": "This customer's monthly allowance (cap plus prepaid credit) is used up.",
    "key": "This key's own monthly cap is used up.",
    "gateway": "The gateway's monthly spending ceiling is reached; ask the operator.",
}


def check_allowed(policy: KeyPolicy, chat: ChatRequest) -> None:
    if not policy.allows_provider(chat.provider):
        raise errors.Forbidden(
            f"Provider {chat.provider!r} is not allowed for this key.", type="provider_not_allowed"
        )
    if not policy.allows_model(chat.model):
        raise errors.Forbidden(
            f"Model {chat.model!r} is not allowed for this key.", type="model_not_allowed"
        )


def refusal(outcome: str, row: Mapping[str, Any], policy: KeyPolicy) -> errors.GatewayError:
    """The contract's error for an admission that did not pass."""
    if outcome == AdmissionOutcome.CAP_EXCEEDED:
        month = MonthState.from_row(row).to_json()
        return errors.CapExceeded(CAP_MESSAGES[row["limit_scope"]], month=month)
    if outcome == AdmissionOutcome.RATE_LIMITED:
        wait = max(1, math.ceil(row["retry_after_s"]))
        scope = row["limit_scope"]
        rpm = policy.rpm_limit if scope == "key" else policy.customer_rpm_limit
        return errors.RateLimited(
            f"Over this {scope}'s limit of {rpm} requests per minute; retry in {wait} s.",
            retry_after_s=wait,
        )
    if outcome == AdmissionOutcome.DEVICE_LIMIT:
        return errors.Forbidden(
            f"All {policy.max_devices} device seats of this key are taken;"
            " the operator can revoke an old device to free one.",
            type="device_limit",
        )
    if outcome == AdmissionOutcome.DEVICE_REVOKED:
        return errors.Forbidden("This device was revoked for this key.", type="device_revoked")
    return errors.Unauthorized("This API key is revoked or its customer is inactive.")


WAIT_ROUNDS = 3  # a request waits for at most this many refills of its pool, then admits itself
REAPED_ERROR = "The gateway process serving this call stopped; billed at its input estimate."


def may_use_spares(policy: KeyPolicy, keys: KeyCache) -> bool:
    """Spares skip the database's checks: only while the key cache is kept true by the listener
    (a change evicts them), and never under a rate limit (every request must be counted)."""
    return keys.live and policy.rpm_limit is None and policy.customer_rpm_limit is None


@dataclass(frozen=True, slots=True)
class Gate:
    """The hot path's entrance: turns an authenticated, parsed request into an admitted Call."""

    admitter: Admitter
    settler: Settler
    prices: PriceBook
    total_timeout_s: float
    running: RunningCalls
    keys: KeyCache
    spares: Spares
    claimer: Claimer
    metrics: Metrics

    def price(self, chat: ChatRequest) -> Price:
        price = self.prices.table.lookup(chat.provider, chat.model)
        if price is None:
            raise errors.ModelNotPriced(
                f"No price is known for {chat.provider}/{chat.model}, so it cannot be billed."
                " The gateway's operator adds it in the admin dashboard's Pricing panel (a row,"
                " an alias of a priced model, or an imported price file), or with"
                " PUT /admin/api/pricing or `python -m proxy prices import FILE`."
            )
        return price

    async def admit_free(self, policy: KeyPolicy, chat: ChatRequest, client: Client) -> None:
        """The checks of an admission for a request that costs nothing (count_tokens): key,
        allowlists, device, rate limits; its zero reservation is given back at once."""
        check_allowed(policy, chat)
        free = Admission(
            key_id=policy.key_id, estimate_uc=0, install_id=client.install_id,
            user_agent=client.user_agent, provider=chat.provider, model=chat.model,
            request_id=client.request_id, input_tokens=0, input_cost_uc=0,
        )  # fmt: skip
        row = await self.admitter.submit(free)
        if row["outcome"] != AdmissionOutcome.OK:
            raise refusal(row["outcome"], row, policy)
        await self.admitter.release(row["reservation_id"])

    async def admit(
        self, policy: KeyPolicy, prepared: Prepared, provider: Provider, client: Client
    ) -> Call:
        chat = prepared.chat
        if client.install_id is None and policy.require_install:
            raise errors.Forbidden(
                "This key requires the X-Kaixu-Install-Id header.", type="install_id_required"
            )
        check_allowed(policy, chat)
        price = self.price(chat)
        input_estimate, input_bound = estimate.sizes(chat)
        reserve_uc = price.cost_uc(
            Usage(input_tokens=input_estimate, output_tokens=chat.max_tokens)
        )
        input_cost_uc = price.cost_uc(Usage(input_tokens=input_estimate))
        bounds = Bounds(
            input_estimate=input_estimate, input_bound=input_bound, max_tokens=chat.max_tokens
        )
        spares = may_use_spares(policy, self.keys)
        taken = self.spares.take(policy.key_id, client.install_id, reserve_uc) if spares else None
        if taken is None and spares:
            taken = await self._wait_for_spares(policy, client, reserve_uc)
        if taken is not None:
            reservation_id, lease = taken
            self.metrics.admitted_by_spare.inc()
            held = self._claim(reservation_id, lease, policy, chat, client, input_estimate,
                               input_cost_uc)  # fmt: skip
            return self._call(policy, prepared, provider, client, price, bounds,
                              reservation_id, lease.month, lease, held)  # fmt: skip
        wanted = 0
        if spares:
            self.spares.leftovers(policy.key_id, client.install_id)
            wanted = self.spares.wanted(
                policy.key_id, policy.customer_id, client.install_id, reserve_uc
            )
        granted: int | None = None
        unreachable = False
        try:
            row = await self.admitter.submit(
                Admission(
                    key_id=policy.key_id,
                    estimate_uc=reserve_uc,
                    install_id=client.install_id,
                    user_agent=client.user_agent,
                    provider=chat.provider,
                    model=chat.model,
                    request_id=client.request_id,
                    input_tokens=input_estimate,
                    input_cost_uc=input_cost_uc,
                    spares=wanted,
                )
            )
            granted = len(row["spare_ids"])
            if row["outcome"] != AdmissionOutcome.OK:
                raise refusal(row["outcome"], row, policy)
            self.metrics.admitted_by_database.inc()
            month = MonthState.from_row(row)
            lease = None
            if spares:
                lease = self.spares.adopt(policy.key_id, policy.customer_id, client.install_id,
                                          reserve_uc, month, list(row["spare_ids"]))  # fmt: skip
        except DB_UNAVAILABLE_ERRORS:
            unreachable = True
            raise
        finally:
            if wanted:  # after adopt: the requests waiting for these spares find them
                self.spares.refilled(policy.key_id, client.install_id, granted, unreachable)
        return self._call(policy, prepared, provider, client, price, bounds,
                          row["reservation_id"], month, lease, None)  # fmt: skip

    async def _wait_for_spares(
        self, policy: KeyPolicy, client: Client, reserve_uc: int
    ) -> tuple[int, Pool] | None:
        """A spare from the pool's admissions on their way (each sized by the requests that
        wait for it), if any: while they get spares, at most WAIT_ROUNDS of them."""
        for _ in range(WAIT_ROUNDS):
            refill = self.spares.refilling(policy.key_id, client.install_id, reserve_uc)
            if refill is None:
                return None
            try:
                granted = await asyncio.shield(refill.granted)
            except asyncio.CancelledError:
                refill.waiting -= 1  # gone: not demand for the next refill
                raise
            if granted is None:  # that admission found the database unreachable: so would ours
                raise errors.Unavailable("The database is unreachable; try again shortly.")
            if not may_use_spares(policy, self.keys):  # the listener went deaf meanwhile
                return None
            taken = self.spares.take(policy.key_id, client.install_id, reserve_uc)
            if taken is not None or granted == 0:
                return taken
        return None

    def _claim(
        self, reservation_id: int, lease: Pool, policy: KeyPolicy, chat: ChatRequest,
        client: Client, input_tokens: int, input_cost_uc: int,
    ) -> Segment | None:  # fmt: skip
        """The spare is this call's now: in the outbox at once (billed as a reaper would if
        this process dies before the real settlement), in the database moments later."""
        held = self.settler.hold(
            Settlement(
                reservation_id=reservation_id, customer_id=policy.customer_id,
                key_id=policy.key_id, month=lease.month.month, install_id=client.install_id,
                provider=chat.provider, model=chat.model, upstream_model=None,
                input_tokens=input_tokens, cached_input_tokens=0, cache_write_tokens=0,
                output_tokens=0, cost_uc=input_cost_uc, status="aborted",
                cost_source="estimated", latency_ms=0, request_id=client.request_id,
                error=REAPED_ERROR, reaped=True,
            )
        )  # fmt: skip
        claim = Claim(reservation_id, client.request_id, chat.provider, chat.model,
                      input_tokens, input_cost_uc)  # fmt: skip
        self.claimer.claim_later(claim)
        return held

    def _call(
        self, policy: KeyPolicy, prepared: Prepared, provider: Provider, client: Client,
        price: Price, bounds: Bounds, reservation_id: int, month: MonthState,
        lease: Pool | None, held: Segment | None,
    ) -> Call:  # fmt: skip
        return Call(
            settler=self.settler,
            policy=policy,
            chat=prepared.chat,
            provider=provider,
            prepared=prepared,
            price=price,
            reservation_id=reservation_id,
            month=month,
            bounds=bounds,
            client=client,
            total_timeout_s=self.total_timeout_s,
            running=self.running,
            lease=lease,
            held=held,
        )
