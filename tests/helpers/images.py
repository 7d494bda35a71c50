"""Images made in the test with Pillow: covers of each accepted type, and ones that lie or explode."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def image_bytes(
    media_type: str = "image/png", size: tuple[int, int] = (600, 900), color=(180, 40, 40), **save
) -> bytes:
    image = Image.new("RGB", size, color)
    # a darker band at the top, so orientation and cropping are visible in the output
    image.paste(tuple(c // 3 for c in color), (0, 0, size[0], max(1, size[1] // 10)))
    out = io.BytesIO()
    image.save(out, format=PILLOW_FORMATS[media_type], **save)
    return out.getvalue()


def with_declared_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` (a decompression bomb's shape), CRC fixed."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    chunk = b"IHDR" + ihdr
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def animated(media_type: str, colors=((200, 0, 0), (0, 0, 200)), size=(300, 450)) -> bytes:
    frames = [Image.new("RGB", size, color) for color in colors]
    out = io.BytesIO()
    frames[0].save(out, format=PILLOW_FORMATS[media_type], save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
