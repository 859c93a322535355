"""schemathesis's hooks for Taskboard (``schemathesis.toml`` names this module).

Auth: a bearer token traded for the test account's password at ``POST /api/tokens``, as the
README tells API clients to. The fuzzer may revoke the very token it uses (``POST
/settings/tokens/{id}/delete``, ``/settings/logout-everywhere``), so a token is fetched anew
every second rather than once for the whole run.

A "schema-violating request accepted" is dropped (:func:`filter_failure`) when the body, checked
against the document's schema, breaks it in none but two ways that say nothing about the API
(or not at all: a value schemathesis meant to break a schema with may still satisfy it):

- a form field of the wrong JSON type: a form carries only strings, so the fuzzer's ``0`` for a
  boolean arrives as the text "0", which a form's boolean is;
- a string over ``maxLength`` that whitespace or CRLF line breaks made long: the length is
  counted as a textarea counts it, after a CRLF becomes one line break and the ends are
  stripped, which no JSON Schema keyword says.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import jsonschema_rs
import schemathesis

REFRESH_SECONDS = 1


@schemathesis.auth(refresh_interval=REFRESH_SECONDS)
class Bearer:
    def get(self, case: Any, ctx: Any) -> str:
        base = os.environ["SCHEMATHESIS_BASE_URL"]
        credentials = {
            "email": os.environ["SCHEMATHESIS_EMAIL"],
            "password": os.environ["SCHEMATHESIS_PASSWORD"],
            "name": "schemathesis",
        }
        request = urllib.request.Request(  # noqa: S310 (the test server, http)
            f"{base}/api/tokens",
            data=json.dumps(credentials).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            token: str = json.load(response)["token"]
        return token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_document: dict[str, Any] = {}


def _openapi() -> dict[str, Any]:
    if not _document:
        url = os.environ["SCHEMATHESIS_BASE_URL"] + "/openapi.json"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            _document.update(json.load(response))
    return _document


def _violations(case: Any) -> list[Any]:
    """The errors of the request body against the document's schema: a mutation schemathesis
    meant to break a schema with may still satisfy it."""
    document = _openapi()
    operation = document["paths"][case.operation.path][case.operation.method.lower()]
    media_type = str(case.media_type or "").split(";", 1)[0]
    schema = operation["requestBody"]["content"][media_type]["schema"]
    validator = jsonschema_rs.validator_for(
        {**schema, "components": document["components"]}, validate_formats=True
    )
    return list(validator.iter_errors(case.body))


def _normalised(value: object) -> bool:
    """Whether the server counts ``value`` shorter than it was sent."""
    return isinstance(value, str) and value.replace("\r\n", "\n").strip() != value


def _lossy(error: Any, body: dict[str, Any], form: bool) -> bool:
    """Whether ``error`` is one of the two that say nothing about the API (the docstring)."""
    kind = type(error.kind).__name__
    if kind == "AnyOf":  # one alternative broken only so is enough
        return any(all(_lossy(e, body, form) for e in branch) for branch in error.kind.context)
    field = str(error.instance_path[0]) if error.instance_path else ""
    if kind == "Type":
        return form
    return kind == "MaxLength" and _normalised(body.get(field))


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    in_body = "in body" in getattr(failure, "message", "")
    if getattr(failure, "code", None) != "ST201" or not in_body or case.body is None:
        return True
    try:
        violations = _violations(case)
    except KeyError:  # not a body the document describes: leave the failure to schemathesis
        return True
    body = case.body if isinstance(case.body, dict) else {}
    form = str(case.media_type or "").startswith(_FORMS)
    # Kept when the body breaks the schema in a way the API should have refused; dropped when it
    # was valid after all, or broken only in the two ways above.
    return not all(_lossy(error, body, form) for error in violations)
