"""Image headers, data: URIs and the providers' image-token rules, against their docs' examples."""

from __future__ import annotations

import base64

import pytest

from core.errors import InvalidRequest
from core.images import (
    ImageInfo,
    anthropic_image_tokens,
    gemini_image_tokens,
    image_tokens,
    max_image_tokens,
    openai_image_tokens,
    parse_data_uri,
    read_header,
)
from tests import image_samples as samples

SAMPLES = [
    (samples.png(3, 2), ImageInfo("image/png", 3, 2)),
    (samples.png(1, 1), ImageInfo("image/png", 1, 1)),
    (samples.jpeg(640, 480), ImageInfo("image/jpeg", 640, 480)),
    (samples.jpeg(4032, 3024, sof=0xC2), ImageInfo("image/jpeg", 4032, 3024)),  # progressive
    (samples.jpeg(1000, 750, sof=0xC1), ImageInfo("image/jpeg", 1000, 750)),
    (samples.jpeg(300, 200, sof=0xCF), ImageInfo("image/jpeg", 300, 200)),
    # The EXIF thumbnail's own frame header (160x120) must not be taken for the image's.
    (samples.jpeg(4000, 3000, exif_thumbnail=True), ImageInfo("image/jpeg", 4000, 3000)),
    (samples.gif(17, 9), ImageInfo("image/gif", 17, 9)),
    (samples.webp_vp8(400, 301), ImageInfo("image/webp", 400, 301)),
    (samples.webp_vp8l(16383, 1), ImageInfo("image/webp", 16383, 1)),
    (samples.webp_vp8x(16777216, 5000), ImageInfo("image/webp", 16777216, 5000)),
]


@pytest.mark.parametrize(("data", "expected"), SAMPLES, ids=lambda v: getattr(v, "media_type", ""))
def test_read_header_sizes(data: bytes, expected: ImageInfo) -> None:
    assert read_header(data) == expected


@pytest.mark.parametrize(("data", "expected"), SAMPLES, ids=lambda v: getattr(v, "media_type", ""))
def test_only_the_header_is_read(data: bytes, expected: ImageInfo) -> None:
    # Every truncation is None or the right answer, never an exception or a wrong size; what
    # follows the header is never looked at.
    needed = next(n for n in range(len(data) + 1) if read_header(data[:n]) is not None)
    assert all(read_header(data[:n]) == expected for n in range(needed, len(data) + 1))
    assert read_header(data[:needed] + b"\x00garbage") == expected


def test_a_large_png_is_sized_from_its_first_24_bytes() -> None:
    image = samples.png(1000, 700)
    assert len(image) > 1000
    assert read_header(image[:24]) == ImageInfo("image/png", 1000, 700)
    assert read_header(image[:23]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 64,
        b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIDAT" + b"\x00" * 16,  # first chunk not IHDR
        samples.png(0, 5),  # a zero size is no image
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 16,  # scan data before any frame header
        b"\xff\xd8\xff\xd9",  # end of image before any frame header
        b"\xff\xd8\xff\xe0\x00\x01" + b"\x00" * 16,  # segment length below 2
        b"\xff\xd8\x12\x34" + b"\x00" * 16,  # not a marker
        b"\xff\xd8" + b"\xff" * 10_000,  # fill bytes forever
        b"RIFF\x00\x00\x00\x00WEBPXXXX" + b"\x00" * 20,  # unknown WebP chunk
        samples.webp_vp8(10, 10)[:23] + b"\x00\x00\x00" + b"\x00" * 8,  # no VP8 start code
        b"GIF88a" + b"\x01\x00\x01\x00",
        b"BM" + b"\x00" * 40,  # BMP: not one of ours
    ],
)
def test_garbage_is_none(data: bytes) -> None:
    assert read_header(data) is None


def test_every_prefix_of_random_bytes_after_a_signature_is_safe() -> None:
    noise = bytes((i * 97 + 13) % 256 for i in range(600))
    for signature in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"):
        for n in range(0, 600, 7):
            read_header(signature + noise[:n])  # must not raise


def data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def test_parse_data_uri() -> None:
    image = samples.png(4, 4)
    assert parse_data_uri(data_uri("image/png", image), max_bytes=10_000) == ("image/png", image)
    # Parameters before ;base64, and a scheme and type in capitals, are accepted.
    uri = "DATA:Image/PNG;name=x.png;base64," + base64.b64encode(image).decode()
    assert parse_data_uri(uri, max_bytes=10_000) == ("image/png", image)


def test_parse_data_uri_returns_the_type_the_bytes_are() -> None:
    # Clients label every image image/jpeg; a provider told the wrong type refuses it.
    image = samples.png(2, 2)
    assert parse_data_uri(data_uri("image/jpeg", image), max_bytes=10_000)[0] == "image/png"


