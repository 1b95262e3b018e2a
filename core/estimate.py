"""What a request costs at most before it is sent: the input estimate the reservation is made
from, and the bound reported input is clamped to. Everything sent counts: messages, tool
calls and results, tool definitions, the response schema, and images at each provider's
published token rule (docs/translation.md)."""

from __future__ import annotations

import orjson

from core.billing import input_bound as text_bound
from core.chat import ChatRequest
from core.images import ImageInfo, image_tokens, max_image_tokens
from core.money import estimate_tokens

MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators each message costs
TOOL_OVERHEAD_TOKENS = 8  # each definition's framing, and each call's


def input_texts(chat: ChatRequest) -> list[str]:
    """Every piece of text the provider is sent (one entry per message or definition)."""
    texts = []
    for message in chat.messages:
        calls = "".join(f"{c.name}{c.arguments}" for c in message.tool_calls)
        texts.append(message.content + calls)
    for tool in chat.tools:
        schema = orjson.dumps(tool.parameters).decode() if tool.parameters else ""
        texts.append(f"{tool.name}{tool.description or ''}{schema}")
    fmt = chat.response_format
    if fmt is not None and fmt.schema:
        texts.append(orjson.dumps(fmt.schema).decode())
    return texts


def images_estimate(chat: ChatRequest) -> int:
    total = 0
    for image in chat.images:
        info = None
        if image.width and image.height and image.media_type:
            info = ImageInfo(image.media_type, image.width, image.height)
        total += image_tokens(chat.provider, chat.model, info, image.detail or "auto")
    return total


def input_estimate(chat: ChatRequest) -> int:
    tokens = sum(estimate_tokens(t) + MESSAGE_OVERHEAD_TOKENS for t in input_texts(chat))
    tokens += TOOL_OVERHEAD_TOKENS * (
        len(chat.tools) + sum(len(m.tool_calls) for m in chat.messages)
    )
    return tokens + images_estimate(chat)


def input_bound(chat: ChatRequest) -> int:
    """The most input tokens the request can honestly be billed for."""
    images = len(chat.images) * max_image_tokens(chat.provider, chat.model)
    return text_bound(input_texts(chat)) + images + TOOL_OVERHEAD_TOKENS * len(chat.tools)
