"""The flag switchboard at ``/admin/flags``, and how Taskboard's flags know who is asking.

Only admins see the page; anyone else gets the same 404 as for an address that does not exist,
so the page's existence is not advertised. Every control is a plain form (POST, then redirect);
with script, the same forms update the page in place. The page itself sits behind no flag: the
switchboard must keep working whatever the switches say.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection, Request

import tiered
from taskboard.accounts.models import User
from taskboard.accounts.service import SESSION_USER_KEY
from taskboard.accounts.views import OptionalUser
from taskboard.admin import service
from taskboard.admin.forms import LABELS, FlagForm
from taskboard.admin.service import TARGETABLE_TIERS, SimpleRules, SqlFlagOverrideStore
from taskboard.db import Database
from tiered import FlagDefinition, flag_to_data

router = APIRouter(tags=["admin"])

FLAGS_FILE = Path(__file__).resolve().parent.parent / "flags.toml"
TEMPLATE = "admin/flags.html"
PAGE = "/admin/flags"


# --- Taskboard's flags --------------------------------------------------------------------------


def flag_subject(connection: HTTPConnection) -> str | None:
    """``user:<id>`` for a logged-in person (sticky rollouts per person, on every device)."""
    user = getattr(connection.state, "user", None)
    if isinstance(user, User):
        return f"user:{user.id}"
    # A page that never asked who is logged in: the session still knows.
    user_id = tiered.session_of(connection).get(SESSION_USER_KEY)
    return f"user:{user_id}" if isinstance(user_id, int) else None


def flag_attributes(connection: HTTPConnection) -> dict[str, bool]:
    """``is_admin``, when the request's user is known (a rule on it never matches otherwise)."""
    user = getattr(connection.state, "user", None)
    return {"is_admin": bool(user.is_admin)} if isinstance(user, User) else {}


def build_flags(database: Database, *, refresh_seconds: float = 1.0) -> tiered.Flags:
    """Taskboard's flags: declared in flags.toml, overridden from the database, which every
    instance reads again each ``refresh_seconds``: a change on /admin/flags reaches them all
    within about a second."""
    return tiered.Flags(
        FLAGS_FILE,
        overrides=SqlFlagOverrideStore(database),
        subject_key=flag_subject,
        attributes=flag_attributes,
        refresh_seconds=refresh_seconds,
    )


def _flags(request: Request) -> tiered.Flags:
    flags: tiered.Flags = request.app.state.flags
    return flags


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


# --- who may ------------------------------------------------------------------------------------


@tiered.raises(tiered.NotFound)  # to anyone but an admin, these pages do not exist
async def _admin(request: Request, user: OptionalUser) -> User:
    if user is None or not user.is_admin:
        raise tiered.NotFound(f"There is no page at {request.url.path}.")
    return user


Admin = Annotated[User, Depends(_admin)]


# --- what the page shows ------------------------------------------------------------------------


class FlagOut(BaseModel):
    """One flag: its definition in force, whether an admin changed it, and its rules in words."""

    key: str
    description: str
    enabled: bool
    default: bool
    rules: list[dict[str, Any]]
    """The rules as ``tiered.core.flags.flag_to_data`` writes them."""
    overridden: bool
    overridden_at: datetime | None
    overridden_by: str | None
    words: list[str]
    declared_words: list[str] = Field(exclude=True)
    editable: bool = Field(exclude=True)
    """Whether the simple editor can show these rules as they are."""
    editor: dict[str, Any] = Field(exclude=True)

    @classmethod
    def of(cls, state: service.FlagState) -> FlagOut:
        current = state.current
        simple = SimpleRules.of(current)
        shown = simple or SimpleRules(
            current.enabled, current.default, TARGETABLE_TIERS, False, 100
        )
        data = flag_to_data(current)
        return cls(
            key=state.key,
            description=state.declared.description,
            enabled=current.enabled,
            default=current.default,
            rules=data["rules"],
            overridden=state.overridden,
            overridden_at=state.overridden_at,
            overridden_by=state.overridden_by,
            words=service.flag_words(current),
            declared_words=service.flag_words(state.declared),
            editable=simple is not None,
            editor={
                "enabled": "on" if shown.enabled else "",
                "default": "on" if shown.default else "off",
                "tiers": list(shown.tiers),
                "exclude_save_data": "on" if shown.exclude_save_data else "",
                "rollout": f"{shown.rollout:g}",
            },
        )

    def form_values(self) -> tiered.FormState:
        """The editor filled in with the flag as it is now."""
        return tiered.FormState(values=self.editor)


