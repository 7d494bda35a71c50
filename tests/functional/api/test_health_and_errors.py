"""Health endpoints and the error contract of API.md for every failure path."""

from __future__ import annotations

import pytest


@pytest.mark.readonly
def test_healthz_answers_without_dependencies(testapp):
    response = testapp.get("/healthz")
    assert response.json["status"] == "ok"
    assert set(response.json) == {"status", "environment"}  # the deployment's name (BOOKSTORE_ENV), nothing more


@pytest.mark.readonly
def test_readyz_reports_both_dependencies(testapp):
    response = testapp.get("/readyz")
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.readonly
def test_every_response_has_a_request_id(anon):
    generated = anon.get("/genres")
    assert len(generated.headers["X-Request-ID"]) >= 16
    echoed = anon.get("/genres", headers={"X-Request-ID": "qa-check-42"})
    assert echoed.headers["X-Request-ID"] == "qa-check-42"
    unsafe = anon.get("/genres", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"


def assert_error(response, status: int, code: str):
    assert response.status_int == status
    assert response.content_type == "application/json"
    error = response.json["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


@pytest.mark.readonly
def test_unknown_route_is_a_json_404(testapp):
    assert_error(testapp.get("/api/v1/no-such-thing", status=404), 404, "not_found")
    # (a load balancer sends only /api/* to the API: everything else is the storefront's)
    assert_error(testapp.get("/api/nowhere", status=404), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(testapp):
    response = testapp.put_json("/api/v1/genres", {}, status=405)
    error = assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    assert "GET" in error["details"]["allowed"]


def test_malformed_json_is_400(testapp):
    response = testapp.post("/api/v1/users", '{"email": "a@b.c", ', content_type="application/json", status=400)
    assert_error(response, 400, "invalid_json")


def test_non_json_body_is_415(testapp):
    response = testapp.post(
        "/api/v1/users", "email=a@b.c", content_type="application/x-www-form-urlencoded", status=415
    )
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_one_mebibyte_is_413(testapp):
    body = '{"name": "' + "x" * (1024 * 1024) + '"}'
    response = testapp.post("/api/v1/users", body, content_type="application/json", status=413)
    assert_error(response, 413, "body_too_large")


def test_missing_and_mistyped_fields_are_named(testapp):
    response = testapp.post_json("/api/v1/users", {"email": 5}, status=400)
    error = assert_error(response, 400, "invalid_input")
    fields = error["details"]["fields"]
    assert "password" in fields and "name" in fields
    assert "email" in fields


@pytest.mark.parametrize("body", [[], "string", 42, None, {"email": None, "password": None, "name": None}])
def test_json_of_the_wrong_shape_is_400_never_500(testapp, body):
    response = testapp.post_json("/api/v1/users", body, status=400)
    assert response.json["error"]["code"] in ("invalid_input", "invalid_json")


@pytest.mark.readonly
def test_openapi_spec_is_served_and_covers_the_routes(testapp):
    import yaml

    spec = yaml.safe_load(testapp.get("/api/v1/openapi.yaml").text)
    assert spec["openapi"].startswith("3.")
    for path in (
        "/users",
        "/auth/tokens",
        "/auth/tokens/current",
        "/me",
        "/books",
        "/books/{book_id}",
        "/books/isbn/{isbn}",
        "/authors",
        "/authors/{author_id}",
        "/genres",
    ):
        assert path in spec["paths"], path


@pytest.mark.needs_db
def test_production_configuration_serves_the_same_contract(migrated):
    """Production skips the response checker; routes, spec, validation and errors are the same."""
    import webtest

    from bookstore_api import main
    from tests.helpers.services import app_settings_for

    app = webtest.TestApp(
        main({}, **app_settings_for(migrated, **{"pyramid_openapi3.enable_response_validation": "false"}))
    )
    assert app.get("/api/v1/openapi.yaml").text.startswith("openapi: 3.")
    assert app.get("/api/v1/books").json["page"] == 1
    assert app.get("/api/v1/books", params={"per_page": "500"}, status=400).json["error"]["details"]["fields"]
    assert app.put_json("/api/v1/genres", {}, status=405).headers["Allow"]
    assert app.post_json("/api/v1/users", {"email": 5}, status=400).json["error"]["code"] == "invalid_input"
    assert app.get("/api/v1/nowhere", status=404).json["error"]["code"] == "not_found"