def test_parse_data_uri_size_limit_is_exact_and_checked_before_decoding() -> None:
    image = samples.png(8, 8)
    assert parse_data_uri(data_uri("image/png", image), max_bytes=len(image))[1] == image
    with pytest.raises(InvalidRequest, match="larger than"):
        parse_data_uri(data_uri("image/png", image), max_bytes=len(image) - 1)
    # Far over the limit and not even base64: refused for its size, without decoding anything.
    with pytest.raises(InvalidRequest, match="larger than"):
        parse_data_uri("data:image/png;base64," + "!" * 4_000_000, max_bytes=1000)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://example.com/a.png", "must look like"),
        ("data:image/png;base64", "must look like"),
        ("data:image/svg+xml;base64,PHN2Zy8+", "media type must be one of"),
        ("data:text/plain;base64,aGVsbG8=", "media type must be one of"),
        ("data:image/png,%89PNG", "must be base64"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        ("data:image/png;base64,iVBORw0KGgo", "not valid base64"),  # length not a multiple of 4
        ("data:image/png;base64,AA==AAAA", "not valid base64"),  # padding inside
        ("data:image/png;base64,aGVsbG8gd29ybGQh", "not a PNG, JPEG, GIF or WebP"),
        ("data:image/png;base64,", "not a PNG, JPEG, GIF or WebP"),
    ],
)
def test_parse_data_uri_refusals_name_the_field(uri: str, message: str) -> None:
    param = "messages[0].content[1].image_url.url"
    with pytest.raises(InvalidRequest, match=message) as caught:
        parse_data_uri(uri, max_bytes=1_000_000, param=param)
    assert caught.value.body()["error"]["param"] == param
    assert caught.value.status == 400


# --- OpenAI, "Images and vision" guide, "Calculating costs" ------------------------------------


def test_openai_tile_rule_worked_examples() -> None:
    # Docs example 1: 1024 x 1024, high -> 768 x 768, 4 tiles: 170 * 4 + 85 = 765.
    assert openai_image_tokens("gpt-4o", 1024, 1024, "high") == 765
    # Docs example 2: 2048 x 4096, high -> 1024 x 2048 -> 768 x 1536, 6 tiles: 1105.
    assert openai_image_tokens("gpt-4o-2024-08-06", 2048, 4096, "high") == 1105
    # Docs example 3: 4096 x 8192, low: a fixed 85.
    assert openai_image_tokens("gpt-4o", 4096, 8192, "low") == 85
    # auto is reserved as high; small images are never enlarged (1 tile).
    assert openai_image_tokens("gpt-4.1", 1024, 1024, "auto") == 765
    assert openai_image_tokens("gpt-4.1", 128, 64, "high") == 85 + 170
    assert openai_image_tokens("gpt-4.1", 513, 500, "high") == 85 + 170 * 2


def test_openai_tile_rule_per_model_family() -> None:
    # The docs' table of base and tile tokens.
    assert openai_image_tokens("gpt-5", 1024, 1024, "high") == 70 + 140 * 4
    assert openai_image_tokens("gpt-5-chat-latest", 1024, 1024, "low") == 70
    assert openai_image_tokens("gpt-4o-mini-2024-07-18", 1024, 1024, "high") == 2833 + 5667 * 4
    assert openai_image_tokens("o3", 1024, 1024, "high") == 75 + 150 * 4
    assert openai_image_tokens("o1-2024-12-17", 100, 100, "low") == 75
    assert openai_image_tokens("computer-use-preview", 1024, 1024, "high") == 65 + 129 * 4


def test_openai_patch_rule_worked_examples() -> None:
    # Docs example 1: 1024 x 1024 -> 32 * 32 = 1024 patches, under the 1536 cap; x 1.62.
    assert openai_image_tokens("gpt-4.1-mini", 1024, 1024, "high") == 1659  # ceil(1658.88)
    # Docs example 2: 1800 x 2400 -> 4275 patches, shrunk (factor 0.603, then 0.97) to
    # 1056 x 1408 -> 33 * 44 = 1452 patches.
    assert openai_image_tokens("gpt-4.1-mini-2025-04-14", 1800, 2400, "high") == 2353  # 1452*1.62
    assert openai_image_tokens("gpt-4.1-nano", 1800, 2400, "high") == 3572  # 1452 * 2.46
    assert openai_image_tokens("o4-mini", 1800, 2400, "high") == 2498  # 1452 * 1.72
    assert openai_image_tokens("gpt-5-mini", 1024, 1024, "high") == 1659
    assert openai_image_tokens("gpt-5-nano", 32, 32, "high") == 3  # ceil(2.46)
    # detail low does not apply to patch models.
    assert openai_image_tokens("gpt-4.1-mini", 1024, 1024, "low") == 1659
    # Never more than the 1536-patch cap, whatever the size or shape.
    for w, h in [(8000, 8000), (20000, 31), (31, 20000), (2049, 768), (100_000, 10)]:
        assert 0 < openai_image_tokens("gpt-4.1-nano", w, h, "high") <= 3779  # 1536 * 2.46


