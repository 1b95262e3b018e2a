"""What every client route does before its own formatting: authenticate, read the body, admit."""

from __future__ import annotations

from aiohttp import web

from core.chat import ChatRequest
from core.policy import KeyPolicy
from core.text import clean_text
from proxy.ledger.call import Call, Client
from proxy.routes.chat_request import parse_install_id
from proxy.state import GATE, PROVIDERS, REQUEST_ID


def client_of(request: web.Request) -> Client:
    return Client(
        install_id=parse_install_id(request.headers.get("X-Kaixu-Install-Id")),
        user_agent=clean_text(request.headers.get("User-Agent"), 512) or None,
        request_id=request[REQUEST_ID],
    )


async def admit(request: web.Request, policy: KeyPolicy, chat: ChatRequest) -> Call:
    """Device, allowlists, price, then the admission round trip (see docs/hot-path.md)."""
    provider = request.app[PROVIDERS][chat.provider]
    return await request.app[GATE].admit(policy, chat, provider, client_of(request))
