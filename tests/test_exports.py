"""CSV exports: streamed in constant memory, exact cents, RFC 4180 quoting, no formulas."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import tracemalloc
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from proxy.http.csv_stream import Column, cents_text, int_cell, stream_csv, text_cell
from tests.conftest import ADMIN_HEADERS
from tests.helpers import create_customer, create_sub_key

API = "/admin/api"
ROWS = 100_000
USAGE_HEADER = [
    "id", "time", "customer_id", "key_id", "install_id", "provider", "model", "upstream_model",
    "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "cost_cents",
    "status", "cost_source", "latency_ms", "request_id", "clamped",
    "upstream_id", "attempts",
]  # fmt: skip

# Row g: January for g <= 60,000, else February; customer `beta` every third row; awkward text
# (formulas, commas, quotes, line breaks) in a few rows of every thousand.
INSERT_ROWS = """
INSERT INTO usage_events (created_at, month, customer_id, key_id, install_id, provider, model,
    upstream_model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
    cost_uc, status, cost_source, latency_ms, request_id)
SELECT CASE WHEN g <= 60000 THEN timestamptz '2026-01-01 00:00:00+00'
            ELSE timestamptz '2026-02-01 00:00:00+00' END + g * interval '1 second',
       CASE WHEN g <= 60000 THEN date '2026-01-01' ELSE date '2026-02-01' END,
       CASE WHEN g % 3 = 0 THEN 'beta' ELSE 'alpha' END,
       CASE WHEN g % 3 = 0 THEN $2 ELSE $1 END,
       CASE g % 1000 WHEN 7 THEN chr(9) || 'tabbed' WHEN 8 THEN '-laptop' ELSE NULL END,
       'openai',
       CASE g % 1000
           WHEN 1 THEN '=HYPERLINK("http://evil.example","x")'
           WHEN 2 THEN '+1+1'
           WHEN 3 THEN '-2+3'
           WHEN 4 THEN '@SUM(A1:A9)'
           WHEN 5 THEN 'a,b "quoted"' || chr(10) || 'next line'
           WHEN 6 THEN 'semi;colon' || chr(13) || chr(10) || 'crlf'
           ELSE 'gpt-4o-mini' END,
       CASE WHEN g % 2 = 0 THEN 'gpt-4o-mini-2024-07-18' ELSE NULL END,
       g % 5000, g % 7, g % 3, g % 900,
       (g::bigint * 7919) % 2000003,
       'ok', 'reported', g % 1000,
       CASE g % 1000 WHEN 9 THEN '=cmd|'' /C calc''!A0' ELSE 'req-' || g END
