"""Test fixtures: one embedded PostgreSQL per session, a fresh database per test, the real app.

Every app a test serves through `aiohttp_client` (so `client`, `gateway` and the apps tests build
with create_app) has each /admin/api/ answer checked against the OpenAPI document's schema for
its route, method and status; a mismatch fails the test at teardown.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from psycopg import sql
from referencing import Registry
from referencing import Resource as SchemaResource
from referencing.jsonschema import DRAFT202012

from core.settings import Settings
from db.embedded import EmbeddedPostgres, create_database
from db.migrate import migrate
from proxy import admin
from proxy.app import create_app
from proxy.infra.log import JsonFormatter
from proxy.state import GATE
from tests.fakes import FakeUpstream

TEMPLATE_DB = "kaixu_template"
# Every upstream key the suite gives the gateway (the environment's, and those tests add, which
# all start with UPSTREAM_KEY_MARK): none may appear in an admin answer or a log line.
UPSTREAM_KEYS = ("sk-test-openai", "sk-ant-test", "gemini-test-key")
UPSTREAM_KEY_MARK = "sk-upstream-"


def leaked_keys(text: str) -> list[str]:
    found = [key for key in UPSTREAM_KEYS if key in text]
    return found + ([UPSTREAM_KEY_MARK] if UPSTREAM_KEY_MARK in text else [])


ADMIN_PASSWORD = "test-admin-password"
_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL for the whole session, with a migrated template database."""
    root = Path(tempfile.mkdtemp(prefix="kaixu-test-pg-"))
    server = EmbeddedPostgres(root / "pg", database=TEMPLATE_DB)
    migrate(server.dsn)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A database of its own for each test, cloned from the migrated template (fast, isolated)."""
    name = f"kaixu_test_{os.getpid()}_{next(_db_numbers)}"
    create_database(postgres.admin_dsn, name, template=TEMPLATE_DB)
    yield postgres.dsn_for(name)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        admin_password=ADMIN_PASSWORD,
        secret="test-secret-" + "x" * 40,
        db_pool_min=1,
        db_pool_max=5,
    )


ADMIN_PREFIX = "/admin/api"
DOCUMENT_URI = "urn:kaixu:admin-openapi"
_JSON = "application~1json"  # the media type as a JSON-pointer segment


class AdminAnswers:
    """Checks admin API answers against the schemas of the OpenAPI document the app serves."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.paths = document["paths"]
        resource = SchemaResource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)
        self.validators: dict[str, Draft202012Validator] = {}
        self.checked = 0

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self.validators:
            self.validators[pointer] = Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#{pointer}"},
                registry=self.registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
        return self.validators[pointer]

    def problems(
        self, method: str, path: str | None, status: int, content_type: str, body: bytes
    ) -> list[str]:
        """What is wrong with one answer; `path` is the route as documented (None: no route)."""
        self.checked += 1
        operation = (self.paths.get(path) or {}).get(method.lower()) if path else None
        media = content_type
        if operation is None:
            if status < 400:  # an error of an unknown path or method is still an Error
                return [f"{method} {path}: no such operation in the document"]
            pointer = "/components/schemas/Error"
            media = "application/json"
        else:
            documented = operation["responses"].get(str(status))
            if documented is None:
                return [f"{method} {path}: status {status} is not documented"]
            if content_type not in documented["content"]:
                return [f"{method} {path} {status}: {content_type} is not documented"]
            escaped = path.replace("~", "~0").replace("/", "~1")
            pointer = f"/paths/{escaped}/{method.lower()}/responses/{status}/content/{_JSON}/schema"
        if content_type != media:
            return [f"{method} {path} {status}: {content_type}, not {media}"]
        leaked = leaked_keys(body.decode("utf-8", "replace"))
        if leaked:
            return [f"{method} {path} {status}: an upstream key is in the answer: {leaked}"]
        if media != "application/json":
            return []
        try:
            instance = orjson.loads(body)
        except orjson.JSONDecodeError:
            return [f"{method} {path} {status}: the body is not JSON"]
        errors = sorted(self._validator(pointer).iter_errors(instance), key=str)
        return [
            f"{method} {path} {status}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in errors
        ]

    def watch(self, app: web.Application, mismatches: list[str]) -> None:
        """Check every admin answer `app` sends; add what does not match to `mismatches`."""

        async def check(request: web.Request, response: web.StreamResponse) -> None:
            if not request.path.startswith(f"{ADMIN_PREFIX}/") or request.method == "HEAD":
                return
            if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
                return  # a streamed CSV download: its media type is checked by the route tests
            match = request.match_info
            route = None if match.http_exception else match.route.resource
            path = route.canonical.removeprefix(ADMIN_PREFIX) if route else None
            mismatches.extend(
                self.problems(
                    request.method, path, response.status, response.content_type, response.body
                )
            )

        app.on_response_prepare.append(check)


