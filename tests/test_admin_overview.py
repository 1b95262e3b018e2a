"""GET /admin/api/overview: its figures against a known set of usage rows, and, at scale, a
plan that reads the rollups and only the last hour of usage rows through the index by time."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import asyncpg
import orjson

from db import overview as db_overview
from db import rollups as db_rollups
from db.gateway import Settlement, settle_batch
from tests.conftest import ADMIN_HEADERS
from tests.helpers import create_customer

_reservation_ids = itertools.count(70_000_000)
THIS_MONTH = dt.datetime.now(dt.UTC).date().replace(day=1)
CENT = 1_000_000  # uc


def row(cid: str, kid: str, provider: str, cost_uc: int, status: str = "ok") -> Settlement:
    source = "reported" if status == "ok" else "none"
    return Settlement(next(_reservation_ids), cid, kid, THIS_MONTH, None, provider, "m", None,
                      10, 0, 0, 5, cost_uc, status, source, 5, "req", None)  # fmt: skip


async def settled_at(pool: asyncpg.Pool, rows: list[Settlement], ago: str | None) -> None:
    """Booked as the settler books them (usage rows, month counters, credit, rollups), then
    dated `ago` (an interval) before now; the rollups follow the rows (their trigger)."""
    await settle_batch(pool, rows)
    if ago is not None:
        await pool.execute(
            "UPDATE usage_events SET created_at = now() - $2::text::interval"
            " WHERE reservation_id = ANY($1::bigint[])",
            [r.reservation_id for r in rows],
            ago,
        )


async def test_the_figures_of_a_known_set_of_rows(client, db, database_url) -> None:
    cus: dict[str, tuple[str, str]] = {}
    for cid, cap in (("ov-a", 1000), ("ov-b", 100), ("ov-c", 0), ("ov-d", 10)):
        made = await client.post("/admin/api/customers", json={"id": cid, "name": cid.upper(),
                                 "monthly_cap_cents": cap}, headers=ADMIN_HEADERS)  # fmt: skip
        cus[cid] = (cid, (await made.json())["key"]["id"])
    topup = await client.post("/admin/api/customers/ov-d/topups", json={"amount_cents": 10},
                              headers=ADMIN_HEADERS)  # fmt: skip
    assert topup.status == 201
    a, b, d = cus["ov-a"], cus["ov-b"], cus["ov-d"]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await settled_at(pool, [row(*a, "openai", 2 * CENT) for _ in range(2)], "1 day")
        await settled_at(pool, [row(*a, "openai", 2 * CENT)], "30 minutes")
        await settled_at(pool, [row(*a, "openai", 2 * CENT) for _ in range(2)], None)
        await settled_at(pool, [row(*a, "anthropic", 0, "error")], "3 minutes")
        await settled_at(pool, [row(*b, "openai", 45 * CENT)], None)
        await settled_at(pool, [row(*b, "openai", 45 * CENT)], "3 minutes")
        await settled_at(pool, [row(*d, "gemini", 18 * CENT)], None)  # 8 beyond the cap: credit
        await settled_at(pool, [row(*d, "gemini", 0, "error")], "30 minutes")
        await settled_at(pool, [row(*a, "openai", 0)], "2 hours")  # outside the hour only
    finally:
        await pool.close()
    assert await db_rollups.differences(db) == []

    response = await client.get("/admin/api/overview", headers=ADMIN_HEADERS)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["month"] == THIS_MONTH.strftime("%Y-%m")
    today_requests = 9 - (body["day"] != _two_hours_ago_day())
    assert body["spend"] == {"month_cents": 118, "today_cents": 114, "month_requests": 11,
                             "today_requests": today_requests}  # fmt: skip
    assert body["requests_per_minute"] == {"last_minute": 4, "last_5_minutes": 1.2}
    assert body["providers"] == [
        {"provider": "anthropic", "requests": 1, "errors": 1, "error_rate": 1.0},
        {"provider": "gemini", "requests": 2, "errors": 1, "error_rate": 0.5},
        {"provider": "openai", "requests": 5, "errors": 0, "error_rate": 0.0},
    ]
    # ov-d: cap 10 + credit 10 (8 drawn by this month's spend, 2 left) = 20; ov-c spent nothing.
    assert body["top_customers"] == [
        {"id": "ov-b", "name": "OV-B", "spent_cents": 90, "allowance_cents": 100, "percent": 90.0},
        {"id": "ov-d", "name": "OV-D", "spent_cents": 18, "allowance_cents": 20, "percent": 90.0},
        {"id": "ov-a", "name": "OV-A", "spent_cents": 10, "allowance_cents": 1000, "percent": 1.0},
    ]
    assert body["over_80_percent"] == body["top_customers"][:2]


def _two_hours_ago_day() -> str:
    """The UTC day of the row dated two hours back (yesterday's, shortly after midnight)."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).date().isoformat()


async def test_an_empty_gateway_has_an_overview_of_zeros(client) -> None:
    await create_customer(client, monthly_cap_cents=0)
    body = await (await client.get("/admin/api/overview", headers=ADMIN_HEADERS)).json()
    assert body["spend"] == {"month_cents": 0, "today_cents": 0, "month_requests": 0,
                             "today_requests": 0}  # fmt: skip
    assert body["requests_per_minute"] == {"last_minute": 0, "last_5_minutes": 0}
    assert body["providers"] == body["top_customers"] == body["over_80_percent"] == []


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", ()):
        nodes += plan_nodes(child)
    return nodes


async def explain(db, query: str, *args: Any) -> list[dict[str, Any]]:
    raw = await db.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
    return plan_nodes(orjson.loads(raw)[0]["Plan"])


async def test_at_scale_the_rollups_and_only_the_last_hours_rows_are_read(db) -> None:
    """200k usage rows of 100 customers over the past days, a few of them in the last hour."""
    await db.execute(
        """INSERT INTO customers (id, name, monthly_cap_uc)
           SELECT 'sc' || g, 'Scale ' || g, 1000000000 FROM generate_series(1, 100) g;
           INSERT INTO api_keys (id, customer_id, kind, secret_hash, last4, lineage_id)
           SELECT 'sk' || g, 'sc' || g, 'master', int4send(g), 'abcd', 'sk' || g
           FROM generate_series(1, 100) g"""
    )
    # Written as an operator's bulk load would be, the rollups then rebuilt from the rows.
    async with db.transaction():
        await db.execute("SET LOCAL kaixu.rollups_kept = 'on'")
        await db.execute(
            """INSERT INTO usage_events (created_at, month, customer_id, key_id, provider, model,
                   input_tokens, output_tokens, cost_uc, status, cost_source)
               SELECT now() - make_interval(secs => g * 2), $1, 'sc' || (g % 100 + 1),
                      'sk' || (g % 100 + 1), (ARRAY['openai', 'anthropic', 'gemini'])[g % 3 + 1],
                      'm' || (g % 4), 10, 5, 100 + g % 1000,
                      CASE WHEN g % 50 = 0 THEN 'error' ELSE 'ok' END, 'reported'
               FROM generate_series(1, 200000) AS g""",
            THIS_MONTH,
        )
    await db_rollups.rebuild(db, THIS_MONTH)
    await db.execute(
        """INSERT INTO customer_months (customer_id, month, spent_uc)
           SELECT customer_id, month, sum(cost_uc) FROM usage_rollups GROUP BY 1, 2"""
    )
    await db.execute("ANALYZE")

    recent = await explain(db, db_overview.SELECT_RECENT)
    read = [n for n in recent if n.get("Relation Name", "").startswith("usage_events")]
    assert read, recent
    assert all(n["Node Type"] != "Seq Scan" for n in recent), [n["Node Type"] for n in recent]
    # The partition of this month only (and of the last, on a month's first day), by time.
    assert len({n["Relation Name"] for n in read}) <= 2
    for node in read:
        scan = next((n for n in plan_nodes(node) if "Index Cond" in n), {})  # or its bitmap's
        assert "created_at" in scan.get("Index Cond", ""), node

    today = dt.datetime.now(dt.UTC).date()
    customers = await explain(db, db_overview.SELECT_CUSTOMERS, THIS_MONTH,
                              (today - dt.timedelta(days=1)).replace(day=1), today)  # fmt: skip
    relations = {n["Relation Name"]: n["Node Type"] for n in customers if "Relation Name" in n}
    assert not any(name.startswith("usage_events") for name in relations), relations
    assert relations["usage_rollups"] != "Seq Scan", relations

    # And the answer agrees with the rows.
    hour = await db.fetch(
        "SELECT provider, count(*) AS n, count(*) FILTER (WHERE status = 'error') AS errors"
        " FROM usage_events WHERE created_at >= now() - interval '1 hour'"
        " GROUP BY provider ORDER BY provider"
    )
    async with db.transaction(isolation="repeatable_read", readonly=True):
        got = await db_overview.recent(db)
    assert [(r["provider"], r["requests"], r["errors"]) for r in got] == [tuple(r) for r in hour]
    assert sum(r["requests"] for r in got) in range(1795, 1806)  # one row every 2 s
