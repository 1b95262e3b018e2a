"""Invoices: frozen, versioned snapshots of a customer's month that agree with the usage rows."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from decimal import Decimal

import asyncpg
import pytest

from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, chat_body, create_customer

API = "/admin/api"
JAN = dt.date(2026, 1, 1)
FEB = dt.date(2026, 2, 1)

INSERT_EVENT = """
INSERT INTO usage_events (created_at, month, customer_id, key_id, provider, model, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, cost_uc, status, cost_source)
VALUES ($1, $2, $3, (SELECT id FROM api_keys WHERE customer_id = $3 LIMIT 1), $4, $5, $6, $7,
    $8, $9, $10, $11, 'reported')
"""
INSERT_TOPUP = """
INSERT INTO topups (customer_id, amount_uc, source, note, actor, created_at)
VALUES ($1, $2, $3, $4, 'test', $5) RETURNING id
"""


def at(month: dt.date, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(month.year, month.month, day, hour, tzinfo=dt.UTC)


async def event(
    db: asyncpg.Connection,
    cid: str,
    month: dt.date,
    provider: str,
    model: str,
    tokens: tuple[int, int, int, int],  # input, cached input, cache write, output
    cost_uc: int,
    *,
    status: str = "ok",
) -> None:
    created_at = at(month, 3)
    await db.execute(
        INSERT_EVENT, created_at, month, cid, provider, model, *tokens, cost_uc, status
    )


async def post_invoice(client, cid: str, month: str = "2026-01"):
    return await client.post(
        f"{API}/customers/{cid}/invoices", json={"month": month}, headers=ADMIN_HEADERS
    )


async def create_invoice(client, cid: str, month: str = "2026-01") -> dict:
    response = await post_invoice(client, cid, month)
    assert response.status == 201, await response.text()
    return (await response.json())["invoice"]


async def get_json(client, path: str) -> dict:
    response = await client.get(f"{API}{path}", headers=ADMIN_HEADERS)
    assert response.status == 200, await response.text()
    return json.loads(await response.text(), parse_float=Decimal)  # exact cents


@pytest.fixture
async def january(client, db) -> dict[str, int]:
    """Customer `acme`'s January 2026 in rows, plus rows that must stay out of its invoice."""
    await create_customer(client, id="acme", name="Acme, Inc.", plan="pro", monthly_cap_cents=0.5)
    await create_customer(client, id="other")
    await event(db, "acme", JAN, "openai", "gpt-4o-mini", (100, 0, 0, 50), 45_000)
    await event(db, "acme", JAN, "openai", "gpt-4o-mini", (12, 0, 0, 18), 1_260)
    await event(db, "acme", JAN, "anthropic", "claude-haiku-4-5", (200, 20, 10, 80), 600_333)
    await event(db, "acme", JAN, "openai", "gpt-4o", (7, 0, 0, 0), 0, status="error")
    await event(db, "acme", FEB, "openai", "gpt-4o-mini", (1, 0, 0, 1), 999)  # next month
    await event(db, "other", JAN, "openai", "gpt-4o-mini", (5, 0, 0, 5), 777)  # someone else
    # 646,593 uc spent, of which 146,593 beyond the 500,000 uc cap came out of credit.
    await db.execute(
        "INSERT INTO customer_months (customer_id, month, spent_uc, credit_used_uc)"
        " VALUES ('acme', $1, 646593, 146593)",
        JAN,
    )
    topups = [
        await db.fetchval(INSERT_TOPUP, "acme", 1_000_000, "manual", "=goodwill", at(JAN, 2)),
        await db.fetchval(INSERT_TOPUP, "acme", 2_500_000, "stripe", "", at(JAN, 31, 23)),
    ]
    await db.fetchval(INSERT_TOPUP, "acme", 7_000_000, "manual", "Feb", at(FEB, 1, 0))
    await db.execute("UPDATE customers SET extra_uc = 10353407 WHERE id = 'acme'")
    return {"first_topup": topups[0], "second_topup": topups[1]}