ANSWERS = pytest.StashKey[AdminAnswers]()


class KeyLeakWatch(logging.Handler):
    """Every log record of the suite's in-process gateways, formatted as production writes it
    (extras included): those naming an upstream key are kept, and fail the session."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if leaked_keys(line):
            self.leaks.append(line[:500])


@pytest.fixture(scope="session", autouse=True)
def no_upstream_key_in_logs() -> Iterator[None]:
    watch = KeyLeakWatch()
    gateway_log = logging.getLogger("kaixu")
    level = gateway_log.level
    gateway_log.setLevel(logging.INFO)
    logging.getLogger().addHandler(watch)
    yield
    logging.getLogger().removeHandler(watch)
    gateway_log.setLevel(level)
    assert not watch.leaks, f"upstream keys in log lines: {watch.leaks}"


@pytest.fixture(scope="session")
def admin_answers(pytestconfig: pytest.Config) -> AdminAnswers:
    pytestconfig.stash[ANSWERS] = answers = AdminAnswers(admin.document())
    return answers


@pytest.fixture
def admin_answer_mismatches() -> list[str]:
    """This test's admin answers that do not match the document (tests of the check read it)."""
    return []


def fail_on_mismatches(mismatches: list[str]) -> None:
    if mismatches:
        pytest.fail(
            "admin API answers that do not match the OpenAPI document:\n" + "\n".join(mismatches)
        )


@pytest.fixture
async def aiohttp_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    served_apps: list[web.Application],
    admin_answers: AdminAnswers,
    admin_answer_mismatches: list[str],
) -> AsyncIterator[Callable[..., Awaitable[TestClient]]]:
    """pytest-aiohttp's factory, with each app it serves watched by `admin_answers`."""

    async def serve(app: Any, *args: Any, **kwargs: Any) -> TestClient:
        if isinstance(app, web.Application):
            admin_answers.watch(app, admin_answer_mismatches)
            served_apps.append(app)
        return await aiohttp_client(app, *args, **kwargs)

    yield serve
    fail_on_mismatches(admin_answer_mismatches)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    answers = config.stash.get(ANSWERS, None)
    if answers is not None:
        terminalreporter.write_line(
            f"admin API answers checked against the OpenAPI document: {answers.checked}"
        )


@pytest.fixture
async def client(settings: Settings, aiohttp_client) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(create_app(settings))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeUpstream]]:
    """The three providers, faked over real HTTP on 127.0.0.1."""
    started = {name: FakeUpstream(name) for name in ("openai", "anthropic", "gemini")}
    for fake in started.values():
        await fake.start()
    yield started
    for fake in started.values():
        await fake.close()


@pytest.fixture
def gateway_settings(settings: Settings, fakes: dict[str, FakeUpstream]) -> Settings:
    return dataclasses.replace(
        settings,
        openai_api_key="sk-test-openai",
        anthropic_api_key="sk-ant-test",
        gemini_api_key="gemini-test-key",
        openai_base_url=fakes["openai"].base_url,
        anthropic_base_url=fakes["anthropic"].base_url,
        gemini_base_url=fakes["gemini"].base_url,
        demo_provider=True,
        upstream_read_timeout_s=5.0,
    )


@pytest.fixture
async def gateway(gateway_settings: Settings, aiohttp_client) -> TestClient:
    """The real app wired to the fake providers (and the demo provider)."""
    return await aiohttp_client(create_app(gateway_settings))


@pytest.fixture
def served_apps() -> list[web.Application]:
    """The apps this test serves in-process (their settlers are drained before `db` reads)."""
    return []


class SettledConnection(asyncpg.Connection):
    """Reads after every settlement already handed to an in-process settler is committed:
    requests are answered before their usage rows are (proxy/ledger/outbox.py)."""

    apps: list[web.Application]

    async def _settled(self) -> None:
        for app in getattr(self, "apps", ()):
            if GATE in app:
                await app[GATE].settler.drain()

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        await self._settled()
        return await super().fetch(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        await self._settled()
        return await super().fetchrow(*args, **kwargs)

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        await self._settled()
        return await super().fetchval(*args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        await self._settled()
        return await super().execute(*args, **kwargs)


@pytest.fixture
async def db(
    database_url: str, served_apps: list[web.Application]
) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database, for asserting what was stored."""
    conn = await asyncpg.connect(database_url, connection_class=SettledConnection)
    conn.apps = served_apps
    yield conn
    await conn.close()
