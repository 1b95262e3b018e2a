"""Images in chat requests: media type and size from the header bytes, data: URIs, image tokens."""

from __future__ import annotations

import binascii
import math
import re
import struct
from base64 import b64decode
from dataclasses import dataclass

from core.errors import InvalidRequest

ALLOWED_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


# --- Header parsing: never decodes pixels, never raises ----------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the
# range but are tables or reserved.
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, with no length field after them.
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def read_header(data: bytes) -> ImageInfo | None:
    """The media type and pixel size of a PNG, JPEG, GIF or WebP, read from its header only.

    None for anything else, truncated or malformed; never an exception."""
    try:
        if data.startswith(PNG_SIGNATURE):
            return _sized("image/png", *_png(data))
        if data.startswith(b"\xff\xd8"):
            return _sized("image/jpeg", *_jpeg(data))
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _sized("image/gif", *struct.unpack_from("<HH", data, 6))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _sized("image/webp", *_webp(data))
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _sized(media_type: str, width: int, height: int) -> ImageInfo | None:
    return ImageInfo(media_type, width, height) if width > 0 and height > 0 else None


def _png(data: bytes) -> tuple[int, int]:
    # The first chunk must be IHDR: length (13), type, then width and height, big-endian.
    if data[12:16] != b"IHDR":
        raise ValueError("no IHDR")
    return struct.unpack_from(">II", data, 16)


def _jpeg(data: bytes) -> tuple[int, int]:
    i = 2
    while True:
        if data[i] != 0xFF:
            raise ValueError("not a marker")
        while data[i] == 0xFF:  # any number of fill bytes may precede a marker
            i += 1
        marker = data[i]
        i += 1
        if marker in JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            raise ValueError("no frame header")
        (length,) = struct.unpack_from(">H", data, i)
        if length < 2:
            raise ValueError("bad segment length")
        if marker in JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, i + 3)  # after length, precision
            return width, height
        # APPn (EXIF and its embedded thumbnail, with its own SOF), DQT, DHT...: skipped whole.
        i += length


