"""Reading a whole (non-stream) upstream answer, bounded: a provider cannot make us buffer more
than MAX_ANSWER_BYTES, whether it says so in Content-Length or just keeps sending."""

from __future__ import annotations

import aiohttp

from core import errors

# The largest real completions are a few MiB of JSON; far beyond that is a broken upstream.
MAX_ANSWER_BYTES = 32 * 1024 * 1024


def too_large(provider: str, limit: int, *, rejected: bool) -> errors.UpstreamError:
    size = f"{limit // (1024 * 1024)} MiB"
    return errors.UpstreamError(f"{provider} sent an answer over {size}", rejected=rejected)


async def read_answer(
    response: aiohttp.ClientResponse,
    provider: str,
    *,
    limit: int = MAX_ANSWER_BYTES,
    rejected: bool = False,
) -> bytes:
    """The body, refused with UpstreamError as soon as it is known to exceed `limit` (before
    reading when Content-Length announces it). `rejected`: the answer is an HTTP error, so
    nothing was generated. Leaving the body unread closes the connection instead of pooling it."""
    if response.content_length is not None and response.content_length > limit:
        raise too_large(provider, limit, rejected=rejected)
    body = bytearray()
    async for chunk in response.content.iter_any():  # decompressed bytes: what we would hold
        body += chunk
        if len(body) > limit:
            raise too_large(provider, limit, rejected=rejected)
    return bytes(body)
