"""Submit one form three ways, as the three kinds of client do, so a test can compare outcomes.

Every journey of a tiered app works as a plain HTML form (POST, then a 303 to the next page), as
an htmx request swapped in place, and as JSON. :func:`submit` drives each way with what that
client would really send:

``form``
    A browser without JavaScript: loads the page with the form, posts the form's hidden fields
    (``csrf_token``, and ``idempotency_key`` where tiered's ``form_guard()`` put one) with the
    fields, and follows the 303 to the page it leads to.
``enhanced``
    A browser where tiered's bootstrap script ran: loads the page, then posts the same fields as
    htmx does, with the ``HX-Request`` headers and the token in the CSRF header.
``json``
    A program: posts the fields as JSON with ``Accept: application/json``; with the token in the
    CSRF header when it authenticates with the session cookie, or with ``bearer=`` instead.

Example::

    @pytest.mark.parametrize("way", WAYS)
    def test_adding_a_note_stores_it(client: TestClient, way: Way) -> None:
        done = submit(client, way, "/notes", {"title": "Milk"})

        assert done.succeeded, done
        assert [note.title for note in stored_notes()] == ["Milk"]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from tiered.core.capabilities import JS_COOKIE
from tiered.testing.profiles import API_CLIENT, ENHANCED_BROWSER, NO_JS_BROWSER, Profile

if TYPE_CHECKING:
    import httpx2

__all__ = ["CSRF_FIELD", "WAYS", "Submission", "Way", "csrf_token", "hidden_fields", "submit"]

Way = Literal["form", "enhanced", "json"]
WAYS: Final[tuple[Way, ...]] = ("form", "enhanced", "json")
"""Every way :func:`submit` knows, for ``@pytest.mark.parametrize("way", WAYS)``."""

CSRF_FIELD: Final = "csrf_token"
"""The hidden form field tiered's forms carry the CSRF token in."""
_CSRF_META: Final = "csrf-token"
_DEFAULT_CSRF_HEADER: Final = "X-CSRF-Token"

# The browser with the script, loading a page: a navigation, not an htmx request.
_SCRIPTED_PAGE_LOAD: Final = Profile.of(
    "enhanced_browser_page", {"User-Agent": NO_JS_BROWSER.headers["User-Agent"]}, {JS_COOKIE: "1"}
)


@dataclass(frozen=True, slots=True)
class Submission:
    """What one way of submitting got back.

    ``str(submission)`` says what happened, for an assertion's message.
    """

    way: Way
    response: httpx2.Response
    """The answer to the submission itself (for ``form``, the 303)."""
    landed: httpx2.Response | None = None
    """For ``form``: the page the 303 led to, fetched as the same browser."""

    @property
    def succeeded(self) -> bool:
        """``form``: a 303 to a page that answered 200; ``enhanced``, ``json``: any 2xx."""
        status = self.response.status_code
        if self.way == "form":
            return status == 303 and self.landed is not None and self.landed.status_code == 200
        return 200 <= status < 300

    def __str__(self) -> str:
        response = self.response
        text = (
            f"{self.way}: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code} {response.headers.get('content-type', '(no content type)')}"
        )
        if self.landed is not None:
            text += f", then GET {self.landed.request.url.path} answered {self.landed.status_code}"
        return f"{text}: {response.text[:500]!r}"


def submit(
    client: httpx2.Client,
    way: Way,
    action: str,
    fields: Mapping[str, str],
    *,
    page: str | None = None,
    json_body: Mapping[str, Any] | None = None,
    bearer: str | None = None,
) -> Submission:
    """POST ``fields`` to ``action`` the ``way`` given; see the module docstring.

    ``page`` is the page that shows the form (default: ``action`` itself); the form and enhanced
    ways post its hidden fields along. ``json_body`` replaces ``fields`` for the JSON way, when a
    program sends other types than a form's strings (``{"done": True}``). With ``bearer``, the
    JSON way sends ``Authorization: Bearer <bearer>`` and no CSRF token, and loads no page.

    Example::

        submission = submit(client, "enhanced", "/tasks", {"title": "Milk"}, page="/tasks")
        assert submission.response.headers["content-type"].startswith("text/html")
    """
    if way not in WAYS:
        raise ValueError(f"Unknown way {way!r}; expected one of {', '.join(map(repr, WAYS))}.")
    page = page or action
    if way == "json":
        headers: dict[str, str] = {}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        else:
            headers[_csrf_header(client)] = csrf_token(_load(client, NO_JS_BROWSER, page))
        body = dict(json_body if json_body is not None else fields)
        return Submission(
            way, API_CLIENT.request(client, "POST", action, headers=headers, json=body)
        )
    loader = NO_JS_BROWSER if way == "form" else _SCRIPTED_PAGE_LOAD
    html = _load(client, loader, page)
    try:
        data = {**hidden_fields(html, action=action), **fields}
    except ValueError:
        data = {CSRF_FIELD: csrf_token(html), **fields}
    if way == "form":
        response = NO_JS_BROWSER.request(client, "POST", action, data=data)
        landed = None
        if response.status_code == 303:
            landed = NO_JS_BROWSER.request(client, "GET", response.headers["location"])
        return Submission(way, response, landed)
    headers = {
        _csrf_header(client): data[CSRF_FIELD],
        "HX-Current-URL": str(client.base_url.join(page)),
    }
    return Submission(
        way, ENHANCED_BROWSER.request(client, "POST", action, headers=headers, data=data)
    )


