"""Fast request validation against ``openapi.yaml``.

The spec stays the single source of truth: at start-up every operation's
parameters and JSON body schema are read from it and compiled (``fastjsonschema``)
into plain Python functions, so validating a request costs microseconds rather
than the milliseconds of interpreting the spec per request. Invalid input is a
400 naming every offending field (collected with ``jsonschema`` only when the
fast check fails). Views marked ``openapi=True`` get ``request.validated``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import fastjsonschema
import jsonschema
import yaml
from pyramid.config import Configurator
from pyramid.request import Request

from .errors import APIError

_MISSING = object()


def _resolve(node: Any, spec: dict) -> Any:
    """Inline every ``$ref`` and turn OpenAPI 3.0 ``nullable`` into JSON Schema."""
    if isinstance(node, list):
        return [_resolve(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _resolve(copy.deepcopy(target), spec)
    resolved = {key: _resolve(value, spec) for key, value in node.items()}
    if resolved.pop("nullable", False):
        if "type" in resolved:
            resolved["type"] = [resolved["type"], "null"]
        elif "enum" not in resolved:
            resolved = {"anyOf": [resolved, {"type": "null"}]}
    return resolved


@dataclass
class Parameter:
    name: str
    location: str
    required: bool
    schema: dict
    default: Any
    check: Any

    def coerce(self, raw: str) -> Any:
        kind = self.schema.get("type")
        if kind == "integer":
            if not raw.lstrip("-").isdigit() or len(raw) > 20:
                raise ValueError("must be a whole number")
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            lowered = raw.lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise ValueError("must be true or false")
        return raw


@dataclass
class Operation:
    parameters: list[Parameter] = field(default_factory=list)
    body_required: bool = False
    body_schema: dict | None = None
    body_check: Any = None

    def validate(self, request: Request) -> SimpleNamespace:
        fields: dict[str, str] = {}
        values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        for parameter in self.parameters:
            if parameter.location == "path":
                raw = request.matchdict.get(parameter.name, _MISSING) if request.matchdict else _MISSING
            elif parameter.location == "query":
                raw = request.GET.get(parameter.name, _MISSING)
            else:
                raw = request.headers.get(parameter.name, _MISSING)
            if raw is _MISSING:
                if parameter.required:
                    fields[parameter.name] = "This is required."
                elif parameter.default is not None:
                    values[parameter.location][parameter.name] = parameter.default
                continue
            try:
                value = parameter.coerce(raw)
                parameter.check(value)
            except (ValueError, fastjsonschema.JsonSchemaException) as exc:
                fields[parameter.name] = _message(exc)
                continue
            values[parameter.location][parameter.name] = value
        body = request.environ.get("bookstore.json", _MISSING)
        if self.body_schema is not None:
            if body is _MISSING:
                if self.body_required:
                    fields["body"] = "A JSON body is required."
                body = None
            else:
                try:
                    self.body_check(body)
                except fastjsonschema.JsonSchemaException:
                    fields.update(_all_body_errors(self.body_schema, body))
        elif body is _MISSING:
            body = None
        if fields:
            raise APIError(400, "invalid_input", "The request is not valid.", {"fields": fields})
        return SimpleNamespace(path=values["path"], query=values["query"], headers=values["header"], body=body)


def _message(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.replace("data ", "value ", 1)[:300]


def _all_body_errors(schema: dict, body: Any) -> dict[str, str]:
    """Every violation, named by field path (slow path: only for invalid input)."""
    errors: dict[str, str] = {}
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "required":
            for name in error.validator_value:
                if not isinstance(error.instance, dict) or name not in error.instance:
                    errors.setdefault(f"{path}.{name}" if path else name, "This is required.")
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in allowed:
                    errors.setdefault(f"{path}.{name}" if path else name, "Not an accepted field.")
            continue
        errors.setdefault(path or "body", error.message[:300])
    return errors or {"body": "The request body is not valid."}


def compile_operations(spec_path: str) -> dict[tuple[str, str], Operation]:
    """(route name, HTTP method) -> compiled validation for every operation in the spec."""
    with open(spec_path) as handle:
        spec = yaml.safe_load(handle)
    operations: dict[tuple[str, str], Operation] = {}
    for path_item in spec["paths"].values():
        route_name = path_item.get("x-pyramid-route-name")
        shared = path_item.get("parameters", [])
        for method, operation_spec in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operation = Operation()
            for raw in [*shared, *operation_spec.get("parameters", [])]:
                parameter = _resolve(raw, spec)
                schema = parameter.get("schema", {})
                operation.parameters.append(
                    Parameter(
                        name=parameter["name"],
                        location=parameter["in"],
                        required=parameter.get("required", False),
                        schema=schema,
                        default=schema.get("default"),
                        check=fastjsonschema.compile(schema),
                    )
                )
            request_body = operation_spec.get("requestBody")
            if request_body:
                schema = _resolve(request_body["content"]["application/json"]["schema"], spec)
                operation.body_required = request_body.get("required", False)
                operation.body_schema = schema
                operation.body_check = fastjsonschema.compile(schema)
            operations[(route_name, method.upper())] = operation
    return operations


def validated_view(view, info):
    """View deriver: validate the request of every ``openapi=True`` view before it runs."""
    if not info.options.get("openapi"):
        return view
    route_name = info.options.get("route_name")
    methods = info.options.get("request_method")
    methods = [methods] if isinstance(methods, str) else list(methods or [])
    operations = info.registry["bookstore.operations"]
    table = {method: operations[(route_name, method)] for method in methods if (route_name, method) in operations}
    if not table:
        raise ValueError(f"route {route_name} {methods} is not in openapi.yaml")

    def wrapper(context, request):
        request.validated = table[request.method].validate(request)
        return view(context, request)

    return wrapper


validated_view.options = ("openapi",)


def includeme(config: Configurator) -> None:
    from .. import OPENAPI_SPEC

    config.registry["bookstore.operations"] = compile_operations(str(OPENAPI_SPEC))
    # pyramid_openapi3 serves the spec, registers the routes and (in tests) validates
    # responses; requests are validated here, by the compiled validators.
    config.get_settings()["pyramid_openapi3.enable_request_validation"] = "false"
    config.add_view_deriver(validated_view, under="secured_view")
