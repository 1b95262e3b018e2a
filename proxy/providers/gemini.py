"""Gemini: POST {base}/v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

from proxy.providers.base import ChatRequest, Completion, Finish, HttpProvider, StreamEvent, Usage
from proxy.providers.sse import event_json, read_events


def parse_usage(raw: object) -> Usage | None:
    """promptTokenCount includes cachedContentTokenCount; candidatesTokenCount EXCLUDES
    thoughtsTokenCount (output is both). Zero counts are omitted, so default them to 0."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("promptTokenCount") or 0)
    cached = int(raw.get("cachedContentTokenCount") or 0)
    output = int(raw.get("candidatesTokenCount") or 0) + int(raw.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=max(prompt - cached, 0), cached_input_tokens=cached, output_tokens=output
    )


def _text_and_finish(chunk: dict) -> tuple[str, str | None]:
    candidates = chunk.get("candidates") or ()
    if not candidates:
        blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
        return "", ("content_filter" if blocked else None)
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or ()
    text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
    return text, candidate.get("finishReason")


def _completion(body: dict) -> Completion:
    text, finish_reason = _text_and_finish(body)
    usage = parse_usage(body.get("usageMetadata"))
    return Completion(text, usage, body.get("modelVersion"), finish_reason)


@dataclass
class GeminiProvider(HttpProvider):
    def _body(self, request: ChatRequest) -> dict:
        system, messages = request.split_system()
        config: dict = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.stop:
            config["stopSequences"] = list(request.stop)
        body: dict = {
            "contents": [
                {
                    "role": "model" if m.role == "assistant" else "user",
                    "parts": [{"text": m.content}],
                }
                for m in messages
            ],
            "generationConfig": config,
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return body

    def _url(self, request: ChatRequest, method: str) -> str:
        return f"{self.base_url}/v1beta/models/{quote(request.model, safe='')}:{method}"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}

    async def complete(self, request: ChatRequest) -> Completion:
        url = self._url(request, "generateContent")
        return await self.post_json(url, self._body(request), self._headers(), _completion)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        url = self._url(request, "streamGenerateContent") + "?alt=sse"
        finish_reason = model = None
        async with self.open_stream(url, self._body(request), self._headers()) as resp:
            async for event in read_events(resp, self.name):
                chunk = event_json(event, self.name)
                if "error" in chunk:
                    raise self.stream_error(event.data)
                model = chunk.get("modelVersion") or model
                text, finish = _text_and_finish(chunk)
                if text:
                    yield text
                usage = parse_usage(chunk.get("usageMetadata"))  # cumulative: last one wins
                if usage is not None:
                    yield usage
                finish_reason = finish or finish_reason
        # No [DONE] here: the stream is complete only if a chunk carried a finishReason.
        if finish_reason is not None:
            yield Finish(finish_reason, model)
