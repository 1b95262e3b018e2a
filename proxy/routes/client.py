"""What every client route does before its own formatting: authenticate, read the body, admit."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.chat import ChatRequest
from core.native_body import sizing_request
from core.policy import KeyPolicy
from core.text import clean_text
from proxy.ledger.call import Call, Client
from proxy.providers.base import native_request
from proxy.routes.chat_request import parse_install_id
from proxy.routes.images import with_image_bytes
from proxy.state import GATE, IMAGE_FETCHER, PROVIDERS, REQUEST_ID


def client_of(request: web.Request) -> Client:
    return Client(
        install_id=parse_install_id(request.headers.get("X-Kaixu-Install-Id")),
        user_agent=clean_text(request.headers.get("User-Agent"), 512) or None,
        request_id=request[REQUEST_ID],
    )


async def admit(
    request: web.Request, policy: KeyPolicy, chat: ChatRequest, *, stream: bool
) -> Call:
    """The request in the provider's format (a 400 for what it cannot take, before anything is
    reserved; image URLs fetched for providers that need the bytes), then device, allowlists,
    price and the admission round trip (see docs/hot-path.md)."""
    provider = request.app[PROVIDERS][chat.provider]
    client = client_of(request)
    if provider.needs_image_bytes and any(i.data is None for i in chat.images):
        chat = await with_image_bytes(chat, request.app[IMAGE_FETCHER])
    prepared = provider.prepare(chat, stream, client.request_id)
    return await request.app[GATE].admit(policy, prepared, provider, client)


async def admit_forwarded(
    request: web.Request,
    policy: KeyPolicy,
    provider_name: str,
    model: str,
    path: str,
    body: dict[str, Any],
    *,
    stream: bool,
    max_tokens: int,
    headers: dict[str, str] | None = None,
) -> Call:
    """A provider-native request: forwarded as it came, reserved at what its text, images and
    `max_tokens` can cost (core.native_body)."""
    provider = request.app[PROVIDERS][provider_name]
    client = client_of(request)
    chat = sizing_request(provider_name, model, body, max_tokens)
    native = native_request(chat, path, body, stream=stream, headers=headers,
                            request_id=client.request_id)  # fmt: skip
    prepared = provider.forward(native)
    return await request.app[GATE].admit(policy, prepared, provider, client)
