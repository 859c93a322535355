"""Helpers for the flags tests: store an override as an admin would, and cut spots out of pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from starlette.testclient import TestClient

import tiered
from taskboard.admin import service
from taskboard.db import Database
from tiered.testing import CHROME_USER_AGENT, hidden_fields

LYNX = {"User-Agent": "Lynx/2.9.0 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/3.0.2"}
CHROME = {"User-Agent": CHROME_USER_AGENT}
SAVE_DATA = {**CHROME, "Save-Data": "on"}

ENHANCEMENTS = (
    "inline_create",
    "in_place_toggle",
    "optimistic_toggle",
    "in_place_edit",
    "in_place_filter",
    "search_as_you_type",
    "delete_confirm_dialog",
    "live_updates",
)
"""Every flag flags.toml declares."""

_PER_REQUEST = ("csrf_token", "idempotency_key")
"""Hidden fields whose values change with every render."""


def flags_of(client: TestClient) -> tiered.Flags:
    flags: tiered.Flags = client.app.state.flags  # type: ignore[attr-defined]
    return flags


def override(client: TestClient, *definitions: tiered.FlagDefinition) -> None:
    """Store each definition as its flag's override (as the admin page does), then apply them."""
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    flags = flags_of(client)
    portal = client.portal
    assert portal is not None, "use the client inside its `with` block (the `client` fixture)"
    for definition in definitions:
        portal.call(_store, database, flags.definitions, definition)
    portal.call(flags.refresh)


async def _store(
    database: Database,
    declarations: Mapping[str, tiered.FlagDefinition],
    definition: tiered.FlagDefinition,
) -> None:
    await service.set_flag(database, declarations, definition, changed_by=None)


def switch_off(client: TestClient, *keys: str) -> None:
    """Turn these flags off (their master switch), keeping their rules."""
    flags = flags_of(client)
    override(client, *(replace(flags.definitions[key], enabled=False) for key in keys))


def spot(html: str, start: str, *, whole: bool = True) -> str:
    """The element whose start tag begins with ``start`` (a form, when ``whole``: up to its end
    tag), with the per-request token values blanked so two renders compare equal."""
    at = html.find(start)
    assert at >= 0, f"{start!r} is not on the page"
    if whole and start.startswith("<form"):
        end = html.index("</form>", at) + len("</form>")
    else:
        end = html.index(">", at) + 1
    found = html[at:end]
    if found.startswith("<form"):
        for name, value in hidden_fields(found).items():
            if name in _PER_REQUEST:
                found = found.replace(f'name="{name}" value="{value}"', f'name="{name}" value=""')
    return found
