"""tiered's test kit for the apps built with it, which pytest loads as a plugin.

- **Client profiles** (:mod:`tiered.testing.profiles`): ``PROFILES``, each a :class:`Profile`
  with the headers a kind of client sends and what tiered gives it; the ``profile`` fixture runs
  a test once per profile.
- **The route matrix** (:mod:`tiered.testing.matrix`): :func:`route_matrix` drives every GET
  route in every profile and lists what is wrong (5xx, the wrong representation, a ``Vary``
  that misses a header, script in the core tier, pages over their weight budget).
- **Parity** (:mod:`tiered.testing.parity`): :func:`submit` sends one form as a plain form, as
  an htmx request and as JSON, so a test can assert the same stored state; :func:`csrf_token`.
- **HTML** (:mod:`tiered.testing.html`): :func:`check_html` finds htmx uses that break without
  JavaScript or swap into nothing; :func:`split_fragment` parts a fragment from the title it
  leads with.

Example::

    from tiered.testing import check_html, route_matrix

    def test_every_route_serves_every_client(client: TestClient) -> None:
        assert route_matrix(client, path_values={"/notes/{note_id}": {"note_id": 1}}) == []

Names load on first use, so that the plugin costs nothing in a run that does not use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiered.testing.html import check_html, split_fragment
    from tiered.testing.matrix import (
        DEFAULT_BUDGET,
        MatrixReport,
        Visit,
        route_matrix,
        run_matrix,
    )
    from tiered.testing.parity import (
        WAYS,
        Submission,
        Way,
        csrf_token,
        hidden_fields,
        submit,
    )
    from tiered.testing.profiles import (
        API_CLIENT,
        BROWSER_ACCEPT,
        CHROME_USER_AGENT,
        CRAWLER,
        ENHANCED_BROWSER,
        LEGACY_BROWSER,
        NO_JS_BROWSER,
        PROFILES,
        SAVE_DATA_2G,
        TEXT_BROWSER,
        Profile,
        profile_named,
    )

__all__ = [
    "API_CLIENT",
    "BROWSER_ACCEPT",
    "CHROME_USER_AGENT",
    "CRAWLER",
    "DEFAULT_BUDGET",
    "ENHANCED_BROWSER",
    "LEGACY_BROWSER",
    "NO_JS_BROWSER",
    "PROFILES",
    "SAVE_DATA_2G",
    "TEXT_BROWSER",
    "WAYS",
    "MatrixReport",
    "Profile",
    "Submission",
    "Visit",
    "Way",
    "check_html",
    "csrf_token",
    "hidden_fields",
    "profile_named",
    "route_matrix",
    "run_matrix",
    "split_fragment",
    "submit",
]

_HOMES = {
    "tiered.testing.html": ("check_html", "split_fragment"),
    "tiered.testing.matrix": (
        "DEFAULT_BUDGET",
        "MatrixReport",
        "Visit",
        "route_matrix",
        "run_matrix",
    ),
    "tiered.testing.parity": ("WAYS", "Submission", "Way", "csrf_token", "hidden_fields", "submit"),
    "tiered.testing.profiles": (
        "API_CLIENT",
        "BROWSER_ACCEPT",
        "CHROME_USER_AGENT",
        "CRAWLER",
        "ENHANCED_BROWSER",
        "LEGACY_BROWSER",
        "NO_JS_BROWSER",
        "PROFILES",
        "SAVE_DATA_2G",
        "TEXT_BROWSER",
        "Profile",
        "profile_named",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'tiered.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
