"""schemathesis's hooks for Taskboard (``schemathesis.toml`` names this module).

Auth: a bearer token traded for the test account's password at ``POST /api/tokens``, as the
README tells API clients to. The fuzzer may revoke the very token it uses (``POST
/settings/tokens/{id}/delete``, ``/settings/logout-everywhere``), so a token is fetched anew
every second rather than once for the whole run.

Two kinds of "schema-violating request accepted" say nothing about the API, so they are dropped
(:func:`filter_failure`), and only these:

- a form field of the wrong JSON type: a form carries only strings, so the fuzzer's ``0`` for a
  boolean arrives as the text "0", which a form's boolean is;
- a string over ``maxLength`` that whitespace or CRLF line breaks made long: the length is
  counted as a textarea counts it, after a CRLF becomes one line break and the ends are
  stripped, which no JSON Schema keyword says.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from typing import Any

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
_VIOLATION = re.compile(r"violates `(\w+)` at /properties/(\w+)")
_WRONG_TYPE = re.compile(r"in body - (\w+): Incorrect type")
"""How the fuzzing phase and the coverage phase name what they broke."""


def _normalised(value: object) -> bool:
    """Whether the server counts ``value`` shorter than it was sent."""
    return isinstance(value, str) and value.replace("\r\n", "\n").strip() != value


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if getattr(failure, "code", None) != "ST201":
        return True
    message = getattr(failure, "message", "")
    violations = _VIOLATION.findall(message)
    violations += [("type", field) for field in _WRONG_TYPE.findall(message)]
    if not violations:
        return True
    body = case.body if isinstance(case.body, dict) else {}
    form = str(case.media_type or "").startswith(_FORMS)
    for keyword, field in violations:
        if keyword == "type" and form:
            continue
        if keyword == "maxLength" and _normalised(body.get(field)):
            continue
        return True  # a violation the API should have refused
    return False
