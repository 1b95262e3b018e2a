"""Image URLs fetched for a provider that takes only bytes (Gemini's inlineData): safely
(proxy/providers/image_fetch.py), all of a request's at once, before anything is reserved."""

from __future__ import annotations

import asyncio
import dataclasses

from core import errors
from core.chat import ChatRequest, ImagePart, Message
from core.images import read_header
from proxy.providers.image_fetch import ImageFetcher


async def _fetched(image: ImagePart, fetcher: ImageFetcher, param: str) -> ImagePart:
    if image.data is not None or image.url is None:
        return image
    media_type, data = await fetcher.fetch(image.url, param=param)
    info = read_header(data)
    if info is None:
        raise errors.InvalidRequest(f"{param}: the image at the URL is not a PNG, JPEG, GIF or"
                                    " WebP.", param=param)  # fmt: skip
    return image.with_bytes(info.media_type or media_type, data, info.width, info.height)


async def with_image_bytes(chat: ChatRequest, fetcher: ImageFetcher) -> ChatRequest:
    async def message(i: int, m: Message) -> Message:
        parts = await asyncio.gather(*(
            _fetched(p, fetcher, f"messages[{i}].content[{j}].image_url")
            if isinstance(p, ImagePart) else _same(p)
            for j, p in enumerate(m.parts)
        ))  # fmt: skip
        return dataclasses.replace(m, parts=tuple(parts))

    messages = await asyncio.gather(*(message(i, m) for i, m in enumerate(chat.messages)))
    return dataclasses.replace(chat, messages=tuple(messages))


async def _same(part: object) -> object:
    return part
