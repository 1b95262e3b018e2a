"""The Anthropic Messages shapes: requests as Claude Code sends them parsed into a ChatRequest,
and answers, streams and errors read back by the official anthropic SDK."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import anthropic
import httpx2
import orjson
import pytest

from core import errors
from core.chat import ImagePart, TextPart, Tool, ToolCall, ToolChoice
from core.events import CallEvent, CallResult, Failed, Finished, Started, TextDelta, ToolCallDelta
from core.month import MonthState
from core.usage import Usage
from proxy.routes.anthropic_format import MessagesStream, error_json, message_json
from proxy.routes.anthropic_request import parse_messages_request
from tests.image_samples import png

MONTH = MonthState(date(2026, 5, 1), 1_000_000, 0, 10, None, 10)
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
PNG = png(40, 30)


def parse(body: dict[str, Any], **overrides: Any):
    base = {"model": "openai/gpt-4.1", "max_tokens": 1024, "messages": [user("Hi")]}
    return parse_messages_request(
        {**base, **body, **overrides}, provider="openai", model="gpt-4.1", max_tokens_limit=32000
    )


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def image(kind: str, **source: Any) -> dict[str, Any]:
    return {"type": "image", "source": {"type": kind, **source}}


def one(block: dict[str, Any]) -> dict[str, Any]:
    """A request body whose only message is one user block."""
    return {"messages": [user([block])]}


CACHED = {"cache_control": {"type": "ephemeral"}}
PNG_DATA = base64.b64encode(PNG).decode()


def claude_code_request() -> dict[str, Any]:
    reading = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a.py"}}
    listing = {"type": "tool_use", "id": "toolu_2", "name": "LS", "input": {}}
    first = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "print(1)"}
    second = {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
              "content": [text("denied"), text("twice")]}  # fmt: skip
    return {
        "model": "openai/gpt-4.1",
        "max_tokens": 32000,
        "stream": True,
        "temperature": 1,
        "metadata": {"user_id": "user_abc_account__session_123"},
        "system": [text("You are Claude Code.", **CACHED), text("Work in /repo.")],
        "tools": [
            {"name": "Read", "description": "Read a file", "input_schema": SCHEMA},
            {"name": "LS", "input_schema": {"type": "object", "properties": {}}, **CACHED},
        ],
        "messages": [
            user([
                text("<system-reminder>ctx</system-reminder>"),
                text("What is in a.py? See", **CACHED),
                image("base64", media_type="image/jpeg", data=PNG_DATA),  # mislabelled
            ]),
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Let me look.", "signature": "sig"},
                text("Reading it."),
                reading,
                listing,
            ]},
            user([
                first,
                second,
                text("Explain."),
            ]),
        ],
        "thinking": {"type": "enabled", "budget_tokens": 4096},
    }  # fmt: skip


def test_a_claude_code_request_becomes_a_chat_request() -> None:
    chat = parse_messages_request(
        claude_code_request(), provider="openai", model="gpt-4.1", max_tokens_limit=32000
    )
    assert (chat.provider, chat.model, chat.max_tokens) == ("openai", "gpt-4.1", 32000)
    assert chat.temperature == 1.0
    assert chat.reasoning_effort == "medium"
    system, first, assistant, result1, result2, last = chat.messages
    assert system.role == "system" and system.content == "You are Claude Code.\n\nWork in /repo."
    assert first.role == "user" and first.content.endswith("What is in a.py? See")
    (image,) = first.images
    assert (image.data, image.media_type, image.width, image.height) == (PNG, "image/png", 40, 30)
    assert assistant.parts == (TextPart("Reading it."),)  # the thinking block is dropped
    assert assistant.tool_calls == (
        ToolCall("toolu_1", "Read", '{"path":"a.py"}'),
        ToolCall("toolu_2", "LS", "{}"),
    )
    assert (result1.role, result1.tool_call_id, result1.content) == ("tool", "toolu_1", "print(1)")
    assert (result2.tool_call_id, result2.content) == ("toolu_2", "Error: denied\n\ntwice")
    assert (last.role, last.content) == ("user", "Explain.")
    assert chat.tools == (
        Tool("Read", "Read a file", SCHEMA),
        Tool("LS", None, {"type": "object", "properties": {}}),
    )
    assert chat.tool_choice is None and chat.parallel_tool_calls is None


def test_system_messages_claude_code_sends_to_other_models_join_the_system_prompt() -> None:
    chat = parse({"messages": [{"role": "user", "content": "Hi"},
                               {"role": "system", "content": "A reminder."}]})  # fmt: skip
    roles = [(m.role, m.content) for m in chat.messages]
    assert roles == [("user", "Hi"), ("system", "A reminder.")]
    assert chat.split_system()[0] == "A reminder."


def test_string_content_system_and_stop_sequences() -> None:
    chat = parse({"system": "Be brief.", "stop_sequences": ["\n\nHuman:"], "top_p": 0.5})
    assert [(m.role, m.content) for m in chat.messages] == [("system", "Be brief."), ("user", "Hi")]
    assert chat.stop == ("\n\nHuman:",) and chat.top_p == 0.5
    assert parse({"system": [], "thinking": {"type": "disabled"}}).reasoning_effort is None
    ignored = parse({"metadata": {"user_id": "u"}, "cache_control": {"type": "ephemeral"}})
    assert ignored.messages == parse({}).messages


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (2048, "low"), (2049, "medium"),
                                                (8192, "medium"), (8193, "high")])  # fmt: skip
def test_thinking_budgets_become_efforts(budget: int, effort: str) -> None:
    thinking = {"type": "enabled", "budget_tokens": budget}
    assert parse({"thinking": thinking}).reasoning_effort == effort


def tools_body(choice: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [{"name": "Read", "input_schema": SCHEMA}], "tool_choice": choice}


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, ToolChoice("auto"), None),
        ({"type": "any"}, ToolChoice("required"), None),
        ({"type": "none"}, ToolChoice("none"), None),
        ({"type": "tool", "name": "Read"}, ToolChoice("named", "Read"), None),
        ({"type": "auto", "disable_parallel_tool_use": True}, ToolChoice("auto"), False),
        ({"type": "any", "disable_parallel_tool_use": False}, ToolChoice("required"), None),
    ],
)
def test_tool_choices(choice: dict, expected: ToolChoice, parallel: bool | None) -> None:
    chat = parse(tools_body(choice))
    assert (chat.tool_choice, chat.parallel_tool_calls) == (expected, parallel)


def test_images_by_url_and_inside_tool_results() -> None:
    url = image("url", url="https://example.com/a.png")
    shot = image("base64", media_type="image/png", data=PNG_DATA)
    call = {"type": "tool_use", "id": "t1", "name": "Screenshot", "input": {}}
    chat = parse({"messages": [
        user([url]),
        {"role": "assistant", "content": [call]},
        user([{"type": "tool_result", "tool_use_id": "t1", "content": [shot]}]),
    ]})  # fmt: skip
    assert chat.messages[0].images == (ImagePart(url="https://example.com/a.png"),)
    tool, moved = chat.messages[2:]
    assert tool.role == "tool" and "image" in tool.content
    assert moved.role == "user" and moved.images[0].data == PNG


def refusal(body: dict[str, Any], **kwargs: Any) -> errors.InvalidRequest:
    with pytest.raises(errors.InvalidRequest) as caught:
        parse(body, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_k": 5}, "top_k"),
        ({"service_tier": "auto"}, "service_tier"),
        ({"container": "c1"}, "container"),
        ({"mcp_servers": []}, "mcp_servers"),
        ({"frobnicate": 1}, "frobnicate"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 32001}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"thinking": {"type": "enabled"}}, "thinking"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
        ({"tools": [{"name": "a", "input_schema": SCHEMA}, {"type": "bash_20250124"}]}, "tools[1]"),
        ({"tools": [{"name": "Read"}]}, "tools[0].input_schema"),
        (tools_body({"type": "tool", "name": "Write"}), "tool_choice.name"),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages"),  # no user message
        (one({"type": "document", "source": {}}), "messages[0].content[0]"),
        (one({"type": "tool_result", "tool_use_id": "no", "content": "x"}), "messages[0].content"),
        (one(image("file", file_id="f")), "messages[0].content[0].source"),
        (one(image("url", url="http://x/a")), "messages[0].content[0].source.url"),
        (one(image("base64", media_type="image/png", data="bm90IGFuIGltYWdl")),
         "messages[0].content[0].source"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(body: dict[str, Any], param: str) -> None:
    error = refusal(body)
    assert error.status == 400 and error.extra["param"] == param, error.message


# --- answers, read back by the anthropic SDK ----------------------------------------------------


def result(finish: str, calls: tuple[ToolCall, ...] = ()) -> CallResult:
    usage = Usage(
        input_tokens=120, cached_input_tokens=900, cache_write_tokens=30, output_tokens=45
    )
    return CallResult(finish, "gpt-4.1-2025-04-14", usage, 1234, "reported", MONTH, calls)


def sdk(handler) -> anthropic.Anthropic:
    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="kx_test", max_retries=0, http_client=httpx2.Client(transport=transport)
    )


def sse(frames: list[tuple[str | None, str]]) -> bytes:
    return "".join(f"event: {name}\ndata: {data}\n\n" for name, data in frames).encode()


def stream_client(events: list[CallEvent]) -> anthropic.Anthropic:
    stream = MessagesStream(message_id="msg_req1", model="openai/gpt-4.1")
    body = sse([frame for event in events for frame in stream.frames(event)])
    headers = {"content-type": "text/event-stream"}
    return sdk(lambda request: httpx2.Response(200, headers=headers, content=body))


def ask(client: anthropic.Anthropic):
    return client.messages.stream(
        model="openai/gpt-4.1", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    )


def check_usage(usage: Any) -> None:
    assert (usage.input_tokens, usage.output_tokens) == (120, 45)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (900, 30)


def test_a_stream_of_text_and_tool_calls_reads_back_through_the_sdk() -> None:
    calls = (ToolCall("call_a", "Read", '{"path": "a.py"}'), ToolCall("call_b", "LS", "{}"))
    events: list[CallEvent] = [
        Started(MONTH),
        TextDelta("Let me "),
        TextDelta("look."),
        ToolCallDelta(0, "call_a", "Read", ""),
        ToolCallDelta(0, None, None, '{"path": '),
        ToolCallDelta(0, None, None, '"a.py"}'),
        ToolCallDelta(1, "call_b", "LS", "{}"),
        Finished(result("tool_calls", calls)),
    ]
    with ask(stream_client(events)) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert message.id == "msg_req1" and message.model == "openai/gpt-4.1"
    text, read, ls = message.content
    assert text.type == "text" and text.text == "Let me look."
    assert (read.type, read.id, read.name, read.input) == ("tool_use", "call_a", "Read",
                                                            {"path": "a.py"})  # fmt: skip
    assert (ls.id, ls.name, ls.input) == ("call_b", "LS", {})
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    check_usage(message.usage)


def test_blocks_are_numbered_in_order_and_closed() -> None:
    stream = MessagesStream(message_id="msg_1", model="m")
    events: list[CallEvent] = [
        Started(MONTH),
        TextDelta("a"),
        ToolCallDelta(0, "c0", "Read", '{"path":'),
        ToolCallDelta(0, None, None, '"x"}'),
        ToolCallDelta(1, "c1", "LS", ""),
        TextDelta(""),
        TextDelta("b"),
        Finished(result("tool_calls", (ToolCall("c0", "Read", "{}"), ToolCall("c1", "LS", "{}")))),
    ]
    frames = [(name, orjson.loads(data)) for e in events for name, data in stream.frames(e)]
    assert all(name == body["type"] for name, body in frames)
    shape = [(name, body.get("index")) for name, body in frames]
    assert shape == [
        ("message_start", None), ("ping", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_delta", 1),
        ("content_block_stop", 1), ("content_block_start", 2), ("content_block_stop", 2),
        ("content_block_start", 3), ("content_block_delta", 3), ("content_block_stop", 3),
        ("message_delta", None), ("message_stop", None),
    ]  # fmt: skip
    assert frames[5][1]["content_block"] == {"type": "tool_use", "id": "c0", "name": "Read",
                                             "input": {}}  # fmt: skip
    assert frames[-2][1]["usage"] == {"input_tokens": 120, "output_tokens": 45,
                                      "cache_read_input_tokens": 900,
                                      "cache_creation_input_tokens": 30}  # fmt: skip


@pytest.mark.parametrize(("finish", "reason"), [("stop", "end_turn"), ("length", "max_tokens"),
                                                ("content_filter", "refusal")])  # fmt: skip
def test_stream_stop_reasons(finish: str, reason: str) -> None:
    events = [Started(MONTH), TextDelta("Hello"), Finished(result(finish))]
    with ask(stream_client(events)) as stream:
        assert stream.get_final_text() == "Hello"
        message = stream.get_final_message()
    assert message.stop_reason == reason
    check_usage(message.usage)


def test_a_tool_call_the_stream_did_not_carry_is_sent_whole() -> None:
    calls = (ToolCall("call_a", "Read", '{"path": "b.py"}'),)
    with ask(stream_client([Started(MONTH), Finished(result("tool_calls", calls))])) as stream:
        (block,) = stream.get_final_message().content
    assert (block.id, block.input) == ("call_a", {"path": "b.py"})


def test_a_mid_stream_failure_raises_in_the_sdk() -> None:
    failure = Failed(errors.UpstreamError("The provider went away."), result("stop"))
    client = stream_client([Started(MONTH), TextDelta("Hel"), failure])
    with pytest.raises(anthropic.APIStatusError) as caught, ask(client) as stream:
        stream.get_final_message()
    assert caught.value.type == "api_error"
    assert caught.value.api_message == "The provider went away."


def test_message_json_through_the_sdk() -> None:
    calls = (ToolCall("call_a", "Read", '{"path": "a.py"}'),)
    body = message_json(
        message_id="msg_req2",
        model="openai/gpt-4.1",
        text="Reading.",
        result=result("tool_calls", calls),
    )
    client = sdk(lambda request: httpx2.Response(200, content=orjson.dumps(body)))
    message = client.messages.create(
        model="openai/gpt-4.1", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    )
    assert (message.id, message.model, message.role) == ("msg_req2", "openai/gpt-4.1", "assistant")
    text, call = message.content
    assert text.text == "Reading." and (call.name, call.input) == ("Read", {"path": "a.py"})
    assert message.stop_reason == "tool_use"
    check_usage(message.usage)
    empty = message_json(message_id="m", model="x", text="", result=result("length"))
    assert empty["content"] == [] and empty["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    ("error", "status", "kind", "exception"),
    [
        (errors.InvalidRequest("bad"), 400, "invalid_request_error", anthropic.BadRequestError),
        (errors.Unauthorized("who"), 401, "authentication_error", anthropic.AuthenticationError),
        (errors.CapExceeded("cap"), 402, "billing_error", anthropic.APIStatusError),
        (errors.Forbidden("no", type="device_limit"), 403, "permission_error",
         anthropic.PermissionDeniedError),
        (errors.NotFound("gone"), 404, "not_found_error", anthropic.NotFoundError),
        (errors.RequestTimeout("slow"), 408, "timeout_error", anthropic.APIStatusError),
        (errors.PayloadTooLarge("big"), 413, "request_too_large", anthropic.APIStatusError),
        (errors.RateLimited("wait", retry_after_s=3), 429, "rate_limit_error",
         anthropic.RateLimitError),
        (errors.InternalError("oops"), 500, "api_error", anthropic.InternalServerError),
        (errors.UpstreamError("up"), 502, "api_error", anthropic.InternalServerError),
        (errors.Unavailable("busy"), 503, "overloaded_error", anthropic.InternalServerError),
        (errors.UpstreamTimeout("late"), 504, "timeout_error", anthropic.InternalServerError),
    ],
)  # fmt: skip
def test_errors_raise_the_sdks_exceptions(
    error: errors.GatewayError, status: int, kind: str, exception: type[Exception]
) -> None:
    code, body = error_json(error)
    assert code == status and body == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
    }
    client = sdk(lambda request: httpx2.Response(code, content=orjson.dumps(body)))
    with pytest.raises(exception) as caught:
        client.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status and caught.value.type == kind
