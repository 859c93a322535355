"""``{% cache %}``: a part of a template rendered once for the same inputs, kept in memory.

A list of twenty rows renders the same row markup on every request while its tasks stay as they
are; on Taskboard's task list the rows were a fifth of the page's CPU. Wrapped in ``cache``, a
row is rendered once per set of inputs and copied after::

    {% for task in items %}
    {% cache task.id, task.title, task.done, toggle_in_place, suffix %}
    <li>...{{ form_guard() }}...</li>
    {% endcache %}
    {% endfor %}

- **The key is everything the body reads.** The block's own place in the template (its name and
  line) comes first, then the values listed. A value the body reads but the key leaves out is
  frozen at its first rendering, so evaluate what varies by visitor (flags, the tier) before the
  block and name it in the key.
- **Each response's own parts stay its own.** ``form_guard()``, ``csrf_input()`` and
  ``csrf_token()`` inside the body are left as holes in what is kept and filled afresh for every
  response: every form keeps its own idempotency key, every response its CSRF token.
- **What cannot be kept is refused, loudly**: tiered's other request globals (``flag()``,
  ``flash_messages()``, ``stylesheets()``, ``version_switch_url()``) raise inside the body, and so
  does a body that shows the response's CSP nonce, the first time it is rendered.
- Entries are shared by every request of the process (the key holds the content, so two
  visitors who see the same task see the same markup), the least recently used dropped past
  ``TieredSettings.fragment_cache_entries`` (0 renders every time). In debug mode, when templates
  reload, nothing is ever served from the cache, but every body is still checked as above.
- Blocks may nest: an inner block inside an outer one's first rendering keeps its holes, so the
  outer entry has them too.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateRuntimeError
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.runtime import Context
from markupsafe import Markup

from tiered.asgi.context import SCOPE_KEY, RequestContext

REQUEST_ONLY = "_tiered_request_only"
"""Set on a template global that takes the render context as it is, first (see
``tiered.jinja.renderer._request_only``)."""
KEEPABLE = "_tiered_keepable"
"""Set on the request globals a ``cache`` body may call: each leaves a hole in what is kept,
filled afresh for every response (or, for the tag itself, keeps its holes)."""

Fill = Callable[[RequestContext], str]
"""What a hole becomes in one response (``form_guard()``'s markup, say)."""

_capturing: ContextVar[bool] = ContextVar("tiered_fragment_capturing", default=False)
# A marker no template text can contain by chance: a NUL and a per-process random prefix.
_MARK = f"\x00{secrets.token_hex(8)}:"
_HOLE = re.compile(re.escape(_MARK) + r"([a-z_]+)\x00")


def capturing() -> bool:
    """Whether a ``{% cache %}`` body is being rendered to be kept."""
    return _capturing.get()


def hole(kind: str) -> Markup:
    """The marker a hole-filling global returns while :func:`capturing`."""
    return Markup(f"{_MARK}{kind}\x00")  # noqa: S704 (a NUL and hex: nothing to escape)


class FragmentStore:
    """The kept bodies, at most ``entries`` of them, least recently used dropped first."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._kept: OrderedDict[Hashable, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()  # templates may render in the thread pool too

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable) -> tuple[str, ...] | None:
        with self._lock:
            pieces = self._kept.get(key)
            if pieces is not None:
                self._kept.move_to_end(key)
            return pieces

    def put(self, key: Hashable, pieces: tuple[str, ...]) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._kept[key] = pieces
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


class FragmentCache(Extension):
    """The ``{% cache key, ... %}...{% endcache %}`` tag (see the module's docstring).

    The environment carries the store and the fills: ``environment.fragment_store`` (a
    :class:`FragmentStore`) and ``environment.fragment_fills`` (a hole's kind to its
    :data:`Fill`), set by the renderer.
    """

    tags = {"cache"}  # noqa: RUF012 (Jinja reads it as a class attribute)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        environment.extend(fragment_store=FragmentStore(0), fragment_fills={})

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        parts: list[nodes.Expr] = [nodes.Const(f"{parser.name}:{lineno}")]
        while parser.stream.current.type != "block_end":
            if len(parts) > 1:
                parser.stream.expect("comma")
            parts.append(parser.parse_expression())
        if len(parts) == 1:
            parser.fail("cache needs a key: the values its body reads, like task.id", lineno)
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        call = self.call_method("_cached", [nodes.Tuple(parts, "load")])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _cached(self, context: Context, key: tuple[Any, ...], *, caller: Callable[[], str]) -> str:
        """The block's body for ``key``: kept, or rendered and kept, with this response's holes
        filled. Called by tiered's context class with the render context first, as tiered's
        own request globals are (no introspection of the call, a row at a time)."""
        environment = self.environment
        store: FragmentStore = environment.fragment_store  # type: ignore[attr-defined]
        pieces = None if environment.auto_reload else store.get(key)
        if pieces is None:
            pieces = _capture(context, key, caller)
            if not environment.auto_reload:
                store.put(key, pieces)
        if len(pieces) == 1:
            return Markup(pieces[0])  # noqa: S704 (rendered by the template, escaped there)
        if capturing():  # inside an outer block's first rendering: it keeps the holes too
            return Markup(_rejoin(pieces))  # noqa: S704 (as above)
        fills: Mapping[str, Fill] = environment.fragment_fills  # type: ignore[attr-defined]
        ctx: RequestContext = context["request"].scope[SCOPE_KEY]
        out = [pieces[0]]
        for index in range(1, len(pieces), 2):
            out.append(fills[pieces[index]](ctx))
            out.append(pieces[index + 1])
        return Markup("".join(out))  # noqa: S704 (as above; the fills escape their values)


setattr(FragmentCache._cached, REQUEST_ONLY, True)
setattr(FragmentCache._cached, KEEPABLE, True)


def _capture(context: Context, key: tuple[Any, ...], caller: Callable[[], str]) -> tuple[str, ...]:
    """The body rendered with its holes marked, split at them: text, kind, text, ..."""
    token = _capturing.set(True)
    try:
        html = str(caller())
    finally:
        _capturing.reset(token)
    request = context.get("request")
    ctx: RequestContext | None = request.scope.get(SCOPE_KEY) if request is not None else None
    if ctx is not None and ctx.has_nonce and ctx.nonce in html:
        raise TemplateRuntimeError(
            f"The {{% cache %}} block at {key[0]} shows the response's CSP nonce, which is new "
            "for every response; move what needs it out of the block."
        )
    return tuple(_HOLE.split(html))


def _rejoin(pieces: tuple[str, ...]) -> str:
    return "".join(
        piece if index % 2 == 0 else f"{_MARK}{piece}\x00" for index, piece in enumerate(pieces)
    )


def refuse_in_cache(name: str) -> TemplateRuntimeError:
    """The error for a request global that cannot be kept, called inside a ``cache`` body."""
    return TemplateRuntimeError(
        f"{name}() was called inside a {{% cache %}} block, whose body is kept for other "
        f"requests; call it before the block and name its result in the block's key."
    )
