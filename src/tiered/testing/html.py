"""Check that HTML enhanced with htmx still works without JavaScript.

:func:`check_html` reads a page with the standard library's HTML parser and reports, as readable
sentences:

- every element that makes a request with htmx (``hx-get``, ``hx-post``, ``hx-put``,
  ``hx-patch``, ``hx-delete``, htmx 4's ``hx-action``) or is boosted (``hx-boost``) without a
  fallback that works when no script runs: a ``<form>`` needs ``method`` and ``action``; an
  ``<a>`` needs an ``href`` that leads somewhere (not ``#…``, not ``javascript:``); a form
  control (``<button>``, ``<input>``, ``<select>``, ``<textarea>``) may instead rely on the form
  it belongs to, if that form has both (and a button must submit it); anything else (a
  ``<div>``, a ``<span>``, a button outside any form) has no fallback at all;
- every selector ``#id`` in ``hx-target``, ``hx-include``, ``hx-indicator`` or ``hx-swap-oob``
  that names no element of the document, and every ``hx-swap-oob`` element with neither an id
  nor a selector.

Attributes are read as htmx 4 reads them: with or without the ``data-`` prefix, and with the
``:inherited`` modifier (``hx-target:inherited="#results"``). Only plain ``#id`` selectors are
checked; htmx's relative ones (``this``, ``closest form``, ``next li``) and other CSS are left
alone.

Example::

    >>> check_html('<form method="post" action="/tasks" hx-post="/tasks"></form>')
    []
    >>> for message in check_html('<p>\\n<div hx-post="/tasks" hx-target="#list">Add</div>'):
    ...     print(message)  # doctest: +NORMALIZE_WHITESPACE
    <div hx-post="/tasks"> on line 2 does nothing without JavaScript: only htmx acts on
    hx-post, and a <div> has no behaviour of its own. Put hx-post on a <form method="post"
    action="/tasks"> with a submit button instead.
    <div hx-post="/tasks"> on line 2 has hx-target="#list", but no element has id="list";
    give the element to swap that id, or fix the selector.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from typing import Final

__all__ = [
    "BUTTON_DOES_NOT_SUBMIT",
    "CONTROL_FORM_INCOMPLETE",
    "FORM_INCOMPLETE",
    "LINK_GOES_NOWHERE",
    "NO_FALLBACK",
    "OOB_WITHOUT_TARGET",
    "UNKNOWN_ID",
    "check_html",
    "split_fragment",
]

# Failure messages; the tests assert on them.
NO_FALLBACK: Final = (
    "{element} on line {line} does nothing without JavaScript: only htmx acts on {attribute}, "
    'and a <{tag}> has no behaviour of its own. Put {attribute} on a <form method="{method}" '
    'action="{url}"> with a submit button instead.'
)
FORM_INCOMPLETE: Final = (
    "{element} on line {line} has {attribute} but no {missing}, so without JavaScript it does "
    "not send what htmx sends; add {fix}."
)
LINK_GOES_NOWHERE: Final = (
    "{element} on line {line} has {attribute} but {href}, which leads nowhere without "
    'JavaScript; give it href="{url}" (the page that shows what htmx swaps in).'
)
CONTROL_FORM_INCOMPLETE: Final = (
    "{element} on line {line} relies on its <form> (line {form_line}) to work without "
    "JavaScript, but that form has no {missing}; add {fix} to the form."
)
BUTTON_DOES_NOT_SUBMIT: Final = (
    '{element} on line {line} is type="{type}", so without JavaScript it does not submit its '
    '<form> (line {form_line}); make it type="submit" (the default).'
)
UNKNOWN_ID: Final = (
    '{element} on line {line} has {attribute}="{value}", but no element has id="{id}"; give '
    "the element to swap that id, or fix the selector."
)
OOB_WITHOUT_TARGET: Final = (
    '{element} on line {line} has {attribute}="{value}" but no id, so htmx cannot tell which '
    'element it replaces; give it the id of that element, or name one ("innerHTML:#flash").'
)

_VERBS: Final = ("get", "post", "put", "patch", "delete")
_REQUEST_ATTRIBUTES: Final = (*(f"hx-{verb}" for verb in _VERBS), "hx-action")
_SELECTOR_ATTRIBUTES: Final = ("hx-target", "hx-include", "hx-indicator")
_CONTROLS: Final = frozenset({"button", "input", "select", "textarea"})
_VOID: Final = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
# One id, nothing more: "#results", not "#board .item" or "#a, #b".
_ID_SELECTOR: Final = re.compile(r"#([A-Za-z_][\w-]*)")
_SWAP_STYLE_AND_SELECTOR: Final = re.compile(r"^\s*[\w-]+\s*:\s*(.+)$")


@dataclass
class _Element:
    tag: str
    line: int
    attrs: dict[str, str]
    """Every attribute, htmx's without ``data-`` and modifiers (``hx-target``)."""
    spelled: dict[str, str]
    """htmx attribute (normalised) -> how the template spells it, for the messages."""
    form: _Element | None = None
    """The form this element belongs to: an ancestor, or the one its ``form=`` names."""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[_Element] = []
        self.ids: set[str] = set()
        self._open: list[_Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closes=tag in _VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closes=True)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return
        # An end tag with no start tag open: browsers ignore it, and so does this.

    def _start(self, tag: str, raw: list[tuple[str, str | None]], *, closes: bool) -> None:
        attrs: dict[str, str] = {}
        spelled: dict[str, str] = {}
        for name, value in raw:
            key = name
            if key.startswith("data-hx-"):
                key = key[len("data-") :]
            if key.startswith("hx-"):
                key = key.split(":", 1)[0] if not key.startswith("hx-on") else key
                spelled.setdefault(key, name)
            attrs.setdefault(key, value or "")
        line = self.getpos()[0]
        form = next((e for e in reversed(self._open) if e.tag == "form"), None)
        element = _Element(tag, line, attrs, spelled, form)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        self.elements.append(element)
        if not closes:
            self._open.append(element)


