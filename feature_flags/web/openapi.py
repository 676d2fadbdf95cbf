"""The OpenAPI 3 document, generated from the routes and the same models that validate requests."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import TypeAdapter

from .. import __version__

ERROR_DESCRIPTIONS = {
    304: "Not modified: the If-None-Match ETag is current",
    400: "Bad input; nothing was changed",
    401: "Missing or unknown token",
    403: "The token may not do this",
    404: "Not found",
    409: "The name is taken",
    412: "If-Match did not match the current version",
    413: "The body is over the size limit",
    503: "The database is unavailable; retry",
}

# A converter-qualified or plain argument of a route's rule, e.g. <flag_id> or <int:n>.
PATH_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")

bp = Blueprint("openapi", __name__)


def documented(
    summary: str,
    *,
    body: Any = None,
    body_required: bool = True,
    response: Any = None,
    status: int = 200,
    errors: Iterable[int] | Mapping[int, Any] = (),
    params: dict[str, str] | Iterable[str] = (),
    query: Any = None,
    description: str | None = None,
    public: bool = False,
    headers: Mapping[str, tuple[str, dict[str, Any]]] | None = None,
) -> Callable:
    """Attach what the OpenAPI document says about a route; the route itself is unchanged.

    errors maps a status to the model of its body (ErrorBody unless given); query is the model that
    validates the query string, whose fields give the parameters' schemas; headers names the success
    response's headers with their description and schema.
    """

    def attach(view: Callable) -> Callable:
        view.openapi = {
            "summary": summary,
            "description": description,
            "body": body,
            "body_required": body_required,
            "response": response,
            "status": status,
            "errors": dict(errors) if isinstance(errors, Mapping) else dict.fromkeys(errors),
            "params": dict(params) if isinstance(params, dict) else dict.fromkeys(params, ""),
            "query": query,
            "public": public,
            "headers": dict(headers or {}),
        }
        return view

    return attach


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, annotation: Any) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(
            ref_template="#/components/schemas/{model}", by_alias=True, mode="serialization"
        )
        self.components.update(schema.pop("$defs", {}))
        name = getattr(annotation, "__name__", None)
        if isinstance(annotation, type) and name:
            self.components[name] = schema
            return {"$ref": f"#/components/schemas/{name}"}
        return schema


def _param_schema(name: str, query: Any, environments: tuple[str, ...]) -> dict[str, Any]:
    if query is not None:
        schema = dict(TypeAdapter(query).json_schema()["properties"][name])
        schema.pop("title", None)
        # A query string has no null: an optional field is a parameter left out.
        options = [option for option in schema.pop("anyOf", ()) if option.get("type") != "null"]
        if len(options) == 1:
            schema.pop("default", None)
            schema.update(options[0])
        _fill_environments(schema, list(environments))
        return schema
    if name == "environment":
        return {"type": "string", "enum": list(environments)}
    return {"type": "string"}


def _fill_environments(node: Any, environments: list[str]) -> None:
    """Replace the schemas' environment markers with this deployment's environment names."""
    if isinstance(node, list):
        for item in node:
            _fill_environments(item, environments)
    elif isinstance(node, dict):
        marker = node.pop("x-environment", None)
        if marker == "value":
            node["enum"] = environments
        elif marker == "keys":
            node["propertyNames"] = {"enum": environments}
        for value in node.values():
            _fill_environments(value, environments)


def _fill_storable(node: Any) -> None:
    """Replace the schemas' storable-object markers with a reference to the recursive StorableObject."""
    if isinstance(node, list):
        for item in node:
            _fill_storable(item)
    elif isinstance(node, dict):
        if node.pop("x-storable", None) == "object":
            node["$ref"] = "#/components/schemas/StorableObject"
        for value in node.values():
            _fill_storable(value)


def _key_patterns(node: Any) -> None:
    """Restate pydantic's patternProperties for a dict's keys as propertyNames, so other keys are refused."""
    if isinstance(node, list):
        for item in node:
            _key_patterns(item)
    elif isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in node:
            (pattern, values), *_ = patterns.items()
            del node["patternProperties"]
            node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
            if values:
                node["additionalProperties"] = values
        for value in node.values():
            _key_patterns(value)


def build_document(app: Flask) -> dict[str, Any]:
    """Walk the app's routes and describe each documented one."""
    from ..flags.models import STORABLE_OBJECT, STORABLE_VALUE
    from ..validation import ErrorBody

    config = app.config["FF"]
    schemas = _Schemas()
    error_ref = schemas.ref(ErrorBody)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "openapi", None)
        if meta is None:
            continue
        path = PATH_ARGUMENT.sub(r"{\1}", rule.rule)
        # In the order the path names them: rule.arguments is a set, whose order changes from one process to the next.
        arguments = PATH_ARGUMENT.findall(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {"summary": meta["summary"], "operationId": rule.endpoint.replace(".", "_")}
            if meta["description"]:
                operation["description"] = meta["description"]
            parameters = [
                {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}} for arg in arguments
            ]
            parameters += [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": _param_schema(name, meta["query"], config.environments),
                }
                for name, text in meta["params"].items()
            ]
            if parameters:
                operation["parameters"] = parameters
            if meta["body"] is not None:
                operation["requestBody"] = {
                    "required": meta["body_required"],
                    "content": {"application/json": {"schema": schemas.ref(meta["body"])}},
                }
            success: dict[str, Any] = {"description": "Success"}
            if meta["headers"]:
                success["headers"] = {
                    name: {"description": text, "schema": schema} for name, (text, schema) in meta["headers"].items()
                }
            if meta["response"] is not None:
                success["content"] = {"application/json": {"schema": schemas.ref(meta["response"])}}
            responses = {str(meta["status"]): success}
            errors = dict(meta["errors"])
            if not meta["public"]:
                # Every token is looked up in the database, so any authenticated request can meet an outage.
                for code in (401, 403, 503):
                    errors.setdefault(code, None)
            if meta["body"] is not None:
                errors.setdefault(413, None)
            for code in sorted(errors):
                responses[str(code)] = {"description": ERROR_DESCRIPTIONS.get(code, "Error")}
                if code != 304:
                    model = errors[code]
                    body_schema = error_ref if model is None else schemas.ref(model)
                    responses[str(code)]["content"] = {"application/json": {"schema": body_schema}}
            operation["responses"] = responses
            if meta["public"]:
                operation["security"] = []
            paths.setdefault(path, {})[method.lower()] = operation
    _fill_environments(schemas.components, list(config.environments))
    _key_patterns(schemas.components)
    _fill_storable(schemas.components)
    schemas.components.update(StorableObject=STORABLE_OBJECT, StorableValue=STORABLE_VALUE)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Feature flags",
            "version": __version__,
            "description": "Create, change and evaluate feature flags per environment.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


@bp.get("/openapi.json")
def openapi_document():
    document = current_app.extensions.get("feature_flags.openapi")
    if document is None:
        document = current_app.extensions["feature_flags.openapi"] = build_document(current_app)
    return jsonify(document)
