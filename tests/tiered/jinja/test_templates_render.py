"""tiered's templates, rendered by plain Jinja with stub context callables (no app, no renderer).

These pin the template contract (TEMPLATE-SPEC.md): what each tier's page loads, the accessible
form markup and its ids, the flash region and the error page. The HTML is parsed, so assertions
are about elements and attributes, not whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2_fragments import render_block
from markupsafe import Markup

from tiered.testing import check_html

NONCE = "n0nce-abc123"
INTEGRITY = {
    "tiered/vendor/htmx/htmx.min.js": "sha384-htmxHASH",
    "tiered/bootstrap.js": "sha384-bootHASH",
}


# --- stubs for the renderer's context -----------------------------------------------------


@dataclass(frozen=True)
class StubURL:
    path: str = "/tasks"


@dataclass(frozen=True)
class StubRequest:
    url: StubURL = field(default_factory=StubURL)


@dataclass(frozen=True)
class StubClient:
    tier: str = "full"
    reasons: tuple[str, ...] = ()
    choice: str | None = None
    prefers_reduced_motion: bool = False


@dataclass(frozen=True)
class StubFlash:
    level: str
    message: str


@dataclass(frozen=True)
class StubFieldError:
    field: str
    message: str
    code: str = "invalid"


@dataclass(frozen=True)
class StubForm:
    values: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[StubFieldError, ...] = ()

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def error(self, name: str) -> StubFieldError | None:
        return next((e for e in self.errors if e.field == name), None)


@dataclass(frozen=True)
class StubProblem:
    status: int = 404
    code: str = "not_found"
    title: str = "Page not found"
    detail: str | None = "There is no task 42."
    next_step: str = "Go back to your tasks."
    request_id: str | None = "req-7f3a"


def context(
    tier: str = "full",
    *,
    choice: str | None = None,
    flashes: Sequence[StubFlash] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The context the lead's renderer gives every template, with recording stubs."""
    return {
        "request": StubRequest(),
        "client": StubClient(tier=tier, choice=choice),
        "representation": "page",
        "csp_nonce": NONCE,
        "csrf_token": lambda: "tok-123",
        "csrf_input": lambda: Markup('<input type="hidden" name="csrf_token" value="tok-123">'),
        "form_guard": lambda: Markup(
            '<input type="hidden" name="csrf_token" value="tok-123">'
            '<input type="hidden" name="idempotency_key" value="0f0e">'
        ),
        "static_url": lambda path: "/static/" + path,
        "stylesheets": lambda *paths: Markup(  # noqa: S704 (the test's own paths)
            "".join(f'<link rel="stylesheet" href="/static/{path}">' for path in paths)
        ),
        "static_integrity": lambda path: INTEGRITY.get(path, "sha384-other"),
        "flash_messages": lambda: list(flashes),
        "version_switch_url": lambda choice: f"/_tiered/version?choice={choice}&next=/tasks",
        **extra,
    }


# --- parsing --------------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


