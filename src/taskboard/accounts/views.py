"""Accounts' pages and endpoints. (Sign-up, log-in and settings pages are added here.)

``CurrentUser`` is how every other domain asks for the logged-in user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request

import tiered
from taskboard.accounts.models import User
from taskboard.accounts.service import SESSION_USER_KEY, user_by_id

router = APIRouter()


class LoginRequired(tiered.Unauthorized):
    code = "login-required"
    title = "Please log in"
    next_step = "Log in, then you will come back here."


async def _optional_user(request: Request) -> User | None:
    session = tiered.session_of(request)
    user_id = session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int):
        return None
    return await user_by_id(request.app.state.database, user_id)


async def _current_user(request: Request) -> User:
    user = await _optional_user(request)
    if user is None:
        raise LoginRequired("Log in to see this page.")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]
"""The logged-in user; anyone else gets a redirect to the login page (or a 401 problem)."""

OptionalUser = Annotated[User | None, Depends(_optional_user)]
