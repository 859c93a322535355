"""The route matrix: every GET route of an app, driven in every client profile.

:func:`route_matrix` finds the app's GET routes (FastAPI's, ``tiered.route``'s among them, and
plain Starlette ones; not tiered's static files and own endpoints, nor FastAPI's ``/docs``,
``/redoc`` and ``/openapi.json``), requests each as every profile in
:data:`~tiered.testing.profiles.PROFILES`, and lists what is wrong, one readable sentence each:

- a 5xx, or a 4xx other than 401, 403, 404 and 406 (a route that needs input should get it
  through ``path_values``, or be skipped);
- the wrong representation: for a tiered view, what tiered's negotiation gives that client (a
  page for browsers, the view's block as a fragment for htmx requests, JSON for API clients,
  and for errors an HTML page, a fragment or a problem document); redirects (and htmx's
  ``HX-Redirect``) are always fine;
- a ``Vary`` that misses a request header the representation depended on, so that a shared
  cache could hand one client's answer to another;
- ``<script`` in the HTML of a client in the ``core`` tier;
- HTML whose gzipped size is over the tier's page-weight budget (14 KiB by default: what fits
  in TCP's first round trip).

Routes with path parameters are driven only with values from ``path_values``; the others are
listed in :attr:`MatrixReport.skipped`. Requests go through the test client, so its cookies (a
logged-in session) count: run the matrix once per kind of visitor.

Example::

    def test_every_route_serves_every_client(client: TestClient) -> None:
        assert route_matrix(client, path_values={"/notes/{note_id}": {"note_id": 1}}) == []
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from tiered.core.capabilities import Client, read_client
from tiered.core.errors import ImproperlyConfigured, NotAcceptable
from tiered.core.negotiation import Negotiated, negotiate, negotiate_error
from tiered.core.tiers import DEFAULT_POLICY, TIERS, Tier, TierPolicy
from tiered.core.vary import vary_value
from tiered.testing.profiles import PROFILES, Profile

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "ACCEPTED_ERRORS",
    "DEFAULT_BUDGET",
    "GZIP_LEVEL",
    "MatrixReport",
    "Visit",
    "route_matrix",
    "run_matrix",
]

DEFAULT_BUDGET: Final = 14 * 1024
"""Bytes of gzipped HTML per response, in every tier unless told otherwise: TCP's initial
window of 10 segments carries about 14 KiB, so a page this size arrives in one round trip."""

GZIP_LEVEL: Final = 6
"""The compression level weighed, zlib's default and what compressing proxies commonly use."""

ACCEPTED_ERRORS: Final = frozenset({401, 403, 404, 406})
"""Error statuses a GET without input may answer: not logged in, not allowed, not there (or
not shown to this visitor), nothing acceptable for this client."""

# Failure messages; the tests assert on them. Each starts with "GET <url> as <profile>".
SERVER_ERROR: Final = (
    "{label} answered {status}{request_id}: the app failed. Look for the traceback in the "
    "test's log; an error a client can cause must be a 4xx (raise a tiered.HTTPProblem)."
)
RAISED: Final = (
    "{label} raised {error}: the app failed (a 500 to the client). An error a client can cause "
    "must be a 4xx (raise a tiered.HTTPProblem)."
)
UNEXPECTED_ERROR: Final = (
    "{label} answered {status}: a GET without input should answer 2xx, a redirect, 401, 403, "
    "404 or 406. If the route needs input, give its path values (path_values=) or leave it "
    "out (skip=)."
)
WRONG_REPRESENTATION: Final = (
    "{label} got {got}, but tiered's negotiation gives this client {expected}{why}."
)
MISSING_VARY: Final = (
    "{label}: Vary is {vary}, which misses {missing}: a shared cache could hand this {got} to "
    "a client that needs another. Return data from the view (tiered sets Vary on what it "
    "renders), or send 'Vary: {expected}'."
)
SCRIPT_IN_CORE: Final = (
    "{label}: the {tier} tier ({reasons}) got HTML with a <script> on line {line}; core pages "
    'carry no script. Put it inside {{% if client.tier != "core" %}}, or send it only '
    "through tiered's layout."
)
OVER_BUDGET: Final = (
    "{label}: the HTML is {size:,} bytes gzipped, over the {tier} tier's budget of {budget:,}; "
    "send less (fewer items per page, less inline markup), or raise the budget with "
    "budget={{'{tier}': ...}}."
)

