"""Covers on the storefront: staff upload and remove them on the book's edit page (multipart, CSRF);
book pages and listings draw them with srcset/sizes and explicit dimensions, lazily below the fold."""

from __future__ import annotations

import re

from webtest import Upload

from tests.helpers.factories import make_book
from tests.helpers.images import image_bytes

from .conftest import csrf_token, register, staff_member


def upload_cover(web, book_id: int, data: bytes, media_type: str = "image/png", status: int | str = "*"):
    form = web.get(f"/staff/books/{book_id}/edit").forms["cover-form"]
    assert form.enctype == "multipart/form-data" and "csrf_token" in form.fields
    form["cover"] = Upload("cover.png", data, media_type)
    return form.submit(status=status)


def cover_img(page):
    return page.html.select_one(".book-detail-cover img.cover")


def test_staff_upload_shows_on_the_book_page_with_srcset_and_dimensions(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    response = upload_cover(web, book.id, image_bytes("image/png", (600, 900)), status=303)
    assert response.location.endswith(f"/staff/books/{book.id}/edit")
    assert "The new cover is on the book." in response.follow().text

    img = cover_img(web.get(f"/books/{book.id}"))
    assert img["width"] == "480" and img["height"] == "720"
    assert re.fullmatch(
        r"/covers/\d+/[0-9a-f]{32}-240w\.webp 240w, /covers/\d+/[0-9a-f]{32}-480w\.webp 480w", img["srcset"]
    )
    assert img["src"].endswith("-480w.webp") and img["sizes"]
    assert img["loading"] == "eager" and img["fetchpriority"] == "high", "the page's main cover is not lazy"
    assert img["alt"] == f"Cover of {book.title}"

    image = web.get(img["src"])
    assert image.content_type == "image/webp" and image.body[:4] == b"RIFF"
    assert "immutable" in image.headers["Cache-Control"] and "max-age=31536000" in image.headers["Cache-Control"]


def test_listings_lazy_load_covers_below_the_first_row(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    books = [make_book(dbsession, title=f"Shelf {n:02d}", authors=("Rowan Shelf",), stock=3) for n in range(6)]
    for book in books:
        upload_cover(web, book.id, image_bytes("image/jpeg", (300, 450)), "image/jpeg", status=303)
    page = web.get("/books", params={"author": "Rowan Shelf", "sort": "title"})
    images = page.html.select(".book-card img.cover")
    assert len(images) == 6
    for index, img in enumerate(images):
        assert img["width"] == "300" and img["height"] == "450" and "300w" in img["srcset"] and img["sizes"]
        assert img["loading"] == ("eager" if index < 4 else "lazy")
        assert not img.has_attr("fetchpriority")


def test_books_without_a_cover_keep_the_generated_one(web, book):
    page = web.get(f"/books/{book.id}")
    assert cover_img(page) is None
    assert page.html.select_one(".book-detail-cover .cover-generated") is not None


def test_a_refused_file_is_explained_on_the_form(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    page = upload_cover(web, book.id, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", status=400)
    assert page.html.select_one("#f-cover-error").text.strip() == "Choose a JPEG, PNG or WebP image."
    page = upload_cover(web, book.id, b"\x89PNG\r\n\x1a\n broken", "image/png", status=400)
    assert page.html.select_one("#f-cover-error").text.strip() == "The file could not be read as an image."
    page = upload_cover(web, book.id, image_bytes("image/png"), "text/plain", status=400)
    assert "JPEG, PNG or WebP" in page.html.select_one("#f-cover-error").text


def test_staff_remove_the_cover(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    upload_cover(web, book.id, image_bytes("image/webp"), "image/webp", status=303)
    edit = web.get(f"/staff/books/{book.id}/edit")
    assert edit.html.find(id="f-cover_url") is None, "an uploaded cover is managed by upload, not by URL"
    edit.forms["cover-remove-form"].submit(status=303)
    page = web.get(f"/books/{book.id}")
    assert cover_img(page) is None and page.html.select_one(".cover-generated") is not None
    # saving the book form keeps working with the cover URL field back
    form = web.get(f"/staff/books/{book.id}/edit").forms["book-form"]
    assert "cover_url" in form.fields
    form.submit(status=303)


def test_saving_the_book_form_keeps_an_uploaded_cover(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    upload_cover(web, book.id, image_bytes("image/png"), status=303)
    before = cover_img(web.get(f"/books/{book.id}"))["src"]
    form = web.get(f"/staff/books/{book.id}/edit").forms["book-form"]
    form["title"] = "The Quiet Lighthouse, Revised"
    form.submit(status=303)
    assert cover_img(web.get(f"/books/{book.id}"))["src"] == before


def test_cover_forms_need_staff_and_a_csrf_token(web, other_browser, dbsession, api_app, book):
    register(web)
    token = csrf_token(web.get("/"))
    web.post(f"/staff/books/{book.id}/cover/delete", {"csrf_token": token}, status=403)
    staff_member(dbsession, api_app, other_browser)
    other_browser.post(f"/staff/books/{book.id}/cover/delete", {}, status=400)
    other_browser.post(f"/staff/books/{book.id}/cover", {"csrf_token": "forged"}, status=400)
