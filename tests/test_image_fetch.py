"""The image fetcher against a real server on 127.0.0.1: what it fetches and what it refuses."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from core.errors import InvalidRequest
from proxy.providers.image_fetch import ImageFetcher, refused_reason
from tests import image_samples as samples

PARAM = "messages[0].content[1].image_url.url"
PNG = samples.png(64, 48)
MAX_BYTES = 50_000

ServerFactory = Callable[..., Awaitable[TestServer]]


def image_app() -> web.Application:
    never = asyncio.Event()

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def jpeg_labelled_png(request: web.Request) -> web.Response:
        return web.Response(body=samples.jpeg(800, 600), content_type="image/png")

    async def html(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="text/html")

    async def svg(request: web.Request) -> web.Response:
        return web.Response(body=b"<svg/>", content_type="image/svg+xml")

    async def not_an_image(request: web.Request) -> web.Response:
        return web.Response(body=b"<html>hello</html>", content_type="image/png")

    async def huge_streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(PNG)
        for _ in range(100):
            await response.write(b"\x00" * 10_000)
        return response

    async def huge_announced(request: web.Request) -> web.StreamResponse:
        # Announces a gigabyte, then sends a little and stalls: refused from the header alone.
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.content_length = 10**9
        await response.prepare(request)
        await response.write(PNG)
        await never.wait()
        return response

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(
            body=PNG, headers={"Content-Type": "image/png", "Content-Encoding": "gzip"}
        )

    app = web.Application()
    for path, handler in [
        ("/a.png", png),
        ("/labelled.png", jpeg_labelled_png),
        ("/page", html),
        ("/a.svg", svg),
        ("/fake.png", not_an_image),
        ("/huge-streamed.png", huge_streamed),
        ("/huge-announced.png", huge_announced),
        ("/hang.png", hang),
        ("/redirect", redirect),
        ("/loop", loop),
        ("/missing.png", missing),
        ("/gzipped.png", gzipped),
    ]:
        app.router.add_get(path, handler)
    return app


@pytest.fixture
async def server(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(image_app(), host="127.0.0.1")


@pytest.fixture
async def fetcher() -> AsyncIterator[ImageFetcher]:
    fetcher = ImageFetcher(
        max_bytes=MAX_BYTES, timeout_s=2.0, allow_http_hosts=frozenset({"127.0.0.1"})
    )
    yield fetcher
    await fetcher.close()


@pytest.fixture
async def strict() -> AsyncIterator[ImageFetcher]:
    """A fetcher as in production: nothing allowed over http or at a private address."""
    fetcher = ImageFetcher(max_bytes=MAX_BYTES, timeout_s=2.0)
    yield fetcher
    await fetcher.close()


async def refused(fetcher: ImageFetcher, url: str, match: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest, match=match) as caught:
        await fetcher.fetch(url, param=PARAM)
    assert caught.value.status == 400
    assert caught.value.body()["error"]["param"] == PARAM
    return caught.value


async def test_fetches_an_image(server: TestServer, fetcher: ImageFetcher) -> None:
    assert await fetcher.fetch(str(server.make_url("/a.png"))) == ("image/png", PNG)


async def test_follows_redirects_within_allowed_hosts(
    server: TestServer, fetcher: ImageFetcher
) -> None:
    url = server.make_url("/redirect").with_query(to="/a.png")
    assert await fetcher.fetch(str(url)) == ("image/png", PNG)


async def test_the_type_returned_is_the_one_the_bytes_are(
    server: TestServer, fetcher: ImageFetcher
) -> None:
    media_type, data = await fetcher.fetch(str(server.make_url("/labelled.png")))
    assert media_type == "image/jpeg"
    assert data == samples.jpeg(800, 600)


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/page", "served as 'text/html'"),
        ("/a.svg", "served as 'image/svg\\+xml'"),
        ("/fake.png", "not a PNG, JPEG, GIF or WebP"),
        ("/missing.png", "the server answered 404"),
        ("/gzipped.png", "sent compressed"),
        ("/loop", "more than 3 redirects"),
    ],
)
async def test_refuses_what_is_not_an_image(
    server: TestServer, fetcher: ImageFetcher, path: str, match: str
) -> None:
    await refused(fetcher, str(server.make_url(path)), match)


@pytest.mark.parametrize("path", ["/huge-streamed.png", "/huge-announced.png"])
async def test_refuses_images_over_the_size_limit(
    server: TestServer, fetcher: ImageFetcher, path: str
) -> None:
    # The announced one stalls after its first bytes: only the header can refuse it in time.
    await refused(fetcher, str(server.make_url(path)), f"larger than {MAX_BYTES} bytes")


async def test_times_out(server: TestServer) -> None:
    fetcher = ImageFetcher(
        max_bytes=MAX_BYTES, timeout_s=0.2, allow_http_hosts=frozenset({"127.0.0.1"})
    )
    try:
        started = asyncio.get_running_loop().time()
        await refused(fetcher, str(server.make_url("/hang.png")), "no answer within 0.2s")
        assert asyncio.get_running_loop().time() - started < 1.5
    finally:
        await fetcher.close()


async def test_unreachable_host_is_the_clients_bad_url(fetcher: ImageFetcher) -> None:
    with socket.socket() as sock:  # a port nothing listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    await refused(fetcher, f"http://127.0.0.1:{port}/a.png", "could not fetch image")


@pytest.mark.parametrize(
    ("to", "match"),
    [
        ("https://10.1.2.3/a.png", "a private address"),
        ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://localhost:{port}/a.png", "must use https"),
        ("https://localhost:{port}/a.png", "resolves to a loopback address"),
        ("file:///etc/passwd", "https://"),
    ],
)
async def test_redirect_to_a_refused_host(
    server: TestServer, fetcher: ImageFetcher, to: str, match: str
) -> None:
    url = server.make_url("/redirect").with_query(to=to.format(port=server.port))
    await refused(fetcher, str(url), match)


async def test_loopback_is_refused_unless_allowed(
    server: TestServer, fetcher: ImageFetcher, strict: ImageFetcher
) -> None:
    port = server.port
    # Not in the allow list: http is refused, and over https the name resolves to loopback.
    await refused(fetcher, f"http://localhost:{port}/a.png", "must use https")
    await refused(fetcher, f"https://localhost:{port}/a.png", "resolves to a loopback address")
    await refused(strict, f"https://127.0.0.1:{port}/a.png", "a loopback address")
    await refused(strict, f"http://127.0.0.1:{port}/a.png", "must use https")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("https://10.0.0.1/a.png", "a private address"),
        ("https://192.168.1.1/a.png", "a private address"),
        ("https://172.16.0.1/a.png", "a private address"),
        ("https://100.64.0.1/a.png", "a shared \\(CGNAT\\) address"),
        ("https://0.0.0.0/a.png", "an? unspecified address"),
        ("https://224.0.0.1/a.png", "a multicast address"),
        ("https://240.0.0.1/a.png", "a reserved address"),
        ("https://[::1]/a.png", "a loopback address"),
        ("https://[::ffff:127.0.0.1]/a.png", "a loopback address"),
        ("https://[::ffff:10.0.0.1]/a.png", "a private address"),
        ("https://[64:ff9b::a00:1]/a.png", "a private address"),  # NAT64 of 10.0.0.1
        ("https://[fe80::1]/a.png", "a link-local address"),
        ("https://[fd00::1]/a.png", "a private address"),
        ("https://user:pw@example.com/a.png", "must not carry credentials"),
        ("ftp://example.com/a.png", "must use https"),
        ("/relative.png", "absolute https"),
        ("https://", "absolute https"),
        ("https://exa mple.com/a.png", "not a valid URL|could not fetch|absolute"),
    ],
)
async def test_refused_literals_never_connect(strict: ImageFetcher, url: str, match: str) -> None:
    await refused(strict, url, match)


def test_refused_reason_classifies_addresses() -> None:
    assert refused_reason("93.184.215.14") is None
    assert refused_reason("2606:4700:4700::1111") is None
    assert refused_reason("127.0.0.53") == "loopback"
    assert refused_reason("fe80::1%eth0") == "link-local"
    assert refused_reason("2002:7f00:1::") == "loopback"  # 6to4 of 127.0.0.1
    assert refused_reason("not-an-ip") == "not an IP address"


async def test_the_query_string_is_never_told_or_logged(
    server: TestServer, fetcher: ImageFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = server.make_url("/page").with_query(signature="SECRET-TOKEN")
    error = await refused(fetcher, str(url), "served as")
    assert "SECRET-TOKEN" not in error.message
    secret = "https://10.0.0.1/a.png?sig=SECRET-TOKEN#frag"
    error = await refused(fetcher, secret, "private")
    assert "SECRET-TOKEN" not in error.message
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("kaixu"))
    assert "SECRET-TOKEN" not in ours
    assert "/a.png" in ours  # the rest of the URL is there, to find the failure by


async def test_an_allowed_host_name_may_resolve_to_loopback(server: TestServer) -> None:
    fetcher = ImageFetcher(
        max_bytes=MAX_BYTES, timeout_s=2.0, allow_http_hosts=frozenset({"LocalHost"})
    )
    try:
        url = f"http://localhost:{server.port}/a.png"
        assert await fetcher.fetch(url) == ("image/png", PNG)
    finally:
        await fetcher.close()
