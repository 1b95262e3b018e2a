"""Admin usage: a customer's month from rows written straight into the accounting tables."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from tests.conftest import ADMIN_PASSWORD

HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}
API = "/admin/api"
USAGE = f"{API}/customers/acme/usage"

INSERT_EVENT = """
INSERT INTO usage_events (created_at, month, customer_id, key_id, install_id, provider, model,
    input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc, status,
    cost_source, latency_ms, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING id
"""
JAN = dt.date(2026, 1, 1)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=dt.UTC)


async def insert_event(
    db: asyncpg.Connection,
    created_at: dt.datetime,
    key_id: str,
    provider: str,
    model: str,
    tokens: tuple[int, int, int, int],  # input, cached input, cache write, output
    cost_uc: int,
    *,
    customer_id: str = "acme",
    month: dt.date = JAN,
    install_id: str | None = None,
    status: str = "ok",
    cost_source: str = "reported",
) -> int:
    request_id = f"req-{await db.fetchval('SELECT count(*) FROM usage_events')}"
    return await db.fetchval(
        INSERT_EVENT, created_at, month, customer_id, key_id, install_id, provider, model,
        *tokens, cost_uc, status, cost_source, 42, request_id,
    )  # fmt: skip


@pytest.fixture
async def month(client, db) -> dict[str, str | list[int]]:
    """January 2026 of customer `acme` (master and sub key), plus rows that must not show."""

    async def create(cid: str) -> str:
        body = {"id": cid, "monthly_cap_cents": 2000}
        response = await client.post(f"{API}/customers", json=body, headers=HEADERS)
        return (await response.json())["key"]["id"]

    master, other = await create("acme"), await create("other")
    response = await client.post(f"{API}/customers/acme/keys", json={}, headers=HEADERS)
    sub = (await response.json())["key"]["id"]
    await db.execute("UPDATE customers SET extra_uc = 1500000 WHERE id = 'acme'")
    await db.execute(
        "INSERT INTO customer_months (customer_id, month, spent_uc) VALUES ('acme', $1, 2593)", JAN
    )
    await db.execute(
        "INSERT INTO key_months (key_id, month, spent_uc) VALUES ($1, $2, 333)", sub, JAN
    )
    # Requests in flight: live reservations count as reserved, an expired one does not.
    await db.execute(
        "INSERT INTO reservations (customer_id, key_id, lineage_id, month, amount_uc, expires_at)"
        " VALUES ('acme', $1, $1, $3, 499993, now() + interval '1 hour'),"
        " ('acme', $2, $2, $3, 7, now() + interval '1 hour'),"
        " ('acme', $2, $2, $3, 1000, now() - interval '1 second')",
        master, sub, JAN,
    )  # fmt: skip
    ids = [
        await insert_event(db, at(5, 10), master, "openai", "gpt-4o-mini", (100, 0, 0, 50), 1260),
        await insert_event(
            db, at(5, 11), sub, "anthropic", "claude-haiku-4-5", (200, 20, 10, 80), 333,
            install_id="dev-1",
        ),
        await insert_event(
            db, at(7, 9), master, "openai", "gpt-4o-mini", (10, 0, 0, 5), 1000,
            status="error", cost_source="estimated",
        ),
        await insert_event(
            db, at(31, 23, 59), sub, "openai", "gpt-4o-mini", (1, 0, 0, 1), 0,
            install_id="dev-1", status="aborted", cost_source="none",
        ),
    ]  # fmt: skip
    # Another month of acme, and another customer's January: neither is acme's January.
    await insert_event(
        db, at(31, 23) + dt.timedelta(hours=2), master, "openai", "gpt-4o-mini", (1, 0, 0, 1), 999,
        month=dt.date(2026, 2, 1),
    )  # fmt: skip
    await insert_event(
        db, at(6, 6), other, "openai", "gpt-4o", (5, 0, 0, 5), 777, customer_id="other"
    )
    return {"master": master, "sub": sub, "ids": ids}


async def usage(client, query: str = "") -> dict:
    response = await client.get(f"{USAGE}?{query}", headers=HEADERS)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_month_totals_breakdowns_and_exact_cents(client, month) -> None:
    body = await usage(client, "month=2026-01")
    assert body["month"] == "2026-01"
    assert body["cap_cents"] == 2000 and body["extra_cents"] == 1.5
    assert body["spent_cents"] == 0.002593 and body["reserved_cents"] == 0.5
    assert body["requests"] == 4
    assert (body["input_tokens"], body["output_tokens"]) == (311, 136)
    assert body["cost_cents"] == 0.002593
    assert body["next_cursor"] is None

    ids = month["ids"]
    assert [e["id"] for e in body["events"]] == list(reversed(ids))
    first = body["events"][-1]
    assert first == {
        "id": ids[0],
        "time": "2026-01-05T10:00:00Z",
        "key_id": month["master"],
        "install_id": None,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 50,
        "cost_cents": 0.00126,
        "status": "ok",
        "cost_source": "reported",
        "latency_ms": 42,
        "request_id": "req-0",
        "error": None,
        "upstream_id": None,  # written by SQL here, not by a call
        "attempts": None,
    }
    second = body["events"][-2]
    assert (second["cached_input_tokens"], second["cache_write_tokens"]) == (20, 10)
    assert second["install_id"] == "dev-1" and second["cost_cents"] == 0.000333

    assert body["by_day"] == [
        {"day": "2026-01-05", "cost_cents": 0.001593, "requests": 2},
        {"day": "2026-01-07", "cost_cents": 0.001, "requests": 1},
        {"day": "2026-01-31", "cost_cents": 0.0, "requests": 1},
    ]
    assert body["by_model"] == [
        {
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "requests": 1,
            "input_tokens": 200,
            "output_tokens": 80,
            "cost_cents": 0.000333,
        },
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "requests": 3,
            "input_tokens": 111,
            "output_tokens": 56,
            "cost_cents": 0.00226,
        },
    ]


async def test_events_are_paged_newest_first_by_cursor(client, month) -> None:
    ids = month["ids"]
    page = await usage(client, "month=2026-01&limit=2")
    assert [e["id"] for e in page["events"]] == [ids[3], ids[2]]
    assert page["next_cursor"] == ids[2]
    page = await usage(client, f"month=2026-01&limit=2&cursor={page['next_cursor']}")
    assert [e["id"] for e in page["events"]] == [ids[1], ids[0]]
    assert page["next_cursor"] is None
    # Totals describe the month, not the page.
    assert page["requests"] == 4


async def test_key_filter_applies_to_events_totals_and_breakdowns(client, month) -> None:
    body = await usage(client, f"month=2026-01&key_id={month['sub']}")
    assert {e["key_id"] for e in body["events"]} == {month["sub"]}
    assert len(body["events"]) == 2
    assert body["requests"] == 2
    assert (body["input_tokens"], body["output_tokens"]) == (201, 81)
    assert body["cost_cents"] == 0.000333
    assert [(d["day"], d["requests"]) for d in body["by_day"]] == [
        ("2026-01-05", 1),
        ("2026-01-31", 1),
    ]
    assert [(m["model"], m["requests"]) for m in body["by_model"]] == [
        ("claude-haiku-4-5", 1),
        ("gpt-4o-mini", 1),
    ]
    # The customer's counters stay the customer's; the key's own are added.
    assert body["spent_cents"] == 0.002593
    assert body["key_cap_cents"] is None
    assert (body["key_spent_cents"], body["key_reserved_cents"]) == (0.000333, 0.000007)


async def test_default_month_is_the_current_utc_month(client, month) -> None:
    body = await usage(client)
    assert body["month"] == dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert body["spent_cents"] == 0 and body["reserved_cents"] == 0
    assert body["requests"] == 0 and body["events"] == [] and body["by_day"] == []
    assert body["cap_cents"] == 2000


@pytest.mark.parametrize(
    "query",
    [
        "month=2026-13",
        "month=2026-00",
        "month=2026-1",
        "month=26-01",
        "month=january",
        "limit=0",
        "limit=501",
        "limit=ten",
        "limit=-1",
        "cursor=0",
        "cursor=abc",
        "cursor=99999999999999999999",
    ],
)
async def test_bad_query_values_are_400(client, month, query: str) -> None:
    response = await client.get(f"{USAGE}?{query}", headers=HEADERS)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == query.split("=")[0]


async def test_unknown_customer_or_foreign_key_is_404(client, month, db) -> None:
    response = await client.get(f"{API}/customers/nobody/usage", headers=HEADERS)
    assert response.status == 404
    other_key = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'other'")
    for key_id in (other_key, "key_0000000000000000"):
        response = await client.get(f"{USAGE}?key_id={key_id}", headers=HEADERS)
        assert response.status == 404
        assert (await response.json())["error"]["type"] == "not_found"
