"""Stripe webhooks: POST /webhooks/stripe (outside the admin prefix)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Filled in with the webhook handler."""
