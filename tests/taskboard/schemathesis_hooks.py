"""schemathesis's hooks for Taskboard (``schemathesis.toml`` names this module).

Auth: a bearer token traded for the test account's password at ``POST /api/tokens``, as the
README tells API clients to. The fuzzer may revoke the very token it uses (``POST
/settings/tokens/{id}/delete``, ``/settings/logout-everywhere``), so a token is fetched anew
every second rather than once for the whole run.
"""

from __future__ import annotations

import json
import os
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