def check_html(html: str, *, known_ids: Iterable[str] = ()) -> list[str]:
    """Every htmx use in ``html`` that breaks without JavaScript or swaps into nothing.

    ``known_ids`` are ids the page around ``html`` provides, for checking a fragment that swaps
    into a page it is not part of. An empty list means nothing was found.

    Example::

        >>> check_html('<a href="#" hx-get="/more">More</a>')  # doctest: +ELLIPSIS
        ['<a hx-get="/more"> on line 1 has hx-get but href="#", which leads nowhere ...']
    """
    reader = _Reader()
    reader.feed(html)
    reader.close()
    ids = reader.ids | set(known_ids)
    forms_by_id = {e.attrs["id"]: e for e in reader.elements if e.tag == "form" and "id" in e.attrs}
    messages: list[str] = []
    for element in reader.elements:
        owner = element.attrs.get("form")
        if owner is not None and element.tag in _CONTROLS:
            element.form = forms_by_id.get(owner)
        messages.extend(_fallback(element))
        messages.extend(_selectors(element, ids))
    return messages


_FRAGMENT_TITLE = re.compile(r"\A<head><title>([^<]*)</title></head>")


def split_fragment(html: str) -> tuple[str | None, str]:
    """The title an htmx fragment leads with (unescaped), and the fragment after it.

    tiered sends a fragment after the title its page would have, in a ``<head>`` of its own,
    which htmx makes the document's title; the title is None when the template has no layout
    that names one.

    Example::

        >>> split_fragment('<head><title>Error: Notes &amp; lists</title></head><div id="n">')
        ('Error: Notes & lists', '<div id="n">')
        >>> split_fragment('<p>alone</p>')
        (None, '<p>alone</p>')
    """
    found = _FRAGMENT_TITLE.match(html)
    if found is None:
        return None, html
    return unescape(found.group(1)), html[found.end() :]


def _describe(element: _Element, attribute: str | None = None) -> str:
    parts = [element.tag]
    if "id" in element.attrs:
        parts.append(f'id="{element.attrs["id"]}"')
    if attribute is not None:
        parts.append(f'{element.spelled[attribute]}="{element.attrs[attribute]}"')
    return "<" + " ".join(parts) + ">"