class Collector(HTMLParser):
    """Every start tag with its attributes, and the text directly inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in {"meta", "link", "input", "br", "img", "hr"}:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text += data


def parse(html: str) -> list[Element]:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector.elements


def find(elements: list[Element], tag: str, **attrs: str) -> list[Element]:
    """Elements by tag and attributes; ``class_="x"`` matches ``class``, ``for_`` ``for``."""
    wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
    return [
        e for e in elements if e.tag == tag and all(e.attrs.get(k) == v for k, v in wanted.items())
    ]


def by_id(elements: list[Element], id_: str) -> Element:
    [element] = [e for e in elements if e.attrs.get("id") == id_]
    return element


def text(element: Element) -> str:
    return " ".join(element.text.split())


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env() -> Environment:
    environment = Environment(
        loader=PackageLoader("tiered", "templates"), autoescape=True, undefined=StrictUndefined
    )
    environment.globals["ui"] = environment.get_template("tiered/macros.html").module
    return environment


PAGE = """{% extends "tiered/layout.html" %}
{% import "tiered/macros.html" as ui with context %}
{% block title %}New task{% endblock %}
{% block main %}
<h1>New task</h1>
{{ ui.error_summary(form) }}
<form method="post" action="/tasks" novalidate>
{{ form_guard() }}
{{ ui.field(form, "title", "Title", hint="A few words.", required=True) }}
{{ ui.field(form, "email", "Email", type="email", autocomplete="email") }}
{{ ui.field(form, "password", "Password", type="password") }}
{{ ui.textarea(form, "notes", "Notes", hint="Optional.") }}
{{ ui.select(form, "priority", "Priority", [("low", "Low"), ("high", "High")]) }}
{{ ui.checkbox(form, "done", "Done", hint="Tick when finished.") }}
<button type="submit">Save</button>
</form>
{% endblock %}
"""

ERRORS = StubForm(
    values={"title": "", "email": "ann@", "password": "hunter2", "notes": "x", "priority": "high"},
    errors=(
        StubFieldError("title", "Enter a title."),
        StubFieldError("email", "Enter an email address like ann@example.com."),
        StubFieldError("done", "Tick the box <now>."),
        StubFieldError("", "This form has expired; submit it again."),
    ),
)


def render_page(env: Environment, form: StubForm | None = None, **ctx: Any) -> str:
    return env.from_string(PAGE).render(context(form=form, **ctx))


# --- layout ---------------------------------------------------------------------------------


def test_core_tier_page_has_no_script_and_no_enhancement_metadata(env: Environment) -> None:
    html = render_page(env, tier="core")
    elements = parse(html)

    assert "<script" not in html
    assert not find(elements, "meta", name="csrf-token")
    assert not find(elements, "meta", name="htmx-config")
    assert find(elements, "link", rel="stylesheet", href="/static/tiered/tiered.css")


@pytest.mark.parametrize("tier", ["lite", "full"])
def test_enhanced_tiers_load_htmx_then_bootstrap_with_integrity_and_nonce(
    env: Environment, tier: str
) -> None:
    elements = parse(render_page(env, tier=tier))

    scripts = find(elements, "script")
    assert [s.attrs["src"] for s in scripts] == [
        "/static/tiered/vendor/htmx/htmx.min.js",
        "/static/tiered/bootstrap.js",
    ]
    for script, logical in zip(scripts, INTEGRITY, strict=True):
        assert script.attrs["integrity"] == INTEGRITY[logical]
        assert script.attrs["nonce"] == NONCE
        assert "defer" in script.attrs
        assert "crossorigin" not in script.attrs  # same origin: no CORS request needed
        assert script.text.strip() == ""  # never inline code
    [csrf] = find(elements, "meta", name="csrf-token")
    assert csrf.attrs["content"] == "tok-123"


def test_enhanced_page_turns_off_htmx_injected_indicator_styles(env: Environment) -> None:
    [config] = find(parse(render_page(env)), "meta", name="htmx-config")

    assert config.attrs["content"] == "includeIndicatorCSS:false"


def test_page_has_lang_skip_link_and_focusable_main_landmark(env: Environment) -> None:
    html = render_page(env)
    elements = parse(html)

    assert html.startswith("<!doctype html>")
    assert find(elements, "html", lang="en")
    [skip] = find(elements, "a", class_="skip-link")
    assert skip.attrs["href"] == "#main"
    assert text(skip) == "Skip to main content"
    assert elements.index(skip) < elements.index(by_id(elements, "main"))
    main = by_id(elements, "main")
    assert main.tag == "main"
    assert main.attrs["tabindex"] == "-1"
    assert find(elements, "footer")


def test_title_is_block_title_without_dash_by_default(env: Environment) -> None:
    [title] = find(parse(render_page(env, form=StubForm())), "title")

    assert text(title) == "New task"


def test_title_gets_error_prefix_when_the_form_has_errors(env: Environment) -> None:
    [title] = find(parse(render_page(env, form=ERRORS)), "title")

    assert text(title) == "Error: New task"


def test_title_appends_site_name_after_an_en_dash(env: Environment) -> None:
    template = env.from_string(
        '{% extends "tiered/layout.html" %}{% block title %}Tasks{% endblock %}'
        "{% block site_name %}Taskboard{% endblock %}"
    )
    [title] = find(parse(template.render(context())), "title")

    assert text(title) == "Tasks \N{EN DASH} Taskboard"


def test_flash_region_is_always_present_as_a_polite_live_region(env: Environment) -> None:
    region = by_id(parse(render_page(env)), "flash")

    assert region.attrs["role"] == "status"
    assert region.attrs["aria-live"] == "polite"
    assert "data-hx-swap-oob" not in region.attrs
    assert text(region) == ""


def test_flash_messages_render_inside_the_region_with_their_level(env: Environment) -> None:
    flashes = [StubFlash("success", "Task saved."), StubFlash("error", "Could not <save>.")]
    html = render_page(env, flashes=flashes)
    elements = parse(html)

    assert [p.attrs["class"] for p in find(elements, "p") if "flash-" in str(p.attrs)] == [
        "flash-success",
        "flash-error",
    ]
    assert text(by_id(elements, "flash")) == "Task saved. Error: Could not <save>."
    assert "&lt;save&gt;" in html


@pytest.mark.parametrize(
    ("tier", "choice", "links"),
    [
        ("full", None, ["Switch to the basic version (no scripts)"]),
        # A text or legacy browser is on the basic version already: nothing to switch to.
        ("core", None, []),
        ("core", "basic", ["Switch to the standard version"]),
    ],
)
def test_footer_offers_the_version_switch(
    env: Environment, tier: str, choice: str | None, links: list[str]
) -> None:
    elements = parse(render_page(env, tier=tier, choice=choice))
    footer_links = [a for a in find(elements, "a") if "version?choice" in str(a.attrs["href"])]

    assert [text(a) for a in footer_links] == links
    if not links:
        assert not find(elements, "footer")
        return
    expected = "basic" if "basic version" in links[0] else "full"
    assert footer_links[0].attrs["href"] == f"/_tiered/version?choice={expected}&next=/tasks"


def test_ids_are_unique_on_a_page_with_errors(env: Environment) -> None:
    ids = [e.attrs["id"] for e in parse(render_page(env, form=ERRORS)) if "id" in e.attrs]

    assert len(ids) == len(set(ids))


# --- form macros ----------------------------------------------------------------------------


def test_field_in_error_state_is_invalid_and_described_by_its_hint_and_error(
    env: Environment,
) -> None:
    elements = parse(render_page(env, form=ERRORS))
    title = by_id(elements, "field-title")

    assert title.attrs["aria-invalid"] == "true"
    assert title.attrs["aria-describedby"] == "field-title-hint field-title-error"
    assert "required" in title.attrs
    assert text(by_id(elements, "field-title-hint")) == "A few words."
    error = by_id(elements, "field-title-error")
    assert error.attrs["class"] == "error-message"
    assert text(error) == "Error: Enter a title."
    [label] = find(elements, "label", for_="field-title")
    assert text(label) == "Title"
    wrapper = [e for e in elements if e.tag == "div" and "field-error" in str(e.attrs.get("class"))]
    assert len(wrapper) == 3  # title, email, done


def test_every_aria_describedby_points_at_existing_ids(env: Environment) -> None:
    elements = parse(render_page(env, form=ERRORS))
    ids = {e.attrs["id"] for e in elements if "id" in e.attrs}

    described = [e for e in elements if "aria-describedby" in e.attrs]
    assert len(described) == 4  # title, email, notes (hint only), done
    for element in described:
        assert set(str(element.attrs["aria-describedby"]).split()) <= ids


def test_field_without_hint_is_described_by_its_error_only(env: Environment) -> None:
    email = by_id(parse(render_page(env, form=ERRORS)), "field-email")

    assert email.attrs["aria-describedby"] == "field-email-error"
    assert email.attrs["type"] == "email"
    assert email.attrs["autocomplete"] == "email"
    assert email.attrs["value"] == "ann@"


def test_valid_field_is_not_marked_invalid_but_keeps_its_hint(env: Environment) -> None:
    elements = parse(render_page(env, form=StubForm(values={"title": "Buy milk"})))
    title = by_id(elements, "field-title")

    assert "aria-invalid" not in title.attrs
    assert title.attrs["aria-describedby"] == "field-title-hint"
    assert title.attrs["value"] == "Buy milk"
    assert not find(elements, "p", class_="error-message")


def test_password_is_never_written_back_into_the_page(env: Environment) -> None:
    html = render_page(env, form=ERRORS)

    assert "hunter2" not in html
    assert "value" not in by_id(parse(html), "field-password").attrs


def test_blank_form_renders_without_a_form_state(env: Environment) -> None:
    elements = parse(render_page(env, form=None))

    assert "value" not in by_id(elements, "field-title").attrs
    assert not find(elements, "div", id="error-summary")
    assert [text(t) for t in find(elements, "title")] == ["New task"]


def test_error_summary_links_each_message_to_its_field(env: Environment) -> None:
    elements = parse(render_page(env, form=ERRORS))
    summary = by_id(elements, "error-summary")

    assert summary.attrs["role"] == "alert"
    assert summary.attrs["tabindex"] == "-1"
    assert summary.attrs["aria-labelledby"] == "error-summary-title"
    assert text(by_id(elements, "error-summary-title")) == "There is a problem"
    links = [a for a in find(elements, "a") if str(a.attrs["href"]).startswith("#field-")]
    assert [(a.attrs["href"], text(a)) for a in links] == [
        ("#field-title", "Enter a title."),
        ("#field-email", "Enter an email address like ann@example.com."),
        ("#field-done", "Tick the box <now>."),
    ]
    ids = {e.attrs["id"] for e in elements if "id" in e.attrs}
    assert {str(a.attrs["href"])[1:] for a in links} <= ids
    # an error about the whole form is listed, but links nowhere
    assert "This form has expired; submit it again." in text(summary)


def test_textarea_select_and_checkbox_keep_values(env: Environment) -> None:
    form = StubForm(values={"notes": "\nfirst line", "priority": "high", "done": "on"})
    html = render_page(env, form=form)
    elements = parse(html)

    assert by_id(elements, "field-notes").attrs["rows"] == "5"
    # the parser eats the newline after <textarea>, so the value's own leading newline survives
    assert 'aria-describedby="field-notes-hint">\n\nfirst line</textarea>' in html
    selected = [o for o in find(elements, "option") if "selected" in o.attrs]
    assert [o.attrs["value"] for o in selected] == ["high"]
    done = by_id(elements, "field-done")
    assert done.attrs["type"] == "checkbox"
    assert done.attrs["value"] == "on"
    assert "checked" in done.attrs


def test_checkbox_is_unchecked_for_other_values(env: Environment) -> None:
    done = by_id(parse(render_page(env, form=StubForm(values={"done": "off"}))), "field-done")

    assert "checked" not in done.attrs


def test_field_attrs_add_attributes_and_boolean_flags(env: Environment) -> None:
    template = env.from_string(
        '{% import "tiered/macros.html" as ui %}'
        '{{ ui.field(None, "q", "Search", type="search", '
        'attrs={"data-hx-get": "/search", "data-autofocus": true, "readonly": false, "x": none}) }}'
    )
    q = by_id(parse(template.render()), "field-q")

    assert q.attrs["data-hx-get"] == "/search"
    assert q.attrs["data-autofocus"] == ""
    assert "readonly" not in q.attrs
    assert "x" not in q.attrs


def test_flash_region_macro_marks_an_out_of_band_swap(env: Environment) -> None:
    macros = env.get_template("tiered/macros.html").module
    oob = str(macros.flash_region([StubFlash("info", "Saved.")], oob=True))  # type: ignore[attr-defined]
    plain = str(macros.flash_region([], oob=False))  # type: ignore[attr-defined]

    region = by_id(parse(oob), "flash")
    assert region.attrs["data-hx-swap-oob"] == "innerHTML"
    assert region.attrs["role"] == "status"
    assert text(region) == "Saved."
    assert "swap-oob" not in plain


@pytest.mark.parametrize("tier", ["core", "lite", "full"])
def test_the_layout_and_the_flash_swap_keep_working_without_javascript(
    env: Environment, tier: str
) -> None:
    macros = env.get_template("tiered/macros.html").module
    oob = str(macros.flash_region([StubFlash("info", "Saved.")], oob=True))  # type: ignore[attr-defined]

    assert check_html(render_page(env, form=ERRORS, tier=tier)) == []
    assert check_html(oob) == []


@pytest.mark.parametrize(
    ("prev_url", "next_url", "links"),
    [
        (None, "/tasks?page=2", [("next", "Next page")]),
        ("/tasks?page=1", "/tasks?page=3", [("prev", "Previous page"), ("next", "Next page")]),
        ("/tasks?page=2", None, [("prev", "Previous page")]),
    ],
)
def test_pagination_links_only_the_pages_that_exist(
    env: Environment, prev_url: str | None, next_url: str | None, links: list[tuple[str, str]]
) -> None:
    template = env.from_string(
        '{% import "tiered/macros.html" as ui %}{{ ui.pagination(2, 3, prev_url, next_url) }}'
    )
    elements = parse(template.render(prev_url=prev_url, next_url=next_url))

    [nav] = find(elements, "nav")
    assert nav.attrs["aria-label"] == "Pagination"
    assert [(a.attrs["rel"], text(a)) for a in find(elements, "a")] == links
    assert "Page 2 of 3" in text(nav)


# --- error page -----------------------------------------------------------------------------


def test_error_page_shows_the_problem_under_its_title(env: Environment) -> None:
    html = env.get_template("tiered/error.html").render(context(problem=StubProblem()))
    elements = parse(html)

    assert [text(t) for t in find(elements, "title")] == ["Page not found"]
    problem = by_id(elements, "problem")
    assert problem.attrs["role"] == "alert"
    assert problem.attrs["class"] == "problem"
    assert problem.attrs["data-status"] == "404"
    assert [text(h) for h in find(elements, "h1")] == ["Page not found"]
    body = text(problem)
    assert "There is no task 42." in body
    assert "Go back to your tasks." in body
    assert "Error 404. Request id: req-7f3a" in body
    assert find(elements, "main")


def test_error_page_leaves_out_missing_detail_and_request_id(env: Environment) -> None:
    problem = StubProblem(status=500, title="Something went wrong", detail=None, request_id=None)
    html = env.get_template("tiered/error.html").render(context(problem=problem))

    body = text(by_id(parse(html), "problem"))
    assert "Request id" not in body
    assert body == "Something went wrong Go back to your tasks. Go to the home page Error 500"


def test_error_fragment_renders_alone_with_an_h2(env: Environment) -> None:
    ctx = context(problem=StubProblem())
    ctx["representation"] = "fragment"
    html = render_block(env, "tiered/error.html", "error", ctx)
    elements = parse(html)

    assert elements[0].attrs["id"] == "problem"
    assert [text(h) for h in find(elements, "h2")] == [
        "Error: Page not found"
    ]  # "Error:" for a screen reader, in place
    assert not find(elements, "main")
    assert not find(elements, "title")