_PARAMETER: Final = re.compile(r"\{(\w+)(?::\w+)?\}")
_DESCRIPTIONS: Final = {
    "page": "a page",
    "fragment": "a fragment",
    "json": "JSON",
    "problem": "a problem document",
}


@dataclass(frozen=True, slots=True)
class Visit:
    """One route requested as one profile, and what was wrong with the answer."""

    route: str
    """The route's path, as declared (``/tasks/{task_id}``)."""
    url: str
    """What was requested (``/tasks/1``)."""
    profile: Profile
    status: int
    """The status, 500 when the app raised."""
    representation: str
    """``page``, ``fragment``, ``json``, ``problem``, ``redirect``, or the media type."""
    body: str
    failures: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"<Visit GET {self.url} as {self.profile.name}: {self.status} "
            f"{self.representation}, {len(self.failures)} failures>"
        )


@dataclass(frozen=True, slots=True)
class MatrixReport:
    """Every visit of a :func:`run_matrix`, and the routes it did not drive."""

    visits: tuple[Visit, ...]
    skipped: tuple[str, ...]
    """Each route not driven, with the reason (``/tasks/{task_id}: no path_values``)."""

    def __repr__(self) -> str:
        return (
            f"<MatrixReport: {len(self.visits)} visits, {len(self.failures)} failures, "
            f"{len(self.skipped)} routes skipped>"
        )

    @property
    def failures(self) -> list[str]:
        """Every visit's failures, in the order of the visits."""
        return [failure for visit in self.visits for failure in visit.failures]

    def pages(self) -> list[Visit]:
        """The visits answered with a full HTML page, for checks of their own (``check_html``)."""
        return [visit for visit in self.visits if visit.representation == "page"]


@dataclass(frozen=True, slots=True)
class _View:
    """What a tiered view offers, as negotiation needs it."""

    html: bool
    json: bool
    fragment: bool


@dataclass(frozen=True, slots=True)
class _Route:
    path: str
    view: _View | None


def route_matrix(
    client: httpx2.Client,
    *,
    app: Any = None,
    path_values: Mapping[str, Mapping[str, object]] | None = None,
    profiles: Sequence[Profile] = PROFILES,
    budget: int | Mapping[str, int] = DEFAULT_BUDGET,
    skip: Collection[str] = (),
    accepted_errors: Collection[int] = ACCEPTED_ERRORS,
) -> list[str]:
    """Drive every GET route in every profile; every failure found, as a sentence.

    ``client`` is a Starlette ``TestClient`` (its ``app`` is the app, unless ``app=`` names
    it). ``path_values`` maps a route's path to the values of its parameters
    (``{"/tasks/{task_id}": {"task_id": 1}}``); ``skip`` lists route paths not to drive;
    ``budget`` is the gzipped HTML budget in bytes, for every tier or per tier
    (``{"full": 20_000}``; tiers not named keep :data:`DEFAULT_BUDGET`).

    Example::

        assert route_matrix(client, budget={"core": 10_000}) == []
    """
    return run_matrix(
        client,
        app=app,
        path_values=path_values,
        profiles=profiles,
        budget=budget,
        skip=skip,
        accepted_errors=accepted_errors,
    ).failures


def run_matrix(
    client: httpx2.Client,
    *,
    app: Any = None,
    path_values: Mapping[str, Mapping[str, object]] | None = None,
    profiles: Sequence[Profile] = PROFILES,
    budget: int | Mapping[str, int] = DEFAULT_BUDGET,
    skip: Collection[str] = (),
    accepted_errors: Collection[int] = ACCEPTED_ERRORS,
) -> MatrixReport:
    """:func:`route_matrix`, keeping every visit (its status, body and failures).

    Example::

        report = run_matrix(client)
        for visit in report.pages():
            assert check_html(visit.body) == [], visit.url
    """
    app = app if app is not None else getattr(client, "app", None)
    runtime = getattr(getattr(app, "state", None), "tiered", None)
    if runtime is None:
        raise ImproperlyConfigured(
            f"route_matrix() needs an app with tiered installed, and {app!r} has none; call "
            "tiered.install(app) when building it, or pass the app itself with app= when the "
            "test client wraps it in other middleware."
        )
    settings = runtime.settings
    policy: TierPolicy = getattr(settings, "tier_policy", DEFAULT_POLICY)
    budgets = _budgets(budget)
    values = dict(path_values or {})
    routes, skipped = _routes(app, runtime, values, set(skip))
    visits = [
        _visit(client, route, url, profile, policy, budgets, frozenset(accepted_errors))
        for route, url in routes
        for profile in profiles
    ]
    return MatrixReport(tuple(visits), tuple(skipped))


