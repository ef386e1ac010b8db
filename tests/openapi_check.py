"""Check requests and responses against the OpenAPI document (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from acd.api.openapi import openapi_document

DOCUMENT = openapi_document()
BASE = "urn:acd:openapi"
# The document is one resource: a schema found inside it by a JSON pointer resolves its
# "#/components/schemas/..." references against the whole document.
REGISTRY: Registry[Any] = Registry().with_resource(BASE, DRAFT202012.create_resource(DOCUMENT))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in ("", *parts))


def _validate(parts: tuple[str, ...], instance: Any, what: str) -> None:
    validator = Draft202012Validator({"$ref": f"{BASE}#{_pointer(*parts)}"}, registry=REGISTRY)
    problems = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if problems:
        details = "; ".join(f"{list(p.absolute_path)}: {p.message}" for p in problems[:5])
        raise AssertionError(f"{what} does not match the OpenAPI document: {details}")


def operation(method: str, path_template: str) -> dict[str, Any]:
    """The documented operation, or an AssertionError saying it is undocumented."""
    item = DOCUMENT["paths"].get(path_template)
    assert item is not None, f"{path_template} is not in the OpenAPI document"
    op = item.get(method.lower())
    assert op is not None, f"{method} {path_template} is not in the OpenAPI document"
    return dict(op)


def check_response(
    method: str, path_template: str, status: int, body: Any, content_type: str = "application/json"
) -> None:
    """Fail unless ``status`` is documented for the operation and ``body`` fits its schema."""
    responses = operation(method, path_template)["responses"]
    documented = responses.get(str(status))
    assert documented is not None, (
        f"{method} {path_template} answered {status}, documented: {sorted(responses)}"
    )
    content = documented.get("content")
    if content is None:
        assert body in (None, "", b""), f"{status} should have no body, got {body!r}"
        return
    media = content_type.split(";")[0].strip()
    assert media in content, f"{method} {path_template} {status}: {media} not in {list(content)}"
    parts = (
        "paths",
        path_template,
        method.lower(),
        "responses",
        str(status),
        "content",
        media,
        "schema",
    )
    _validate(parts, body, f"{method} {path_template} {status} body")


def check_request(method: str, path_template: str, body: Any) -> None:
    """Fail unless ``body`` fits the operation's documented request body."""
    assert "requestBody" in operation(method, path_template), (
        f"{method} {path_template} takes no body"
    )
    parts = (
        "paths",
        path_template,
        method.lower(),
        "requestBody",
        "content",
        "application/json",
        "schema",
    )
    _validate(parts, body, f"{method} {path_template} request")
