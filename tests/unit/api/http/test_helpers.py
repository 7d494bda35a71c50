"""Paging from validated query parameters."""

from bookstore_api.http.helpers import DEFAULT_PER_PAGE, page_body, paging


def test_defaults_when_absent():
    assert paging({}) == (1, DEFAULT_PER_PAGE) == (1, 20)


def test_the_values_given():
    assert paging({"page": 3, "per_page": 50}) == (3, 50)


def test_a_page_body():
    assert page_body(["a"], 41, 3, 20) == {"items": ["a"], "total": 41, "page": 3, "per_page": 20}
