"""Tools, structured output and images through the official openai SDK, for each provider: the
agent loop, parallel streamed calls, parse() with a Pydantic model, an image question — and what
the gateway sent upstream, field by field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import openai
import pytest
from pydantic import BaseModel

from tests.fakes import images
from tests.helpers import create_customer

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "gemini": "gemini/gemini-2.5-flash",
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "description": "Now"}}  # no args
WEATHER_ARGS = {"city": "city-value", "unit": "celsius"}


@pytest.fixture
async def client(gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    _, key = await create_customer(gateway)
    base_url = str(gateway.make_url("/v1"))
    async with openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0) as c:
        yield c


def last_request(fakes, provider: str) -> dict:
    return fakes[provider].requests[-1].json


@pytest.mark.parametrize("provider", MODELS)
async def test_an_agent_loop_of_tool_calls_and_results(client, fakes, db, provider) -> None:
    messages: list = [{"role": "user", "content": "Weather in Paris? fake:tools=1"}]
    first = await client.chat.completions.create(
        model=MODELS[provider], messages=messages, tools=[WEATHER, CLOCK]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == WEATHER_ARGS

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]  # fmt: skip
    final = await client.chat.completions.create(
        model=MODELS[provider], messages=messages, tools=[WEATHER, CLOCK]
    )
    assert final.choices[0].message.content == "Tool results: sunny, 21 C"
    assert final.choices[0].finish_reason == "stop"
    sent = last_request(fakes, provider)
    if provider == "anthropic":
        assert sent["messages"][1]["content"][0]["type"] == "tool_use"
        assert sent["messages"][1]["content"][0]["input"] == WEATHER_ARGS
        assert sent["messages"][2]["content"] == [
            {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}
        ]
        no_args = {"type": "object", "properties": {}}
        assert sent["tools"][1] == {"name": "get_time", "description": "Now",
                                    "input_schema": no_args}  # fmt: skip
    elif provider == "gemini":
        [response] = sent["contents"][2]["parts"]
        assert response["functionResponse"]["name"] == "get_weather"  # looked up from history
        assert response["functionResponse"]["response"] == {"result": "sunny, 21 C"}
        declared = sent["tools"][0]["functionDeclarations"]
        assert "additionalProperties" not in declared[0]["parameters"]
        assert declared[1] == {"name": "get_time", "description": "Now"}
    else:
        assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id,
                                       "content": "sunny, 21 C"}  # fmt: skip
    assert len(await db.fetch("SELECT 1 FROM usage_events")) == 2


@pytest.mark.parametrize("provider", MODELS)
async def test_two_parallel_streamed_calls_accumulate(client, fakes, provider) -> None:
    async with client.chat.completions.stream(
        model=MODELS[provider],
        messages=[{"role": "user", "content": "both fake:tools=2"}],
        tools=[WEATHER, CLOCK],
    ) as stream:
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == WEATHER_ARGS
    assert json.loads(calls[1].function.arguments) == {}
    assert len({c.id for c in calls}) == 2 and all(c.id for c in calls)


class Forecast(BaseModel):
    city: str
    days: int
    rainy: bool


@pytest.mark.parametrize("provider", MODELS)
async def test_parse_with_a_pydantic_model(client, fakes, provider) -> None:
    completion = await client.chat.completions.parse(
        model=MODELS[provider],
        messages=[{"role": "user", "content": "A forecast, please."}],
        response_format=Forecast,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Forecast) and parsed.city
    sent = last_request(fakes, provider)
    if provider == "anthropic":
        assert sent["tool_choice"] == {"type": "tool", "name": "json_answer"}
    elif provider == "gemini":
        config = sent["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert set(config["responseSchema"]["properties"]) == {"city", "days", "rainy"}
        assert "additionalProperties" not in config["responseSchema"]
    else:
        assert sent["response_format"]["json_schema"]["name"] == "Forecast"


@pytest.mark.parametrize("provider", MODELS)
async def test_an_image_question(client, fakes, provider) -> None:
    uri = "data:image/png;base64," + images.b64(images.png(16, 8))
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": uri, "detail": "high"}}]  # fmt: skip
    answer = await client.chat.completions.create(
        model=MODELS[provider], messages=[{"role": "user", "content": content}]
    )
    text = answer.choices[0].message.content
    assert text.startswith("I see 1 image(s): 16x8 image/png")
    sent = json.dumps(last_request(fakes, provider))
    assert images.b64(images.png(16, 8)) in sent  # the bytes, in the provider's own shape
