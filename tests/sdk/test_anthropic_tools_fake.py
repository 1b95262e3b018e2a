"""The fake Anthropic: tool use, the strict agent loop, JSON output and images, via the SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from tests.fakes import FakeUpstream, images
from tests.sdk.conftest import raw_post

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}},
}
WEATHER_ARGS = {"city": "city-value", "unit": "celsius", "days": 3}
TIME_ARGS = {"zone": "zone-value"}
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_stream_tool_use_blocks(
    anthropic_fake: FakeUpstream, claude: anthropic.AsyncAnthropic
) -> None:
    async with claude.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=user("weather and time fake:tools=2 fake:usage=30,9"),
        tools=[WEATHER, TIME],
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["tool_use", "tool_use"]
    blocks = [b for b in final.content if b.type == "tool_use"]
    assert [(b.name, b.input) for b in blocks] == [
        ("get_weather", WEATHER_ARGS),
        ("get_time", TIME_ARGS),
    ]
    assert all(b.id.startswith("toolu_") for b in blocks)
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 9)
    assert anthropic_fake.requests[-1].json["tools"] == [WEATHER, TIME]


async def test_stream_wire_events(anthropic_fake: FakeUpstream) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": user("fake:tools=2"),
        "tools": [WEATHER, TIME],
    }
    _, _, raw = await raw_post(anthropic_fake.base_url + "/v1/messages", body, HEADERS)
    events = [json.loads(e.split("data: ", 1)[1]) for e in raw.decode().split("\n\n") if e]
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    for index, (name, args) in enumerate([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]):
        mine = [e for e in events if e.get("index") == index]
        assert mine[0]["type"] == "content_block_start"
        assert mine[0]["content_block"]["input"] == {}
        assert mine[0]["content_block"]["name"] == name
        deltas = [e["delta"] for e in mine[1:-1]]
        assert len(deltas) >= 2 and all(x["type"] == "input_json_delta" for x in deltas)
        assert json.loads("".join(x["partial_json"] for x in deltas)) == args
        assert mine[-1] == {"type": "content_block_stop", "index": index}


async def test_forced_tool_is_the_json_answer(claude: anthropic.AsyncAnthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["title", "n"],
    }
    message = await claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=user("give json"),
        tools=[{"name": "answer", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "answer"},
    )
    (block,) = message.content
    assert block.type == "tool_use" and block.name == "answer"
    assert block.input == {"title": "title-value", "n": 2}
    anyone = await claude.messages.create(
        model="m",
        max_tokens=9,
        messages=user("x"),
        tools=[WEATHER, TIME],
        tool_choice={"type": "any"},
    )
    assert [b.name for b in anyone.content if b.type == "tool_use"] == ["get_weather"]
    plain = await claude.messages.create(
        model="m", max_tokens=9, messages=user("x"), tools=[WEATHER]
    )
    assert plain.stop_reason == "end_turn"


async def test_full_loop_with_tool_results(claude: anthropic.AsyncAnthropic) -> None:
    messages: list[Any] = user("fake:tools=2 fake:text=ignored_here")
    first = await claude.messages.create(
        model="m", max_tokens=50, messages=messages, tools=[WEATHER, TIME]
    )
    ids = [b.id for b in first.content if b.type == "tool_use"]
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    results = [
        {"type": "tool_result", "tool_use_id": ids[0], "content": "sunny"},
        {
            "type": "tool_result",
            "tool_use_id": ids[1],
            "content": [{"type": "text", "text": "9am"}],
        },
    ]
    messages.append({"role": "user", "content": results})
    second = await claude.messages.create(
        model="m", max_tokens=50, messages=messages, tools=[WEATHER, TIME]
    )
    assert second.content[0].type == "text"
    assert second.content[0].text == "Tool results: sunny; 9am"
    assert second.stop_reason == "end_turn"
    async with claude.messages.stream(
        model="m", max_tokens=50, messages=messages, tools=[WEATHER, TIME]
    ) as stream:
        assert await stream.get_final_text() == "Tool results: sunny; 9am"
    split = [*messages[:-1], {"role": "user", "content": results[:1]}]
    split.append({"role": "user", "content": results[1:]})
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude.messages.create(model="m", max_tokens=5, messages=split, tools=[WEATHER, TIME])
    assert info.value.body["error"]["message"] == (
        'messages: roles must alternate between "user" and "assistant", but found multiple'
        ' "user" roles in a row'
    )
    missing = [*messages[:-1], {"role": "user", "content": results[:1]}]
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude.messages.create(model="m", max_tokens=5, messages=missing, tools=[WEATHER])
    assert info.value.body["error"]["message"].startswith(
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately"
        f" after: {ids[1]}."
    )


async def test_unexpected_tool_result_and_two_users(claude: anthropic.AsyncAnthropic) -> None:
    stray = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}]
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude.messages.create(model="m", max_tokens=5, messages=stray)
    assert info.value.body["error"]["message"].startswith(
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x."
    )
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude.messages.create(model="m", max_tokens=5, messages=user("a") + user("b"))
    assert 'multiple "user" roles in a row' in info.value.message


async def test_json_output_formats(
    anthropic_fake: FakeUpstream, claude: anthropic.AsyncAnthropic
) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    message = await claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=user("json please"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert message.content[0].type == "text"
    assert json.loads(message.content[0].text) == {"ok": True}
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": user("json"),
        "output_format": {"type": "json_schema", "schema": schema},
    }
    _, _, raw = await raw_post(anthropic_fake.base_url + "/v1/messages", body, HEADERS)
    assert json.loads(json.loads(raw)["content"][0]["text"]) == {"ok": True}


async def test_images(claude: anthropic.AsyncAnthropic) -> None:
    content = [
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": images.b64(images.png(16, 8)),
            },
        },
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/gif",
                "data": images.b64(images.gif(3, 5)),
            },
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "text", "text": "what are these?"},
    ]
    message = await claude.messages.create(
        model="m", max_tokens=50, messages=[{"role": "user", "content": content}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == (
        "I see 3 image(s): 16x8 image/png, 3x5 image/gif, url https://example.com/a.jpg"
    )
    wrong = [
        {"type": "text", "text": "hi"},
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": images.b64(images.jpeg(4, 4)),
            },
        },
    ]
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": wrong}]
        )
    assert info.value.body["error"]["message"] == (
        "messages.0.content.1.image.source.base64: The image was specified using the image/png"
        " media type, but the image appears to be a image/jpeg image"
    )


async def test_malformed_tool_stream(anthropic_fake: FakeUpstream) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": user("fake:malformed-tool"),
        "tools": [WEATHER],
    }
    _, _, raw = await raw_post(anthropic_fake.base_url + "/v1/messages", body, HEADERS)
    events = [json.loads(e.split("data: ", 1)[1]) for e in raw.decode().split("\n\n") if e]
    partial = "".join(
        e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"
    )
    assert partial == '{"city": '
    with pytest.raises(json.JSONDecodeError):
        json.loads(partial)
    assert events[1]["content_block"]["name"] == "get_weather"
