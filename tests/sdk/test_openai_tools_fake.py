"""The fake OpenAI: tool calls, the agent loop, structured output and images, via the SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.fakes import FakeUpstream, images
from tests.sdk.conftest import raw_post

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
                "days": {"type": "integer"},
            },
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
WEATHER_ARGS = {"city": "city-value", "unit": "celsius", "days": 3}
TIME_ARGS = {"zone": "zone-value"}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_stream_helper_accumulates_two_parallel_calls(
    openai_fake: FakeUpstream, oai: openai.AsyncOpenAI
) -> None:
    async with oai.chat.completions.stream(
        model="gpt-4.1",
        messages=user("weather and time fake:tools=2 fake:usage=20,7"),
        tools=[WEATHER, TIME],
        stream_options={"include_usage": True},
    ) as stream:
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in calls] == [WEATHER_ARGS, TIME_ARGS]
    assert all(c.id.startswith("call_") for c in calls)
    assert len({c.id for c in calls}) == 2
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (20, 7)
    assert openai_fake.requests[-1].json["tools"] == [WEATHER, TIME]


async def test_stream_wire_fragments(openai_fake: FakeUpstream) -> None:
    body = {
        "model": "m",
        "stream": True,
        "messages": user("fake:tools=3"),
        "tools": [WEATHER, TIME],
    }
    status, _, raw = await raw_post(
        openai_fake.base_url + "/chat/completions", body, {"Authorization": "Bearer k"}
    )
    assert status == 200
    lines = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert deltas[0]["role"] == "assistant"
    pieces: dict[int, list[dict[str, Any]]] = {}
    order = []
    for delta in deltas[:-1]:
        (call,) = delta["tool_calls"]
        pieces.setdefault(call["index"], []).append(call)
        order.append(call["index"])
    assert order == sorted(order)  # one call after another
    assert sorted(pieces) == [0, 1, 2]
    names = []
    for index, parts in pieces.items():
        head, rest = parts[0], parts[1:]
        assert set(head) == {"index", "id", "type", "function"}
        assert head["type"] == "function" and head["id"].startswith("call_")
        assert head["function"]["arguments"] == ""
        names.append(head["function"]["name"])
        assert len(rest) >= 2
        assert all(
            set(p) == {"index", "function"} and set(p["function"]) == {"arguments"} for p in rest
        )
        args = json.loads("".join(p["function"]["arguments"] for p in rest))
        assert args == (WEATHER_ARGS if index % 2 == 0 else TIME_ARGS)
    assert names == ["get_weather", "get_time", "get_weather"]


async def test_non_stream_forced_and_required(oai: openai.AsyncOpenAI) -> None:
    forced = await oai.chat.completions.create(
        model="gpt-4o",
        messages=user("fake:tools=2"),
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = forced.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_time", "get_time"]
    assert forced.choices[0].finish_reason == "tool_calls"
    required = await oai.chat.completions.create(
        model="gpt-4o", messages=user("hi"), tools=[WEATHER, TIME], tool_choice="required"
    )
    (call,) = required.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert required.usage is not None and required.usage.completion_tokens == 10


async def test_no_calls_without_directive_none_choice_and_serial(oai: openai.AsyncOpenAI) -> None:
    plain = await oai.chat.completions.create(model="m", messages=user("hi"), tools=[WEATHER])
    assert plain.choices[0].message.content == "Hello from the fake openai!"
    assert plain.choices[0].message.tool_calls is None
    none = await oai.chat.completions.create(
        model="m", messages=user("fake:tools=2"), tools=[WEATHER], tool_choice="none"
    )
    assert none.choices[0].finish_reason == "stop"
    serial = await oai.chat.completions.create(
        model="m", messages=user("fake:tools=2"), tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    assert len(serial.choices[0].message.tool_calls or []) == 1


async def test_agent_loop(oai: openai.AsyncOpenAI) -> None:
    messages: list[Any] = user("fake:tools=2")
    first = await oai.chat.completions.create(model="m", messages=messages, tools=[WEATHER, TIME])
    calls = first.choices[0].message.tool_calls or []
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "9am"}]},
    ]
    second = await oai.chat.completions.create(model="m", messages=messages, tools=[WEATHER, TIME])
    assert second.choices[0].message.content == "Tool results: sunny; 9am"
    assert second.choices[0].finish_reason == "stop"
    stream = await oai.chat.completions.create(
        model="m", messages=messages, tools=[WEATHER, TIME], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Tool results: sunny; 9am"


def _assistant(*ids: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            for i in ids
        ],
    }


@pytest.mark.parametrize(
    ("messages", "param", "message"),
    [
        (
            [*user("hi"), {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
            "messages.[1].role",
            "must be a response to a preceeding message with 'tool_calls'",
        ),
        (
            [
                *user("hi"),
                _assistant("call_1"),
                {"role": "tool", "tool_call_id": "c9", "content": "x"},
            ],
            "messages.[2].tool_call_id",
            "'tool_call_id' of 'c9' not found in 'tool_calls' of previous message",
        ),
        (
            [
                *user("hi"),
                _assistant("call_1", "call_2"),
                {"role": "tool", "tool_call_id": "call_1", "content": "x"},
                *user("and?"),
            ],
            "messages.[1].role",
            "did not have response messages: call_2",
        ),
        (
            [*user("hi"), _assistant("call_1")],
            "messages.[1].role",
            "did not have response messages: call_1",
        ),
    ],
)
async def test_tool_turn_errors(
    oai: openai.AsyncOpenAI, messages: list[Any], param: str, message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await oai.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
    assert info.value.status_code == 400
    assert info.value.param == param
    assert message in info.value.message


class Color(BaseModel):
    name: str
    hex: str | None


class Palette(BaseModel):
    title: str
    count: int
    colors: list[Color]
    warm: bool


async def test_parse_structured_output(openai_fake: FakeUpstream, oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.parse(
        model="gpt-4o", messages=user("a palette"), response_format=Palette
    )
    parsed = completion.choices[0].message.parsed
    assert parsed == Palette(
        title="title-value",
        count=2,
        colors=[Color(name="name-value", hex="hex-value")],
        warm=True,
    )
    sent = openai_fake.requests[-1].json["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Palette"
    obj = await oai.chat.completions.create(
        model="m", messages=user("fake:text=hi_you"), response_format={"type": "json_object"}
    )
    assert json.loads(obj.choices[0].message.content or "") == {"answer": "hi you"}


async def test_image_input(oai: openai.AsyncOpenAI) -> None:
    png = "data:image/png;base64," + images.b64(images.png(16, 8))
    jpeg = "data:image/jpeg;base64," + images.b64(images.jpeg(640, 480))
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": png, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": jpeg}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
    ]
    completion = await oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content == (
        "I see 3 image(s): 16x8 image/png detail=high, 640x480 image/jpeg,"
        " url https://example.com/cat.webp"
    )
    bad = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]
    with pytest.raises(openai.BadRequestError) as info:
        await oai.chat.completions.create(model="m", messages=[{"role": "user", "content": bad}])
    assert info.value.code == "invalid_image_format"


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_tool_call(openai_fake: FakeUpstream, stream: bool) -> None:
    body = {
        "model": "m",
        "stream": stream,
        "messages": user("fake:malformed-tool"),
        "tools": [WEATHER],
    }
    _, _, raw = await raw_post(
        openai_fake.base_url + "/chat/completions", body, {"Authorization": "Bearer k"}
    )
    if not stream:
        (call,) = json.loads(raw)["choices"][0]["message"]["tool_calls"]
        arguments = call["function"]["arguments"]
    else:
        chunks = [json.loads(x[6:]) for x in raw.decode().split("\n\n") if x[6:7] == "{"]
        arguments = "".join(
            c["choices"][0]["delta"]
            .get("tool_calls", [{}])[0]
            .get("function", {})
            .get("arguments", "")
            for c in chunks
        )
    assert arguments == '{"city": '
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)
