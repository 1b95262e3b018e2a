"""Instructions per request, a figure that does not drift with the machine's load: one process
serves N sequential requests through the real app (demo provider, a real PostgreSQL, aiohttp's
test client in the same process) under `valgrind --tool=callgrind`; the instructions per
request are the difference between two N, divided by their difference.

    python bench/instructions.py DSN [--tree PATH] [--counts 100,300] [--upstreams N]
                                     [--route chat|stream|completions|completions-stream]
                                     [--words N]

`--upstreams N` measures the OpenAI path instead: a fake OpenAI server in the same process
(its instructions are counted too, the same for every N) behind N upstreams. The
`completions` routes (`POST /v1/chat/completions`, the benchmark's floor route) need it.
`--words N` makes the fake's reply N words long (a stream: one event per word); two runs that
differ only in N give the cost of one more event.

`--tree` measures another checkout (its code is imported instead of this one's): run it on two
trees to compare them. DSN is a PostgreSQL server's maintenance database (`postgres`); each
run migrates a database of its own there.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PATHS = {
    "chat": "/v1/gateway/chat",
    "stream": "/v1/gateway/stream",
    "completions": "/v1/chat/completions",  # the OpenAI-format route (--upstreams 1 or more)
    "completions-stream": "/v1/chat/completions",
}
SERVE = """
import asyncio, dataclasses, sys
from pathlib import Path
from aiohttp.test_utils import TestClient, TestServer
from core.settings import Settings
from proxy.app import create_app

async def main(dsn, path, n, data, upstreams, stream, words):
    settings = Settings(database_url=dsn, demo_provider=True, admin_password="bench-password",
                        secret="b" * 40, data_dir=Path(data), log_level="WARNING")
    body = {"provider": "demo", "model": "demo-echo", "max_tokens": 16,
            "messages": [{"role": "user", "content": "Say hello in a few words."}]}
    fake = None
    if upstreams:  # the OpenAI path: a fake OpenAI in this process, behind `upstreams` upstreams
        from tests.fakes import FakeUpstream
        fake = FakeUpstream("openai", record=False)
        await fake.start()
        settings = dataclasses.replace(settings, openai_api_key="sk-bench",
                                       openai_base_url=fake.base_url)
        body = {**body, "provider": "openai", "model": "gpt-4o-mini"}
        if words:  # the fake's directive: its reply, one stream event per word
            reply = "_".join(["word"] * words)
            body["messages"] = [{"role": "user", "content": f"Say it. fake:text={reply}"}]
            body["max_tokens"] = words + 16  # within bounds: no clamping, no warning logged
        if path == "/v1/chat/completions":  # the OpenAI format names no provider
            body = {key: value for key, value in body.items() if key != "provider"}
            body["stream"] = stream
    admin = {"X-Admin-Password": "bench-password"}
    async with TestClient(TestServer(create_app(settings))) as client:
        for i in range(1, upstreams):
            added = await client.post("/admin/api/upstreams", headers=admin, json={
                "provider": "openai", "base_url": fake.base_url, "api_key": f"sk-bench-{i}"})
            assert added.status == 201, await added.text()
        made = await client.post("/admin/api/customers", json={"monthly_cap_cents": 100000},
                                 headers=admin)
        key = (await made.json())["key"]["key"]
        for _ in range(n):
            auth = {"Authorization": "Bearer " + key}
            response = await client.post(path, json=body, headers=auth)
            assert response.status == 200, await response.text()
            await response.read()
    if fake is not None:
        await fake.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
                 sys.argv[6] == "stream", int(sys.argv[7])))
"""


def database(admin_dsn: str, name: str, tree: Path) -> str:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    migrate = "import sys; from db.migrate import migrate; migrate(sys.argv[1])"
    subprocess.run([sys.executable, "-c", migrate, dsn], env=env, check=True, cwd=tree)
    return dsn


def instructions(tree: Path, dsn: str, route: str, n: int, upstreams: int, words: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, "-c", SERVE, dsn, PATHS[route], str(n), tmp, str(upstreams),
                "stream" if route.endswith("stream") else "json", str(words)]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
        subprocess.run(argv, env=env, check=True, cwd=tree, capture_output=True)
        totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        assert totals, "no totals in the callgrind output"
        return int(totals.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dsn")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--route", choices=sorted(PATHS), default="chat")
    parser.add_argument("--counts", default="100,300")
    what = "0: the demo provider; N: a fake OpenAI behind N upstreams"
    parser.add_argument("--upstreams", type=int, default=0, help=what)
    parser.add_argument("--words", type=int, default=0, help="the fake's reply, in words")
    args = parser.parse_args()
    if (args.route.startswith("completions") or args.words) and args.upstreams < 1:
        parser.error("the OpenAI-format routes and --words need --upstreams 1 or more")
    low, high = (int(n) for n in args.counts.split(","))
    tree = args.tree.resolve()
    results = []
    for n in (low, high):
        dsn = database(args.dsn, f"kaixu_instructions_{tree.name}_{args.route}_{n}", tree)
        results.append(instructions(tree, dsn, args.route, n, args.upstreams, args.words))
    per_request = (results[1] - results[0]) / (high - low)
    print(
        f"{tree} {args.route} upstreams={args.upstreams} words={args.words or 'default'}:"
        f" {per_request:,.0f} instructions"
        " per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