FROM generate_series(1, $3) AS g
"""


async def keys_of(client, db) -> tuple[str, str]:
    await create_customer(client, id="alpha")
    await create_customer(client, id="beta")
    alpha = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'alpha'")
    beta = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'beta'")
    return alpha, beta


@pytest.fixture
async def usage_rows(client, db) -> asyncpg.Connection:
    """100,000 usage rows in one statement (about a second)."""
    alpha, beta = await keys_of(client, db)
    await db.execute(INSERT_ROWS, alpha, beta, ROWS)
    return db


async def download(client, path: str) -> tuple[dict, list[list[str]]]:
    response = await client.get(f"{API}{path}", headers=ADMIN_HEADERS)
    assert response.status == 200, await response.text()
    body = (await response.read()).decode()
    return dict(response.headers), list(csv.reader(io.StringIO(body, newline="")))


def test_cells_neutralise_formulas_but_never_numbers() -> None:
    for risky in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert text_cell(risky) == "'" + risky
    assert text_cell("gpt-4o") == "gpt-4o" and text_cell(None) == text_cell("") == ""
    assert cents_text(1260) == "0.001260"
    assert cents_text(12_500_000) == "12.500000"
    assert cents_text(750) == "0.000750"
    assert cents_text(0) == "0.000000"
    assert cents_text(-1_000_001) == "-1.000001"  # a number is never prefixed
    assert cents_text(10**17 + 1) == "100000000000.000001"  # beyond a float's digits


async def test_usage_export_is_complete_exact_and_safe(client, usage_rows) -> None:
    headers, rows = await download(client, "/exports/usage.csv")
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="usage.csv"'
    assert headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers
    assert rows[0] == USAGE_HEADER
    data = rows[1:]
    assert len(data) == ROWS
    assert [int(row[0]) for row in data[:3]] == sorted(int(row[0]) for row in data[:3])

    expected_uc = await usage_rows.fetchval("SELECT sum(cost_uc) FROM usage_events")
    costs = [row[12] for row in data]
    assert all(len(cost.rpartition(".")[2]) == 6 for cost in costs)
    assert sum(Decimal(cost) for cost in costs) == Decimal(expected_uc) / 1_000_000

    by_request = {row[16]: row for row in data}
    row = by_request["req-1001"]
    assert row[6] == '\'=HYPERLINK("http://evil.example","x")'
    assert row[1] == "2026-01-01T00:16:41Z" and row[2] == "alpha" and row[12] == "1.926910"
    assert by_request["req-2002"][6] == "'+1+1"
    assert by_request["req-3003"][6] == "'-2+3"
    assert by_request["req-4004"][6] == "'@SUM(A1:A9)"
    assert by_request["req-5005"][6] == 'a,b "quoted"\nnext line'  # intact through quoting
    assert by_request["req-6006"][6] == "semi;colon\r\ncrlf"
    assert by_request["req-7007"][4] == "'\ttabbed"
    assert by_request["req-8008"][4] == "'-laptop"
    commands = [row for row in data if row[16].startswith("'=cmd")]
    assert len(commands) == 100 and commands[0][16] == "'=cmd|' /C calc'!A0"
    plain = by_request["req-10"]
    assert plain[4] == "" and plain[6] == "gpt-4o-mini" and plain[7] == "gpt-4o-mini-2024-07-18"
    assert plain[8:12] == ["10", "3", "1", "10"] and plain[13:16] == ["ok", "reported", "10"]


async def test_usage_export_filters_by_customer_and_month(client, usage_rows) -> None:
    headers, rows = await download(client, "/exports/usage.csv?customer_id=beta&month=2026-02")
    assert headers["Content-Disposition"] == 'attachment; filename="usage-beta-2026-02.csv"'
    expected = await usage_rows.fetchrow(
        "SELECT count(*), sum(cost_uc) FROM usage_events"
        " WHERE customer_id = 'beta' AND month = '2026-02-01'"
    )
    data = rows[1:]
    assert len(data) == expected["count"] == 13_333
    assert {row[2] for row in data} == {"beta"}
    assert {row[1][:7] for row in data} == {"2026-02"}
    assert sum(Decimal(row[12]) for row in data) * 1_000_000 == expected["sum"]

    _, january = await download(client, "/exports/usage.csv?month=2026-01")
    assert len(january) - 1 == 60_000
    _, nothing = await download(client, "/exports/usage.csv?month=2025-12")
    assert nothing == [USAGE_HEADER]


async def test_usage_export_streams_in_constant_memory(client, usage_rows) -> None:
    """The CSV is ~13 MB and the rows as Python objects ~90 MB; a batch is ~3 MB. (Tracing
    every allocation makes this the slowest test here, ~5 s.)"""
    tracemalloc.start()
    try:
        response = await client.get(f"{API}/exports/usage.csv", headers=ADMIN_HEADERS)
        assert response.status == 200
        tracemalloc.reset_peak()
        size = chunks = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            chunks += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 10_000_000 and chunks > 50
    assert peak < 8_000_000, f"peak {peak} bytes for a {size}-byte download"


async def gateway_states(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        "SELECT state FROM pg_stat_activity WHERE application_name = 'kaixu-gateway'"
    )
    return [row["state"] for row in rows]


async def test_a_paused_client_pauses_the_cursor_and_leaving_frees_it(client, usage_rows) -> None:
    """Backpressure: while the client reads nothing, the server waits inside its cursor's
    transaction instead of running ahead; when the client leaves, the connection is freed."""
    response = await client.get(f"{API}/exports/usage.csv", headers=ADMIN_HEADERS)
    first = await response.content.readany()
    await asyncio.sleep(0.3)
    states = await gateway_states(usage_rows)
    assert {"idle in transaction", "active"} & set(states), states  # still inside the cursor
    assert len(first) < 1_000_000
    response.close()
    for _ in range(100):
        if set(await gateway_states(usage_rows)) == {"idle"}:
            break
        await asyncio.sleep(0.02)
    assert set(await gateway_states(usage_rows)) == {"idle"}


async def test_a_failure_mid_stream_cuts_the_download(aiohttp_client) -> None:
    """Once the headers are out a 500 is impossible; an incomplete body must not pass for a
    short, complete file."""

    async def batches():
        yield [(1,), (2,)]
        raise RuntimeError("the database went away")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_csv(request, "n.csv", [Column("n", int_cell)], batches())

    app = web.Application()
    app.router.add_get("/n.csv", handler)
    client = await aiohttp_client(app)
    response = await client.get("/n.csv")
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()


@pytest.mark.parametrize(
    "query",
    ["month=2026-13", "month=2026-1", "month=jan", "customer_id=a%20b", "customer_id=-x"],
)
async def test_bad_export_filters_are_400(client, query) -> None:
    response = await client.get(f"{API}/exports/usage.csv?{query}", headers=ADMIN_HEADERS)
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_request"


async def test_export_of_an_unknown_customer_is_404(client) -> None:
    response = await client.get(
        f"{API}/exports/usage.csv?customer_id=nobody", headers=ADMIN_HEADERS
    )
    assert response.status == 404


async def test_exports_need_admin_auth(client) -> None:
    for name in ("usage", "customers", "invoices"):
        assert (await client.get(f"{API}/exports/{name}.csv")).status == 401


async def test_customers_export(client, db) -> None:
    await create_customer(client, id="acme", name='Acme, "the" company', plan="pro",
                          monthly_cap_cents=1234.5, rpm_limit=60)  # fmt: skip
    await create_customer(client, id="evil", name='=WEBSERVICE("x")', monthly_cap_cents=0)
    await create_sub_key(client, "acme")
    topup = await client.post(
        f"{API}/customers/acme/topups", json={"amount_cents": 0.000001}, headers=ADMIN_HEADERS
    )
    assert topup.status == 201
    await client.patch(f"{API}/customers/evil", json={"active": False}, headers=ADMIN_HEADERS)
    headers, rows = await download(client, "/exports/customers.csv")
    assert headers["Content-Disposition"] == 'attachment; filename="customers.csv"'
    assert rows[0] == [
        "id", "name", "plan", "monthly_cap_cents", "rpm_limit", "active", "extra_cents",
        "active_keys", "created_at",
    ]  # fmt: skip
    created = {
        row["id"]: row["created_at"].astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        for row in await db.fetch("SELECT id, created_at FROM customers")
    }
    assert rows[1:] == [
        ["acme", 'Acme, "the" company', "pro", "1234.500000", "60", "true", "0.000001", "2",
         created["acme"]],
        ["evil", "'=WEBSERVICE(\"x\")", "default", "0.000000", "", "false", "0.000000", "1",
         created["evil"]],
    ]  # fmt: skip


async def test_invoices_export(client, db) -> None:
    alpha, _ = await keys_of(client, db)
    await db.execute(
        "INSERT INTO usage_events (month, customer_id, key_id, provider, model, cost_uc, status,"
        " cost_source) VALUES ('2026-01-01', 'alpha', $1, 'openai', 'gpt-4o', 1500001, 'ok',"
        " 'reported')",
        alpha,
    )
    made = []
    for cid, month in [("alpha", "2026-01"), ("beta", "2026-01"), ("alpha", "2026-01"),
                       ("alpha", "2025-12")]:  # fmt: skip
        response = await client.post(
            f"{API}/customers/{cid}/invoices", json={"month": month}, headers=ADMIN_HEADERS
        )
        assert response.status == 201
        made.append((await response.json())["invoice"])
    headers, rows = await download(client, "/exports/invoices.csv")
    assert headers["Content-Disposition"] == 'attachment; filename="invoices.csv"'
    assert rows[0] == ["id", "customer_id", "month", "version", "total_cents", "created_at"]
    by_id = {invoice["id"]: invoice for invoice in made}
    assert [(r[1], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("alpha", "2025-12", "1", "0.000000"),
        ("alpha", "2026-01", "1", "1.500001"),
        ("alpha", "2026-01", "2", "1.500001"),
        ("beta", "2026-01", "1", "0.000000"),
    ]
    assert all(by_id[int(r[0])]["created_at"] == r[5] for r in rows[1:])

    headers, rows = await download(client, "/exports/invoices.csv?month=2025-12")
    assert headers["Content-Disposition"] == 'attachment; filename="invoices-2025-12.csv"'
    assert [r[0] for r in rows[1:]] == [str(made[3]["id"])]
