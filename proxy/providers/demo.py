"""The local demo provider: answers without any network, so a newcomer can try the whole flow.

It is priced at 0 in the price table and only enabled without real provider keys (or with
DEMO_PROVIDER=true). Its usage is counted with the gateway's own token estimate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from core import errors
from core.chat import ChatRequest
from core.events import End, TextDelta, UpstreamEvent, UsageUpdate
from core.money import estimate_tokens
from core.usage import Usage
from proxy.providers.base import Prepared, Route

DEMO_MODEL = "demo-echo"


class DemoProvider:
    name = "demo"
    api = "demo"
    needs_image_bytes = False

    def serves(self, model: str) -> bool:
        return True

    def prepare(self, chat: ChatRequest, stream: bool, request_id: str = "") -> Prepared:
        if chat.tools or chat.response_format or chat.images:
            raise errors.InvalidRequest(
                "The demo provider answers text only: no tools, response_format or images."
            )
        return Prepared(chat, stream, request_id=request_id)

    def _reply(self, request: ChatRequest) -> tuple[str, Usage]:
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        quoted = last_user if len(last_user) <= 200 else last_user[:200] + "…"
        text = f"Hello from the Kaixu demo provider! You said: {quoted}"
        words = text.split(" ")
        text = " ".join(words[: max(request.max_tokens, 1)])
        prompt = "\n".join(m.content for m in request.messages)
        return text, Usage(
            input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(text)
        )

    def forward(self, prepared: Prepared) -> Prepared:
        raise errors.InvalidRequest("The demo provider has no API of its own to forward to.")

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        raise errors.InvalidRequest("The demo provider has no API of its own.")

    async def events(self, prepared: Prepared, route: Route) -> AsyncIterator[UpstreamEvent]:
        text, usage = self._reply(prepared.chat)
        if prepared.stream:
            words = text.split(" ")
            for i, word in enumerate(words):
                yield TextDelta(word if i == len(words) - 1 else word + " ")
        else:
            yield TextDelta(text)
        yield UsageUpdate(usage)
        yield End("stop", DEMO_MODEL)
