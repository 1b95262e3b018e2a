"""Reconciliation: a month's money agrees to the micro-cent wherever it is reported.

Real calls through the gateway (fake providers) for two customers, one of them paying partly
from a top-up; then the usage rows, the month counters, the invoice, the usage CSV and the
usage API must all give the same integer number of micro-cents.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, chat_body, create_customer

API = "/admin/api"
UC_PER_CENT = Decimal(1_000_000)

# (endpoint, provider, model, directives); "stream" calls go through SSE.
ALPHA_CALLS = [
    ("chat", "openai", "gpt-4o-mini", "fake:usage=12,18"),  # exactly 1,260 uc
    ("chat", "openai", "gpt-4o", "fake:usage=1200,340 fake:cached=200"),
    ("stream", "anthropic", "claude-haiku-4-5", "fake:usage=1200,340 fake:cache_write=100"),
    ("chat", "gemini", "gemini-2.5-flash", "fake:usage=777,55 fake:reasoning=20"),
    ("stream", "openai", "gpt-4o-mini", "fake:usage=3,1"),
    ("stream", "gemini", "gemini-2.0-flash", "fake:text=one_two_three_four fake:cut"),
]
BETA_CALLS = [
    ("chat", "anthropic", "claude-haiku-4-5", "fake:usage=1200,340"),
    ("stream", "openai", "gpt-4.1-nano", "fake:usage=999,101"),
    ("chat", "gemini", "gemini-2.5-flash", "fake:usage=5000,700"),
    ("chat", "openai", "gpt-4o-mini", "fake:usage=12,18"),
]


async def call(gateway: TestClient, key: str, endpoint: str, provider: str, model: str, text: str):
    body = chat_body(provider, model, text, max_tokens=800)
    response = await gateway.post(f"/v1/gateway/{endpoint}", json=body, headers=bearer(key))
    assert response.status == 200, await response.text()
    await response.read()


async def exact_json(gateway: TestClient, path: str, **kwargs) -> dict:
    """A JSON body with every fractional number as a Decimal: no float anywhere."""
    method = "POST" if "json" in kwargs else "GET"
    response = await gateway.request(method, f"{API}{path}", headers=ADMIN_HEADERS, **kwargs)
    assert response.status in (200, 201), await response.text()
    return json.loads(await response.text(), parse_float=Decimal)


def uc(cents: int | Decimal) -> int:
    value = Decimal(cents) * UC_PER_CENT
    assert value == value.to_integral_value(), f"{cents} has more than 6 decimals"
    return int(value)


async def csv_rows(gateway: TestClient, path: str) -> list[dict[str, str]]:
    response = await gateway.get(f"{API}{path}", headers=ADMIN_HEADERS)
    assert response.status == 200
    return list(csv.DictReader(io.StringIO((await response.read()).decode(), newline="")))


async def reconcile(gateway: TestClient, db: asyncpg.Connection, cid: str, month: str) -> int:
    """Every report of the customer's month, compared in integer micro-cents; returns it."""
    first_day = dt.date.fromisoformat(f"{month}-01")
    rows_uc = await db.fetchval(
        "SELECT sum(cost_uc) FROM usage_events WHERE customer_id = $1 AND month = $2",
        cid,
        first_day,
    )
    counters = await db.fetchrow(
        "SELECT spent_uc, credit_used_uc FROM customer_months WHERE customer_id = $1"
        " AND month = $2",
        cid,
        first_day,
    )
    assert rows_uc > 0 and counters["spent_uc"] == rows_uc

    invoice = (await exact_json(gateway, f"/customers/{cid}/invoices", json={"month": month}))[
        "invoice"
    ]
    assert uc(invoice["total_cents"]) == rows_uc
    assert uc(invoice["usage_total_cents"]) == uc(invoice["counters_spent_cents"]) == rows_uc
    assert sum(uc(item["cost_cents"]) for item in invoice["line_items"]) == rows_uc
    assert uc(invoice["credit_used_cents"]) == counters["credit_used_uc"]

    invoice_csv = await csv_rows(gateway, f"/invoices/{invoice['id']}.csv")
    totals = [row for row in invoice_csv if row["kind"] == "total"]
    assert [uc(Decimal(row["amount_cents"])) for row in totals] == [rows_uc]

    usage_csv = await csv_rows(gateway, f"/exports/usage.csv?customer_id={cid}&month={month}")
    assert len(usage_csv) == await db.fetchval(
        "SELECT count(*) FROM usage_events WHERE customer_id = $1", cid
    )
    assert sum(uc(Decimal(row["cost_cents"])) for row in usage_csv) == rows_uc

    usage_api = await exact_json(gateway, f"/customers/{cid}/usage?month={month}")
    assert uc(usage_api["spent_cents"]) == uc(usage_api["cost_cents"]) == rows_uc
    return rows_uc


async def test_money_agrees_everywhere(gateway, db) -> None:
    _, alpha_key = await create_customer(gateway, id="alpha", monthly_cap_cents=1000)
    # Beta's cap is smaller than its first call: the rest of its spend comes from credit.
    _, beta_key = await create_customer(gateway, id="beta", monthly_cap_cents=0.002)
    topup = await gateway.post(
        f"{API}/customers/beta/topups", json={"amount_cents": 50}, headers=ADMIN_HEADERS
    )
    assert topup.status == 201
    for endpoint, provider, model, text in ALPHA_CALLS:
        await call(gateway, alpha_key, endpoint, provider, model, text)
    for endpoint, provider, model, text in BETA_CALLS:
        await call(gateway, beta_key, endpoint, provider, model, text)

    months = await db.fetch("SELECT DISTINCT month FROM usage_events")
    assert len(months) == 1  # (a run straddling midnight UTC at a month's end would split)
    month = months[0]["month"].strftime("%Y-%m")
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 10
    first = await db.fetchval("SELECT cost_uc FROM usage_events ORDER BY id LIMIT 1")
    assert first == 1_260

    alpha_uc = await reconcile(gateway, db, "alpha", month)
    beta_uc = await reconcile(gateway, db, "beta", month)

    # Beta: the cap paid 2,000 uc, the credit the rest, and the credit left is what remains.
    beta_month = await db.fetchrow("SELECT spent_uc, credit_used_uc FROM customer_months"
                                   " WHERE customer_id = 'beta'")  # fmt: skip
    assert beta_month["credit_used_uc"] == beta_uc - 2_000 > 0
    beta = (await exact_json(gateway, "/customers/beta"))["customer"]
    assert uc(beta["extra_cents"]) == 50_000_000 - beta_month["credit_used_uc"]
    invoice = (await exact_json(gateway, "/customers/beta/invoices"))["invoices"][0]
    snapshot = (await exact_json(gateway, f"/invoices/{invoice['id']}"))["invoice"]
    assert uc(snapshot["credit_added_cents"]) == 50_000_000
    assert [uc(t["amount_cents"]) for t in snapshot["topups"]] == [50_000_000]
    assert uc(snapshot["extra_cents"]) == uc(beta["extra_cents"])

    # Both customers together, in the unfiltered export and the invoices export.
    everything = await csv_rows(gateway, f"/exports/usage.csv?month={month}")
    assert sum(uc(Decimal(row["cost_cents"])) for row in everything) == alpha_uc + beta_uc
    invoices = await csv_rows(gateway, f"/exports/invoices.csv?month={month}")
    assert sum(uc(Decimal(row["total_cents"])) for row in invoices) == alpha_uc + beta_uc
