"""A call's request, prompt included, is freed the moment the call ends, however it ends.

Workers run Python's collector rarely (proxy/server.py, tune_gc), so anything left in a
reference cycle waits long for it: with ~1 MB prompts, failed calls and streams once grew a
worker by ~300 MiB over 1,200 requests. These tests hold the collector's findings
(DEBUG_SAVEALL) and require that no call object needed it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from aiohttp import web

from core import errors
from core.chat import ChatRequest
from proxy.ledger.call import Call
from proxy.state import RUNNING
from tests.fakes import FakeUpstream
from tests.helpers import bearer, create_customer
from tests.processes import poll
from tests.test_upstreams import add_upstream, new_key

PROMPT_PADDING = " padding" * 2_000


def chat(directive: str, stream: bool, **fields) -> dict:
    message = {"role": "user", "content": directive + PROMPT_PADDING}
    return {"model": "gpt-4o-mini", "max_tokens": 16, "stream": stream, "messages": [message],
            **fields}  # fmt: skip


CASES = {
    "an upstream error": ("/v1/chat/completions", chat("fake:error=500", False)),
    "a stream": ("/v1/chat/completions", chat("fake:text=Hello", True)),
    "an error mid-stream": ("/v1/chat/completions", chat("fake:mid-stream-error", True)),
    "a connection cut mid-stream": ("/v1/chat/completions", chat("fake:cut", True)),
    "a Messages stream": ("/anthropic/v1/messages", {
        "model": "claude-haiku-4-5", "max_tokens": 16, "stream": True,
        "messages": [{"role": "user", "content": "fake:text=Hello" + PROMPT_PADDING}]}),
    "a Gemini stream": ("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent", {
        "contents": [{"role": "user", "parts": [{"text": "fake:text=Hello" + PROMPT_PADDING}]}]}),
    "a Responses stream": ("/v1/responses", {
        "model": "gpt-4.1", "stream": True, "input": "fake:text=Hello" + PROMPT_PADDING}),
    "a gateway stream": ("/v1/gateway/stream", {**chat("fake:text=Hello", True),
                                               "provider": "openai"}),
    "a tool call malformed after the first event": ("/v1/chat/completions", chat(
        "fake:malformed-tool", False, tools=[{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object"}}}])),
}  # fmt: skip
FAILING = {"an upstream error", "a tool call malformed after the first event"}


@pytest.fixture
def collector_findings() -> Iterator[list]:
    """What the collector frees from here on, kept for the test to read."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()


# A call, its request as parsed, the client's request (its body) and the answer being written.
HELD = (Call, ChatRequest, web.BaseRequest, web.StreamResponse)


def calls_in_cycles(garbage: list) -> list[object]:
    gc.collect()
    return [o for o in garbage if isinstance(o, HELD)]


@pytest.mark.parametrize("case", CASES)
async def test_a_call_is_freed_as_it_ends(gateway, case, collector_findings) -> None:
    _, key = await create_customer(gateway)
    path, body = CASES[case]
    for _ in range(3):
        headers = {**bearer(key), "x-api-key": key, "x-goog-api-key": key}
        response = await gateway.post(path, json=body, headers=headers)
        await response.read()
        expected = 502 if case in FAILING else 200
        assert response.status == expected, await response.text()
    assert calls_in_cycles(collector_findings) == []


async def test_a_stream_the_client_left_is_freed(gateway, collector_findings) -> None:
    _, key = await create_customer(gateway)
    for _ in range(3):
        response = await gateway.post("/v1/chat/completions", headers=bearer(key),
                                      json=chat("fake:stall=0.3", True))  # fmt: skip
        assert response.status == 200
        await response.content.readany()  # the first event, then gone
        response.close()

    async def all_ended() -> bool:  # the gateway notices at its next write, then settles
        return len(gateway.app[RUNNING]) == 0

    await poll(all_ended, 10, "the abandoned streams ended")
    # One more whole request: the abandoned handlers' last steps have run by its answer.
    response = await gateway.post("/v1/chat/completions", headers=bearer(key),
                                  json=chat("fake:text=Hello", False))  # fmt: skip
    assert response.status == 200
    assert calls_in_cycles(collector_findings) == []


async def test_a_call_that_failed_over_is_freed(gateway, fakes, collector_findings) -> None:
    async with FakeUpstream("openai") as backup:
        await add_upstream(gateway, provider="openai", base_url=backup.base_url,
                           api_key=new_key(), priority=1)  # fmt: skip
        _, key = await create_customer(gateway)
        fakes["openai"].fail_next(503, headers={"Retry-After": "30"})
        response = await gateway.post("/v1/chat/completions", headers=bearer(key),
                                      json=chat("fake:text=Hello", False))  # fmt: skip
        assert response.status == 200, await response.text()
        assert len(backup.requests) == 1  # it failed over
    assert calls_in_cycles(collector_findings) == []


async def test_streams_cut_for_one_shared_reason_are_freed(gateway, collector_findings) -> None:
    _, key = await create_customer(gateway)
    streams = []
    for _ in range(2):
        response = await gateway.post("/v1/chat/completions", headers=bearer(key),
                                      json=chat("fake:stall=5", True))  # fmt: skip
        assert response.status == 200
        await response.content.readany()  # running
        streams.append(response)
    assert gateway.app[RUNNING].cut_all(errors.Unauthorized("This key was revoked.")) == 2
    for response in streams:
        assert b"revoked" in await response.read()
    assert calls_in_cycles(collector_findings) == []
