"""OpenAI Chat Completions: POST {base}/chat/completions. The gateway's request model is
OpenAI's, so this is mostly a faithful copy; tool-call fragments pass through with their
index."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.chat import ChatRequest, ImagePart, Message, TextPart
from core.events import End, TextDelta, ToolCallDelta, UpstreamEvent, UsageUpdate
from core.usage import Usage
from proxy.providers import openai_responses as responses
from proxy.providers.base import HttpProvider, Prepared
from proxy.providers.sse import SSEEvent, event_json
from proxy.providers.upstream_errors import stream_error

RESPONSES_PATH = "/responses"


def parse_usage(raw: object) -> Usage | None:
    """prompt_tokens INCLUDES cached_tokens; completion_tokens includes reasoning tokens."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    completion = raw.get("completion_tokens_details") or {}
    reasoning = completion.get("reasoning_tokens") if isinstance(completion, dict) else None
    return Usage(
        input_tokens=prompt - cached,  # negative: nonsense, replaced by the estimate (core.billing)
        cached_input_tokens=cached,
        output_tokens=int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(reasoning or 0),
    )


def image_url(image: ImagePart) -> dict[str, Any]:
    if image.url is not None:
        url = image.url
    else:
        assert image.data is not None
        url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"
    body: dict[str, Any] = {"url": url}
    if image.detail:
        body["detail"] = image.detail
    return {"type": "image_url", "image_url": body}


def content(message: Message) -> str | list[dict[str, Any]] | None:
    """A plain string when the message is text only (what every OpenAI-compatible server
    takes), else the list of parts."""
    if not message.images:
        return message.content or (None if message.tool_calls else "")
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else image_url(p)
        for p in message.parts
    ]


def message_json(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    body: dict[str, Any] = {"role": message.role, "content": content(message)}
    if message.tool_calls:
        body["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return body


def tools_json(request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "parameters": t.parameters or {"type": "object", "properties": {}},
                },
            }
            for t in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "named"
            else choice.mode
        )
    if request.parallel_tool_calls is not None and request.tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    return body


def response_format_json(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None:
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema or {"type": "object"}}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def tool_call_events(calls: object) -> list[UpstreamEvent]:
    """A non-stream answer's tool_calls, as one complete fragment each."""
    events: list[UpstreamEvent] = []
    for index, call in enumerate(calls if isinstance(calls, list) else ()):
        fn = call.get("function") or {}
        events.append(
            ToolCallDelta(index, call.get("id"), fn.get("name"), fn.get("arguments") or "")
        )
    return events


@dataclass
class OpenAIProvider(HttpProvider):
    def path(self, request: ChatRequest, stream: bool) -> str:
        return "/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [message_json(m) for m in request.messages],
            # max_tokens is deprecated and refused by reasoning models.
            "max_completion_tokens": request.max_tokens,
            **tools_json(request),
        }
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "reasoning_effort": request.reasoning_effort,
            "response_format": response_format_json(request),
            "stop": list(request.stop) or None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def completion_events(self, answer: Any, prepared: Prepared) -> list[UpstreamEvent]:
        if prepared.path == RESPONSES_PATH:  # the Responses API route (passed through)
            return responses.completion_events(answer, self.name)
        choice = (answer.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        events: list[UpstreamEvent] = []
        text = message.get("content") or message.get("refusal") or ""
        if text:
            events.append(TextDelta(text))
        events.extend(tool_call_events(message.get("tool_calls")))
        usage = parse_usage(answer.get("usage"))
        if usage is not None:
            events.append(UsageUpdate(usage))
        events.append(End(choice.get("finish_reason"), answer.get("model")))
        return events

    def stream_events(
        self, events: AsyncIterator[SSEEvent], prepared: Prepared
    ) -> AsyncIterator[UpstreamEvent]:
        if prepared.path == RESPONSES_PATH:
            return responses.stream_events(events, self.name)
        return self._chunks(events)

    async def _chunks(self, events: AsyncIterator[SSEEvent]) -> AsyncIterator[UpstreamEvent]:
        finish_reason = model = None
        async for event in events:
            if event.data == "[DONE]":
                yield End(finish_reason, model)
                return
            chunk = event_json(event, self.name)
            if "error" in chunk:  # a mid-stream failure arrives as data on a 200
                raise stream_error(self.name, self.secrets, event.data)
            model = chunk.get("model") or model
            # The usage chunk has choices: [] — never read choices[0] blindly.
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    yield TextDelta(delta["content"])
                for call in delta.get("tool_calls") or ():
                    fn = call.get("function") or {}
                    yield ToolCallDelta(
                        call.get("index", 0), call.get("id"), fn.get("name"),
                        fn.get("arguments") or "",
                    )  # fmt: skip
                finish_reason = choice.get("finish_reason") or finish_reason
            usage = parse_usage(chunk.get("usage"))
            if usage is not None:
                yield UsageUpdate(usage)
