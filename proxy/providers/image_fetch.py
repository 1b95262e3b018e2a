"""Images fetched from the URLs clients send: public addresses only, bounded in size and time.

Every address a host name resolves to is checked inside the connector's resolver, so the address
checked is the address connected to (no second lookup between the check and the connection, as
DNS rebinding would need). Address literals never reach a resolver and are checked before the
request; each redirect hop is checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from core.errors import InvalidRequest
from core.images import ALLOWED_MEDIA_TYPES, read_header

log = logging.getLogger("kaixu.images")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
REQUEST_HEADERS = {
    "Accept": ", ".join(sorted(ALLOWED_MEDIA_TYPES)),
    # Compressed bodies would be counted before inflating; ask for none and refuse any.
    "Accept-Encoding": "identity",
    "User-Agent": "kaixu-gateway-image-fetch/1",
}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refused_reason(address: str) -> str | None:
    """Why an address may not be fetched from (a few words), or None for a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is not an address
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address are judged by it too (::ffff:127.0.0.1).
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and (reason := refused_reason(str(embedded))):
            return reason
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in CGNAT:
        return "shared (CGNAT)"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


class RefusedAddress(OSError):
    """A host name resolved to an address we do not fetch from (raised inside the connector)."""


class PublicResolver(AbstractResolver):
    """Resolves like aiohttp's threaded resolver, then refuses any non-public answer."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allowed_hosts = allowed_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if _normal_host(host) not in self._allowed_hosts:
            # Every answer, not only the first: the connector may try any of them.
            for result in results:
                if reason := refused_reason(result["host"]):
                    raise RefusedAddress(reason)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


def shown(url: URL | str) -> str:
    """The URL as it may be logged or told: no query string, fragment or credentials."""
    try:
        u = URL(url) if isinstance(url, str) else url
        text = str(u.with_query(None).with_fragment(None).with_user(None))
    except (ValueError, TypeError):
        return "(unparsable URL)"
    return text if len(text) <= 200 else text[:200] + "…"


class ImageFetcher:
    """Fetches client image URLs. One per process, closed by the app's cleanup context."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_s: float,
        allow_http_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        # Hosts reachable over plain http and at any address: for tests and local setups only.
        self.allow_http_hosts = frozenset(_normal_host(h) for h in allow_http_hosts)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("ImageFetcher is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=PublicResolver(self.allow_http_hosts), limit=100, limit_per_host=10
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                # No proxy from the environment (it would do the resolving, unchecked), no
                # cookies carried from one client's fetch to another's, bytes as sent.
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, *, param: str | None = None) -> tuple[str, bytes]:
        """(media type, bytes) of the image at `url`; any failure is the client's bad URL."""
        session = self._open()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._follow(session, url, param)
        except TimeoutError:
            log.info("image fetch timed out: %s", shown(url))
            raise InvalidRequest(
                f"could not fetch image {shown(url)}: no answer within {self.timeout_s:g}s",
                param=param,
            ) from None

    async def _follow(
        self, session: aiohttp.ClientSession, url: str, param: str | None
    ) -> tuple[str, bytes]:
        target = self._checked(url, param)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with session.get(
                    target, headers=REQUEST_HEADERS, allow_redirects=False
                ) as response:
                    if response.status not in REDIRECT_STATUSES:
                        return await self._image(response, target, param)
                    location = response.headers.get("Location", "")
            except TimeoutError:
                raise  # aiohttp's own timeouts too: told as one, in fetch
            except aiohttp.ClientConnectorDNSError as exc:
                if isinstance(exc.os_error, RefusedAddress):
                    log.info("image fetch refused (%s): %s", exc.os_error, shown(target))
                    raise InvalidRequest(
                        f"image URL {shown(target)} is refused: its host resolves to a "
                        f"{exc.os_error} address",
                        param=param,
                    ) from None
                raise self._unreachable(target, "its host name does not resolve", param) from None
            except aiohttp.ClientSSLError:
                raise self._unreachable(target, "the TLS connection failed", param) from None
            except aiohttp.InvalidURL:
                raise InvalidRequest("image URL is not a valid URL", param=param) from None
            except aiohttp.ClientError as exc:
                why = f"the connection failed ({type(exc).__name__})"
                raise self._unreachable(target, why, param) from None
            try:
                target = self._checked(str(target.join(URL(location))), param) if location else None
            except ValueError:
                target = None
            if target is None:
                raise InvalidRequest(
                    f"could not fetch image {shown(url)}: a redirect without a valid Location",
                    param=param,
                )
        raise InvalidRequest(
            f"could not fetch image {shown(url)}: more than {MAX_REDIRECTS} redirects", param=param
        )

    def _checked(self, url: str, param: str | None) -> URL:
        """The URL, if its scheme, credentials and (literal) address may be fetched."""
        try:
            target = URL(url)
            host = _normal_host(target.host or "")
        except (ValueError, TypeError):
            raise InvalidRequest("image URL is not a valid URL", param=param) from None
        if not target.is_absolute() or not host:
            raise InvalidRequest("image URL must be an absolute https:// URL", param=param)
        allowed = host in self.allow_http_hosts
        if not (target.scheme == "https" or (target.scheme == "http" and allowed)):
            raise InvalidRequest(
                f"image URL must use https:// (got {target.scheme}://)", param=param
            )
        if target.user is not None or target.password is not None:
            raise InvalidRequest("image URL must not carry credentials", param=param)
        if not allowed:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return target  # a host name: checked by the resolver, when it is resolved
            if reason := refused_reason(host):
                log.info("image fetch refused (%s): %s", reason, shown(target))
                raise InvalidRequest(
                    f"image URL {shown(target)} is refused: a {reason} address", param=param
                )
        return target

    async def _image(
        self, response: aiohttp.ClientResponse, target: URL, param: str | None
    ) -> tuple[str, bytes]:
        where = shown(target)
        if response.status != 200:
            raise self._unreachable(target, f"the server answered {response.status}", param)
        if response.content_type.lower() not in ALLOWED_MEDIA_TYPES:
            raise InvalidRequest(
                f"image at {where} is served as {response.content_type!r}, not one of "
                f"{', '.join(sorted(ALLOWED_MEDIA_TYPES))}",
                param=param,
            )
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise InvalidRequest(f"image at {where} is sent compressed", param=param)
        too_big = InvalidRequest(
            f"image at {where} is larger than {self.max_bytes} bytes", param=param
        )
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            size += len(chunk)
            if size > self.max_bytes:
                raise too_big
            chunks.append(chunk)
        data = b"".join(chunks)
        info = read_header(data)
        if info is None:
            raise InvalidRequest(
                f"image at {where} is not a PNG, JPEG, GIF or WebP image", param=param
            )
        return info.media_type, data

    @staticmethod
    def _unreachable(target: URL, why: str, param: str | None) -> InvalidRequest:
        log.info("image fetch failed (%s): %s", why, shown(target))
        return InvalidRequest(f"could not fetch image {shown(target)}: {why}", param=param)