def _fallback(element: _Element) -> list[str]:
    attribute = next((a for a in _REQUEST_ATTRIBUTES if a in element.attrs), None)
    boost = element.attrs.get("hx-boost")
    boosted = boost is not None and boost.strip().lower() != "false"
    if attribute is None and not boosted:
        return []
    if attribute is None:
        # A boosted container only hands the boost to its links and forms, which keep working
        # on their own; only a boosted link or form itself can lack a fallback.
        if element.tag not in ("a", "form"):
            return []
        attribute = "hx-boost"
    url = element.attrs.get(attribute, "") if attribute != "hx-boost" else ""
    method = _method(element, attribute)
    shown = _describe(element, attribute)
    spelled = element.spelled[attribute]
    line = element.line
    if element.tag == "form":
        missing = _missing(element)
        if not missing:
            return []
        return [
            FORM_INCOMPLETE.format(
                element=shown,
                line=line,
                attribute=spelled,
                missing=" or ".join(missing),
                fix=_fix(missing, method, url or element.attrs.get("action", "") or "/…"),
            )
        ]
    if element.tag == "a":
        href = element.attrs.get("href")
        if href is not None and _leads_somewhere(href):
            return []
        return [
            LINK_GOES_NOWHERE.format(
                element=shown,
                line=line,
                attribute=spelled,
                href="no href" if href is None else f'href="{href}"',
                url=url or "/…",
            )
        ]
    form = element.form
    if element.tag in _CONTROLS and form is not None:
        missing = _missing(form)
        if missing:
            return [
                CONTROL_FORM_INCOMPLETE.format(
                    element=shown,
                    line=line,
                    form_line=form.line,
                    missing=" or ".join(missing),
                    fix=_fix(missing, method, url or "/…"),
                )
            ]
        kind = element.attrs.get("type", "submit").strip().lower()
        if element.tag == "button" and kind != "submit":
            return [
                BUTTON_DOES_NOT_SUBMIT.format(
                    element=shown, line=line, type=kind, form_line=form.line
                )
            ]
        return []
    return [
        NO_FALLBACK.format(
            element=shown,
            line=line,
            attribute=spelled,
            tag=element.tag,
            method=method,
            url=url or "/…",
        )
    ]


def _method(element: _Element, attribute: str) -> str:
    """The method a form should fall back to: HTML forms have only GET and POST."""
    if attribute == "hx-action":
        verb = element.attrs.get("hx-method", "get").strip().lower()
    elif attribute == "hx-boost":
        verb = element.attrs.get("method", "get").strip().lower()
    else:
        verb = attribute.removeprefix("hx-")
    return "get" if verb == "get" else "post"


def _missing(form: _Element) -> list[str]:
    missing = []
    if not form.attrs.get("method", "").strip():
        missing.append("method")
    if not _leads_somewhere(form.attrs.get("action", "")):
        missing.append("action")
    return missing


def _fix(missing: list[str], method: str, url: str) -> str:
    values = {"method": f'method="{method}"', "action": f'action="{url}"'}
    return " and ".join(values[name] for name in missing)


def _leads_somewhere(url: str) -> bool:
    url = url.strip()
    return bool(url) and not url.startswith("#") and not url.lower().startswith("javascript:")


def _selectors(element: _Element, ids: set[str]) -> list[str]:
    messages = []
    for attribute in _SELECTOR_ATTRIBUTES:
        value = element.attrs.get(attribute)
        if value is None:
            continue
        missing = _unknown_id(value, ids)
        if missing is not None:
            messages.append(_unknown(element, attribute, value, missing))
    value = element.attrs.get("hx-swap-oob")
    if value is not None:
        match = _SWAP_STYLE_AND_SELECTOR.match(value)
        if match is not None:
            missing = _unknown_id(match.group(1), ids)
            if missing is not None:
                messages.append(_unknown(element, "hx-swap-oob", value, missing))
        elif "id" not in element.attrs:
            messages.append(
                OOB_WITHOUT_TARGET.format(
                    element=_describe(element),
                    line=element.line,
                    attribute=element.spelled["hx-swap-oob"],
                    value=value,
                )
            )
    return messages


def _unknown_id(selector: str, ids: set[str]) -> str | None:
    match = _ID_SELECTOR.fullmatch(selector.strip())
    if match is None or match.group(1) in ids:
        return None
    return match.group(1)


def _unknown(element: _Element, attribute: str, value: str, missing: str) -> str:
    return UNKNOWN_ID.format(
        element=_describe(element, _request_attribute(element)),
        line=element.line,
        attribute=element.spelled[attribute],
        value=value,
        id=missing,
    )


def _request_attribute(element: _Element) -> str | None:
    return next((a for a in _REQUEST_ATTRIBUTES if a in element.attrs), None)
