"""Browser-test fixtures: one embedded PostgreSQL, a real gateway process on it and three fake
provider processes per session (plus, for the Stripe test only, a second gateway with a fake
Stripe), one Chromium per session, a fresh browser context per test.

Run in their own pytest process, without the asyncio plugins the rest of the suite uses (the sync
Playwright API refuses to run inside an event loop): `make test` does
`pytest tests/browser -p no:asyncio -p no:aiohttp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from db.embedded import EmbeddedPostgres
from tests.browser.helpers import AdminApi
from tests.conftest import free_port
from tests.fakes.stripe import FakeStripe
from tests.gateway_process import REPO, GatewayProcess

CHROMIUM = os.environ.get("KAIXU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_PASSWORD = "browser-test-admin-password"
SECRET = "browser-tests-secret-" + "x" * 32  # shared by both gateways: keys work on either
LAPTOP = {"width": 1280, "height": 800}


@dataclasses.dataclass(frozen=True)
class Gateway:
    url: str
    password: str
    api: AdminApi


class FakeProvider:
    """`python -m tests.fakes` as a process; `start()` returns once it printed its address."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.base_url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30) -> FakeProvider:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes", "--provider", self.provider, "--port", "0"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                match = re.search(r"listening on (\S+)", line)
                if match:
                    self.base_url = match[1]
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or not self.base_url:
            self.stop()
            raise AssertionError(f"fake {self.provider} did not start")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="session")
def database_dsn() -> Iterator[str]:
    """An embedded PostgreSQL of the session (the gateways migrate it as they start)."""
    root = Path(tempfile.mkdtemp(prefix="kaixu-browser-pg-"))
    server = EmbeddedPostgres(root / "pg")
    try:
        yield server.dsn
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def provider_fakes() -> Iterator[dict[str, FakeProvider]]:
    fakes: dict[str, FakeProvider] = {}
    try:
        for name in ("openai", "anthropic", "gemini"):
            fakes[name] = FakeProvider(name).start()
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()


@contextlib.contextmanager
def running_gateway(
    dsn: str, fakes: dict[str, FakeProvider], data_dir: Path, **env: str
) -> Iterator[Gateway]:
    """`python -m proxy` on `dsn`, talking to the fake providers over HTTP."""
    port = free_port()
    process = GatewayProcess(
        {
            "DATABASE_URL": dsn,
            "DATA_DIR": str(data_dir),
            "PORT": str(port),
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "KAIXU_SECRET": SECRET,
            "OPENAI_API_KEY": "sk-test-openai",
            "OPENAI_BASE_URL": fakes["openai"].base_url,
            "ANTHROPIC_API_KEY": "sk-ant-test",
            "ANTHROPIC_BASE_URL": fakes["anthropic"].base_url,
            "GEMINI_API_KEY": "gemini-test-key",
            "GEMINI_BASE_URL": fakes["gemini"].base_url,
            "LOG_LEVEL": "WARNING",
            **env,
        }
    )
    process.start(timeout=120)
    try:
        url = f"http://127.0.0.1:{port}"
        yield Gateway(url=url, password=ADMIN_PASSWORD, api=AdminApi(url, ADMIN_PASSWORD))
    finally:
        process.stop()


@pytest.fixture(scope="session")
def gateway(
    database_dsn: str,
    provider_fakes: dict[str, FakeProvider],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """The gateway most tests use: no Stripe settings."""
    data_dir = tmp_path_factory.mktemp("gateway")
    with running_gateway(database_dsn, provider_fakes, data_dir) as gateway:
        yield gateway


@contextlib.contextmanager
def fake_stripe_in_a_thread() -> Iterator[FakeStripe]:
    """The fake Stripe API served from an event loop of its own, beside the sync tests."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeStripe()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@dataclasses.dataclass(frozen=True)
class StripeGateway:
    gateway: Gateway
    stripe: FakeStripe


@pytest.fixture(scope="session")
def stripe_gateway(
    database_dsn: str,
    provider_fakes: dict[str, FakeProvider],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StripeGateway]:
    """A second gateway on the same database, with Stripe settings and a fake Stripe."""
    data_dir = tmp_path_factory.mktemp("stripe-gateway")
    with fake_stripe_in_a_thread() as stripe, running_gateway(
        database_dsn, provider_fakes, data_dir,
        STRIPE_SECRET_KEY="sk_test_browser", STRIPE_WEBHOOK_SECRET="whsec_browser",
        STRIPE_API_BASE=stripe.url,
    ) as second:  # fmt: skip
        yield StripeGateway(second, stripe)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get update -qq && apt-get install -y chromium")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclasses.dataclass
class PageProblems:
    """What the page must never do: throw, break the CSP, or open a JavaScript dialog."""

    errors: list[str] = dataclasses.field(default_factory=list)
    dialogs: list[str] = dataclasses.field(default_factory=list)


def make_page(browser: Browser, gateway: Gateway, problems: PageProblems, **options) -> Page:
    context = browser.new_context(
        base_url=gateway.url,
        viewport=options.pop("viewport", LAPTOP),
        accept_downloads=True,
        permissions=["clipboard-read", "clipboard-write"],
        **options,
    )
    page = context.new_page()
    page.on("pageerror", lambda error: problems.errors.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        uncaught = "Uncaught" in message.text or "SyntaxError" in message.text
        if "Content Security Policy" in message.text or (message.type == "error" and uncaught):
            problems.errors.append(f"console: {message.text}")

    page.on("console", console)

    def dialog(d) -> None:
        problems.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    return page


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, gateway: Gateway, problems: PageProblems) -> Iterator[Page]:
    """A laptop-sized page in a fresh context (its own sessionStorage and downloads)."""
    page = make_page(browser, gateway, problems)
    yield page
    page.context.close()
    assert problems.errors == []
    assert problems.dialogs == []
