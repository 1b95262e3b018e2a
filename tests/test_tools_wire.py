"""Tools and images on the wire: the native routes' tool calls, OpenAI stream fragments as
OpenAI sends them, Gemini's ids and thought signatures across turns, malformed calls, image
URLs fetched for Gemini, and what a provider cannot take refused before anything is reserved."""

from __future__ import annotations

import base64
import dataclasses
import json

import orjson
import pytest
from aiohttp import web

from proxy.app import create_app
from tests.fakes import images
from tests.helpers import bearer, chat_body, create_customer, parse_sse

NATIVE_TOOLS = [
    {"name": "get_weather", "description": "Weather",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}},
    {"name": "get_time"},
]  # fmt: skip
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


@pytest.mark.parametrize("provider", MODELS)
async def test_native_chat_and_stream_carry_tool_calls(gateway, provider) -> None:
    _, key = await create_customer(gateway)
    body = chat_body(provider, MODELS[provider], "go fake:tools=2", tools=NATIVE_TOOLS)
    answer = await (await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))).json()
    assert answer["finish_reason"] == "tool_calls" and answer["text"] == ""
    assert [(c["index"], c["name"]) for c in answer["tool_calls"]] == [
        (0, "get_weather"), (1, "get_time")]  # fmt: skip
    assert json.loads(answer["tool_calls"][0]["arguments"]) == {"city": "city-value"}

    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await response.read())
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-3:] == ["tool_call", "tool_call", "done"]
    calls = [json.loads(data) for name, data in events if name == "tool_call"]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1]["arguments"]) == {} and calls[0]["id"] and calls[1]["id"]
    assert json.loads(events[-1][1])["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("provider", MODELS)
async def test_openai_stream_fragments_name_each_call_once_with_a_stable_index(
    gateway, provider
) -> None:
    _, key = await create_customer(gateway)
    body = {"model": f"{provider}/{MODELS[provider]}", "stream": True,
            "messages": [{"role": "user", "content": "go fake:tools=2"}],
            "tools": [{"type": "function", "function": t} for t in NATIVE_TOOLS]}  # fmt: skip
    response = await gateway.post("/v1/chat/completions", json=body, headers=bearer(key))
    chunks = [orjson.loads(d) for _, d in parse_sse(await response.read()) if d != "[DONE]"]
    fragments = [f for c in chunks for ch in c["choices"]
                 for f in (ch["delta"].get("tool_calls") or ())]  # fmt: skip
    firsts = [f for f in fragments if "id" in f]
    assert [(f["index"], f["function"]["name"], f["type"]) for f in firsts] == [
        (0, "get_weather", "function"), (1, "get_time", "function")]  # fmt: skip
    assert all("name" not in f["function"] for f in fragments if "id" not in f)
    joined = ["".join(f["function"]["arguments"] for f in fragments if f["index"] == i)
              for i in (0, 1)]  # fmt: skip
    assert [json.loads(a) for a in joined] == [{"city": "city-value"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_gemini_ids_and_thought_signatures_survive_the_next_turn(gateway, fakes) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("gemini", "gemini-2.5-flash", "go fake:tools=1 fake:thought-signature",
                     tools=NATIVE_TOOLS)  # fmt: skip
    answer = await (await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))).json()
    [call] = answer["tool_calls"]
    assert call["id"].startswith("kxg_")  # Gemini gave none: one made up, stable
    history = [*body["messages"],
               {"role": "assistant", "content": None,
                "tool_calls": [{k: call[k] for k in ("id", "name", "arguments")}]},
               {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 21}'}]  # fmt: skip
    follow = {**body, "messages": history}
    response = await gateway.post("/v1/gateway/chat", json=follow, headers=bearer(key))
    assert response.status == 200, await response.text()
    assert (await response.json())["text"] == 'Tool results: {"temp":21}'  # the fake's JSON
    sent = fakes["gemini"].requests[-1].json["contents"]
    [model_part] = sent[1]["parts"]
    assert base64.b64decode(model_part["thoughtSignature"]) == b"sig-1-get_weather"  # carried back
    assert "id" not in model_part["functionCall"]  # the made-up id is ours, not Gemini's
    assert sent[2]["parts"][0]["functionResponse"] == {"name": "get_weather",
                                                       "response": {"temp": 21}}  # fmt: skip


@pytest.mark.parametrize("provider", MODELS)
async def test_a_malformed_tool_call_is_an_upstream_error_never_a_stop(gateway, db, provider):
    _, key = await create_customer(gateway)
    body = chat_body(provider, MODELS[provider], "go fake:malformed-tool", tools=NATIVE_TOOLS)
    if provider != "anthropic":  # Anthropic's non-stream input is an object: never malformed
        response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
        assert response.status == 502
        assert (await response.json())["error"]["type"] == "upstream_error"
    stream = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await stream.read()) if stream.status == 200 else []
    assert stream.status == 502 or events[-1][0] == "error"
    assert {r["status"] for r in await db.fetch("SELECT status FROM usage_events")} == {"error"}


@pytest.mark.parametrize(
    ("provider", "extra", "param"),
    [("anthropic", {"seed": 7}, "seed"),
     ("gemini", {"parallel_tool_calls": False, "tools": NATIVE_TOOLS}, "parallel_tool_calls"),
     ("anthropic", {"reasoning_effort": "high", "max_tokens": 100}, "reasoning_effort"),
     ("anthropic", {"tools": NATIVE_TOOLS,
                    "response_format": {"type": "json_object"}}, "response_format")],
    ids=["anthropic seed", "gemini serial calls", "anthropic small budget", "anthropic json+tools"],
)  # fmt: skip
async def test_what_a_provider_cannot_take_is_400_before_anything_is_reserved(
    gateway, db, fakes, provider, extra, param
) -> None:
    _, key = await create_customer(gateway)
    body = chat_body(provider, MODELS[provider], "hi", **extra)
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request" and error["param"] == param
    assert not fakes[provider].requests
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


@pytest.fixture
async def image_host(aiohttp_server):
    async def png(request: web.Request) -> web.Response:
        return web.Response(body=images.png(40, 30), content_type="image/png")

    app = web.Application()
    app.router.add_get("/cat.png", png)
    return await aiohttp_server(app)


async def test_an_image_url_is_fetched_for_gemini_and_passed_as_a_url_to_the_others(
    gateway_settings, fakes, image_host, aiohttp_client
) -> None:
    settings = dataclasses.replace(
        gateway_settings, image_fetch_allow_hosts=frozenset({"127.0.0.1"})
    )
    gateway = await aiohttp_client(create_app(settings))
    _, key = await create_customer(gateway)
    url = str(image_host.make_url("/cat.png"))
    content = [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": url}}]
    body = {"provider": "gemini", "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": content}]}  # fmt: skip
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    answer = await response.json()
    assert answer.get("text") == "I see 1 image(s): 40x30 image/png", answer
    inline = fakes["gemini"].requests[-1].json["contents"][0]["parts"][1]["inlineData"]
    assert inline == {"mimeType": "image/png", "data": images.b64(images.png(40, 30))}


async def test_image_urls_are_https_only_and_never_private(gateway, fakes, db) -> None:
    _, key = await create_customer(gateway)
    for url in ("http://example.com/a.png", "https://127.0.0.1/a.png", "ftp://x/a.png"):
        content = [{"type": "image_url", "image_url": {"url": url}}]
        body = {"provider": "gemini", "model": "gemini-2.5-flash",
                "messages": [{"role": "user", "content": content}]}  # fmt: skip
        response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
        assert response.status == 400, url
        assert (await response.json())["error"]["type"] == "invalid_request"
    assert not fakes["gemini"].requests and not await db.fetch("SELECT 1 FROM usage_events")
