"""check_html(): htmx that keeps working without JavaScript passes; every way it breaks is named."""

from __future__ import annotations

import doctest

import pytest

from tiered.testing import check_html
from tiered.testing import html as html_module
from tiered.testing.html import (
    BUTTON_DOES_NOT_SUBMIT,
    CONTROL_FORM_INCOMPLETE,
    FORM_INCOMPLETE,
    LINK_GOES_NOWHERE,
    NO_FALLBACK,
    OOB_WITHOUT_TARGET,
    UNKNOWN_ID,
)

# Markup as Taskboard's list renders it with every enhancement on: an add form, a search form
# whose input searches as you type, per-task toggle forms, a delete form that falls back to a
# confirmation page (GET) but posts in place with htmx, and the flash region tiered's layout has.
TASK_LIST = """\
<!doctype html>
<html lang="en"><head><title>Your tasks</title></head>
<body>
<div id="flash" class="flash" role="status" aria-live="polite"></div>
<main id="main">
<div id="board">
<form method="post" action="/tasks" data-hx-post="/tasks" data-hx-target="#board"
  data-hx-swap="outerHTML" data-hx-replace-url="/tasks">
<input type="hidden" name="csrf_token" value="t0k">
<input id="field-title" name="title" type="text" required>
<button type="submit">Add task</button>
</form>
<form method="get" action="/tasks" role="search" data-hx-get="/tasks" data-hx-target="#results"
  data-hx-swap="outerHTML" data-hx-push-url="true" data-hx-sync="this:replace">
<input id="search-q" name="q" type="search" data-hx-get="/tasks"
  data-hx-trigger="input changed delay:300ms, search" data-hx-include="closest form"
  data-hx-target="#results" data-hx-swap="outerHTML">
<button type="submit">Search</button>
</form>
<div id="results">
<ul class="task-list">
<li class="task" id="task-7" data-task-id="7">
<form method="post" action="/tasks/7/toggle?q=milk" data-hx-post="/tasks/7/toggle?q=milk"
  data-hx-target="#results" data-hx-swap="outerHTML">
<button type="submit">Mark done</button>
</form>
<a class="task-title" href="/tasks/7">Buy milk</a>
<form method="get" action="/tasks/7/delete" data-hx-post="/tasks/7/delete"
  data-hx-confirm="Delete the task?" data-hx-target="#results" data-hx-swap="outerHTML">
<button type="submit">Delete</button>
</form>
</li>
</ul>
<p class="empty-state"><a href="#field-title">Add your first task</a></p>
</div>
</div>
</main>
</body></html>
"""


def test_taskboard_style_markup_passes() -> None:
    assert check_html(TASK_LIST) == []


def test_unprefixed_htmx_4_attributes_and_inheritance_pass() -> None:
    html = """
    <section hx-target:inherited="#panel" hx-boost:inherited="true">
      <a href="/page/2" hx-get="/page/2">Next</a>
      <form action="/search" method="get" hx-boost="true"><button>Go</button></form>
    </section>
    <div id="panel"></div>
    """

    assert check_html(html) == []


def test_a_button_may_belong_to_a_form_elsewhere_by_its_form_attribute() -> None:
    html = """
    <form id="save" method="post" action="/notes"></form>
    <button form="save" hx-post="/notes">Save</button>
    """

    assert check_html(html) == []


def test_oob_swaps_into_an_existing_id_pass() -> None:
    html = """
    <div id="flash" role="status"></div>
    <div id="flash" data-hx-swap-oob="innerHTML"><p>Saved.</p></div>
    <ul hx-swap-oob="beforeend:#flash"><li>one</li></ul>
    """

    assert check_html(html) == []


def test_relative_and_compound_selectors_are_left_alone() -> None:
    html = """
    <form method="post" action="/x" hx-post="/x" hx-target="closest li" hx-include="this"></form>
    <form method="post" action="/y" hx-post="/y" hx-target="#list li"></form>
    """

    assert check_html(html) == []


def test_a_div_with_hx_post_has_no_fallback() -> None:
    html = (
        '<main id="main">\n<div class="add" hx-post="/tasks" hx-target="#main">Add</div>\n</main>'
    )

    assert check_html(html) == [
        NO_FALLBACK.format(
            element='<div hx-post="/tasks">',
            line=2,
            attribute="hx-post",
            tag="div",
            method="post",
            url="/tasks",
        )
    ]
    assert check_html(html)[0] == (
        '<div hx-post="/tasks"> on line 2 does nothing without JavaScript: only htmx acts on '
        'hx-post, and a <div> has no behaviour of its own. Put hx-post on a <form method="post" '
        'action="/tasks"> with a submit button instead.'
    )


@pytest.mark.parametrize(
    ("markup", "tag", "attribute", "method"),
    [
        ('<span data-hx-get="/more">More</span>', "span", "data-hx-get", "get"),
        ('<button hx-delete="/tasks/1">Delete</button>', "button", "hx-delete", "post"),
        ('<input name="q" hx-get="/search">', "input", "hx-get", "get"),
        ('<tr hx-put="/rows/1"><td>1</td></tr>', "tr", "hx-put", "post"),
    ],
)
def test_elements_outside_a_form_with_a_request_have_no_fallback(
    markup: str, tag: str, attribute: str, method: str
) -> None:
    (message,) = check_html(markup)

    assert message.startswith(f"<{tag} {attribute}=")
    assert f"only htmx acts on {attribute}, and a <{tag}>" in message
    assert f'<form method="{method}"' in message


