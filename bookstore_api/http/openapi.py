"""Serve ``openapi.yaml`` and register its routes (production, without pyramid_openapi3)."""

from __future__ import annotations

import yaml
from pyramid.config import Configurator
from pyramid.response import FileResponse


def includeme(config: Configurator) -> None:
    from .. import API_PREFIX, OPENAPI_SPEC

    with open(OPENAPI_SPEC) as handle:
        spec = yaml.safe_load(handle)
    for pattern, path_item in spec["paths"].items():
        config.add_route(path_item["x-pyramid-route-name"], API_PREFIX + pattern)

    def spec_view(request):
        return FileResponse(str(OPENAPI_SPEC), request=request, content_type="text/yaml")

    config.add_route("api.spec", f"{API_PREFIX}/openapi.yaml")
    config.add_view(spec_view, route_name="api.spec", request_method=("GET", "HEAD"))
