"""The alert webhooks' delivery worker: one in every gateway process, emptying the outbox that
settlements fill (alert_deliveries, db/alerts.py).

Woken by NOTIFY kaixu_alerts (sent by the settlement that fired an alert, heard by the
invalidation listener) and otherwise every POLL_S, it claims due rows with FOR UPDATE SKIP
LOCKED (so processes never send one row at once), POSTs each alert's JSON signed with its
webhook's secret, and records the attempt: delivered on a 2xx, else tried again with
exponential backoff until ALERT_RETRY_FOR_S after the alert (then failed). A delivery is at
least once: a process that dies mid-attempt leaves its row to be sent again after its lease,
so receivers dedupe on `delivery_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp
import asyncpg
import orjson

from core.alerts import SIGNATURE_HEADER, retry_delay_s, signature
from core.money import uc_to_cents
from db import alerts as db_alerts
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.infra.secretbox import SecretBox, SecretBoxError

log = logging.getLogger("kaixu.alerts")

POLL_S = 1.0  # the due rows (a partial index) looked at when no NOTIFY came
BATCH = 20  # rows claimed, and sent at once, per pass
USER_AGENT = "Kaixu-Gateway-Alerts/1"


def secret_context(wid: str) -> bytes:
    """What a webhook's sealed secret is bound to: it opens on no other row."""
    return f"alert_webhooks:{wid}:secret".encode()


def payload(row: asyncpg.Record) -> bytes:
    """The JSON body of one delivery (the same bytes on every attempt)."""
    return orjson.dumps(
        {
            "delivery_id": row["id"],
            "alert_id": row["alert_id"],
            "kind": row["kind"],
            "customer_id": row["customer_id"],
            "month": row["month"].strftime("%Y-%m"),
            "threshold": row["threshold"] if row["kind"] == "threshold" else None,
            "spent_cents": uc_to_cents(row["spent_uc"]),
            "allowance_cents": uc_to_cents(row["allowance_uc"]),
            "extra_cents": uc_to_cents(row["extra_uc"]),
            "at": row["created_at"],
        },
        option=orjson.OPT_UTC_Z,
    )


class AlertDelivery:
    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox | None,
        *,
        timeout_s: float,
        retry_base_s: float,
        retry_for_s: float,
    ) -> None:
        self.pool, self.box = pool, box
        self.timeout_s, self.retry_base_s, self.retry_for_s = timeout_s, retry_base_s, retry_for_s
        self._wake = asyncio.Event()
        self._soonest_s = POLL_S  # a retry this pass scheduled sooner than the next poll

    def wake(self) -> None:
        """Look for due rows now (a settlement fired an alert)."""
        self._wake.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                self._wake.clear()  # before the claim: a NOTIFY during the pass means another
                self._soonest_s = POLL_S
                claimed = 0
                try:
                    claimed = await self.deliver_due(http)
                except DB_UNAVAILABLE_ERRORS:
                    pass
                except Exception:  # never stop delivering for good
                    log.exception("alert delivery pass failed")
                if claimed < BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._soonest_s)

    async def deliver_due(self, http: aiohttp.ClientSession) -> int:
        """One pass: claim what is due, send it all at once, record each attempt."""
        rows = await db_alerts.claim_due(self.pool, BATCH, self.timeout_s * 2 + 5)
        await asyncio.gather(*(self._deliver(http, row) for row in rows))
        return len(rows)

    async def _deliver(self, http: aiohttp.ClientSession, row: asyncpg.Record) -> None:
        started = time.monotonic()
        status, error = await self._post(http, row)
        ok = error is None
        attempt = row["attempts"] + 1
        delay_s = retry_delay_s(self.retry_base_s, attempt)
        state = await db_alerts.record_attempt(
            self.pool, row["id"], ok=ok, status_code=status, error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
            delay_s=delay_s, retry_for_s=self.retry_for_s,
        )  # fmt: skip
        if state == "pending":
            self._soonest_s = min(self._soonest_s, delay_s)
        # The webhook's id, never its URL (it may carry a token) nor its secret.
        fields: dict[str, Any] = {"webhook_id": row["webhook_id"], "delivery_id": row["id"],
                                  "attempt": attempt, "status": status, "state": state}  # fmt: skip
        if state == "failed":
            log.error("alert delivery gave up", extra={**fields, "error": error})
        elif not ok:
            log.warning("alert delivery failed; will retry", extra={**fields, "error": error})

    async def _post(
        self, http: aiohttp.ClientSession, row: asyncpg.Record
    ) -> tuple[int | None, str | None]:
        """(status code, error): error None on a 2xx."""
        if self.box is None:
            return None, "the gateway has no KAIXU_SECRET to open the webhook's secret"
        try:
            secret = self.box.open(row["secret_enc"], secret_context(row["webhook_id"])).decode()
        except SecretBoxError as exc:
            return None, f"the webhook's secret cannot be opened: {exc}"
        body = payload(row)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
        }
        try:
            async with http.post(
                row["url"], data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"answered HTTP {response.status}"
        except TimeoutError:
            return None, f"no answer within {self.timeout_s:g} s"
        except aiohttp.ClientError as exc:  # the class only: its text may quote the URL
            return None, f"request failed: {type(exc).__name__}"