def csrf_token(html: str) -> str:
    """The CSRF token in a page: a form's hidden ``csrf_token`` field, else its ``csrf-token`` meta.

    Raises ``ValueError`` when the page has neither.

    Example::

        >>> csrf_token('<form><input type="hidden" name="csrf_token" value="t0k"></form>')
        't0k'
    """
    reader = _read(html)
    for form in reader.forms:
        if CSRF_FIELD in form.hidden:
            return form.hidden[CSRF_FIELD]
    if CSRF_FIELD in reader.loose:
        return reader.loose[CSRF_FIELD]
    if reader.meta_token is not None:
        return reader.meta_token
    raise ValueError(
        f'The page has no hidden {CSRF_FIELD!r} field and no <meta name="{_CSRF_META}">; '
        f"render forms with {{{{ form_guard() }}}} or {{{{ csrf_input() }}}}. The page starts: "
        f"{html[:200]!r}"
    )


def hidden_fields(html: str, *, action: str | None = None) -> dict[str, str]:
    """The hidden fields of the first form that posts to ``action`` (any form when None).

    A form matches when its ``action`` is ``action``, or has the same path. Raises
    ``ValueError`` naming the forms on the page when none matches.

    Example::

        >>> hidden_fields(
        ...     '<form method="post" action="/notes?page=2">'
        ...     '<input type="hidden" name="csrf_token" value="t0k">'
        ...     '<input type="hidden" name="idempotency_key" value="k3y"></form>',
        ...     action="/notes",
        ... )
        {'csrf_token': 't0k', 'idempotency_key': 'k3y'}
    """
    reader = _read(html)
    if action is None:
        if reader.forms:
            return dict(reader.forms[0].hidden)
    else:
        # The exact action first, then the same path with another query string.
        for form in reader.forms:
            if form.action == action:
                return dict(form.hidden)
        for form in reader.forms:
            if urlsplit(form.action).path == urlsplit(action).path:
                return dict(form.hidden)
    actions = ", ".join(repr(form.action) for form in reader.forms) or "none"
    wanted = "form" if action is None else f"<form action={action!r}>"
    raise ValueError(
        f"The page has no {wanted}; its forms post to: {actions}. Pass the page that shows the "
        "form, or the action it posts to."
    )


def _load(client: httpx2.Client, profile: Profile, page: str) -> str:
    response = profile.request(client, "GET", page)
    if response.status_code != 200:
        raise AssertionError(
            f"GET {page} as {profile.name} answered {response.status_code}, not 200; the form's "
            "CSRF token is read from that page: pass page= with a page that shows the form."
        )
    return response.text


def _csrf_header(client: httpx2.Client) -> str:
    runtime = getattr(getattr(getattr(client, "app", None), "state", None), "tiered", None)
    settings = getattr(runtime, "settings", None)
    header = getattr(settings, "csrf_header", None)
    return header if isinstance(header, str) else _DEFAULT_CSRF_HEADER


@dataclass
class _Form:
    action: str
    hidden: dict[str, str]


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self.loose: dict[str, str] = {}
        self.meta_token: str | None = None
        self._form: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = _Form(values.get("action", ""), {})
            self.forms.append(self._form)
        elif tag == "input" and values.get("type", "").lower() == "hidden" and "name" in values:
            into = self._form.hidden if self._form is not None else self.loose
            into.setdefault(values["name"], values.get("value", ""))
        elif tag == "meta" and values.get("name") == _CSRF_META and self.meta_token is None:
            self.meta_token = values.get("content", "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _read(html: str) -> _FormReader:
    reader = _FormReader()
    reader.feed(html)
    reader.close()
    return reader
