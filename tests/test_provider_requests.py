"""What the gateway sends each provider: auth headers, body shape, streaming options."""

from __future__ import annotations

import pytest

from tests.helpers import bearer, create_customer

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "How are you?"},
]


async def send(gateway, key: str, provider: str, model: str, path: str = "/v1/gateway/chat"):
    body = {"provider": provider, "model": model, "messages": CONVERSATION, "max_tokens": 77,
            "temperature": 0.5}  # fmt: skip
    response = await gateway.post(path, json=body, headers=bearer(key))
    assert response.status == 200, await response.text()
    await response.read()


async def test_openai_request(gateway, fakes) -> None:
    _, key = await create_customer(gateway)
    await send(gateway, key, "openai", "gpt-4o-mini")
    await send(gateway, key, "openai", "gpt-4o-mini", "/v1/gateway/stream")
    plain, streamed = fakes["openai"].requests
    assert plain.path == "/v1/chat/completions"
    assert plain.headers["Authorization"] == "Bearer sk-test-openai"
    assert plain.json["messages"] == CONVERSATION
    assert plain.json["max_completion_tokens"] == 77 and "max_tokens" not in plain.json
    assert plain.json["temperature"] == 0.5
    assert "stream" not in plain.json
    assert streamed.json["stream"] is True
    assert streamed.json["stream_options"] == {"include_usage": True}


async def test_anthropic_request_lifts_system_out_of_messages(gateway, fakes) -> None:
    _, key = await create_customer(gateway)
    await send(gateway, key, "anthropic", "claude-haiku-4-5")
    await send(gateway, key, "anthropic", "claude-haiku-4-5", "/v1/gateway/stream")
    plain, streamed = fakes["anthropic"].requests
    assert plain.path == "/v1/messages"
    assert plain.headers["x-api-key"] == "sk-ant-test"
    assert plain.headers["anthropic-version"] == "2023-06-01"
    assert plain.json["system"] == "Be brief."
    assert [m["role"] for m in plain.json["messages"]] == ["user", "assistant", "user"]
    assert plain.json["max_tokens"] == 77
    assert streamed.json["stream"] is True


async def test_gemini_request_uses_contents_and_generation_config(gateway, fakes) -> None:
    _, key = await create_customer(gateway)
    await send(gateway, key, "gemini", "gemini-2.5-flash")
    await send(gateway, key, "gemini", "gemini-2.5-flash", "/v1/gateway/stream")
    plain, streamed = fakes["gemini"].requests
    assert plain.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert streamed.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert plain.headers["x-goog-api-key"] == "gemini-test-key"
    assert plain.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in plain.json["contents"]] == ["user", "model", "user"]
    assert plain.json["contents"][1]["parts"] == [{"text": "Hello!"}]
    assert plain.json["generationConfig"] == {"maxOutputTokens": 77, "temperature": 0.5}


@pytest.mark.parametrize(
    "provider,model", [("openai", "gpt-4o-mini"), ("gemini", "gemini-2.0-flash")]
)
async def test_default_max_tokens_applies_when_omitted(
    gateway, fakes, gateway_settings, provider, model
) -> None:
    _, key = await create_customer(gateway)
    body = {"provider": provider, "model": model, "messages": [{"role": "user", "content": "x"}]}
    assert (await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))).status == 200
    sent = fakes[provider].requests[-1].json
    value = sent.get("max_completion_tokens") or sent["generationConfig"]["maxOutputTokens"]
    assert value == gateway_settings.default_max_tokens
