"""Shop pages against the real API: home, catalogue (search, filters, sorting, paging), book, author."""

from __future__ import annotations

from tests.helpers.clients import unique_word
from tests.helpers.factories import make_book

from .conftest import WHOLE_CATALOGUE, card_titles, htmx


@WHOLE_CATALOGUE
def test_home_shows_new_arrivals_bestsellers_and_genres(web, dbsession):
    make_book(dbsession, title="Fresh Ink", genres=("poetry",), published_on=__import__("datetime").date(2030, 1, 1))
    popular = make_book(dbsession, title="Everyone Reads This", genres=("poetry",))
    popular.sales_count = 10_000
    dbsession.flush()

    page = web.get("/")

    assert page.status_int == 200
    assert page.html.find("html")["lang"] == "en"
    new = page.html.find("section", attrs={"aria-labelledby": "new-title"})
    best = page.html.find("section", attrs={"aria-labelledby": "best-title"})
    assert "Fresh Ink" in new.text
    assert best.find("h3").text.strip() == "Everyone Reads This"
    assert page.html.find("a", href="/books?genre=poetry") is not None


@WHOLE_CATALOGUE  # a deployed shop may list many lighthouses before this one
def test_catalog_searches_with_typos_and_links_to_books(web, dbsession, book):
    make_book(dbsession, title="Gardening for Beginners", authors=("Pat Green",))

    page = web.get("/books", {"q": "lighthuose"})

    assert card_titles(page) == ["The Quiet Lighthouse"]
    assert page.html.find("h1").text.strip() == "Books matching “lighthuose”"
    assert page.html.find("a", href=f"/books/{book.id}") is not None
    assert "$14.50" in page.text


@WHOLE_CATALOGUE
def test_catalog_filters_by_genre_price_and_stock_and_sorts(web, dbsession):
    make_book(dbsession, title="Cheap Mystery", genres=("mystery",), price="5.00")
    make_book(dbsession, title="Dear Mystery", genres=("mystery",), price="40.00")
    make_book(dbsession, title="Sold Out Mystery", genres=("mystery",), price="9.00", stock=0)
    make_book(dbsession, title="Cheap Romance", genres=("romance",), price="4.00")

    page = web.get("/books", {"genre": "mystery", "max_price": "20", "sort": "-price"})
    assert [h.text.strip() for h in page.html.select(".book-card-title")] == ["Sold Out Mystery", "Cheap Mystery"]

    page = web.get("/books", {"genre": "mystery", "in_stock": "1", "sort": "price"})
    assert [h.text.strip() for h in page.html.select(".book-card-title")] == ["Cheap Mystery", "Dear Mystery"]
    assert page.html.find("input", id="in_stock").has_attr("checked")
    assert page.html.find("option", value="mystery").has_attr("selected")


@WHOLE_CATALOGUE
def test_catalog_explains_a_bad_price_filter_instead_of_failing(web, book):
    page = web.get("/books", {"min_price": "cheap"})

    assert page.status_int == 200
    assert page.html.find("input", id="min_price")["aria-invalid"] == "true"
    assert "Enter an amount such as 10 or 12.50." in page.text
    assert "The Quiet Lighthouse" in page.text  # the rest of the filters still apply


@WHOLE_CATALOGUE
def test_catalog_pages_through_results(web, dbsession):
    for n in range(30):
        make_book(dbsession, title=f"Pager Volume {n:02d}", genres=("paging",))

    first = web.get("/books", {"genre": "paging", "sort": "title"})
    second = first.click(description="Next", index=0)

    assert "1–24 of 30 books" in first.text
    assert "25–30 of 30 books" in second.text
    assert [h.text.strip() for h in second.html.select(".book-card-title")][0] == "Pager Volume 24"
    assert second.html.find("a", attrs={"aria-current": "page"}).text.strip().endswith("2")


@WHOLE_CATALOGUE
def test_htmx_paging_returns_only_the_results(web, dbsession):
    for n in range(26):
        make_book(dbsession, title=f"Fragment {n:02d}", genres=("fragments",))

    fragment = web.get("/books", {"genre": "fragments", "page": "2"}, headers=htmx(**{"HX-Target": "results"}))

    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text
    assert "25–26 of 26 books" in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]


def test_live_search_suggestions(web, dbsession):
    word = unique_word("quiet")  # a title no other book of a deployed shop has
    book = make_book(dbsession, title=f"The {word.title()} Lighthouse")
    suggestions = web.get("/search/suggest", {"q": f"{word} light"}, headers=htmx())

    assert "<html" not in suggestions.text
    assert suggestions.html.find("a", href=f"/books/{book.id}") is not None
    assert web.get("/search/suggest", {"q": "zzzzqqqq"}).html.text.strip() == "No books match “zzzzqqqq”."
    assert web.get("/search/suggest", {"q": "a"}).text.strip() == ""


def test_book_page_shows_authors_price_stock_and_cart_form(web, dbsession, book):
    make_book(dbsession, title="Another Quill Story", authors=("Mara Quill",))

    page = web.get(f"/books/{book.id}")

    assert page.html.find("h1").text.strip() == "The Quiet Lighthouse"
    author_link = page.html.find("a", string="Mara Quill")
    assert author_link["href"] == f"/authors/{book.authors[0].id}"
    assert page.html.select_one(".price-large").text.strip() == "$14.50"
    assert page.html.select_one(".buy-box .stock").text.strip() == "In stock"
    form = page.html.select_one(".buy-box form.add-to-cart")
    assert form["action"] == "/cart/items" and form.find("input", attrs={"name": "csrf_token"})["value"]
    assert "Log in</a> to review" in page.text
    more = page.html.find(id="more-by-author")
    assert more.find("a")["href"] == f"/authors/{book.authors[0].id}"  # without JavaScript: a link

    lazy = web.get(more["hx-get"], headers=htmx())  # with htmx: loaded when scrolled into view
    assert [h.text.strip() for h in lazy.html.select(".book-card-title")] == ["Another Quill Story"]
    assert "<html" not in lazy.text


def test_book_page_shows_low_and_no_stock(web, dbsession):
    low = make_book(dbsession, title="Nearly Gone", stock=2)
    gone = make_book(dbsession, title="All Gone", stock=0)

    assert web.get(f"/books/{low.id}").html.select_one(".buy-box .stock").text.strip() == "Only 2 left"
    page = web.get(f"/books/{gone.id}")
    assert page.html.select_one(".buy-box .stock").text.strip() == "Out of stock"
    assert page.html.select_one(".buy-box button").has_attr("disabled")


def test_unknown_book_and_author_are_friendly_404s(web):
    for path in ("/books/999999999", "/books/not-a-number", "/authors/999999999", "/books/99999999999999999999999"):
        page = web.get(path, status=404)
        assert page.html.find("h1").text.strip() == "Page not found"
        assert "Traceback" not in page.text


def test_author_page_lists_their_books(web, dbsession, book):
    make_book(dbsession, title="Second Quill", authors=("Mara Quill",))
    make_book(dbsession, title="Someone Else", authors=("Other Writer",))

    page = web.get(f"/authors/{book.authors[0].id}")

    assert page.html.find("h1").text.strip() == "Mara Quill"
    titles = {h.text.strip() for h in page.html.select(".book-card-title")}
    assert titles == {"The Quiet Lighthouse", "Second Quill"}
    assert "2 books in our shop." in page.text
