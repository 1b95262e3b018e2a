"""OpenAI Chat Completions: POST {base}/chat/completions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from proxy.providers.base import ChatRequest, Completion, Finish, HttpProvider, StreamEvent, Usage
from proxy.providers.sse import event_json, read_events


def parse_usage(raw: object) -> Usage | None:
    """prompt_tokens INCLUDES cached_tokens; completion_tokens includes reasoning tokens."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        cached_input_tokens=cached,
        output_tokens=int(raw.get("completion_tokens") or 0),
    )


def _completion(body: dict) -> Completion:
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    return Completion(
        text=message.get("content") or message.get("refusal") or "",
        usage=parse_usage(body.get("usage")),
        model=body.get("model"),
        finish_reason=choices[0].get("finish_reason"),
    )


@dataclass
class OpenAIProvider(HttpProvider):
    def _body(self, request: ChatRequest, stream: bool) -> dict:
        body: dict = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            # max_tokens is deprecated and refused by reasoning models.
            "max_completion_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = list(request.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    async def complete(self, request: ChatRequest) -> Completion:
        url = f"{self.base_url}/chat/completions"
        return await self.post_json(url, self._body(request, False), self._headers(), _completion)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        url = f"{self.base_url}/chat/completions"
        finish_reason = model = None
        async with self.open_stream(url, self._body(request, True), self._headers()) as resp:
            async for event in read_events(resp, self.name):
                if event.data == "[DONE]":
                    yield Finish(finish_reason, model)
                    return
                chunk = event_json(event, self.name)
                if "error" in chunk:  # a mid-stream failure arrives as data on a 200
                    raise self.stream_error(event.data)
                model = chunk.get("model") or model
                # The usage chunk has choices: [] — never read choices[0] blindly.
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
                    finish_reason = choice.get("finish_reason") or finish_reason
                usage = parse_usage(chunk.get("usage"))
                if usage is not None:
                    yield usage
