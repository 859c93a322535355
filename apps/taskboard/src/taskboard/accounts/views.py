"""Accounts' pages and endpoints: sign up, log in and out, settings, API tokens, password reset.

``CurrentUser`` is how every other domain asks for the logged-in user: from the session cookie,
or from ``Authorization: Bearer <token>`` (an API token from ``POST /api/tokens``). The user is
also left on ``request.state.user`` for the layout's header.

A token is made with the password, never with another token: ``POST /api/tokens`` takes the
email and password, and the settings page's form needs a logged-in session. Changing the password
revokes every token. ``/api/…`` routes answer only JSON, errors included.

A forgotten password is reset by email (see :mod:`taskboard.accounts.password_reset`):
``/password-reset`` asks for a link, and the link's page ``/password-reset/{token}`` sets the new
password. The router's lifespan (:func:`taskboard.mail.mail_lifespan`) says at start where mail
goes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import tiered
from taskboard.accounts import password_reset, service
from taskboard.accounts.forms import (
    LABELS,
    RESET_LABELS,
    LoginForm,
    NewPasswordForm,
    PasswordForm,
    ResetRequestForm,
    SignupForm,
    TokenForm,
    TokenRequest,
)
from taskboard.accounts.models import ApiToken, User
from taskboard.accounts.ratelimit import (
    DEVICE_COOKIE,
    DEVICE_MAX_AGE,
    LoginLimiter,
    login_limiter,
)
from taskboard.accounts.service import SESSION_USER_KEY, aware
from taskboard.db import Database, Id
from taskboard.mail import mail_lifespan
from taskboard.settings import Settings
from tiered import Done, FieldError

router = APIRouter(lifespan=mail_lifespan)

HOME = "/tasks"
"""Where a logged-in person goes by default."""
NEW_TOKEN_KEY = "_new_api_token"  # noqa: S105 (a session key)
"""Carries a just-created token to the next settings page, which shows it once and drops it."""
_BEARER_CHALLENGE = 'Bearer realm="taskboard"'
LOGGED_IN = {"description": "Logged in already: on to the task list (or `next`)."}


class LoginRequired(tiered.Unauthorized):
    redirects = True  # a person's browser goes to the log-in page instead
    code = "login-required"
    title = "Please log in"
    next_step = "Log in, then you will come back here."


class InvalidToken(tiered.Unauthorized):
    code = "invalid-token"
    title = "This API token is not valid"
    next_step = "Create a token on the settings page, or ask POST /api/tokens for a new one."


class BadCredentials(tiered.Unauthorized):
    code = "bad-credentials"
    title = "Email or password is incorrect"
    next_step = "Check the email and password, then try again."


class PasswordNeeded(tiered.Forbidden):
    code = "password-needed"
    title = "An API token cannot make API tokens"
    next_step = (
        "Ask POST /api/tokens with your email and password, or create the token on the settings "
        "page."
    )


TOKEN_CANNOT_MINT = (
    "A request authenticated with an API token cannot create tokens: a new token needs your "  # noqa: S105
    "password. Send your email and password to POST /api/tokens instead."
)


# --- who is asking ------------------------------------------------------------------------------


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _by_token(request: Request) -> bool:
    """Whether the request authenticates with a bearer token (rather than a session)."""
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer"


@tiered.raises(InvalidToken)
async def _optional_user(request: Request) -> User | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    user: User | None
    if scheme.lower() == "bearer":
        user = await service.user_for_token(_database(request), credentials.strip())
        if user is None:
            raise InvalidToken(
                "The bearer token is unknown or revoked.",
                headers={"WWW-Authenticate": _BEARER_CHALLENGE + ', error="invalid_token"'},
            )
    else:
        user_id = tiered.session_of(request).get(SESSION_USER_KEY)
        user = (
            await service.user_of_session(_database(request), user_id)
            if isinstance(user_id, int)
            else None
        )
    request.state.user = user
    return user


@tiered.raises(LoginRequired, InvalidToken)
async def _current_user(request: Request) -> User:
    user = await _optional_user(request)
    if user is None:
        # A person is sent to the login page (and back afterwards); an API client gets the 401.
        target = "/login"
        if request.method in ("GET", "HEAD"):
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target += "?" + urlencode({"next": here})
        raise LoginRequired(
            "Log in to see this page.",
            headers={"WWW-Authenticate": _BEARER_CHALLENGE},
            location=target,
        )
    return user


CurrentUser = Annotated[User, Depends(_current_user)]
"""The logged-in user; anyone else gets a redirect to the login page (or a 401 problem)."""


@tiered.raises(PasswordNeeded)
async def _session_user(request: Request, user: CurrentUser) -> User:
    if _by_token(request):
        raise PasswordNeeded(TOKEN_CANNOT_MINT)
    return user


SessionUser = Annotated[User, Depends(_session_user)]
"""The user logged in with a session, so with their password; a bearer token is a 403."""

OptionalUser = Annotated[User | None, Depends(_optional_user)]


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a local path, else the task list."""
    return tiered.safe_next(value, HOME)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _admit(request: Request, email: str) -> tuple[LoginLimiter, str, str | None]:
    """Let this client try a password for ``email``, or raise 429: the limiter, the client's
    address and its device key, for counting a failure."""
    limiter = login_limiter(request.app)
    address = _address(request)
    device = limiter.device(email, tiered.get_cookie(request, DEVICE_COOKIE))
    await limiter.check(email, address, device)
    return limiter, address, device