def test_openai_unknown_models_get_the_largest_rule() -> None:
    tokens = openai_image_tokens("gpt-7-turbo", 1024, 1024, "low")
    assert tokens >= max(765, 1024 * 2.46, 1024 * 1.2)


# --- Anthropic, "Vision", "Calculate image costs": tokens = (width * height) / 750 ---------------


def test_anthropic_worked_examples() -> None:
    # The docs' table: 200x200 ~54, 1000x1000 ~1334, 1092x1092 ~1590 (Sonnet).
    assert anthropic_image_tokens(200, 200, model="claude-sonnet-4-5") == 54
    assert anthropic_image_tokens(1000, 1000, model="claude-3-5-sonnet-20241022") == 1334
    assert anthropic_image_tokens(1092, 1092, model="claude-sonnet-4-20250514") == 1590


def test_anthropic_resize_caps() -> None:
    # Long edge over 1568 or over ~1600 tokens: scaled down first, so capped at ~1600.
    assert anthropic_image_tokens(4000, 3000, model="claude-haiku-4-5") == 1600
    assert anthropic_image_tokens(8000, 100, model="claude-opus-4-1") == 41  # 1568 x 19.6 / 750
    # Opus 4.7 and later read up to 2576 px, ~4784 tokens; unknown names get those limits too.
    assert anthropic_image_tokens(4000, 3000, model="claude-opus-4-7") == 4784
    assert anthropic_image_tokens(4000, 3000) == 4784
    assert anthropic_image_tokens(1568, 1568, model="claude-opus-5") == 3279


# --- Gemini, "Understand and count tokens", image inputs -----------------------------------------


def test_gemini_worked_examples() -> None:
    # Both sides <= 384: 258. The docs' worked 600 x 400 example is one 768 tile: 258.
    assert gemini_image_tokens("gemini-2.0-flash", 384, 384) == 258
    assert gemini_image_tokens("gemini-2.0-flash", 600, 400) == 258
    assert gemini_image_tokens("gemini-2.5-flash", 1024, 1024) == 258 * 4
    assert gemini_image_tokens("gemini-2.5-pro", 385, 100) == 258
    # Fitted into 3072 x 3072 first: at most 4 x 4 tiles.
    assert gemini_image_tokens("gemini-2.5-pro", 8000, 8000) == 258 * 16
    # Gemini 3 counts by media_resolution; unset, images are "high": 1120.
    assert gemini_image_tokens("gemini-3-pro-preview", 100, 100) == 1120
    assert gemini_image_tokens("gemini-3.1-flash", 4000, 4000) == 1120


# --- Dispatch and maxima -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("openai", "gpt-4o", 85 + 170 * 8),  # 768 x 2048 after both resizes: 8 tiles
        ("openai", "gpt-4o-mini", 2833 + 5667 * 8),
        ("openai", "gpt-4.1-mini", 2489),  # ceil(1536 * 1.62)
        ("anthropic", "claude-sonnet-4-5", 1600),
        ("anthropic", "claude-opus-4-7", 4784),
        ("gemini", "gemini-2.5-flash", 258 * 16),
        ("gemini", "gemini-3-flash-preview", 1120),
    ],
)
def test_max_image_tokens(provider: str, model: str, expected: int) -> None:
    assert max_image_tokens(provider, model) == expected
    # No actual size ever costs more than the maximum.
    for w, h in [(1, 1), (512, 512), (768, 2048), (2048, 767), (3000, 4000), (8000, 8000)]:
        info = ImageInfo("image/png", w, h)
        assert image_tokens(provider, model, info, "high") <= expected


def test_image_tokens_dispatch() -> None:
    info = ImageInfo("image/jpeg", 1024, 1024)
    assert image_tokens("openai", "gpt-4o", info, "high") == 765
    assert image_tokens("openai", "gpt-4o", info, "low") == 85
    assert image_tokens("openai", "gpt-4o", info) == 765  # auto
    assert image_tokens("anthropic", "claude-sonnet-4-5", info) == 1399  # ceil(1048576 / 750)
    assert image_tokens("gemini", "gemini-2.0-flash", info) == 258 * 4
    assert image_tokens("gemini", "gemini-2.0-flash", None) == 258 * 16
    assert image_tokens("openai", "gpt-4o", None) == 85 + 170 * 8
    assert image_tokens("openai", "gpt-4o", None, "low") == 85  # low is a fixed count
    assert image_tokens("openai", "gpt-4.1-mini", None, "low") == 2489  # which patch models ignore
    # Any other provider (the demo one): the largest any rule gives.
    assert image_tokens("demo", "demo-1", info) == max_image_tokens("demo", "demo-1") >= 4784
