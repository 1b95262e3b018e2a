"""Image URLs fetched for a provider that takes only bytes (Gemini's inlineData): safely
(proxy/providers/image_fetch.py), all of a request's at once, before anything is reserved."""

from __future__ import annotations

import asyncio
import dataclasses

from core import errors
from core.chat import ChatRequest, ImagePart
from core.images import read_header
from proxy.providers.image_fetch import ImageFetcher


async def _fetched(image: ImagePart, fetcher: ImageFetcher, param: str) -> ImagePart:
    assert image.url is not None  # only URL images are fetched
    media_type, data = await fetcher.fetch(image.url, param=param)
    info = read_header(data)
    if info is None:
        raise errors.InvalidRequest(f"{param}: the image at the URL is not a PNG, JPEG, GIF or"
                                    " WebP.", param=param)  # fmt: skip
    return image.with_bytes(info.media_type or media_type, data, info.width, info.height)


async def with_image_bytes(chat: ChatRequest, fetcher: ImageFetcher) -> ChatRequest:
    """The request with every URL image fetched (all at once) and given its bytes."""
    wanted = [
        (i, j, part)
        for i, message in enumerate(chat.messages)
        for j, part in enumerate(message.parts)
        if isinstance(part, ImagePart) and part.data is None and part.url is not None
    ]
    fetched = await asyncio.gather(
        *(_fetched(part, fetcher, f"messages[{i}].content[{j}].image_url") for i, j, part in wanted)
    )
    by_place = {(i, j): image for (i, j, _), image in zip(wanted, fetched, strict=True)}
    messages = tuple(
        dataclasses.replace(m, parts=tuple(by_place.get((i, j), p) for j, p in enumerate(m.parts)))
        if any(place[0] == i for place in by_place)
        else m
        for i, m in enumerate(chat.messages)
    )
    return dataclasses.replace(chat, messages=messages)
