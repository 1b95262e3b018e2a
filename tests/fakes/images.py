"""Images for the fakes: the size and type read from PNG/JPEG/GIF/WebP headers, data URIs, the
answer text that describes them, and tiny image builders for tests."""

from __future__ import annotations

import base64
import binascii
import struct

from tests import image_samples

MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# JPEG start-of-frame markers (the ones that carry the size); C4, C8 and CC are not frames
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def sniff(data: bytes) -> tuple[str, int, int] | None:
    """(media type, width, height) read from the header, or None when it is no image we know."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "image/gif", width, height
    if data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
        return ("image/jpeg", *size) if size else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp_size(data)
        return ("image/webp", *size) if size else None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def b64decode(data: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None when it is not base64."""
    text = data.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def data_uri(url: str) -> tuple[str, bytes] | None:
    """(media type, bytes) of a `data:<type>;base64,<data>` URI, or None."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    raw = b64decode(payload)
    return None if raw is None else (head[: -len(";base64")], raw)


def entry(media_type: str, data: bytes, detail: str | None = None) -> str | None:
    """`WxH <media_type>[ detail=<d>]` for an inline image, or None when the bytes are no image."""
    found = sniff(data)
    if found is None:
        return None
    text = f"{found[1]}x{found[2]} {media_type}"
    return f"{text} detail={detail}" if detail else text


def url_entry(url: str, detail: str | None = None) -> str:
    return f"url {url} detail={detail}" if detail else f"url {url}"


def describe(entries: list[str]) -> str:
    """The answer to a turn with images: `I see N image(s): <entry>, <entry>`."""
    return f"I see {len(entries)} image(s): " + ", ".join(entries)


# --- tiny images for tests: the builders of tests/image_samples.py ---------------------------

png, gif, jpeg, webp = (
    image_samples.png,
    image_samples.gif,
    image_samples.jpeg,
    image_samples.webp_vp8x,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
