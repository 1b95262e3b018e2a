"""The floor the benchmark compares the gateway against: a bare aiohttp proxy on the same stack
(aiohttp server and client, uvloop) with no auth, no limits and no billing.

`python -m bench.bare_proxy --upstream URL --port P` forwards every POST to URL + the path
after `/v1`, with the configured key, and relays the answer: a JSON answer whole, a stream
chunk by chunk as the upstream sends it. It prints `bare proxy listening on URL` when ready.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import uvloop
from aiohttp import web

BANNER = "bare proxy listening on "


def create_app(upstream: str, api_key: str) -> web.Application:
    app = web.Application()
    session: dict[str, aiohttp.ClientSession] = {}

    async def open_session(app: web.Application) -> None:
        timeout = aiohttp.ClientTimeout(total=60, connect=5)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        session["client"] = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close_session(app: web.Application) -> None:
        await session["client"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path.removeprefix("/v1")
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        async with session["client"].post(upstream + path, data=body, headers=headers) as answer:
            content_type = answer.headers.get("Content-Type", "application/json")
            if not content_type.startswith("text/event-stream"):
                payload = await answer.read()
                return web.Response(body=payload, status=answer.status, content_type=None,
                                    headers={"Content-Type": content_type})  # fmt: skip
            response = web.StreamResponse(status=answer.status)
            response.headers["Content-Type"] = content_type
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_post("/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_proxy")
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, …/v1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default="sk-bench")
    args = parser.parse_args()

    async def serve() -> None:
        runner = web.AppRunner(create_app(args.upstream, args.api_key), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
        await site.start()
        print(f"{BANNER}http://127.0.0.1:{args.port}", flush=True)
        try:
            await asyncio.Event().wait()  # until SIGTERM ends the process
        finally:
            await runner.cleanup()

    uvloop.run(serve())


if __name__ == "__main__":
    main()
