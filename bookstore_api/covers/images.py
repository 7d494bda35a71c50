"""Cover images: decode what staff upload, refuse what is not a cover, re-encode WebP renditions.

Nothing an upload claims is trusted. The declared ``Content-Type`` must be one
we accept *and* match what the bytes are (a PNG sent as ``image/jpeg``, or an
HTML or SVG file sent as any image type, is a 415). The image is decoded with
Pillow under a pixel cap checked from the header before any pixel is decoded
(so a small file that declares huge dimensions — a decompression bomb — costs
nothing), turned upright by its EXIF orientation, reduced to its first frame
if animated, converted to sRGB from its embedded colour profile, flattened onto
white, and re-encoded as WebP renditions at fixed widths. The output carries no EXIF, XMP or ICC data: only pixels survive.

Decoding is CPU and memory heavy, so at most ``MAX_CONCURRENT`` run at once in
a process; a request that waits longer than ``SLOT_WAIT_SECONDS`` for a slot is
a 503 with ``Retry-After`` rather than a server thread held up.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..exceptions import Busy, InvalidInput, PayloadTooLarge, UnsupportedMedia

#: what the API accepts, by media type: the Pillow format it must decode as
ACCEPTED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: no upload decodes to more pixels than this (a 5000 × 5000 image; about 100 MB as RGBA)
MAX_PIXELS = 25_000_000
#: the widths of the WebP renditions (never wider than the upload)
RENDITION_WIDTHS = (240, 480)
#: covers are portrait or landscape, never a strip: height/width (and width/height) at most this
MAX_ASPECT = 4
WEBP_QUALITY = 80
MAX_CONCURRENT = 2
SLOT_WAIT_SECONDS = 5.0

# Pillow's own guard as a second line: it warns above this and raises above twice this,
# when the header is read (the check in _decode refuses anything above it first).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class ProcessedCover:
    """The renditions of one cover, narrowest first, and a digest of all their bytes."""

    digest: str
    renditions: list[Rendition]

    @property
    def largest(self) -> Rendition:
        return self.renditions[-1]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are (of the three we accept), from their signature."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def rendition_widths(width: int) -> list[int]:
    """The rendition widths of a cover whose upright source is ``width`` pixels wide."""
    largest = min(RENDITION_WIDTHS[-1], width)
    return [w for w in RENDITION_WIDTHS if w < largest] + [largest]


def _unsupported(declared: str, detected: str | None) -> UnsupportedMedia:
    return UnsupportedMedia(
        "Send a JPEG, PNG or WebP image, with the Content-Type it really is.",
        {"accepted": sorted(ACCEPTED_TYPES), "declared": declared[:100], "detected": detected},
    )


def _undecodable() -> InvalidInput:
    return InvalidInput("The image could not be decoded.", {"body": "Not a readable image."}, code="undecodable_image")


def _too_many_pixels(width: int | None = None, height: int | None = None) -> PayloadTooLarge:
    details = {"max_pixels": MAX_PIXELS}
    if width and height:
        details.update(width=width, height=height)
    return PayloadTooLarge(
        "image_too_large", f"The image has more than {MAX_PIXELS:,} pixels; send a smaller one.", details
    )


def process_cover(data: bytes, content_type: str | None) -> ProcessedCover:
    """Check an upload and make its renditions; raises the error the client should get."""
    declared = media_type(content_type)
    if declared not in ACCEPTED_TYPES:
        raise _unsupported(declared, None)
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge("body_too_large", "The image is larger than 5 MB.", {"max_bytes": MAX_UPLOAD_BYTES})
    if not data:
        raise _undecodable()
    detected = sniff(data)
    if detected != declared:
        raise _unsupported(declared, detected)
    if not _SLOTS.acquire(timeout=SLOT_WAIT_SECONDS):
        raise Busy("Covers are being processed at capacity; please retry shortly.", retry_after=2)
    try:
        return _renditions(_decode(data, ACCEPTED_TYPES[declared]))
    finally:
        _SLOTS.release()


def _decode(data: bytes, pillow_format: str) -> Image.Image:
    """The upright, opaque RGB first frame of the upload."""
    try:
        image = Image.open(io.BytesIO(data), formats=[pillow_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels() from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _undecodable() from exc
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise _undecodable()
        if width * height > MAX_PIXELS:
            raise _too_many_pixels(width, height)
        try:
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated: the first frame is the cover
            if pillow_format == "JPEG":
                # decode at the smallest scale still at least as large as the widest rendition
                image.draft("RGB", (RENDITION_WIDTHS[-1], RENDITION_WIDTHS[-1]))
            image.load()
            upright = ImageOps.exif_transpose(image)
            return _opaque_rgb(_to_srgb(upright))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(width, height) from exc
        except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError) as exc:
            raise _undecodable() from exc


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels converted from the image's embedded colour profile to sRGB (a publisher's CMYK
    JPEG keeps its colours); the profile itself is not carried into the output."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a profile that does not fit the pixels: keep them as they are


def _opaque_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _renditions(image: Image.Image) -> ProcessedCover:
    width, height = image.size
    if max(width / height, height / width) > MAX_ASPECT:
        raise InvalidInput(
            "A cover is at most four times as tall as it is wide, or as wide as it is tall.",
            {"body": f"The image is {width} × {height} pixels."},
            code="image_dimensions",
        )
    renditions = []
    for target in rendition_widths(width):
        target_height = max(1, round(target * height / width))
        scaled = image if target == width else image.resize((target, target_height), Image.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        scaled.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
        renditions.append(Rendition(target, target_height, out.getvalue()))
    digest = hashlib.sha256(b"".join(r.data for r in renditions)).hexdigest()[:32]
    return ProcessedCover(digest, renditions)