def test_hx_action_with_hx_method_reads_as_its_method() -> None:
    (message,) = check_html('<div id="x" hx-action="/notes" hx-method="patch">Save</div>')

    assert message == NO_FALLBACK.format(
        element='<div id="x" hx-action="/notes">',
        line=1,
        attribute="hx-action",
        tag="div",
        method="post",
        url="/notes",
    )


@pytest.mark.parametrize(
    ("attributes", "missing", "fix"),
    [
        ('action="/tasks"', "method", 'method="post"'),
        ('method="post"', "action", 'action="/tasks"'),
        ('method="post" action="#"', "action", 'action="/tasks"'),
        ("", "method or action", 'method="post" and action="/tasks"'),
    ],
)
def test_a_form_needs_method_and_action(attributes: str, missing: str, fix: str) -> None:
    (message,) = check_html(f'<form {attributes} hx-post="/tasks"></form>')

    assert message == FORM_INCOMPLETE.format(
        element='<form hx-post="/tasks">', line=1, attribute="hx-post", missing=missing, fix=fix
    )


@pytest.mark.parametrize(
    ("href", "shown"),
    [
        ('href="#"', 'href="#"'),
        ('href="javascript:void(0)"', 'href="javascript:void(0)"'),
        ("", "no href"),
    ],
)
def test_a_link_needs_an_href_that_leads_somewhere(href: str, shown: str) -> None:
    (message,) = check_html(f'<a {href} hx-get="/tasks?page=2">Next</a>')

    assert message == LINK_GOES_NOWHERE.format(
        element='<a hx-get="/tasks?page=2">',
        line=1,
        attribute="hx-get",
        href=shown,
        url="/tasks?page=2",
    )


def test_a_boosted_link_to_nowhere_is_reported_and_a_boosted_container_is_not() -> None:
    html = """<nav hx-boost:inherited="true"><a href="/a">A</a></nav>
<a href="#" hx-boost="true">Top</a>
<a href="#" hx-boost="false">Off</a>"""

    (message,) = check_html(html)

    assert message.startswith('<a hx-boost="true"> on line 2 has hx-boost but href="#"')


def test_a_control_relies_on_its_form_which_needs_method_and_action() -> None:
    html = """<form hx-get="/tasks" hx-target="#results">
<input name="q" hx-get="/tasks" hx-target="#results">
</form>
<div id="results"></div>"""

    messages = check_html(html)

    assert messages[1] == CONTROL_FORM_INCOMPLETE.format(
        element='<input hx-get="/tasks">',
        line=2,
        form_line=1,
        missing="method or action",
        fix='method="get" and action="/tasks"',
    )
    assert messages[0].startswith('<form hx-get="/tasks"> on line 1 has hx-get but no method')


def test_a_button_of_type_button_does_not_submit_its_form() -> None:
    html = """<form method="post" action="/tasks/1/delete">
<button type="button" hx-post="/tasks/1/delete">Delete</button>
</form>"""

    assert check_html(html) == [
        BUTTON_DOES_NOT_SUBMIT.format(
            element='<button hx-post="/tasks/1/delete">', line=2, type="button", form_line=1
        )
    ]


def test_a_control_after_its_form_closed_is_outside_it() -> None:
    html = '<form method="post" action="/a"></form>\n<button hx-post="/a">Go</button>'

    (message,) = check_html(html)

    assert message.startswith('<button hx-post="/a"> on line 2 does nothing without JavaScript')


def test_a_missing_swap_target_is_named() -> None:
    html = """<div id="board">
<form method="post" action="/tasks" data-hx-post="/tasks" data-hx-target="#results"></form>
</div>"""

    assert check_html(html) == [
        UNKNOWN_ID.format(
            element='<form data-hx-post="/tasks">',
            line=2,
            attribute="data-hx-target",
            value="#results",
            id="results",
        )
    ]


def test_an_inherited_target_include_and_indicator_are_checked_too() -> None:
    html = """<div hx-target:inherited="#nowhere">
<form method="post" action="/a" hx-post="/a" hx-include="#extra" hx-indicator="#spinner"></form>
</div>"""

    messages = check_html(html)

    assert [m.split(", but ")[0] for m in messages] == [
        '<div> on line 1 has hx-target:inherited="#nowhere"',
        '<form hx-post="/a"> on line 2 has hx-include="#extra"',
        '<form hx-post="/a"> on line 2 has hx-indicator="#spinner"',
    ]


def test_an_oob_swap_into_a_missing_id_or_without_any_is_named() -> None:
    html = """<p>Saved</p>
<div hx-swap-oob="innerHTML:#flash">Saved.</div>
<div class="count" hx-swap-oob="true">3</div>"""

    assert check_html(html) == [
        UNKNOWN_ID.format(
            element="<div>", line=2, attribute="hx-swap-oob", value="innerHTML:#flash", id="flash"
        ),
        OOB_WITHOUT_TARGET.format(element="<div>", line=3, attribute="hx-swap-oob", value="true"),
    ]


def test_a_fragment_may_target_ids_of_the_page_around_it() -> None:
    fragment = '<form method="post" action="/t" hx-post="/t" hx-target="#results"></form>'

    assert len(check_html(fragment)) == 1
    assert check_html(fragment, known_ids=["results"]) == []


def test_an_end_tag_without_its_start_is_ignored() -> None:
    html = '</div><div id="x"></span><p hx-get="/p">P</p></div>'

    (message,) = check_html(html)

    assert message.startswith('<p hx-get="/p"> on line 1 does nothing')


def test_the_docstring_examples_hold() -> None:
    results = doctest.testmod(html_module)

    assert results.attempted > 0
    assert results.failed == 0
