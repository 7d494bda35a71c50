"""Cover uploads (``PUT/DELETE /api/v1/books/{id}/cover``): what is accepted, what is refused,
what is stored (re-encoded WebP renditions, no metadata) and what becomes of replaced covers."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.functional.conftest import LIVE_URL
from tests.helpers.clients import Client
from tests.helpers.images import animated, decoded, image_bytes, with_declared_size

COVER = "/api/v1/books/{}/cover"


def assert_error(response, status: int, code: str) -> None:
    assert response.status_int == status
    assert response.json["error"]["code"] == code, response.json


def new_book(staff: Client, **fields) -> dict:
    from tests.helpers.factories import next_isbn

    body = {"isbn": next_isbn(), "title": "Covered", "price": "9.00", "authors": ["Cora Cover"], **fields}
    return staff.post("/books", body).json


def put_cover(staff: Client, book_id: int, data: bytes, media_type: str, status: int = 200):
    return staff.app.put(
        COVER.format(book_id),
        data,
        headers={**staff._headers(None), "Content-Type": media_type},
        status=status,
    )


@pytest.fixture
def storage(api_app):
    if LIVE_URL:
        pytest.skip("reads the cover storage in-process")
    return api_app.registry["cover_storage"]


def stored(storage, url: str) -> bytes | None:
    key = url.split("/covers/", 1)[1]
    return storage.get(key)


@pytest.mark.parametrize("media_type", ["image/jpeg", "image/png", "image/webp"])
def test_each_accepted_type_becomes_webp_renditions(staff, anon, storage, media_type):
    book = new_book(staff)
    uploaded = put_cover(staff, book["id"], image_bytes(media_type, (600, 900)), media_type).json
    assert uploaded["cover_width"] == 480 and uploaded["cover_height"] == 720
    assert uploaded["cover_url"].endswith("-480w.webp")
    small, large = uploaded["cover_srcset"].split(", ")
    assert small.endswith("-240w.webp 240w") and large == uploaded["cover_url"] + " 480w"
    # the shop's readers see it at once (the cached book is replaced)
    assert anon.get(f"/books/{book['id']}").json["cover_url"] == uploaded["cover_url"]
    for url, width, height in ((small.split()[0], 240, 360), (uploaded["cover_url"], 480, 720)):
        image = decoded(stored(storage, url))
        assert image.format == "WEBP" and image.size == (width, height)


def test_same_bytes_same_urls_and_a_narrow_upload_is_not_enlarged(staff, storage):
    book = new_book(staff)
    data = image_bytes("image/png", (200, 300))
    first = put_cover(staff, book["id"], data, "image/png").json
    again = put_cover(staff, book["id"], data, "image/png").json
    assert first["cover_url"] == again["cover_url"]
    assert first["cover_srcset"] == first["cover_url"] + " 200w"
    assert (first["cover_width"], first["cover_height"]) == (200, 300)
    assert stored(storage, first["cover_url"]) is not None


def test_oversized_body_is_413_before_it_is_read(staff):
    book = new_book(staff)
    response = put_cover(staff, book["id"], b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), "image/jpeg", status=413)
    assert_error(response, 413, "body_too_large")


def test_oversized_body_without_a_length_is_413(staff, api_app):
    """(waitress itself stops reading any body at 8 MB: bookstore_core.settings.server_settings)"""
    if LIVE_URL:
        pytest.skip("builds a chunked request in-process")
    import webob

    book = new_book(staff)
    body = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * 1024 * 1024))
    request = webob.Request.blank(COVER.format(book["id"]), method="PUT")
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ.update({"wsgi.input": body, "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    request.headers["Content-Type"] = "image/png"
    request.headers["Authorization"] = f"Bearer {staff.token}"
    response = request.get_response(api_app)
    assert response.status_int == 413 and response.json["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("data", "media_type", "detected"),
    [
        (image_bytes("image/png"), "image/jpeg", "image/png"),
        (image_bytes("image/jpeg"), "image/webp", "image/jpeg"),
        (b"<!doctype html><html><script>alert(1)</script></html>", "image/png", None),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/webp", None),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/png", None),
        (image_bytes("image/png"), "image/gif", None),
        (image_bytes("image/png"), "image/svg+xml", None),
        (image_bytes("image/png"), "application/json", None),
    ],
    ids=["png-as-jpeg", "jpeg-as-webp", "html", "svg", "gif", "gif-type", "svg-type", "json-type"],
)
def test_a_file_that_is_not_what_we_accept_or_not_what_it_claims_is_415(staff, data, media_type, detected):
    book = new_book(staff)
    response = put_cover(staff, book["id"], data, media_type, status=415)
    assert_error(response, 415, "unsupported_media_type")
    assert response.json["error"]["details"]["detected"] == detected


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"\xff\xd8\xff\xe0" + b"garbage" * 20, "image/jpeg"),
        (image_bytes("image/png")[:200], "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 nothing", "image/webp"),
        (b"", "image/png"),
    ],
    ids=["jpeg-garbage", "png-truncated", "webp-garbage", "empty"],
)
def test_undecodable_image_is_400(staff, data, media_type):
    book = new_book(staff)
    assert_error(put_cover(staff, book["id"], data, media_type, status=400), 400, "undecodable_image")


@pytest.mark.parametrize("size", [(30000, 30000), (6000, 5000)], ids=["far-over", "just-over"])
def test_decompression_bomb_is_refused_before_decoding(staff, size):
    bomb = with_declared_size(image_bytes("image/png", (10, 10)), *size)
    assert len(bomb) < 1000
    book = new_book(staff)
    response = put_cover(staff, book["id"], bomb, "image/png", status=413)
    assert_error(response, 413, "image_too_large")


def test_a_strip_is_not_a_cover(staff):
    book = new_book(staff)
    response = put_cover(staff, book["id"], image_bytes("image/png", (100, 1000)), "image/png", status=400)
    assert_error(response, 400, "image_dimensions")


def test_exif_is_stripped_after_turning_the_image_upright(staff, storage):
    source = Image.new("RGB", (600, 300), (0, 160, 0))
    source.paste((0, 0, 0), (0, 0, 60, 300))  # a black band on the left: on top once turned upright
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif[0x010F] = "Spy Camera Co"  # Make
    exif[0x0131] = "secret-software 1.0"  # Software
    out = io.BytesIO()
    source.save(out, format="JPEG", exif=exif, quality=95)
    book = new_book(staff)
    uploaded = put_cover(staff, book["id"], out.getvalue(), "image/jpeg").json
    assert (uploaded["cover_width"], uploaded["cover_height"]) == (300, 600)
    for url in [part.split()[0] for part in uploaded["cover_srcset"].split(", ")]:
        data = stored(storage, url)
        assert b"Exif" not in data and b"Spy Camera" not in data and b"secret-software" not in data
        image = decoded(data)
        assert "exif" not in image.info and "icc_profile" not in image.info and "xmp" not in image.info
        assert not image.getexif()
        width, height = image.size
        assert height > width
        top = image.convert("RGB").getpixel((width // 2, 2))
        assert max(top) < 60, f"the black band should be on top, found {top}"


@pytest.mark.parametrize("media_type", ["image/png", "image/webp"])
def test_animated_images_keep_their_first_frame(staff, storage, media_type):
    book = new_book(staff)
    uploaded = put_cover(staff, book["id"], animated(media_type), media_type).json
    image = decoded(stored(storage, uploaded["cover_url"]))
    assert getattr(image, "n_frames", 1) == 1
    red, green, blue = image.convert("RGB").getpixel((10, 10))
    assert red > 150 and blue < 60


def test_transparency_is_flattened_onto_white(staff, storage):
    image = Image.new("RGBA", (300, 450), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    book = new_book(staff)
    uploaded = put_cover(staff, book["id"], out.getvalue(), "image/png").json
    result = decoded(stored(storage, uploaded["cover_url"]))
    assert result.mode == "RGB" and min(result.getpixel((5, 5))) > 245


def test_replacing_and_removing_a_cover_orphans_the_old_images(staff, anon, storage):
    book = new_book(staff)
    first = put_cover(staff, book["id"], image_bytes("image/png", color=(10, 200, 10)), "image/png").json
    second = put_cover(staff, book["id"], image_bytes("image/png", color=(10, 10, 200)), "image/png").json
    assert first["cover_url"] != second["cover_url"]
    assert stored(storage, first["cover_url"]) is None, "the local storage deletes orphans"
    assert stored(storage, second["cover_url"]) is not None

    staff.delete(f"/books/{book['id']}/cover")
    after = anon.get(f"/books/{book['id']}").json
    assert after["cover_url"] is None and after["cover_srcset"] is None and after["cover_width"] is None
    assert stored(storage, second["cover_url"]) is None
    staff.delete(f"/books/{book['id']}/cover")  # nothing left to remove: still 204


def test_a_cover_url_sent_back_unchanged_keeps_the_upload_and_a_new_one_replaces_it(staff, storage):
    book = new_book(staff)
    uploaded = put_cover(staff, book["id"], image_bytes("image/webp"), "image/webp").json
    same = staff.patch(f"/books/{book['id']}", {"cover_url": uploaded["cover_url"], "title": "Renamed"}).json
    assert same["cover_srcset"] == uploaded["cover_srcset"] and same["title"] == "Renamed"
    other = staff.patch(f"/books/{book['id']}", {"cover_url": "https://images.example.com/c.jpg"}).json
    assert other["cover_url"] == "https://images.example.com/c.jpg"
    assert other["cover_srcset"] is None and other["cover_width"] is None
    assert stored(storage, uploaded["cover_url"]) is None


def test_deleting_a_book_orphans_its_cover(staff, storage):
    book = new_book(staff)
    uploaded = put_cover(staff, book["id"], image_bytes("image/png"), "image/png").json
    staff.delete(f"/books/{book['id']}")
    assert stored(storage, uploaded["cover_url"]) is None


def test_staff_only(anon, customer, staff):
    book = new_book(staff)
    data = image_bytes("image/png")
    assert_error(put_cover(anon, book["id"], data, "image/png", status=401), 401, "not_authenticated")
    assert_error(put_cover(customer, book["id"], data, "image/png", status=403), 403, "forbidden")
    assert_error(anon.delete(f"/books/{book['id']}/cover", status=401), 401, "not_authenticated")
    assert_error(customer.delete(f"/books/{book['id']}/cover", status=403), 403, "forbidden")


def test_unknown_book_is_404(staff):
    assert_error(put_cover(staff, 987654321, image_bytes("image/png"), "image/png", status=404), 404, "not_found")
    assert_error(staff.delete("/books/987654321/cover", status=404), 404, "not_found")


@pytest.mark.needs_db
def test_an_upload_whose_transaction_aborts_leaves_nothing_named(dbsession, tmp_path):
    import transaction

    from bookstore_api.covers.services import CoverService
    from bookstore_api.covers.storage import LocalCoverStorage
    from tests.helpers.factories import make_book

    storage = LocalCoverStorage(tmp_path, "/covers/")
    book = make_book(dbsession)
    transaction.begin()
    try:
        covered = CoverService(dbsession, storage).set_cover(book.id, image_bytes("image/png"), "image/png")
        written = [part.split()[0] for part in covered.cover_srcset.split(", ")]
        assert all(stored(storage, url) is not None for url in written)
    finally:
        transaction.abort()
    assert all(stored(storage, url) is None for url in written), "what the failed upload wrote is orphaned"