async def test_snapshot_figures_match_the_usage_rows(client, db, january) -> None:
    invoice = await create_invoice(client, "acme")
    stored = await db.fetchrow("SELECT * FROM invoices")
    assert invoice["id"] == stored["id"] and stored["total_uc"] == 646_593
    assert stored["month"] == JAN and stored["version"] == 1
    created_at = stored["created_at"].astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    assert invoice == {
        "id": stored["id"],
        "customer_id": "acme",
        "customer": {"id": "acme", "name": "Acme, Inc.", "plan": "pro"},
        "month": "2026-01",
        "version": 1,
        "created_at": created_at,
        "cap_cents": 0.5,
        "line_items": [
            {
                "provider": "anthropic",
                "model": "claude-haiku-4-5",
                "requests": 1,
                "input_tokens": 200,
                "cached_input_tokens": 20,
                "cache_write_tokens": 10,
                "output_tokens": 80,
                "cost_cents": 0.600333,
            },
            {
                "provider": "openai",
                "model": "gpt-4o",
                "requests": 1,
                "input_tokens": 7,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "output_tokens": 0,
                "cost_cents": 0,
            },
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "requests": 2,
                "input_tokens": 112,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "output_tokens": 68,
                "cost_cents": 0.04626,
            },
        ],
        "usage_total_cents": 0.646593,
        "credit_used_cents": 0.146593,
        "credit_added_cents": 3.5,
        "topups": [
            {
                "id": january["first_topup"],
                "created_at": "2026-01-02T12:00:00Z",
                "amount_cents": 1,
                "source": "manual",
                "note": "=goodwill",
            },
            {
                "id": january["second_topup"],
                "created_at": "2026-01-31T23:00:00Z",
                "amount_cents": 2.5,
                "source": "stripe",
                "note": "",
            },
        ],
        "extra_cents": 10.353407,
        "total_cents": 0.646593,
        "counters_spent_cents": 0.646593,
    }
    # What is stored is what is served, and the sums are exact.
    fetched = (await get_json(client, f"/invoices/{invoice['id']}"))["invoice"]
    assert fetched["total_cents"] == Decimal("0.646593")
    assert sum(item["cost_cents"] for item in fetched["line_items"]) == fetched["total_cents"]
    assert fetched == json.loads(json.dumps(invoice), parse_float=Decimal)


async def test_a_month_without_usage_is_an_empty_invoice(client) -> None:
    await create_customer(client, id="quiet", monthly_cap_cents=100)
    invoice = await create_invoice(client, "quiet", "2025-12")
    assert invoice["line_items"] == [] and invoice["topups"] == []
    assert invoice["total_cents"] == invoice["counters_spent_cents"] == 0
    assert invoice["credit_used_cents"] == invoice["credit_added_cents"] == 0
    assert invoice["cap_cents"] == 100


async def test_snapshots_are_frozen_against_price_changes_and_late_usage(gateway, db) -> None:
    """Real calls through the gateway; a new snapshot is a new version, the old one stays."""
    customer, key = await create_customer(gateway, id="live")
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    call = chat_body("openai", "gpt-4o-mini", "fake:usage=12,18")  # 1,260 uc at list price
    assert (await gateway.post("/v1/gateway/chat", json=call, headers=bearer(key))).status == 200
    first = await create_invoice(gateway, "live", month)
    assert first["version"] == 1 and first["total_cents"] == 0.00126

    prices = (await (await gateway.get(f"{API}/pricing", headers=ADMIN_HEADERS)).json())["prices"]
    table = [{k: v for k, v in p.items() if k != "updated_at"} for p in prices]
    for row in table:
        if row["model"] == "gpt-4o-mini":
            row["input"], row["output"] = 1.5, 6  # ten times the list price
    put = await gateway.put(f"{API}/pricing", json={"prices": table}, headers=ADMIN_HEADERS)
    assert put.status == 200
    # Late usage, at whichever price the gateway's price book holds by now.
    assert (await gateway.post("/v1/gateway/chat", json=call, headers=bearer(key))).status == 200
    late_uc = await db.fetchval("SELECT max(cost_uc) FROM usage_events")

    again = await get_json(gateway, f"/invoices/{first['id']}")
    assert again["invoice"] == json.loads(json.dumps(first), parse_float=Decimal)
    second = await create_invoice(gateway, "live", month)
    assert second["version"] == 2 and second["id"] != first["id"]
    assert second["line_items"][0]["requests"] == 2
    assert round(second["total_cents"] * 1_000_000) == 1_260 + late_uc

    listing = (await get_json(gateway, "/customers/live/invoices"))["invoices"]
    assert [(i["id"], i["version"]) for i in listing] == [(second["id"], 2), (first["id"], 1)]
    assert listing[1] == {
        "id": first["id"],
        "customer_id": "live",
        "month": month,
        "version": 1,
        "total_cents": Decimal("0.00126"),
        "created_at": first["created_at"],
    }
    assert customer["id"] == "live"


