"""The fake Responses API's function calls, agent loop, structured output and images, via the
official openai SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.fakes import FakeUpstream, images

WEATHER = {
    "type": "function",
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
}
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
}
WEATHER_ARGS = {"city": "city-value", "unit": "celsius", "days": 3}
TIME_ARGS = {"zone": "zone-value"}


async def test_function_calls_non_stream(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="gpt-4.1", input="weather and time fake:tools=2", tools=[WEATHER, TIME]
    )
    calls = response.output
    assert [c.type for c in calls] == ["function_call", "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c.arguments) for c in calls] == [WEATHER_ARGS, TIME_ARGS]
    assert all(c.call_id.startswith("call_") and c.id.startswith("fc_") for c in calls)
    assert all(c.status == "completed" for c in calls)
    assert response.output_text == ""
    assert response.usage is not None and response.usage.output_tokens == 20
    assert [t.name for t in response.tools] == ["get_weather", "get_time"]


async def test_stream_helper_accumulates_a_function_call(oai: openai.AsyncOpenAI) -> None:
    async with oai.responses.stream(
        model="gpt-4.1", input="weather fake:tools=1 fake:usage=20,7", tools=[WEATHER]
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types.count("response.function_call_arguments.delta") >= 2
    assert types[-4:-1] == [
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert types[-1] == "response.completed"
    added = events[2]
    assert added.item.type == "function_call" and added.item.arguments == ""
    done = events[-3]
    assert json.loads(done.arguments) == WEATHER_ARGS
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == WEATHER_ARGS
    assert call.call_id == added.item.call_id
    assert final.usage is not None and final.usage.output_tokens == 7


async def test_create_stream_accumulates_arguments(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.responses.create(
        model="gpt-4.1", input="fake:tools=2", tools=[WEATHER, TIME], stream=True
    )
    arguments: dict[int, str] = {}
    async for event in stream:
        if event.type == "response.function_call_arguments.delta":
            arguments[event.output_index] = arguments.get(event.output_index, "") + event.delta
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: WEATHER_ARGS, 1: TIME_ARGS}


async def test_agent_loop_with_the_whole_input(oai: openai.AsyncOpenAI) -> None:
    user = {"role": "user", "content": "weather please fake:tools=1 fake:usage=30,6"}
    first = await oai.responses.create(model="gpt-4.1", input=[user], tools=[WEATHER])
    call = first.output[0]
    assert call.type == "function_call"
    follow_up: list[Any] = [
        user,
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"},
    ]
    second = await oai.responses.create(model="gpt-4.1", input=follow_up, tools=[WEATHER])
    assert second.output_text == "Tool results: sunny, 21C"
    assert second.usage is not None and second.usage.input_tokens == 30


async def test_agent_loop_with_previous_response_id(oai: openai.AsyncOpenAI) -> None:
    first = await oai.responses.create(
        model="gpt-4.1", input="fake:tools=2 fake:usage=40,9", tools=[WEATHER, TIME]
    )
    outputs = [
        {"type": "function_call_output", "call_id": c.call_id, "output": f"result {i}"}
        for i, c in enumerate(first.output)
    ]
    second = await oai.responses.create(
        model="gpt-4.1", input=outputs, previous_response_id=first.id, tools=[WEATHER, TIME]
    )
    assert second.output_text == "Tool results: result 0; result 1"
    assert second.usage is not None and second.usage.input_tokens == 40  # the first turn's
    with pytest.raises(openai.BadRequestError) as info:  # one call left unanswered
        await oai.responses.create(
            model="gpt-4.1", input=outputs[:1], previous_response_id=first.id, tools=[WEATHER]
        )
    assert f"No tool output found for function call {first.output[1].call_id}." in str(info.value)


async def test_unknown_call_output(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await oai.responses.create(
            model="gpt-4.1",
            input=[
                {"role": "user", "content": "hi"},
                {"type": "function_call_output", "call_id": "call_nope", "output": "x"},
            ],
        )
    assert info.value.param == "input"
    assert "No tool call found for function call output with call_id call_nope." in str(info.value)


@pytest.mark.parametrize(
    ("tool_choice", "extra", "names"),
    [
        ({"type": "function", "name": "get_time"}, {}, ["get_time"]),
        ("required", {}, ["get_weather"]),
        ("none", {}, []),
        ("auto", {"parallel_tool_calls": False}, ["get_weather"]),
        (
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "get_time"}],
            },
            {},
            ["get_time"],
        ),
    ],
)
async def test_tool_choice(
    oai: openai.AsyncOpenAI, tool_choice: Any, extra: dict[str, Any], names: list[str]
) -> None:
    directive = "fake:tools=2" if extra else "hi"
    response = await oai.responses.create(
        model="gpt-4.1",
        input=directive,
        tools=[WEATHER, TIME],
        tool_choice=tool_choice,
        **extra,
    )
    assert [c.name for c in response.output if c.type == "function_call"] == names
    if not names:
        assert response.output_text == "Hello from the fake openai!"


class Weather(BaseModel):
    city: str
    days: int


async def test_structured_output_parse(openai_fake: FakeUpstream, oai: openai.AsyncOpenAI) -> None:
    parsed = await oai.responses.parse(model="gpt-4.1", input="weather", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)
    assert parsed.output_parsed.city == "city-value"
    assert openai_fake.requests[-1].json["text"]["format"]["type"] == "json_schema"
    response = await oai.responses.create(
        model="gpt-4.1", input="json please", text={"format": {"type": "json_object"}}
    )
    assert json.loads(response.output_text) == {"answer": "Hello from the fake openai!"}


async def test_input_images(openai_fake: FakeUpstream, oai: openai.AsyncOpenAI) -> None:
    data = "data:image/png;base64," + images.b64(images.png(3, 2))
    content: list[Any] = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": data, "detail": "low"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"},
    ]
    response = await oai.responses.create(
        model="gpt-4.1", input=[{"role": "user", "content": content}]
    )
    assert response.output_text == (
        "I see 2 image(s): 3x2 image/png detail=low, url https://example.com/cat.jpg detail=auto"
    )
    bad = [{"type": "input_image", "image_url": "data:image/png;base64,bm90IGFuIGltYWdl"}]
    with pytest.raises(openai.BadRequestError) as info:
        await oai.responses.create(model="gpt-4.1", input=[{"role": "user", "content": bad}])
    assert info.value.code == "invalid_image_format"


async def test_history_with_output_text_and_system(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="gpt-4.1",
        input=[
            {"role": "developer", "content": "fake:text=not_me"},
            {"role": "user", "content": "first fake:text=old"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "old"}],
            },
            {"role": "user", "content": [{"type": "input_text", "text": "fake:text=new_one"}]},
        ],
    )
    assert response.output_text == "new one"


async def test_malformed_tool(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="gpt-4.1", input="fake:malformed-tool", tools=[WEATHER]
    )
    call = response.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.arguments)
