"""Importing price files through the admin API and the command line: a preview that changes
nothing, an apply bound to what was previewed, effective on the next request (and on every
process); model aliases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from db.migrate import migrate, rollback
from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, chat_body, create_customer

IMPORT = "/admin/api/pricing/import"
ALIASES = "/admin/api/pricing/aliases"
REPO = Path(__file__).parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "litellm-prices.json"
CSV = (
    "provider,model,input,output,cached_input\n"
    "openai,gpt-4o-mini,0.15,0.60,0.075\n"  # as shipped: unchanged
    "openai,gpt-4o,2.00,10.00,1.25\n"  # input 2.50 -> 2.00
    "openai,gpt-imported,1.00,3.00,\n"  # new
)


async def price_of(db, provider: str, model: str):
    return await db.fetchrow(
        "SELECT input_uc_per_mtok AS input, output_uc_per_mtok AS output FROM prices"
        " WHERE provider = $1 AND model = $2",
        provider,
        model,
    )


async def preview(client, text: str, query: str = ""):
    return await client.post(IMPORT + query, data=text.encode(), headers=ADMIN_HEADERS)


async def test_a_preview_changes_nothing_and_the_confirmed_import_applies_it(gateway, db) -> None:
    response = await preview(gateway, CSV)
    assert response.status == 200, await response.text()
    plan = await response.json()
    assert plan["format"] == "csv" and plan["applied"] is False
    assert [p["model"] for p in plan["added"]] == ["gpt-imported"]
    assert [(c["before"]["input"], c["after"]["input"]) for c in plan["changed"]] == [(2.5, 2.0)]
    assert plan["unchanged"] == 1
    assert await price_of(db, "openai", "gpt-imported") is None
    _, key = await create_customer(gateway)
    refused = await gateway.post("/v1/gateway/chat", headers=bearer(key),
                                 json=chat_body("openai", "gpt-imported", "hi"))  # fmt: skip
    assert (await refused.json())["error"]["type"] == "model_not_priced"

    applied = await preview(gateway, CSV, f"?confirm={plan['digest']}")
    assert applied.status == 200 and (await applied.json())["applied"] is True
    assert dict(await price_of(db, "openai", "gpt-imported")) == {
        "input": 100_000_000,
        "output": 300_000_000,
    }
    assert (await price_of(db, "openai", "gpt-4o"))["input"] == 200_000_000
    # The next request is priced by it, on this process at once.
    answered = await gateway.post("/v1/gateway/chat", headers=bearer(key),
                                  json=chat_body("openai", "gpt-imported", "hi"))  # fmt: skip
    assert answered.status == 200, await answered.text()
    audit = await db.fetchrow("SELECT actor, after FROM audit_log WHERE action = 'pricing.import'")
    assert audit is not None and "gpt-imported" in audit["after"]


async def test_an_apply_is_refused_when_the_table_changed_since_the_preview(client, db) -> None:
    plan = await (await preview(client, CSV)).json()
    other = CSV.replace("2.00,10.00", "2.20,10.00")
    await preview(
        client, other, f"?confirm={(await (await preview(client, other)).json())['digest']}"
    )
    refused = await preview(client, CSV, f"?confirm={plan['digest']}")
    assert refused.status == 409 and (await refused.json())["error"]["type"] == "conflict"
    assert (await price_of(db, "openai", "gpt-4o"))["input"] == 220_000_000  # the other one's
    assert await price_of(db, "openai", "gpt-imported") is not None  # from the other import


async def test_a_malformed_file_changes_nothing_and_names_the_line(client, db) -> None:
    before = await db.fetch("SELECT * FROM prices ORDER BY provider, model")
    bad = CSV + "openai,gpt-broken,cheap,1\n"
    for query in ("", "?confirm=whatever"):
        response = await preview(client, bad, query)
        assert response.status == 400
        message = (await response.json())["error"]["message"]
        assert "line 5: input must be a number" in message
    assert await db.fetch("SELECT * FROM prices ORDER BY provider, model") == before


async def test_the_community_file_is_previewed_with_its_warnings(client) -> None:
    response = await preview(client, FIXTURE.read_text())
    assert response.status == 200, await response.text()
    plan = await response.json()
    assert plan["format"] == "litellm" and plan["skipped"] > 0
    assert len(plan["added"]) + len(plan["changed"]) + plan["unchanged"] > 50
    assert {p["provider"] for p in plan["added"]} <= {"openai", "anthropic", "gemini"}


async def test_a_file_that_is_not_utf8_is_refused(client) -> None:
    response = await client.post(IMPORT, data=b"provider,model\n\xff\xfe", headers=ADMIN_HEADERS)
    assert response.status == 400 and "UTF-8" in (await response.json())["error"]["message"]


async def test_an_alias_prices_a_name_as_its_model_until_it_is_removed(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "my-team-mini", "hi")
    first = await gateway.post("/v1/gateway/chat", headers=bearer(key), json=body)
    assert (await first.json())["error"]["type"] == "model_not_priced"
    added = await gateway.post(ALIASES, headers=ADMIN_HEADERS, json={
        "provider": "openai", "alias": "my-team-mini", "model": "gpt-4o-mini"})  # fmt: skip
    assert added.status == 201 and (await added.json())["alias"]["shipped"] is False
    priced = await gateway.post("/v1/gateway/chat", headers=bearer(key), json=body)
    assert priced.status == 200, await priced.text()
    row = await db.fetchrow("SELECT model, cost_uc FROM usage_events ORDER BY id DESC LIMIT 1")
    assert row["cost_uc"] > 0
    listed = await (await gateway.get(ALIASES, headers=ADMIN_HEADERS)).json()
    assert {"provider": "openai", "alias": "my-team-mini", "model": "gpt-4o-mini"}.items() <= next(
        a for a in listed["aliases"] if a["alias"] == "my-team-mini"
    ).items()
    removed = await gateway.delete(f"{ALIASES}/openai/my-team-mini", headers=ADMIN_HEADERS)
    assert removed.status == 204
    again = await gateway.post("/v1/gateway/chat", headers=bearer(key), json=body)
    assert (await again.json())["error"]["type"] == "model_not_priced"


async def test_an_alias_of_an_unpriced_model_is_refused(client, db) -> None:
    response = await client.post(ALIASES, headers=ADMIN_HEADERS, json={
        "provider": "openai", "alias": "x", "model": "gpt-nothing"})  # fmt: skip
    assert response.status == 400 and (await response.json())["error"]["param"] == "model"
    assert await db.fetchval("SELECT count(*) FROM model_aliases WHERE alias = 'x'") == 0


def run_cli(
    database_url: str, tmp_path: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO),
           "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "proxy", "prices", *args], cwd=REPO, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)  # fmt: skip


async def test_the_command_line_shows_the_diff_and_applies_only_when_told(
    database_url, tmp_path, db
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(CSV)
    shown = run_cli(database_url, tmp_path, "import", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "+ openai/gpt-imported: input 1.00, output 3.00" in shown.stdout
    assert "~ openai/gpt-4o: input 2.50 -> 2.00" in shown.stdout
    assert "1 added, 1 changed, 1 unchanged" in shown.stdout
    assert "not applied" in shown.stdout
    assert await price_of(db, "openai", "gpt-imported") is None
    applied = run_cli(database_url, tmp_path, "import", str(path), "--yes")
    assert applied.returncode == 0 and "applied: 1 added, 1 changed" in applied.stdout
    assert (await price_of(db, "openai", "gpt-imported"))["output"] == 300_000_000
    assert await db.fetchval("SELECT actor FROM audit_log WHERE action = 'pricing.import'") == "cli"
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "gpt-x": {\n    "input_cost_per_token": 1e-06,,\n  }\n}')
    refused = run_cli(database_url, tmp_path, "import", str(bad), "--yes")
    assert refused.returncode == 1 and "line 3: not JSON" in refused.stderr
    exported = run_cli(database_url, tmp_path, "export")
    assert "openai,gpt-imported,1.00,3.00," in exported.stdout


def test_an_upgrade_adds_the_new_list_prices_and_keeps_the_operators(database_url) -> None:
    assert rollback(database_url, 2) == ["0023.list-prices-2026-12", "0022.price-catalog"]
    with psycopg.connect(database_url, autocommit=True) as conn:  # as an older release left it
        conn.execute("DELETE FROM prices WHERE model IN ('claude-opus-4-8', 'gpt-4o')")
        conn.execute("UPDATE prices SET input_uc_per_mtok = 250000000"
                     " WHERE model = 'claude-sonnet-4-5'")  # fmt: skip
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        rows = {
            model: rest
            for model, *rest in conn.execute(
                "SELECT model, input_uc_per_mtok, cache_write_1h_uc_per_mtok FROM prices"
                " WHERE model IN ('claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-8',"
                " 'gpt-4o')"
            ).fetchall()
        }
    assert rows["claude-opus-4-8"] == [500_000_000, 1_000_000_000]  # new in the list: added
    assert rows["claude-haiku-4-5"] == [100_000_000, 200_000_000]  # as shipped: completed
    assert rows["claude-sonnet-4-5"] == [250_000_000, None]  # edited: the operator's to complete
    assert "gpt-4o" not in rows  # removed by the operator: stays blocked
