"""Server-Sent Events out (aiohttp-sse): a call's events written as a stream, shared by every
streaming route; a route's format only says which frames each event becomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from contextlib import aclosing
from typing import Protocol

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from core import errors
from core.events import CallEvent, Failed
from proxy.ledger.call import Call

log = logging.getLogger("kaixu.sse")

# (event name or None for a plain `data:` line, data)
Frame = tuple[str | None, str]
# A failed write means the client is gone (or stalled past the send timeout).
CLIENT_GONE = (ConnectionResetError, TimeoutError)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Frames waiting beyond this make the call wait for the client (backpressure).
MAX_UNSENT_BYTES = 256 * 1024
SEND_TIMEOUT_S = EventSourceResponse.DEFAULT_SEND_TIMEOUT  # a write stalled this long: gone
# How often a stream's watchdog looks for a stalled write: one timer per stream, not a
# timeout per write (a stall is caught between SEND_TIMEOUT_S and 1.25 times that).
WATCH_EVERY_S = SEND_TIMEOUT_S / 4


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class StreamFormat(Protocol):
    def frames(self, event: CallEvent) -> list[Frame]: ...


def encode_frame(name: str | None, data: str) -> bytes:
    """One event as aiohttp-sse writes it (`\\n` separators), every line of data its own field."""
    head = f"event: {name}\n" if name is not None else ""
    if "\n" in data or "\r" in data:
        lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    else:
        lines = f"data: {data}\n"
    return f"{head}{lines}\n".encode()


class FrameWriter:
    """Frames written to the client one burst at a time: everything the call produced before it
    next waits for its upstream goes out in one write (the writer task runs only then), instead
    of one write per event. A failed write (the client gone, or stalled past the send timeout,
    which aborts the connection) is raised to the next `put` or `flush`."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response
        self._unsent: list[bytes] = []
        self._unsent_bytes = 0
        self._loop = asyncio.get_running_loop()
        self._writing_since: float | None = None  # when the write in progress began
        self._wake: asyncio.Future[None] | None = None
        self._idle: asyncio.Future[None] | None = None  # resolved once nothing is unsent
        self._failed: BaseException | None = None
        self._task = asyncio.create_task(self._run())
        self._watchdog = self._loop.call_later(WATCH_EVERY_S, self._watch)

    async def put(self, frames: list[Frame]) -> None:
        if self._failed is not None:
            raise self._failed
        for name, data in frames:
            chunk = encode_frame(name, data)
            self._unsent.append(chunk)
            self._unsent_bytes += len(chunk)
        if self._unsent and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if self._unsent_bytes > MAX_UNSENT_BYTES:
            await self.flush()

    async def flush(self) -> None:
        """Until everything put so far is written; raises the write's failure."""
        while (
            (self._unsent or self._writing_since is not None)
            and self._failed is None
            and not self._task.done()
        ):
            if self._idle is None or self._idle.done():
                self._idle = self._loop.create_future()
            await asyncio.shield(self._idle)
        if self._failed is not None:
            raise self._failed

    async def close(self) -> None:
        """Write what is left (a failure is swallowed: the client is gone) and stop."""
        with contextlib.suppress(*CLIENT_GONE, RuntimeError):
            await self.flush()
        self.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def cancel(self) -> None:
        """Stop at once, whatever is unsent (the stream is over)."""
        self._task.cancel()
        self._watchdog.cancel()
        # The write's failure, raised to the route, has a traceback through this writer: kept
        # here it would be a cycle holding the request (and its body) until the collector ran.
        self._failed = None

    def _watch(self) -> None:
        since = self._writing_since
        if since is None or self._loop.time() - since < SEND_TIMEOUT_S:
            self._watchdog = self._loop.call_later(WATCH_EVERY_S, self._watch)
            return
        # Stalled: the client is gone for the route's next `put` or `flush`. Aborting the
        # connection lets the stalled write return as if it had succeeded, so the writer
        # stops here rather than waiting for it.
        self._failed = TimeoutError("the client stalled the stream")
        if self._request.transport is not None:
            self._request.transport.abort()
        self._task.cancel()
        self._settle_flush()

    def _settle_flush(self) -> None:
        """Wake whoever waits in `flush`: nothing is unsent, or the writer failed."""
        if self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def _run(self) -> None:
        loop = self._loop
        try:
            while True:
                if not self._unsent:
                    self._settle_flush()
                    self._wake = loop.create_future()
                    await self._wake
                    continue
                chunk = b"".join(self._unsent)
                self._unsent.clear()
                self._unsent_bytes = 0
                self._writing_since = loop.time()
                try:
                    await self._response.write(chunk)
                finally:
                    self._writing_since = None
        except asyncio.CancelledError:
            # cancel(): the stream is over. Ending quietly keeps no error in the task (its
            # traceback would be a cycle through this writer, holding the request).
            return
        except Exception as exc:
            self._failed = exc
            self._settle_flush()


async def stream_call(request: web.Request, call: Call, fmt: StreamFormat) -> web.StreamResponse:
    """Errors before the provider's first event are raised (ordinary JSON responses); after it,
    the format's frames for `Failed` end the stream. A client that goes away ends it silently
    (the call settles itself as aborted)."""
    response = EventSourceResponse(sep="\n", allow_all_methods=True)
    writer: FrameWriter | None = None
    try:
        try:
            async with aclosing(call.events()) as events:
                async for event in events:
                    if writer is None:  # the first event goes out at once (time to first byte)
                        if request.transport is None:  # gone before it: nothing to prepare
                            raise ConnectionResetError("the client left before the first event")
                        await response.prepare(request)
                        writer = FrameWriter(request, response)
                        await writer.put(fmt.frames(event))
                        await writer.flush()
                        continue
                    await writer.put(fmt.frames(event))
                if writer is not None:
                    await writer.flush()
        except CLIENT_GONE:
            return response
        except Exception:
            if not response.prepared:
                raise  # nothing sent yet: an ordinary JSON error response
            # Mid-stream, an error response can no longer be sent: end the stream with the
            # format's error event (the call is settled by now, or its failure logged).
            log.exception(
                "stream failed after it started", extra={"request_id": call.client.request_id}
            )
            if call.result is not None and writer is not None:
                failed = Failed(errors.UpstreamError("The gateway failed mid-stream."), call.result)
                with contextlib.suppress(Exception):
                    await writer.put(fmt.frames(failed))
        if writer is not None:
            await writer.close()
        response.stop_streaming()
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response
    finally:  # however it ended (a client gone, the handler cancelled): no task outlives it
        if writer is not None:
            writer.cancel()
        if response.prepared:
            response.stop_streaming()  # aiohttp-sse's ping task
            # Its end taken back: the cancelled task keeps the error, whose traceback holds
            # the response (and the request's body) in a cycle only the collector would free.
            await response.wait()