async def _check_credentials(
    request: Request, email: str, password: str, *, remember_device: bool
) -> User | None:
    """The user, or ``None``; a failure counts towards the rate limit, which may raise 429.

    ``remember_device``: on success, give the browser a device cookie for the account, so its
    owner can log in from here while someone elsewhere is guessing (see ``ratelimit``)."""
    email = service.normalise_email(email)
    limiter, address, device = await _admit(request, email)
    user = await service.authenticate(_database(request), email, password)
    if user is None:
        await limiter.failed(email, address, device)
    elif remember_device and device is None:
        tiered.set_cookie(request, DEVICE_COOKIE, limiter.issue_device(email), DEVICE_MAX_AGE)
    return user


def _start_session(request: Request, user: User) -> None:
    session = tiered.session_of(request)
    session.rotate()  # a session id fixed before log-in is worth nothing after it
    session[SESSION_USER_KEY] = user.id


# --- what the pages and the API show ------------------------------------------------------------


class UserOut(BaseModel):
    id: int
    email: str


class Page(BaseModel):
    """A page that needs no data of its own."""


class LoginPage(BaseModel):
    next: str = ""


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class NewToken(BaseModel):
    """A token just made: ``token`` is shown this once and never again."""

    id: int
    name: str
    token: str
    created_at: datetime


class SettingsPage(BaseModel):
    email: str
    tokens: list[TokenOut]
    new_token: str | None = None


def _token_out(row: ApiToken) -> TokenOut:
    last_used = aware(row.last_used_at) if row.last_used_at is not None else None
    return TokenOut(
        id=row.id, name=row.name, created_at=aware(row.created_at), last_used_at=last_used
    )


async def _settings_page(request: Request, user: User) -> SettingsPage:
    rows = await service.tokens_of(_database(request), user.id)
    new_token = tiered.session_of(request).pop(NEW_TOKEN_KEY, None)
    return SettingsPage(
        email=user.email,
        tokens=[_token_out(row) for row in rows],
        new_token=new_token if isinstance(new_token, str) else None,
    )


def _settings_context(active_form: str) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """The settings page's data, and which of its forms was sent (it alone shows errors)."""

    async def context(request: Request) -> dict[str, Any]:
        user: User = request.state.user
        page = await _settings_page(request, user)
        return {**page.__dict__, "active_form": active_form}

    return context


# --- pages --------------------------------------------------------------------------------------


@router.get("/", response_model=None, responses={303: LOGGED_IN})
@tiered.view("taskboard/home.html", json=False)
async def home(user: OptionalUser) -> Page | RedirectResponse:
    if user is not None:
        return RedirectResponse(HOME, status_code=303)
    return Page()


