"""Cover images and the local storage without HTTP: signatures, rendition widths, limits, keys."""

from __future__ import annotations

import pytest

from bookstore_api.covers import images
from bookstore_api.covers.images import MAX_PIXELS, process_cover, rendition_widths, sniff
from bookstore_api.covers.services import cover_keys
from bookstore_api.covers.storage import LocalCoverStorage, check_key
from bookstore_api.exceptions import Busy, InvalidInput, PayloadTooLarge, UnsupportedMedia
from bookstore_core.settings import MAX_REQUEST_BODY_BYTES, server_settings
from tests.helpers.images import image_bytes, with_declared_size


@pytest.mark.parametrize("media_type", ["image/jpeg", "image/png", "image/webp"])
def test_sniff_knows_the_three_signatures(media_type):
    assert sniff(image_bytes(media_type, (20, 30))) == media_type


def test_sniff_knows_nothing_else():
    assert sniff(b"GIF89a") is None and sniff(b"<svg/>") is None and sniff(b"RIFF\0\0\0\0WAVE") is None


@pytest.mark.parametrize(
    ("width", "widths"), [(1000, [240, 480]), (480, [240, 480]), (300, [240, 300]), (240, [240]), (100, [100])]
)
def test_renditions_are_never_wider_than_the_upload(width, widths):
    assert rendition_widths(width) == widths


def test_keys_follow_the_renditions():
    digest = "0123456789abcdef" * 2
    assert cover_keys(7, digest, 480) == [f"7/{digest}-240w.webp", f"7/{digest}-480w.webp"]
    assert cover_keys(7, None, None) == []


def test_media_type_parameters_and_case_are_ignored():
    cover = process_cover(image_bytes("image/png", (300, 450)), "Image/PNG; charset=binary")
    assert [r.width for r in cover.renditions] == [240, 300] and len(cover.digest) == 32


def test_refusals():
    with pytest.raises(UnsupportedMedia):
        process_cover(image_bytes("image/png"), None)
    with pytest.raises(PayloadTooLarge):
        process_cover(b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024), "image/png")
    with pytest.raises(PayloadTooLarge) as bomb:
        process_cover(with_declared_size(image_bytes("image/png", (4, 4)), 5001, 5000), "image/png")
    assert bomb.value.code == "image_too_large" and MAX_PIXELS < 5001 * 5000
    with pytest.raises(InvalidInput) as broken:
        process_cover(b"\xff\xd8\xff" + b"\0" * 64, "image/jpeg")
    assert broken.value.code == "undecodable_image"


def test_a_full_house_of_decoders_answers_busy(monkeypatch):
    import threading

    monkeypatch.setattr(images, "_SLOTS", threading.BoundedSemaphore(1))
    monkeypatch.setattr(images, "SLOT_WAIT_SECONDS", 0.01)
    images._SLOTS.acquire()
    try:
        with pytest.raises(Busy):
            process_cover(image_bytes("image/png", (30, 45)), "image/png")
    finally:
        images._SLOTS.release()


def test_local_storage_refuses_keys_it_did_not_make(tmp_path):
    storage = LocalCoverStorage(tmp_path / "covers", "/covers/")
    for key in ("../secret", "1/../../x.webp", "/etc/passwd", "1/abc-480w.webp", "1/" + "a" * 32 + "-480w.png"):
        with pytest.raises(ValueError):
            check_key(key)
        with pytest.raises(ValueError):
            storage.put(key, b"x", "image/webp")
    key = "1/" + "a" * 32 + "-480w.webp"
    storage.put(key, b"bytes", "image/webp")
    assert storage.get(key) == b"bytes" and storage.url(key) == "/covers/" + key
    assert list((tmp_path / "covers" / "1").iterdir()) == [tmp_path / "covers" / key], "no temporary file left"
    storage.mark_orphaned([key, key])
    assert storage.get(key) is None


def test_waitress_stops_reading_bodies_over_the_largest_upload():
    assert server_settings({})["max_request_body_size"] == MAX_REQUEST_BODY_BYTES > 5 * 1024 * 1024


def test_colour_profiles_are_applied_then_dropped():
    import io

    from PIL import Image, ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk = io.BytesIO()
    Image.new("CMYK", (300, 450), (0, 255, 255, 0)).save(cmyk, format="JPEG", quality=95)  # red, untagged
    tagged = io.BytesIO()
    Image.new("RGB", (300, 450), (20, 120, 200)).save(tagged, format="PNG", icc_profile=srgb)
    for data, media_type, check in (
        (cmyk.getvalue(), "image/jpeg", lambda rgb: rgb[0] > 200 and rgb[2] < 60),
        (tagged.getvalue(), "image/png", lambda rgb: abs(rgb[2] - 200) < 12 and abs(rgb[0] - 20) < 12),
    ):
        image = Image.open(io.BytesIO(process_cover(data, media_type).largest.data))
        assert image.mode == "RGB" and "icc_profile" not in image.info
        assert check(image.getpixel((5, 5))), image.getpixel((5, 5))
