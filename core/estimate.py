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
        if message.tool_calls:
            calls = "".join(f"{c.name}{c.arguments}" for c in message.tool_calls)
            texts.append(message.content + calls)
        else:
            texts.append(message.content)
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
    """The input tokens the reservation is made from."""
    return sizes(chat)[0]


def input_bound(chat: ChatRequest) -> int:
    """The most input tokens the request can honestly be billed for."""
    return sizes(chat)[1]


def sizes(chat: ChatRequest) -> tuple[int, int]:
    """The input estimate and the input bound, in one pass over the request."""
    texts = input_texts(chat)
    calls = sum(len(m.tool_calls) for m in chat.messages)
    estimate = TOOL_OVERHEAD_TOKENS * (len(chat.tools) + calls)
    for text in texts:
        estimate += estimate_tokens(text) + MESSAGE_OVERHEAD_TOKENS
    bound = text_bound(texts) + TOOL_OVERHEAD_TOKENS * len(chat.tools)
    images = chat.images
    if images:
        estimate += images_estimate(chat)
        bound += len(images) * max_image_tokens(chat.provider, chat.model)
    return estimate, bound