async def test_invoice_csv_has_line_items_totals_and_topups(client, january) -> None:
    invoice = await create_invoice(client, "acme")
    response = await client.get(f"{API}/invoices/{invoice['id']}.csv", headers=ADMIN_HEADERS)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="invoice-acme-2026-01-v1.csv"'
    raw = await response.read()
    assert raw.count(b"\r\n") == 9  # header, 3 items, total, 2 top-ups, 2 credit rows
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    kinds = [row["kind"] for row in rows]
    assert kinds == ["line_item"] * 3 + ["total", "topup", "topup", "credit_added", "credit_used"]
    items = [row for row in rows if row["kind"] == "line_item"]
    assert [(r["provider"], r["model"]) for r in items] == [
        ("anthropic", "claude-haiku-4-5"),
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
    ]
    assert [r["amount_cents"] for r in items] == ["0.600333", "0.000000", "0.046260"]
    total = rows[3]
    assert total["amount_cents"] == "0.646593"
    assert sum(Decimal(r["amount_cents"]) for r in items) == Decimal(total["amount_cents"])
    assert (total["requests"], total["input_tokens"], total["output_tokens"]) == ("4", "319", "148")
    first_topup = rows[4]
    assert first_topup["topup_id"] == str(january["first_topup"])
    assert first_topup["note"] == "'=goodwill"  # a formula neutralised
    assert first_topup["amount_cents"] == "1.000000" and first_topup["source"] == "manual"
    assert rows[6]["amount_cents"] == "3.500000" and rows[7]["amount_cents"] == "0.146593"


async def test_concurrent_snapshots_get_consecutive_versions(client, db, january) -> None:
    responses = await asyncio.gather(*(post_invoice(client, "acme") for _ in range(5)))
    assert [r.status for r in responses] == [201] * 5
    versions = sorted([(await r.json())["invoice"]["version"] for r in responses])
    assert versions == [1, 2, 3, 4, 5]
    totals = await db.fetch("SELECT DISTINCT total_uc FROM invoices")
    assert [row["total_uc"] for row in totals] == [646_593]


async def test_each_snapshot_is_audited(client, db, january) -> None:
    invoice = await create_invoice(client, "acme")
    entries = await db.fetch("SELECT * FROM audit_log WHERE action = 'invoice.create'")
    assert len(entries) == 1
    entry = entries[0]
    assert entry["customer_id"] == "acme" and entry["target"] == str(invoice["id"])
    assert entry["actor"].startswith("admin") and entry["address"] == "127.0.0.1"
    assert json.loads(entry["after"]) == {"month": "2026-01", "version": 1, "total_cents": 0.646593}


@pytest.mark.parametrize(
    "body",
    [{}, {"month": ""}, {"month": None}, {"month": 202601}, {"month": "2026-13"},
     {"month": "2026-00"}, {"month": "2026-1"}, {"month": "26-01"}, {"month": "2026-01-01"},
     {"month": "9999-12"}, {"month": "2026-01", "extra": True}],
)  # fmt: skip
async def test_bad_months_are_400_and_store_nothing(client, db, body) -> None:
    await create_customer(client, id="acme")
    response = await client.post(f"{API}/customers/acme/invoices", json=body, headers=ADMIN_HEADERS)
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_request"
    assert await db.fetchval("SELECT count(*) FROM invoices") == 0


async def test_next_month_is_in_the_future(client) -> None:
    await create_customer(client, id="acme")
    today = dt.datetime.now(dt.UTC).date()
    next_month = (today.replace(day=28) + dt.timedelta(days=4)).strftime("%Y-%m")
    assert (await post_invoice(client, "acme", next_month)).status == 400
    assert (await post_invoice(client, "acme", today.strftime("%Y-%m"))).status == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/customers/nobody/invoices"), ("GET", "/customers/nobody/invoices"),
     ("GET", "/invoices/999"), ("GET", "/invoices/999.csv"),
     ("GET", "/invoices/99999999999999999999999"), ("GET", "/invoices/0"),
     ("GET", "/invoices/abc"), ("GET", "/invoices/1.pdf")],
)  # fmt: skip
async def test_unknown_customers_and_invoices_are_404(client, method, path) -> None:
    response = await client.request(
        method, f"{API}{path}", json={"month": "2026-01"}, headers=ADMIN_HEADERS
    )
    assert response.status == 404
    assert (await response.json())["error"]["type"] == "not_found"


async def test_invoices_need_admin_auth(client) -> None:
    await create_customer(client, id="acme")
    response = await client.post(f"{API}/customers/acme/invoices", json={"month": "2026-01"})
    assert response.status == 401
