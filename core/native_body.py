"""What a provider-native request (Anthropic Messages, Gemini, OpenAI Responses) costs at most,
without understanding every field: every text it holds, and its images. The body is forwarded
as it came; this only sizes the reservation and the bound reported usage is clamped to."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from core.chat import ChatRequest, ImagePart, Message, TextPart
from core.images import read_header

HEADER_CHARS = 65_536  # base64 characters decoded to read an image's size (its header)
SKIPPED_KEYS = frozenset({"model", "stream", "max_tokens", "max_output_tokens", "signature"})


def _image(value: dict[str, Any]) -> ImagePart | None:
    """Anthropic `{"type": "image", "source"}`, Gemini `inlineData` / `fileData`, Responses
    `{"type": "input_image", "image_url"}`; None if `value` is not an image."""
    if value.get("type") == "image" and isinstance(value.get("source"), dict):
        source = value["source"]
        if source.get("type") == "base64":
            return _sized(source.get("data"))
        return ImagePart(url=str(source.get("url") or ""))
    if isinstance(value.get("inlineData"), dict):
        return _sized(value["inlineData"].get("data"))
    if isinstance(value.get("fileData"), dict):
        return ImagePart(url=str(value["fileData"].get("fileUri") or ""))
    if value.get("type") == "input_image":
        url = value.get("image_url")
        if isinstance(url, str) and url.startswith("data:"):
            return _sized(url.partition(",")[2])
        return ImagePart(url=str(url or ""))
    return None


def _sized(data: object) -> ImagePart:
    """The image's size from its header, else unknown (counted at the provider's maximum)."""
    if isinstance(data, str):
        head = data[: HEADER_CHARS - HEADER_CHARS % 4]
        try:
            info = read_header(base64.b64decode(head + "=" * (-len(head) % 4)))
        except (binascii.Error, ValueError):
            info = None
        if info is not None:
            return ImagePart(media_type=info.media_type, width=info.width, height=info.height)
    return ImagePart(url="")


def contents(body: object) -> tuple[list[str], list[ImagePart]]:
    """Every string (keys included: tool schemas cost their structure too) and every image."""
    texts: list[str] = []
    images: list[ImagePart] = []
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            image = _image(value)
            if image is not None:
                images.append(image)
                continue
            for key, item in value.items():
                if key not in SKIPPED_KEYS:
                    texts.append(key)
                    stack.append(item)
    return texts, images


def sizing_request(provider: str, model: str, body: dict[str, Any], max_tokens: int) -> ChatRequest:
    """A stand-in ChatRequest holding the body's text and images, for the estimate."""
    texts, images = contents(body)
    message = Message("user", (TextPart("\n".join(texts)), *images))
    return ChatRequest(provider, model, (message,), max_tokens)