# --- finding the routes --------------------------------------------------------------------


def _routes(
    app: Any, runtime: Any, values: dict[str, Mapping[str, object]], skip: set[str]
) -> tuple[list[tuple[_Route, str]], list[str]]:
    settings = runtime.settings
    internal = (f"{settings.static_prefix}/", f"{settings.internal_prefix}/")
    documentation = {
        getattr(app, name, None)
        for name in ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")
    } - {None}
    found: list[tuple[_Route, str]] = []
    skipped: list[str] = []
    seen: set[str] = set()
    parametrised: list[str] = []
    for route in runtime.routes():
        # The path as documented (`/tasks/{task_id}`, whatever convertor the route uses).
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        methods = getattr(route, "methods", None) or ()
        if not isinstance(path, str) or "GET" not in methods or path in seen:
            continue
        seen.add(path)
        if path.startswith(internal) or path in documentation:
            continue
        if path in skip:
            skipped.append(f"{path}: skipped")
            continue
        parameters = _PARAMETER.findall(path)
        if parameters:
            parametrised.append(path)
        given = values.pop(path, None)
        if parameters and given is None:
            skipped.append(f"{path}: no path_values")
            continue
        url = _fill(path, parameters, given or {})
        found.append((_Route(path, _view_of(getattr(route, "endpoint", None))), url))
    if values:
        raise ImproperlyConfigured(
            f"path_values names {', '.join(map(repr, sorted(values)))}, which is no GET route "
            f"of the app; GET routes with parameters: "
            f"{', '.join(map(repr, sorted(parametrised))) or 'none'}."
        )
    return found, skipped


def _fill(path: str, parameters: list[str], given: Mapping[str, object]) -> str:
    missing = [name for name in parameters if name not in given]
    if missing:
        raise ImproperlyConfigured(
            f"path_values[{path!r}] has no value for {', '.join(map(repr, missing))}; give "
            f"every parameter of the path: {', '.join(map(repr, parameters))}."
        )
    return _PARAMETER.sub(lambda match: str(given[match.group(1)]), path)


def _view_of(endpoint: Any) -> _View | None:
    """What a tiered view offers (``@tiered.view``, ``@tiered.form``, ``tiered.route``), or None
    for an endpoint tiered does not render."""
    from tiered.fastapi.views import TIERED_VIEW_ATTRIBUTE

    spec = getattr(endpoint, TIERED_VIEW_ATTRIBUTE, None)
    spec = getattr(spec, "view", spec)  # a form's spec holds the view it renders like
    if spec is None:
        return None
    return _View(html=spec.template is not None, json=spec.json, fragment=spec.block is not None)


def _budgets(budget: int | Mapping[str, int]) -> dict[Tier, int]:
    given: Mapping[str, int] = dict.fromkeys(TIERS, budget) if isinstance(budget, int) else budget
    unknown = sorted(set(given) - set(TIERS))
    if unknown:
        raise ImproperlyConfigured(
            f"budget names the tier {unknown[0]!r}; expected any of {', '.join(map(repr, TIERS))}."
        )
    budgets: dict[Tier, int] = dict.fromkeys(TIERS, DEFAULT_BUDGET)
    for tier in TIERS:
        value = given.get(tier, DEFAULT_BUDGET)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ImproperlyConfigured(
                f"The budget of the {tier} tier is {value!r}; expected a positive number of "
                "bytes, like 14_336."
            )
        budgets[tier] = value
    return budgets


# --- one visit -----------------------------------------------------------------------------


def _visit(
    client: httpx2.Client,
    route: _Route,
    url: str,
    profile: Profile,
    policy: TierPolicy,
    budgets: Mapping[Tier, int],
    accepted: frozenset[int],
) -> Visit:
    label = f"GET {url} as {profile.name}"
    try:
        response = profile.request(client, "GET", url)
    except Exception as exc:  # the app raised through the test client: a 500 to a real client
        failure = RAISED.format(label=label, error=f"{type(exc).__name__}: {exc}")
        return Visit(route.path, url, profile, 500, "error", "", (failure,))
    failures = list(_check(label, route, response, policy, budgets, accepted))
    return Visit(
        route.path,
        url,
        profile,
        response.status_code,
        _representation_of(response),
        response.text,
        tuple(failures),
    )