def _webp(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        # Lossy: a key frame's 3-byte tag, the start code, then 14-bit width and height.
        if data[20] & 1 or data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("not a VP8 key frame")
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        # Lossless: a signature byte, then width-1 and height-1 in 14 bits each.
        if data[20] != 0x2F:
            raise ValueError("bad VP8L signature")
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # Extended: flags and reserved bytes, then the canvas width-1 and height-1 in 24 bits.
        b = data[24:30]
        if len(b) < 6:
            raise ValueError("truncated VP8X")
        return (b[0] | b[1] << 8 | b[2] << 16) + 1, (b[3] | b[4] << 8 | b[5] << 16) + 1
    raise ValueError("unknown WebP chunk")


# --- data: URIs ---------------------------------------------------------------------------------

BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def parse_data_uri(uri: str, *, max_bytes: int, param: str | None = None) -> tuple[str, bytes]:
    """`data:image/png;base64,...` as (media type, bytes), checked before anything is decoded.

    The media type returned is the one the bytes are: clients often label every image
    image/jpeg, and a provider told the wrong type refuses the request."""
    head, comma, payload = uri.partition(",")
    if not comma or head[:5].lower() != "data:":
        raise InvalidRequest("image data URI must look like data:image/png;base64,...", param=param)
    media_type, *options = (part.strip().lower() for part in head[5:].split(";"))
    if media_type not in ALLOWED_MEDIA_TYPES:
        raise InvalidRequest(
            f"image media type must be one of {', '.join(sorted(ALLOWED_MEDIA_TYPES))}",
            param=param,
        )
    if not options or options[-1] != "base64":
        raise InvalidRequest("image data URI must be base64-encoded", param=param)
    # Size from the text alone, so an oversized image is refused before it is decoded.
    padding = len(payload) - len(payload.rstrip("="))
    if len(payload) // 4 * 3 - min(padding, 2) > max_bytes:
        raise InvalidRequest(f"image is larger than {max_bytes} bytes", param=param)
    if len(payload) % 4 or not BASE64_TEXT.fullmatch(payload):
        raise InvalidRequest("image data is not valid base64", param=param)
    try:
        data = b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("image data is not valid base64", param=param) from None
    info = read_header(data)
    if info is None:
        raise InvalidRequest("image data is not a PNG, JPEG, GIF or WebP image", param=param)
    return info.media_type, data


# --- Image tokens, for reservations (upper estimates) ------------------------------------------
# OpenAI, "Images and vision" guide, "Calculating costs". Tile models: fit in 2048x2048, shortest
# side to 768 (never enlarged), `tile` tokens per 512px tile plus `base`; detail low = `base`.
# Patch models: 32px patches, at most 1536 (shrunk to fit), times a multiplier; detail ignored.
OPENAI_TILE_MODELS: tuple[tuple[str, int, int], ...] = (
    # (model, base, per tile)
    ("gpt-4o-mini", 2833, 5667),
    ("gpt-4o", 85, 170),
    ("chatgpt-4o", 85, 170),
    ("gpt-4.1", 85, 170),
    ("gpt-4.5", 85, 170),
    ("gpt-4-turbo", 85, 170),
    ("gpt-5-chat", 70, 140),
    ("gpt-5", 70, 140),
    ("o1-pro", 75, 150),
    ("o1", 75, 150),
    ("o3", 75, 150),
    ("computer-use-preview", 65, 129),
)
OPENAI_PATCH_MODELS: tuple[tuple[str, float], ...] = (
    ("gpt-4.1-mini", 1.62),
    ("gpt-4.1-nano", 2.46),
    ("gpt-5-mini", 1.62),
    ("gpt-5-nano", 2.46),
    ("o4-mini", 1.72),
    ("codex-mini", 1.72),
)
OPENAI_PATCH_BUDGET = 1536
# Models we do not know (newer gpt-5.x are reported to use 2500 patches at 1.2x): the largest of
# every rule above except gpt-4o-mini's, which is that one model's price equaliser.
OPENAI_UNKNOWN_RULES: tuple[tuple[int, float], ...] = ((1536, 2.46), (2500, 1.2))
OPENAI_MAX_TILES = 8  # 768 x 2048 after both resizes: 2 x 4 tiles


def _model_rule(model: str, table: tuple[tuple, ...]) -> tuple | None:
    """The row for `model` or one of its dated or suffixed names (gpt-4o-2024-08-06); each
    table is ordered so that gpt-4o-mini is tried before gpt-4o."""
    name = model.lower().rsplit("/", 1)[-1]
    for row in table:
        if name == row[0] or name.startswith(row[0] + "-"):
            return row
    return None


def _tiles(width: int, height: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    return math.ceil(w / 512) * math.ceil(h / 512)


def _patches(width: int, height: int, budget: int) -> int:
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches > budget:
        shrink = math.sqrt(budget * 32 * 32 / (width * height))
        w, h = width * shrink / 32, height * shrink / 32
        # A side under one patch after the shrink stays one patch (never a zero count).
        shrink *= min(max(math.floor(w), 1) / w, max(math.floor(h), 1) / h)
        patches = math.ceil(int(width * shrink) / 32) * math.ceil(int(height * shrink) / 32)
    return min(patches, budget)


def openai_image_tokens(model: str, width: int, height: int, detail: str = "auto") -> int:
    width, height = max(width, 1), max(height, 1)
    patch = _model_rule(model, OPENAI_PATCH_MODELS)
    if patch is not None:
        return math.ceil(_patches(width, height, OPENAI_PATCH_BUDGET) * patch[1])
    tile = _model_rule(model, OPENAI_TILE_MODELS)
    if tile is not None:
        _, base, per_tile = tile
        return base if detail == "low" else base + per_tile * _tiles(width, height)
    return max(
        85 + 170 * _tiles(width, height),
        *(math.ceil(_patches(width, height, budget) * m) for budget, m in OPENAI_UNKNOWN_RULES),
    )


def _openai_max(model: str) -> int:
    patch = _model_rule(model, OPENAI_PATCH_MODELS)
    if patch is not None:
        return math.ceil(OPENAI_PATCH_BUDGET * patch[1])
    tile = _model_rule(model, OPENAI_TILE_MODELS)
    if tile is not None:
        return tile[1] + tile[2] * OPENAI_MAX_TILES
    return max(85 + 170 * OPENAI_MAX_TILES, *(math.ceil(b * m) for b, m in OPENAI_UNKNOWN_RULES))


# Anthropic, "Vision", "Evaluate image size" / "Calculate image costs": tokens = w*h/750 after a
# resize to at most 1568px on the long edge and ~1600 tokens (~1.15 MP). Claude Opus 4.7 and later
# read up to 2576px, ~4784 tokens; a name we cannot place gets those larger limits.
ANTHROPIC_LIMITS = (1568, 1600)
ANTHROPIC_HIGH_RES_LIMITS = (2576, 4784)
ANTHROPIC_HIGH_RES_FROM = (4, 7)
# claude-3-5-sonnet-20241022, claude-sonnet-4-5-20250929, claude-opus-4-7; a date is no minor.
CLAUDE_VERSION = re.compile(
    r"claude-(?:(\d+)(?:[-.](\d))?-[a-z]+|[a-z]+-(\d+)(?:[-.](\d{1,2})(?!\d))?)"
)


def _anthropic_limits(model: str) -> tuple[int, int]:
    found = CLAUDE_VERSION.search(model.lower())
    if found is None:
        return ANTHROPIC_HIGH_RES_LIMITS
    major, minor = found.group(1) or found.group(3), found.group(2) or found.group(4) or "0"
    if (int(major), int(minor)) >= ANTHROPIC_HIGH_RES_FROM:
        return ANTHROPIC_HIGH_RES_LIMITS
    return ANTHROPIC_LIMITS


def anthropic_image_tokens(width: int, height: int, *, model: str = "") -> int:
    """Without a model (or with one we cannot place), the larger limits of the newest models."""
    width, height = max(width, 1), max(height, 1)
    long_edge, max_tokens = _anthropic_limits(model)
    scale = min(1.0, long_edge / max(width, height))
    tokens = math.ceil(width * scale * height * scale / 750)
    return min(tokens, max_tokens)


# Gemini, "Understand and count tokens" (image inputs): 258 tokens when both sides are <= 384px,
# else 258 per 768x768 tile, after the image is fitted in 3072x3072. Gemini 3 counts by
# media_resolution instead; unset, an image is counted at "high": 1120 tokens.
GEMINI_TILE_TOKENS = 258
GEMINI_MAX_SIDE = 3072
GEMINI_3_IMAGE_TOKENS = 1120
GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


def _gemini_3_or_later(model: str) -> bool:
    found = GEMINI_MAJOR.search(model.lower())
    return found is not None and int(found.group(1)) >= 3


def gemini_image_tokens(model: str, width: int, height: int) -> int:
    width, height = max(width, 1), max(height, 1)
    if _gemini_3_or_later(model):
        return GEMINI_3_IMAGE_TOKENS
    if width <= 384 and height <= 384:
        return GEMINI_TILE_TOKENS
    scale = min(1.0, GEMINI_MAX_SIDE / max(width, height))
    tiles = math.ceil(width * scale / 768) * math.ceil(height * scale / 768)
    return GEMINI_TILE_TOKENS * tiles


def max_image_tokens(provider: str, model: str) -> int:
    """The most one image can cost on `model`: for an image whose size is unknown."""
    if provider == "openai":
        return _openai_max(model)
    if provider == "anthropic":
        return _anthropic_limits(model)[1]
    if provider == "gemini":
        if _gemini_3_or_later(model):
            return GEMINI_3_IMAGE_TOKENS
        return GEMINI_TILE_TOKENS * (GEMINI_MAX_SIDE // 768) ** 2
    # Any other provider (demo, one added later): the largest any rule gives.
    return max(_openai_max(""), ANTHROPIC_HIGH_RES_LIMITS[1], GEMINI_TILE_TOKENS * 16)


def image_tokens(provider: str, model: str, info: ImageInfo | None, detail: str = "auto") -> int:
    """The tokens to reserve for one image on `model`; None (size unknown) is the maximum."""
    if info is None:
        if provider == "openai" and detail == "low":
            return openai_image_tokens(model, 768, 2048, detail)  # a fixed count on tile models
        return max_image_tokens(provider, model)
    if provider == "openai":
        return openai_image_tokens(model, info.width, info.height, detail)
    if provider == "anthropic":
        return anthropic_image_tokens(info.width, info.height, model=model)
    if provider == "gemini":
        return gemini_image_tokens(model, info.width, info.height)
    return max_image_tokens(provider, model)