class ChangeOut(BaseModel):
    key: str
    changed_by: str | None
    """The admin's email; ``None`` when that account no longer exists."""
    changed_at: datetime
    before: str
    after: str | None
    """``None``: reset to the declared defaults."""


class FlagsPage(BaseModel):
    flags: list[FlagOut]
    history: list[ChangeOut]
    tiers: list[str] = Field(default_factory=lambda: list(TARGETABLE_TIERS), exclude=True)


async def _page(request: Request) -> FlagsPage:
    database, declarations = _database(request), _flags(request).definitions
    states = await service.flag_states(database, declarations)
    changes = await service.history(database, declarations)
    return FlagsPage(
        flags=[FlagOut.of(state) for state in states],
        history=[
            ChangeOut(
                key=c.key,
                changed_by=c.changed_by,
                changed_at=c.changed_at,
                before=service.summary(c.before),
                after=None if c.after is None else service.summary(c.after),
            )
            for c in changes
        ],
    )


def _declared(request: Request, key: str) -> FlagDefinition:
    flag = _flags(request).definitions.get(key)
    if flag is None:
        raise tiered.NotFound(f"There is no flag {key!r}; the page at {PAGE} lists them all.")
    return flag


async def _page_context(request: Request) -> dict[str, Any]:
    """The whole page around a re-shown form, with ``form_key`` naming the form it belongs to."""
    key = str(request.path_params.get("key", ""))
    _declared(request, key)
    page = await _page(request)
    context = dict(page.__dict__)
    context["form_key"] = key
    return context


# --- the endpoints ------------------------------------------------------------------------------


@router.get(PAGE)
@tiered.view(TEMPLATE, block="board")
async def flags_page(request: Request, admin: Admin) -> FlagsPage:
    """Every flag with its rules, who changed it last, and the latest changes."""
    return await _page(request)


@router.post(PAGE + "/{key}")
@tiered.form(
    FlagForm,
    template=TEMPLATE,
    block="board",
    context=_page_context,
    labels=LABELS,
)
async def change_flag(
    key: str, request: Request, admin: Admin, data: FlagForm
) -> tiered.Done[FlagOut]:
    """Replace the flag's switch, default and rules; this process applies it at once."""
    declared = _declared(request, key)
    flags = _flags(request)
    definition = data.rules().definition(key, declared.description)
    await service.set_flag(_database(request), flags.definitions, definition, changed_by=admin.id)
    await flags.refresh()  # other processes follow within their refresh interval
    state = await service.flag_state(_database(request), flags.definitions, key)
    return tiered.Done(
        f"{PAGE}#flag-{key}", data=FlagOut.of(state), flash=f"Saved the flag “{key}”."
    )


@router.post(PAGE + "/{key}/reset")
@tiered.form(template=TEMPLATE, block="board", context=_page_context)
async def reset_flag(key: str, request: Request, admin: Admin) -> tiered.Done[FlagOut]:
    """Drop the admin's changes to the flag: flags.toml decides again."""
    _declared(request, key)
    flags = _flags(request)
    was_overridden = await service.reset_flag(
        _database(request), flags.definitions, key, changed_by=admin.id
    )
    await flags.refresh()
    state = await service.flag_state(_database(request), flags.definitions, key)
    if was_overridden:
        flash = f"Reset the flag “{key}” to its declared defaults."
    else:
        flash = f"The flag “{key}” already had its declared defaults."
    return tiered.Done(
        f"{PAGE}#flag-{key}",
        data=FlagOut.of(state),
        flash=flash,
        flash_level="success" if was_overridden else "info",
    )