def _check(
    label: str,
    route: _Route,
    response: httpx2.Response,
    policy: TierPolicy,
    budgets: Mapping[Tier, int],
    accepted: frozenset[int],
) -> Iterator[str]:
    status = response.status_code
    if status >= 500:
        request_id = response.headers.get("x-request-id")
        shown = f" (request id {request_id})" if request_id else ""
        yield SERVER_ERROR.format(label=label, status=status, request_id=shown)
        return
    if _is_redirect(response):
        return
    request = response.request
    headers = {name.lower(): value for name, value in request.headers.items()}
    client = read_client(headers, _cookies(headers.get("cookie", "")), policy)
    got = _representation_of(response)
    if status >= 400 and status not in accepted:
        yield UNEXPECTED_ERROR.format(label=label, status=status)
    expected, due = _expected(route, headers.get("accept"), client, status)
    if expected is not None:
        if got != expected.representation or due != status:
            yield WRONG_REPRESENTATION.format(
                label=label,
                got=_describe(got, status),
                expected=_describe(expected.representation, due),
                why=_why(route, expected, due),
            )
        yield from _vary(label, response, expected, client, got)
    if got in ("page", "fragment"):
        yield from _html(label, response, client, budgets)


def _expected(
    route: _Route, accept: str | None, client: Client, status: int
) -> tuple[Negotiated | None, int]:
    """What tiered's negotiation gives this client here, and the status it comes with.

    None when the route is not tiered's: nothing is known of what it should send.
    """
    if status >= 400:
        # tiered renders every error the app raises, on any route.
        return negotiate_error(accept, client.htmx), status
    if route.view is None:
        return None, status
    view = route.view
    try:
        negotiated = negotiate(
            accept, client.htmx, html=view.html, json=view.json, fragment=view.fragment
        )
    except NotAcceptable:
        return negotiate_error(accept, client.htmx), 406
    return negotiated, status


def _why(route: _Route, expected: Negotiated, status: int) -> str:
    view = route.view
    if status == 406 and view is not None:
        return ", as the view offers " + ("only HTML" if view.html else "only JSON")
    if status >= 400:
        return " for an error"
    if view is not None and expected.representation == "fragment":
        return " (the view has a block for htmx requests)"
    return ""


def _vary(
    label: str, response: httpx2.Response, expected: Negotiated, client: Client, got: str
) -> Iterator[str]:
    wanted = vary_value(expected, client)
    present = {
        name.strip().lower()
        for value in response.headers.get_list("vary")
        for name in value.split(",")
    }
    if "*" in present:
        return
    missing = [name for name in wanted.split(", ") if name.lower() not in present]
    if missing:
        vary = response.headers.get("vary")
        yield MISSING_VARY.format(
            label=label,
            vary=repr(vary) if vary is not None else "absent",
            missing=", ".join(missing),
            got=_describe(got, response.status_code),
            expected=wanted,
        )


def _html(
    label: str, response: httpx2.Response, client: Client, budgets: Mapping[Tier, int]
) -> Iterator[str]:
    text = response.text
    if client.tier == "core":
        at = text.lower().find("<script")
        if at >= 0:
            yield SCRIPT_IN_CORE.format(
                label=label,
                tier=client.tier,
                reasons=", ".join(client.reasons),
                line=text.count("\n", 0, at) + 1,
            )
    size = len(gzip.compress(response.content, compresslevel=GZIP_LEVEL, mtime=0))
    budget = budgets[client.tier]
    if size > budget:
        yield OVER_BUDGET.format(label=label, size=size, tier=client.tier, budget=budget)


def _is_redirect(response: httpx2.Response) -> bool:
    """A 3xx, or htmx's own redirect: a 2xx with ``HX-Redirect`` or ``HX-Location``."""
    headers = response.headers
    return 300 <= response.status_code < 400 or "hx-redirect" in headers or "hx-location" in headers


def _representation_of(response: httpx2.Response) -> str:
    if _is_redirect(response):
        return "redirect"
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/problem+json":
        return "problem"
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type == "text/html":
        start = response.text.lstrip()[:15].lower()
        return "page" if start.startswith(("<!doctype", "<html")) else "fragment"
    return media_type or "no content type"


def _describe(representation: str, status: int) -> str:
    described = _DESCRIPTIONS.get(representation, representation)
    return f"{described} ({status})"


def _cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, _, value = pair.strip().partition("=")
        if name:
            cookies.setdefault(name, value)
    return cookies
