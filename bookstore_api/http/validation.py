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
import functools
import re
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


_INTEGER = re.compile(r"-?[0-9]{1,19}", re.ASCII)
_NUMBER = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?", re.ASCII)


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
            # ASCII digits only: int() would also read "٣" or "３" as 3
            if not _INTEGER.fullmatch(raw):
                raise ValueError("must be a whole number")
            return int(raw)
        if kind == "number":
            if not _NUMBER.fullmatch(raw):  # no "nan", "inf", or digits of other scripts
                raise ValueError("must be a number")
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
        values = self._parameters(request, fields)
        body = self._body(request, fields)
        if fields:
            raise APIError(400, "invalid_input", "The request is not valid.", {"fields": fields})
        return SimpleNamespace(path=values["path"], query=values["query"], headers=values["header"], body=body)

    def _parameters(self, request: Request, fields: dict[str, str]) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        for parameter in self.parameters:
            raw = _raw_parameter(request, parameter)
            if raw is _MISSING:
                if parameter.required:
                    fields[parameter.name] = "This is required."
                elif parameter.default is not None:
                    values[parameter.location][parameter.name] = parameter.default
                continue
            try:
                value = parameter.coerce(raw)
                parameter.check(value)
            except fastjsonschema.JsonSchemaException:  # a ValueError too: caught first
                fields[parameter.name] = next(iter(schema_errors(parameter.schema, value).values()))
                continue
            except ValueError as exc:
                fields[parameter.name] = str(exc)
                continue
            values[parameter.location][parameter.name] = value
        return values

    def _body(self, request: Request, fields: dict[str, str]) -> Any:
        body = request.environ.get("bookstore.json", _MISSING)
        if body is _MISSING:
            if self.body_schema is not None and self.body_required:
                fields["body"] = "A JSON body is required."
            return None
        if self.body_schema is not None:
            try:
                self.body_check(body)
            except fastjsonschema.JsonSchemaException:
                fields.update(schema_errors(self.body_schema, body))
        return body


def _raw_parameter(request: Request, parameter: Parameter) -> Any:
    if parameter.location == "path":
        return request.matchdict.get(parameter.name, _MISSING) if request.matchdict else _MISSING
    if parameter.location == "query":
        return request.GET.get(parameter.name, _MISSING)
    return request.headers.get(parameter.name, _MISSING)


_DOLLAR = re.compile(r"(?<!\\)\$")


@functools.cache
def _strict(pattern: str) -> re.Pattern:
    return re.compile(_DOLLAR.sub(r"\\Z", pattern))


def _pattern(validator, pattern: str, instance: Any, schema: dict):
    """``pattern`` as JSON Schema (and fastjsonschema) reads it: ``$`` ends the string, never a final newline."""
    if isinstance(instance, str) and not _strict(pattern).search(instance):
        yield jsonschema.ValidationError(f"does not match {pattern!r}")


_VALIDATOR = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})
_FORMATS = jsonschema.Draft7Validator.FORMAT_CHECKER


def schema_errors(schema: dict, value: Any) -> dict[str, str]:
    """Every violation of ``schema`` by ``value``, by field path (the slow path: only for invalid input).

    Messages say what the schema asks for and never repeat the value (it may be a password).
    """
    errors: dict[str, str] = {}
    validator = _VALIDATOR(schema, format_checker=_FORMATS)
    for error in sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]):
        for path, message in _named(error):
            errors.setdefault(path, message)
    return errors or {"body": "The request body is not valid."}


def _field(error: jsonschema.ValidationError, name: str | None = None) -> str:
    parts = [str(part) for part in error.absolute_path]
    if name is not None:
        parts.append(name)
    return ".".join(parts) or "body"


def _named(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs for one violation."""
    instance = error.instance
    if error.validator == "required":
        missing = [name for name in error.validator_value if not isinstance(instance, dict) or name not in instance]
        return [(_field(error, name), "This is required.") for name in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        return [(_field(error, name), "Not an accepted field.") for name in instance if name not in allowed]
    if error.validator in ("oneOf", "anyOf"):
        return _alternatives(error)
    return [(_field(error), describe(error))]


def _alternatives(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    choices = error.validator_value
    if all(set(choice) == {"required"} for choice in choices):
        names = [name for choice in choices for name in choice["required"]]
        return [(_field(error, names[0]), f"Send exactly one of: {', '.join(names)}.")]
    # The alternative that failed on something other than its distinguishing value says most.
    telling = [sub for sub in error.context or [] if not (sub.validator == "enum" and len(sub.validator_value) == 1)]
    best = jsonschema.exceptions.best_match(telling or error.context or [])
    if best is None:
        return [(_field(error), "Not an accepted combination of values.")]
    return _named(best)


_DESCRIPTIONS = {
    "type": lambda v: f"Must be of type {' or '.join(v) if isinstance(v, list) else v}.",
    "minLength": lambda v: f"Use at least {v} characters.",
    "maxLength": lambda v: f"Use at most {v} characters.",
    "minimum": lambda v: f"Must be at least {v}.",
    "maximum": lambda v: f"Must be at most {v}.",
    "minItems": lambda v: f"List at least {v} items.",
    "maxItems": lambda v: f"List at most {v} items.",
    "minProperties": lambda v: f"Send at least {v} field(s).",
    "enum": lambda v: "Use one of: " + ", ".join(str(item) for item in v) + ".",
    "format": lambda v: f"Not a valid {v}.",
    "not": lambda v: "This value is not accepted.",
}


def describe(error: jsonschema.ValidationError) -> str:
    """What the schema asks for, in words; a pattern is explained by the field's description."""
    if error.validator == "pattern":
        hint = error.schema.get("description")
        return f"Not in the accepted form ({hint})."[:300] if hint else "Not in the accepted form."
    explain = _DESCRIPTIONS.get(str(error.validator))
    return explain(error.validator_value)[:300] if explain else "Not valid."


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
            if request_body and "application/json" in request_body["content"]:  # other bodies: the view checks
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
