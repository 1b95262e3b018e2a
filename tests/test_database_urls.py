"""DATABASE_DIRECT_URL and DATABASE_READ_URL: the gateway through a transaction-pooling
PgBouncer (session work goes direct), and the admin's heavy reads from a replica."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

import asyncpg
import psycopg

from core.settings import Settings
from db.embedded import create_database
from proxy.app import create_app
from tests.conftest import TEMPLATE_DB
from tests.helpers import ADMIN_HEADERS, bearer, chat_body, create_customer
from tests.pgbouncer import needs_pgbouncer, pgbouncer

_replicas = itertools.count()


@needs_pgbouncer()
async def test_the_gateway_works_through_pgbouncer(
    gateway_settings: Settings, aiohttp_client, db: asyncpg.Connection
) -> None:
    direct = gateway_settings.database_url or ""
    with pgbouncer(direct) as pooled:
        settings = dataclasses.replace(gateway_settings, database_url=pooled,
                                       database_direct_url=direct)  # fmt: skip
        assert settings.behind_pgbouncer
        client = await aiohttp_client(create_app(settings))
        customer, key = await create_customer(client, monthly_cap_cents=1000)
        answers = await asyncio.gather(*(
            client.post("/v1/gateway/chat", json=chat_body("openai", "gpt-4o-mini", "hi"),
                        headers=bearer(key)) for _ in range(40)))  # fmt: skip
        assert [a.status for a in answers] == [200] * 40
        # Two snapshots at once: the per-customer session lock holds on a direct connection.
        month = (await answers[0].json())["month"]["month"]
        path = f"/admin/api/customers/{customer['id']}/invoices"
        body = {"month": month}
        made = await asyncio.gather(
            *(client.post(path, json=body, headers=ADMIN_HEADERS) for _ in range(2))
        )
        versions = sorted([(await m.json())["invoice"]["version"] for m in made])
        assert versions == [1, 2]
        # A CSV export's cursor (a named statement) runs on a direct connection.
        exports = await asyncio.gather(*(client.get(
            f"/admin/api/exports/usage.csv?customer_id={customer['id']}", headers=ADMIN_HEADERS
        ) for _ in range(3)))  # fmt: skip
        assert [(await e.text()).count("\n") for e in exports] == [41] * 3  # header + 40 rows
        # The LISTEN connection is direct: a revoke reaches the cache at once.
        keys = await client.get(f"/admin/api/customers/{customer['id']}/keys",
                                headers=ADMIN_HEADERS)  # fmt: skip
        kid = (await keys.json())["keys"][0]["id"]
        await client.post(f"/admin/api/keys/{kid}/revoke", headers=ADMIN_HEADERS)
        refused = await client.post("/v1/gateway/chat", headers=bearer(key),
                                    json=chat_body("openai", "gpt-4o-mini", "hi"))  # fmt: skip
        assert refused.status == 401
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 40


async def test_heavy_admin_reads_come_from_the_read_url(
    settings: Settings, aiohttp_client, postgres
) -> None:
    """A 'replica' that differs from the primary (a database of its own) shows which one the
    usage endpoint and the usage export read; everything else reads the primary."""
    name = f"kaixu_replica_{next(_replicas)}"
    create_database(postgres.admin_dsn, name, template=TEMPLATE_DB)
    replica = postgres.dsn_for(name)
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute("INSERT INTO customers (id, name) VALUES ('only-on-replica', 'R')")
    app = create_app(dataclasses.replace(settings, database_read_url=replica))
    client = await aiohttp_client(app)
    usage = await client.get("/admin/api/customers/only-on-replica/usage", headers=ADMIN_HEADERS)
    assert usage.status == 200
    export = await client.get("/admin/api/exports/usage.csv?customer_id=only-on-replica",
                              headers=ADMIN_HEADERS)  # fmt: skip
    assert export.status == 200
    primary = await client.get("/admin/api/customers/only-on-replica", headers=ADMIN_HEADERS)
    assert primary.status == 404
