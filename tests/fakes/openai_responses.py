"""Fake OpenAI Responses API: `POST /v1/responses`, plain and streamed (`event:` + `data:` SSE)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import openai_responses_input as inputs
from .common import (
    Directives,
    StreamPlan,
    json_response,
    kept_deltas,
    new_id,
    split_text,
    sse,
)
from .openai import SERVER_ERROR, OpenAIProvider, dated_model, error_body
from .tools import MALFORMED_ARGUMENTS, Reply, decide, fragments

STORED_MAX = 4096  # responses kept for previous_response_id; the oldest are forgotten
DELTA_TYPES = ("response.output_text.delta", "response.function_call_arguments.delta")


def item_id(prefix: str) -> str:
    """An id the way the API makes them: `resp_`, `msg_`, `fc_`, `rs_` and 50 hex digits."""
    return new_id(prefix, 32) + new_id("", 18)


def usage(d: Directives) -> dict[str, Any]:
    return {
        "input_tokens": d.input_tokens,
        "input_tokens_details": {"cached_tokens": d.cached, "cache_write_tokens": d.cache_write},
        "output_tokens": d.output_tokens,
        "output_tokens_details": {"reasoning_tokens": d.reasoning},
        "total_tokens": d.input_tokens + d.output_tokens,
    }


@dataclass(slots=True)
class Stored:
    """What a later `previous_response_id` needs of a response."""

    calls: list[str]  # the call ids it asked for
    user_text: str  # the directives it was answered with


def _tool(tool: Any) -> Any:
    """A declared tool as the API echoes it: function tools are strict unless they said not."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    echoed = {"type": "function", "name": tool.get("name"), "description": None}
    return {**echoed, "parameters": None, "strict": True, **tool}


