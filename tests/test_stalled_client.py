"""A client that stops reading a stream: once a write to it has waited SEND_TIMEOUT_S, the
gateway drops the connection and ends the call (billed as aborted), instead of holding the
call, its reservation and its connection for as long as the client stays silent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

from proxy.routes import sse
from tests.helpers import create_customer
from tests.processes import poll

WORDS = 40_000  # ~7 MB of chunks: more than the socket buffers (up to 4 MB) and the frames held


def stream_request(key: str, port: int) -> bytes:
    reply = "_".join(["word"] * WORDS)
    body = json.dumps({
        "model": "gpt-4o-mini", "stream": True, "max_tokens": WORDS + 100,
        "messages": [{"role": "user", "content": f"Go on. fake:text={reply}"}],
    }).encode()  # fmt: skip
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    gateway, db, monkeypatch
) -> None:
    monkeypatch.setattr(sse, "SEND_TIMEOUT_S", 0.5)
    monkeypatch.setattr(sse, "WATCH_EVERY_S", 0.1)
    _, key = await create_customer(gateway, monthly_cap_cents=1000)
    port = gateway.server.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(stream_request(key, port))
        await writer.drain()
        # Never read: the gateway's writes back up until one waits past the send timeout.

        async def ended() -> bool:
            return await db.fetchval("SELECT count(*) FROM usage_events") == 1

        await poll(ended, 15, "the stalled stream's call ended")
        row = await db.fetchrow("SELECT status, output_tokens FROM usage_events")
        assert row["status"] == "aborted"
        assert 0 < row["output_tokens"] < WORDS  # billed for what it produced before the stall
        # The connection is gone: reading now drains what was buffered, then ends.
        with contextlib.suppress(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
