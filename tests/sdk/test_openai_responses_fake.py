"""The fake OpenAI Responses API (`POST /v1/responses`), read by the official openai SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.sdk.conftest import UTF8_DIRECTIVE, UTF8_TEXT, raw_post

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def squeeze(types: list[str]) -> list[str]:
    """Event types with runs of the same type written once."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


async def test_non_stream(openai_fake: FakeUpstream, oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="gpt-4.1-mini",
        instructions="be brief fake:text=ignored",
        input="hi fake:text=Hi_there fake:usage=12,3 fake:cached=4",
        max_output_tokens=50,
        reasoning={"effort": "low"},
        text={"verbosity": "low"},
    )
    assert response.output_text == "Hi there"
    assert response.id.startswith("resp_") and len(response.id) == 55
    assert (response.object, response.status, response.model) == (
        "response",
        "completed",
        "gpt-4.1-mini-2025-04-14",
    )
    assert response.incomplete_details is None and response.error is None
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_")
    assert message.status == "completed" and message.role == "assistant"
    assert message.content[0].type == "output_text"
    assert message.content[0].annotations == []
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (12, 3, 15)
    assert usage.input_tokens_details.cached_tokens == 4
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert (response.instructions, response.max_output_tokens) == ("be brief fake:text=ignored", 50)
    assert response.reasoning is not None and response.reasoning.effort == "low"
    assert response.text is not None and response.text.verbosity == "low"
    assert response.text.format is not None and response.text.format.type == "text"
    request = openai_fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/responses")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json["max_output_tokens"] == 50


async def test_reasoning_item_and_default_usage(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="o4-mini",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "fake:reasoning=7"}]}],
    )
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].id.startswith("rs_")
    assert response.output_text == "Hello from the fake openai!"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    assert response.usage.output_tokens_details.reasoning_tokens == 7


async def test_previous_response_id_and_store(oai: openai.AsyncOpenAI) -> None:
    first = await oai.responses.create(model="gpt-4.1", input="hi")
    second = await oai.responses.create(
        model="gpt-4.1", input="and again", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id and second.id != first.id
    assert first.previous_response_id is None and first.store is True
    unstored = await oai.responses.create(model="gpt-4.1", input="hi", store=False)
    assert unstored.store is False
    for missing in (unstored.id, "resp_unknown"):
        with pytest.raises(openai.BadRequestError) as info:
            await oai.responses.create(model="gpt-4.1", input="x", previous_response_id=missing)
        assert info.value.code == "previous_response_not_found"
        assert info.value.param == "previous_response_id"
        assert f"Previous response with id '{missing}' not found." in info.value.message


async def test_stream_helper_accumulates_text(oai: openai.AsyncOpenAI) -> None:
    async with oai.responses.stream(
        model="gpt-4.1", input="fake:usage=9,4 fake:cached=2 fake:cache_write=3"
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert squeeze([e.type for e in events]) == TEXT_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 3 and "".join(deltas) == "Hello from the fake openai!"
    created = events[0]
    assert created.type == "response.created"
    assert (created.response.status, created.response.usage) == ("in_progress", None)
    assert final.id == created.response.id
    assert final.output_text == "Hello from the fake openai!"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 4)
    assert final.usage.input_tokens_details.cached_tokens == 2
    assert final.usage.input_tokens_details.cache_write_tokens == 3


async def test_create_stream_true_on_the_wire(openai_fake: FakeUpstream) -> None:
    body = {"model": "gpt-4.1", "input": "hi", "stream": True}
    status, headers, raw = await raw_post(
        openai_fake.base_url + "/responses", body, {"Authorization": "Bearer k"}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""  # every event ends in a blank line; no [DONE]
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == "event: " + data["type"]
    assert b"[DONE]" not in raw


async def test_incomplete(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="gpt-4.1", input="fake:incomplete fake:usage=5,16", max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"
    assert response.usage is not None and response.usage.output_tokens == 16
    stream = await oai.responses.create(model="gpt-4.1", input="fake:incomplete", stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "incomplete"
    assert events[-1].response.incomplete_details is not None
    assert events[-1].response.usage is not None
    assert "response.completed" not in [e.type for e in events]


@pytest.mark.parametrize(
    ("status", "exc", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (404, openai.NotFoundError, "model_not_found"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, "server_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_errors(
    oai: openai.AsyncOpenAI,
    status: int,
    exc: type[openai.APIStatusError],
    code: str | None,
    stream: bool,
) -> None:
    with pytest.raises(exc) as info:
        await oai.responses.create(model="gpt-4.1", input=f"fake:error={status}", stream=stream)
    assert info.value.status_code == status
    assert info.value.code == code
    assert isinstance(info.value.body, dict)
    assert set(info.value.body) == {"message", "type", "param", "code"}


async def test_mid_stream_failure(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.responses.create(model="gpt-4.1", input="fake:mid-stream-error", stream=True)
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and "Hello from the fake openai!".startswith(text)
    assert text != "Hello from the fake openai!"
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.status == "failed" and last.response.id == events[0].response.id
    assert last.response.error is not None and last.response.error.code == "server_error"
    assert "response.completed" not in [e.type for e in events]


async def test_mid_stream_error_event(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.responses.create(
        model="gpt-4.1", input="fake:mid-stream-error fake:error-event", stream=True
    )
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    last = events[-1]
    assert last.type == "error"
    assert (last.code, last.param) == ("server_error", None)
    assert "server had an error" in last.message


async def test_cut_and_early_end(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.responses.create(model="gpt-4.1", input="fake:cut", stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass
    stream = await oai.responses.create(model="gpt-4.1", input="fake:early-end", stream=True)
    types = [event.type async for event in stream]
    assert types[-1] == "response.output_text.delta"


@pytest.mark.parametrize(
    "directive", [UTF8_DIRECTIVE + " fake:tiny-reads", UTF8_DIRECTIVE + " fake:crlf"]
)
async def test_stream_tiny_reads_and_crlf(oai: openai.AsyncOpenAI, directive: str) -> None:
    async with oai.responses.stream(model="gpt-4.1", input=directive) as stream:
        final = await stream.get_final_response()
    assert final.output_text == UTF8_TEXT
    assert final.usage is not None and final.usage.output_tokens == len(UTF8_TEXT.split())


@pytest.mark.parametrize(
    ("body", "headers", "status", "param", "code"),
    [
        (
            {"input": "hi"},
            {"Authorization": "Bearer k"},
            400,
            "model",
            "missing_required_parameter",
        ),
        (
            {"model": "m", "input": {"a": 1}},
            {"Authorization": "Bearer k"},
            400,
            "input",
            "invalid_type",
        ),
        ({"model": "m", "input": "hi"}, {}, 401, None, None),
    ],
)
async def test_request_checks(
    openai_fake: FakeUpstream,
    body: dict[str, Any],
    headers: dict[str, str],
    status: int,
    param: str | None,
    code: str | None,
) -> None:
    got, _, raw = await raw_post(openai_fake.base_url + "/responses", body, headers)
    error = json.loads(raw)["error"]
    assert got == status
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert openai_fake.requests[-1].path == "/v1/responses"
