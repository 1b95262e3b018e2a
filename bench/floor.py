"""The floor: the gateway against a bare aiohttp proxy (no auth, no limits, no billing) on the
same fake upstream and the same OpenAI-format route, in interleaved rounds of one run; and the
database statements each gateway request costs (pg_stat_statements, transactions committed).

The table it makes is the one the performance goals are read from (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from typing import TYPE_CHECKING

import psycopg

from bench import measure as measures
from bench import procs, wrk
from bench.bodies import direct_body
from bench.model import BenchRun, Cell, Ttfb
from bench.probe import check, print_ttfb

if TYPE_CHECKING:
    from bench.run import Bench

MODES = {"openai": "non-stream", "openai-stream": "stream"}
CONCURRENCIES = (1, 64)
ROUNDS = 2
TARGETS = ("direct", "bare", "gateway")
ROUTE = "/v1/chat/completions"
UPSTREAM_KEY = "sk-bench"  # as bench.run gives the gateway


def body(mode: str) -> bytes:
    """The same OpenAI body for all three targets (the gateway takes it on its OpenAI route)."""
    return direct_body("stream" if mode == "openai-stream" else "chat")


@dataclasses.dataclass(slots=True)
class Statements:
    """What the database ran for the gateway during one cell: statements sent by clients
    (round trips) and transactions committed, both divided by the requests served."""

    statements: int
    transactions: int
    requests: int
    top: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def per_request(self) -> float:
        return self.statements / self.requests if self.requests else float("nan")

    @property
    def transactions_per_request(self) -> float:
        return self.transactions / self.requests if self.requests else float("nan")


@dataclasses.dataclass(slots=True)
class FloorRun:
    cells: list[Cell] = dataclasses.field(default_factory=list)
    statements: dict[tuple[str, int], list[Statements]] = dataclasses.field(default_factory=dict)
    ttfb: dict[str, list[Ttfb]] = dataclasses.field(default_factory=dict)

    def of(self, target: str, mode: str, c: int) -> list[Cell]:
        return [x for x in self.cells if (x.target, x.mode, x.concurrency) == (target, mode, c)]

    def rps(self, target: str, mode: str, c: int) -> float:
        return statistics.median(x.wrk.rps for x in self.of(target, mode, c))

    def p50_us(self, target: str, mode: str, c: int) -> float:
        return statistics.median(x.wrk.p50_us for x in self.of(target, mode, c))

    def ttfb_ms(self, target: str) -> float:
        return statistics.median(t.p50_ms for t in self.ttfb.get(target, []))


class StatementCounter:
    """Snapshots of pg_stat_statements and pg_stat_database for one database, read through
    the maintenance database (so the snapshots themselves are not counted)."""

    def __init__(self, admin_dsn: str, database: str) -> None:
        self._dsn = admin_dsn
        self._database = database

    def _snapshot(self) -> tuple[dict[str, int], int]:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT s.query, sum(s.calls)::bigint FROM pg_stat_statements s"
                " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s GROUP BY s.query",
                (self._database,),
            ).fetchall()
            commits = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (self._database,)
            ).fetchone()
        return {query: calls for query, calls in rows}, int(commits[0]) if commits else 0

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self, requests: int) -> Statements:
        (after, commits), (before, commits_before) = self._snapshot(), self._before
        delta = {q: n - before.get(q, 0) for q, n in after.items() if n - before.get(q, 0) > 0}
        top = sorted(((n, " ".join(q.split())[:90]) for q, n in delta.items()), reverse=True)
        return Statements(sum(delta.values()), commits - commits_before, requests, top[:6])


def enable_statement_counts(admin_dsn: str) -> None:
    """pg_stat_statements must be preloaded: takes effect at the server's next start."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'top'")


def create_extension(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def measure(bench: Bench, run: BenchRun) -> None:
    """Direct, the bare proxy and the gateway (WORKERS=1) on the OpenAI route, interleaved
    in rounds, with the gateway's statements per request (bench/floor.py)."""
    assert bench.postgres is not None
    port = procs.free_port()
    argv = ["-m", "bench.bare_proxy", "--upstream", bench.fake_url, "--port", str(port),
            "--api-key", UPSTREAM_KEY]  # fmt: skip
    log = bench.tmp / "bare.log"
    bare = procs.Child("bare proxy", argv, dict(os.environ), log).spawn("listening on ")
    bench.stack.callback(bare.stop)
    bare.wait_ready()
    bench.bare_pid = bare.pid
    bare_url = f"http://127.0.0.1:{port}{ROUTE}"
    direct_url = bench.fake_url + "/chat/completions"
    name = "bench_floor"
    result = run.floor = FloorRun()
    counter = StatementCounter(bench.postgres.admin_dsn, name)
    print("the floor: direct, bare proxy, gateway (WORKERS=1) on /v1/chat/completions:")
    with bench.gateway(bench.database(name), 1, "WARNING") as gateway:
        customer = bench.setup_customer(gateway, "bench-floor")
        gateway_url = gateway.base_url + ROUTE
        urls = {"direct": direct_url, "bare": bare_url, "gateway": gateway_url}
        auths = {"direct": f"Bearer {UPSTREAM_KEY}", "bare": "",
                 "gateway": customer.authorization}  # fmt: skip
        for mode in MODES:
            check(bare_url, body(mode), "", mode, "bare")
            check(gateway_url, body(mode), customer.authorization, mode, "gateway")
            for target in ("bare", "gateway"):
                wrk.run(urls[target], body(mode), 64, 1, auths[target])  # warm-up
        for _ in range(ROUNDS):
            for mode in MODES:
                for c in CONCURRENCIES:
                    for target in TARGETS:
                        if target == "gateway":
                            counter.start()
                        watched = gateway if target == "gateway" else None
                        cell = bench.cell(target, mode, c, urls[target], body(mode),
                                          auths[target], watched)  # fmt: skip
                        result.cells.append(cell)
                        if target == "gateway":
                            counted = counter.stop(cell.wrk.requests)
                            result.statements.setdefault((mode, c), []).append(counted)
                            print(f"    {counted.per_request:.2f} statements and"
                                  f" {counted.transactions_per_request:.2f} transactions"
                                  " per request")  # fmt: skip
            for target in TARGETS:
                stream = body("openai-stream")
                n = bench.options.ttfb_requests
                ttfb = measures.ttfb(target, urls[target], stream, auths[target] or None, n)
                result.ttfb.setdefault(target, []).append(ttfb)
                print_ttfb(ttfb)
    bare.stop()
    bench.bare_pid = 0