@router.get("/signup", response_model=None, responses={303: LOGGED_IN})
@tiered.view("accounts/signup.html", block="signup_form", json=False)
async def signup_page(user: OptionalUser) -> Page | RedirectResponse:
    if user is not None:
        return RedirectResponse(HOME, status_code=303)
    return Page()


@router.post("/signup", status_code=201)
@tiered.raises(tiered.TooManyRequests)
@tiered.form(
    SignupForm,
    template="accounts/signup.html",
    block="signup_form",
    success_block=None,  # logged in: on to the task list
    labels=LABELS,
)
async def sign_up(data: SignupForm, request: Request) -> Done[UserOut]:
    """Create an account and log in. Past the address's sign-up limit the answer is 429,
    whatever the email; each sign-up that says whether the email has an account counts."""
    limiter, address = login_limiter(request.app), _address(request)
    await limiter.check_signup(address)
    try:
        user = await service.register(_database(request), data.email, data.password)
    except tiered.ValidationFailed as exc:
        if any(error.code == service.EMAIL_TAKEN_CODE for error in exc.errors):
            await limiter.signed_up(address)
        raise
    await limiter.signed_up(address)
    _start_session(request, user)
    return Done(
        HOME,
        data=UserOut(id=user.id, email=user.email),
        flash="Welcome to Taskboard: your account is ready and you are logged in.",
        created=True,
    )


@router.get("/login", response_model=None, responses={303: LOGGED_IN})
@tiered.view("accounts/login.html", block="login_form", json=False)
async def login_page(
    user: OptionalUser, next_path: Annotated[str, Query(alias="next", max_length=2000)] = ""
) -> LoginPage | RedirectResponse:
    if user is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return LoginPage(next=safe_next(next_path) if next_path else "")


@router.post("/login")
@tiered.raises(tiered.TooManyRequests)
@tiered.form(
    LoginForm,
    template="accounts/login.html",
    block="login_form",
    success_block=None,  # logged in: on to the task list (or `next`)
    labels=LABELS,
)
async def log_in(data: LoginForm, request: Request) -> Done[UserOut]:
    """Log in. A wrong email or password re-shows the form (422) with one message that never
    says which was wrong; past the rate limit the answer is 429 with ``Retry-After``."""
    user = await _check_credentials(request, data.email, data.password, remember_device=True)
    if user is None:
        error = FieldError("", "", service.BAD_CREDENTIALS, "bad-credentials")
        raise tiered.ValidationFailed(service.BAD_CREDENTIALS, errors=(error,))
    _start_session(request, user)
    return Done(
        safe_next(data.next),
        data=UserOut(id=user.id, email=user.email),
        flash=f"You are logged in as {user.email}.",
    )


@router.get("/logout")
@tiered.view("accounts/logout.html", block="logout_form", json=False)
async def logout_page() -> Page:
    """A page with the log-out button, for a browser that lands on ``/logout`` by address."""
    return Page()


@router.post("/logout")
@tiered.form(None, template="accounts/logout.html", block="logout_form", success_block=None)
async def log_out(request: Request) -> Done[None]:
    tiered.session_of(request).clear()
    return Done("/login", flash="You are logged out.")


# --- password reset -----------------------------------------------------------------------------

RESET_SENT = (
    "If an account exists for that address, we have sent it a link to choose a new password. "
    "The link works once, for {valid_for}."
)
"""The one answer to a request for a link, whether or not the email has an account."""
RESET_DONE = (
    "Your new password is set and you are logged in. You are logged out on other devices, and "
    "your API tokens are revoked."
)


class ResetRequested(BaseModel):
    """``POST /password-reset``'s answer to a JSON client (202): the same whatever the email."""

    detail: str
    expires_in: int
    """Seconds the mailed link works."""


class ResetPage(BaseModel):
    """The new-password form of a usable link."""

    email: str
    expires_at: datetime
    action: str


def _public_origin(request: Request) -> str:
    """Where mailed links point: ``PUBLIC_URL``, else the origin this request was made to
    (behind a trusted proxy, the scheme and host it reports)."""
    settings: Settings = request.app.state.settings
    return settings.public_url or str(request.base_url).rstrip("/")