class OpenAIResponses(OpenAIProvider):
    """Served on the fake OpenAI's `/v1/responses` route (see `OpenAIProvider.add_routes`)."""

    def __init__(self) -> None:
        self.stored: OrderedDict[str, Stored] = OrderedDict()

    def body_error(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return json_response(error_body(message, "invalid_request_error", None), 400)
        if not body.get("model"):
            return inputs.invalid(
                "Missing required parameter: 'model'.", "model", "missing_required_parameter"
            )
        return inputs.type_error(body)

    def last_user_text(self, body: dict[str, Any]) -> str:
        text = inputs.last_user_text(body)
        previous = self.stored.get(str(body.get("previous_response_id")))
        if not any(inputs.kind(i) == "message" for i in inputs.items(body)) and previous:
            return previous.user_text  # only tool outputs: the directives of the turn before
        return text

    def is_stream(self, request: web.Request, body: dict[str, Any], stream: bool | None) -> bool:
        return body.get("stream") is True

    def conversation_error(self, body: dict[str, Any], d: Directives) -> web.Response | None:
        previous = self.stored.get(str(body.get("previous_response_id")))
        return inputs.conversation_error(body, None if previous is None else previous.calls)

    def reply(self, body: dict[str, Any], d: Directives) -> tuple[Reply, Directives]:
        return decide(inputs.read_turn(body, d), d, lambda: new_id("call_", 24))

    def output(self, reply: Reply, d: Directives) -> list[dict[str, Any]]:
        """The finished output items: a reasoning item when reasoning= is set, then the calls or
        the message."""
        items: list[dict[str, Any]] = []
        if d.reasoning:
            items.append({"id": item_id("rs_"), "type": "reasoning", "summary": []})
        calls = [(c.id, c.name, c.arguments) for c in reply.calls]
        if reply.malformed:
            calls = [(new_id("call_", 24), reply.malformed, MALFORMED_ARGUMENTS)]
        for call_id, name, arguments in calls:
            items.append(
                {
                    "id": item_id("fc_"),
                    "type": "function_call",
                    "status": "completed",
                    "arguments": arguments,
                    "call_id": call_id,
                    "name": name,
                }
            )
        if not calls:
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": d.text}
            items.append(
                {
                    "id": item_id("msg_"),
                    "type": "message",
                    "status": "incomplete" if d.incomplete else "completed",
                    "content": [part],
                    "role": "assistant",
                }
            )
        return items

    def response(
        self,
        body: dict[str, Any],
        head: dict[str, Any],
        status: str,
        output: list[dict[str, Any]],
        d: Directives | None,
    ) -> dict[str, Any]:
        """The Response object; `head` holds its id and created_at, `d` is None until usage."""
        reasoning = body.get("reasoning")
        text = body.get("text")
        tools = body.get("tools")
        return {
            **head,
            "object": "response",
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": dated_model(str(body["model"])),
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {
                "effort": None,
                "summary": None,
                **(reasoning if isinstance(reasoning, dict) else {}),
            },
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default",
            "store": body.get("store", True) is not False,
            "temperature": body.get("temperature", 1.0),
            "text": {
                "format": {"type": "text"},
                "verbosity": "medium",
                **(text if isinstance(text, dict) else {}),
            },
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [_tool(t) for t in tools] if isinstance(tools, list) else [],
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": None if d is None else usage(d),
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def remember(self, body: dict[str, Any], response_id: str, output: list[dict]) -> None:
        """Keeps what a later previous_response_id needs, unless the request said store=false."""
        if body.get("store") is False:
            return
        calls = [str(i["call_id"]) for i in output if i["type"] == "function_call"]
        self.stored[response_id] = Stored(calls, self.last_user_text(body))
        while len(self.stored) > STORED_MAX:
            self.stored.popitem(last=False)

    def start(self, body: dict[str, Any], d: Directives) -> tuple[dict, list[dict], Directives]:
        reply, d = self.reply(body, d)
        head = {"id": item_id("resp_"), "created_at": int(time.time())}
        output = self.output(reply, d)
        self.remember(body, head["id"], output)
        return head, output, d

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        head, output, d = self.start(body, d)
        status = "incomplete" if d.incomplete else "completed"
        return json_response(self.response(body, head, status, output, d), headers=self._headers())

    def stream_plan(self, request: web.Request, body: dict[str, Any], d: Directives) -> StreamPlan:
        head, output, d = self.start(body, d)
        eol = b"\r\n" if d.crlf else b"\n"
        events: list[dict[str, Any]] = []

        def add(type_: str, **data: Any) -> None:
            events.append({"type": type_, "sequence_number": len(events), **data})

        started = self.response(body, head, "in_progress", [], None)
        add("response.created", response=started)
        add("response.in_progress", response=started)
        for index, item in enumerate(output):
            self._item_events(add, index, item)
        status = "incomplete" if d.incomplete else "completed"
        add("response." + status, response=self.response(body, head, status, output, d))
        deltas = [i for i, e in enumerate(events) if e["type"] in DELTA_TYPES]
        first, last = deltas[0], deltas[-1] + 1
        failed_at = first + kept_deltas(last - first)  # the sequence number of the failure
        if d.error_event:
            message, code, _ = SERVER_ERROR
            error = {"type": "error", "sequence_number": failed_at, "code": code}
            error.update(message=message, param=None)
        else:
            failed = self.response(body, head, "failed", [], None)
            failed["error"] = {"code": "server_error", "message": SERVER_ERROR[0]}
            error = {"type": "response.failed", "sequence_number": failed_at, "response": failed}
        encoded = [sse(e, eol, e["type"]) for e in events]
        return StreamPlan(
            head=encoded[:first],
            deltas=encoded[first:last],
            tail=encoded[last:],
            error=sse(error, eol, error["type"]),
            headers=self._headers(),
        )

    @staticmethod
    def _item_events(add: Any, index: int, item: dict[str, Any]) -> None:
        """The events of one output item, from output_item.added to output_item.done."""
        ref = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            part = item["content"][0]
            add(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            add("response.content_part.added", **ref, content_index=0, part={**part, "text": ""})
            for piece in split_text(part["text"]):
                add("response.output_text.delta", **ref, content_index=0, delta=piece, logprobs=[])
            add(
                "response.output_text.done",
                **ref,
                content_index=0,
                text=part["text"],
                logprobs=[],
            )
            add("response.content_part.done", **ref, content_index=0, part=part)
        elif item["type"] == "function_call":
            opened = {**item, "status": "in_progress", "arguments": ""}
            add("response.output_item.added", output_index=index, item=opened)
            for piece in fragments(item["arguments"]):
                add("response.function_call_arguments.delta", **ref, delta=piece)
            add("response.function_call_arguments.done", **ref, arguments=item["arguments"])
        else:
            add("response.output_item.added", output_index=index, item=item)
        add("response.output_item.done", output_index=index, item=item)
