"""Real tiny images built byte by byte (no imaging library), for the image tests."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int) -> bytes:
    """A complete, decodable greyscale PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _sof(marker: int, width: int, height: int) -> bytes:
    # precision, height, width, one component (id 1, sampling 1x1, quant table 0)
    return _segment(marker, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")


def jpeg(width: int, height: int, *, sof: int = 0xC0, exif_thumbnail: bool = False) -> bytes:
    """A JPEG header as cameras write it: JFIF, optionally an EXIF segment whose embedded
    thumbnail has its own (smaller) frame header, tables, fill bytes, then the frame."""
    parts = [b"\xff\xd8", _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    if exif_thumbnail:
        thumbnail = b"\xff\xd8" + _sof(0xC0, 160, 120) + b"\xff\xd9"
        parts.append(_segment(0xE1, b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + thumbnail))
    parts.append(_segment(0xDB, b"\x00" + bytes(range(64))))  # DQT
    parts.append(_segment(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00"))  # DHT before SOF
    parts.append(_segment(0xCC, b"\x00\x11"))  # DAC: in the SOF range, but not a frame
    parts.append(b"\xff\xff\xff")  # fill bytes before the next marker
    parts.append(_sof(sof, width, height))
    parts.append(_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x12\x34" + b"\xff\xd9")
    return b"".join(parts)


def gif(width: int, height: int) -> bytes:
    """A GIF89a header and one frame (its pixel data is that of a 1x1 image)."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # global table of 2 colours
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + b"\x00\x00\x00\xff\xff\xff" + image + b"\x02\x02\x44\x01\x00;"


def _riff(chunk: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x50\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 8
    return _riff(b"VP8 " + struct.pack("<I", len(frame)) + frame)


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    body = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 4
    return _riff(b"VP8L" + struct.pack("<I", len(body)) + body)


def webp_vp8x(width: int, height: int) -> bytes:
    w, h = width - 1, height - 1
    body = b"\x10\x00\x00\x00" + w.to_bytes(3, "little") + h.to_bytes(3, "little")
    return _riff(b"VP8X" + struct.pack("<I", len(body)) + body)