def _reset_sent(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return RESET_SENT.format(valid_for=password_reset.valid_for(settings.password_reset_max_age))


@tiered.view("accounts/password_reset_gone.html", block="reset_gone", status=410, json=False)
async def _reset_link_gone(request: Request) -> Page:
    """The page of a link that cannot be used, with the way to a new one (never routed)."""
    return Page()


async def _reset_context(request: Request) -> dict[str, Any]:
    """The new-password page's data, for the form shown again."""
    found = await password_reset.usable(_database(request), str(request.path_params["token"]))
    if found is None:
        return {"action": request.url.path}
    reset, user = found
    return ResetPage(
        email=user.email, expires_at=aware(reset.expires_at), action=request.url.path
    ).__dict__


@router.get("/password-reset")
@tiered.view("accounts/password_reset_request.html", block="reset_request_form", json=False)
async def password_reset_page(viewer: OptionalUser) -> Page:
    """The form that asks for a link (``viewer``: for the header, logged in or not)."""
    return Page()


@router.post("/password-reset", status_code=202)
@tiered.raises(tiered.TooManyRequests)
@tiered.form(
    ResetRequestForm,
    template="accounts/password_reset_request.html",
    block="reset_request_form",
    labels=LABELS,
)
async def request_password_reset(
    data: ResetRequestForm, viewer: OptionalUser, request: Request
) -> Done[ResetRequested]:
    """Mail a link to choose a new password, when the email has an account.

    The answer is the same either way, and as fast: the lookup and the mail happen after it
    (:func:`~taskboard.accounts.password_reset.send_password_reset`). Every request counts
    towards the limits per address and per email; past them the answer is 429 with
    ``Retry-After`` (the form again, for a browser).
    """
    email = service.valid_email(data.email)
    limiter, address = login_limiter(request.app), _address(request)
    await limiter.check_reset(email, address)  # 429: for a person, the form again (tiered)
    await limiter.reset_requested(email, address)
    await password_reset.send_password_reset(request.app, email, _public_origin(request))
    sent = _reset_sent(request)
    settings: Settings = request.app.state.settings
    body = ResetRequested(detail=sent, expires_in=settings.password_reset_max_age)
    return Done("/password-reset", data=body, flash=sent, accepted=True)


@router.get("/password-reset/{token}", response_model=None)
@tiered.raises(password_reset.ResetLinkGone)
@tiered.view("accounts/password_reset.html", block="reset_form", json=False)
async def new_password_page(
    token: str, viewer: OptionalUser, request: Request
) -> ResetPage | Response:
    """The form for a new password, or (410) the page saying the link cannot be used
    (``viewer``: for the header)."""
    found = await password_reset.usable(_database(request), token)
    if found is None:
        gone: Response = await _reset_link_gone(request=request)
        return gone
    reset, user = found
    return ResetPage(email=user.email, expires_at=aware(reset.expires_at), action=request.url.path)


@router.post("/password-reset/{token}")
@tiered.raises(password_reset.ResetLinkGone)
@tiered.form(
    NewPasswordForm,
    template="accounts/password_reset.html",
    block="reset_form",
    success_block=None,  # logged in with the new password: on to the task list
    context=_reset_context,
    labels=RESET_LABELS,
)
async def reset_password(
    token: str, data: NewPasswordForm, viewer: OptionalUser, request: Request
) -> Done[UserOut]:
    """Set the password the link's user chose, once, and log them in; their other sessions end
    and their API tokens are revoked. A link that cannot be used is a 410 problem (a browser is
    sent to the link's page, which says so)."""
    try:
        user = await password_reset.reset_password(_database(request), token, data.password)
    except password_reset.ResetLinkGone as exc:
        raise password_reset.ResetLinkGone(exc.detail, location=request.url.path) from None
    _start_session(request, user)
    return Done(HOME, data=UserOut(id=user.id, email=user.email), flash=RESET_DONE)


@router.get("/settings")
@tiered.view("accounts/settings.html")
async def settings_page(user: CurrentUser, request: Request) -> SettingsPage:
    return await _settings_page(request, user)


@router.post("/settings/password")
@tiered.raises(tiered.TooManyRequests)
@tiered.form(
    PasswordForm,
    template="accounts/settings.html",
    block="password_form",
    context=_settings_context("password"),
    labels=LABELS,
)
async def change_password(data: PasswordForm, user: CurrentUser, request: Request) -> Done[None]:
    """Change the password; every other session of the user ends, this one gets a new id, and
    every API token is revoked."""
    limiter, address, device = await _admit(request, user.email)
    try:
        await service.change_password(
            _database(request), user, data.current_password, data.new_password
        )
    except tiered.ValidationFailed as exc:
        if any(error.field == "current_password" for error in exc.errors):
            await limiter.failed(user.email, address, device)
        raise
    session = tiered.session_of(request)
    if SESSION_USER_KEY in session:
        session.rotate()
    return Done(
        "/settings",
        flash=(
            "Your password is changed: you are logged out on other devices, and your API tokens "
            "are revoked."
        ),
    )


@router.post("/settings/logout-everywhere")
@tiered.form(None, template="accounts/settings.html", context=_settings_context("everywhere"))
async def log_out_everywhere(user: CurrentUser, request: Request) -> Done[None]:
    await service.end_sessions(_database(request), user.id)
    tiered.session_of(request).clear()
    return Done("/login", flash="You are logged out on every device, this one included.")


@router.post("/settings/tokens", status_code=201)
@tiered.form(
    TokenForm,
    template="accounts/settings.html",
    block="tokens",
    context=_settings_context("tokens"),
    labels=LABELS,
)
async def create_token(data: TokenForm, user: SessionUser, request: Request) -> Done[NewToken]:
    row, token = await service.create_token(_database(request), user.id, data.name)
    # A browser is redirected to the settings page, which shows the token once (from the
    # session); an enhanced request's fragment takes it from there at once; a JSON client gets it
    # in the body, so nothing is kept for it.
    negotiated = tiered.negotiate(request.headers.get("accept"), tiered.client_of(request).htmx)
    if negotiated.representation != "json":
        tiered.session_of(request)[NEW_TOKEN_KEY] = token
    return Done(
        "/settings",
        data=NewToken(id=row.id, name=row.name, token=token, created_at=aware(row.created_at)),
        flash=f"API token “{row.name}” created. Copy it now: it is shown only once.",
        created=True,
    )


@router.post("/settings/tokens/{token_id:int}/delete")
@tiered.raises(service.TokenNotFound)
@tiered.form(
    None,
    template="accounts/settings.html",
    block="tokens",
    context=_settings_context("tokens"),
)
async def revoke_token(token_id: Id, user: CurrentUser, request: Request) -> Done[None]:
    row = await service.revoke_token(_database(request), user.id, token_id)
    return Done("/settings", flash=f"API token “{row.name}” revoked: it no longer works.")


@router.post("/api/tokens", status_code=201)
@tiered.raises(BadCredentials, tiered.TooManyRequests)
@tiered.csrf_exempt
@tiered.form(TokenRequest, labels=LABELS)
async def issue_token(data: TokenRequest, request: Request) -> Done[NewToken]:
    """Trade an email and password for an API token (``Authorization: Bearer <token>``).

    Needs no CSRF token: it relies on no cookie and sets none. Rate-limited like the login form.
    Only JSON: a wrong password (401), the limit (429) or a bad body (400, 422) is a problem
    document whatever ``Accept`` says (the form has no HTML, so tiered answers so).
    """
    user = await _check_credentials(request, data.email, data.password, remember_device=False)
    if user is None:
        raise BadCredentials(
            service.BAD_CREDENTIALS, headers={"WWW-Authenticate": _BEARER_CHALLENGE}
        )
    row, token = await service.create_token(_database(request), user.id, data.name)
    return Done(
        "/settings",
        data=NewToken(id=row.id, name=row.name, token=token, created_at=aware(row.created_at)),
        created=True,
    )
