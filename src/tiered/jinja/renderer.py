"""Render a template as a whole page, or one named block of the same template as a fragment.

One template per page keeps one source of truth for its markup: the fragment an enhanced request
gets is, byte for byte, the block the full page contains (jinja2-fragments renders the block),
after the page's title for htmx to make the document's (:meth:`Renderer.fragment`).

Template globals read the current request from the template context (``pass_context``, which
is never copied for them: :func:`_request_only`), so no per-request closures are built:
``csrf_token()``, ``csrf_input()``, ``form_guard()``, ``flash_messages()``, ``static_url()``,
``static_integrity()``, ``stylesheets()``, ``version_switch_url()`` and ``flag()``; and ``ui``,
tiered's macros (``{{ ui.field(form, "title", "Title") }}``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import CodeType
from typing import Any, TypeVar
from urllib.parse import urlencode

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    Template,
    TemplateNotFound,
    pass_context,
)
from jinja2.runtime import BlockReference, Context, Undefined
from jinja2_fragments import BlockNotFoundError
from markupsafe import Markup, escape

from tiered.asgi.context import SCOPE_KEY, Flash, RequestContext, get_cookie, set_cookie
from tiered.asgi.csrf import CSRF_FIELD
from tiered.asgi.static import StaticAssets
from tiered.flags.runtime import flag
from tiered.jinja.cache import (
    KEEPABLE,
    REQUEST_ONLY,
    FragmentCache,
    FragmentStore,
    capturing,
    hole,
    refuse_in_cache,
)

_F = TypeVar("_F", bound=Callable[..., Any])
IDEMPOTENCY_FIELD = "idempotency_key"
APP_LAYOUT = "tiered/app_layout.html"
"""An app's layout for tiered's own pages (the error page): when the app has it, those pages get
the app's header and navigation instead of tiered's bare layout."""


def _request_only(function: _F) -> _F:
    """A template global that reads nothing of its context but the request (tiered's own).

    Jinja hands a ``pass_context`` global a *copy* of the context with the variables set so far
    in the loop or block around the call, built anew for every call; such a global needs none of
    them, so :meth:`_BlockContext.call` hands it the context as it is. A ``{% set %}`` in a
    task row made each row's ``form_guard()`` copy the context: a tenth of the list's render.
    """
    setattr(function, REQUEST_ONLY, True)
    return pass_context(function)


def _ctx(context: Context) -> RequestContext:
    request = context["request"]
    result: RequestContext = request.scope[SCOPE_KEY]
    return result


@_request_only
def _csrf_token(context: Context) -> str:
    if capturing():
        return hole("csrf_token")
    return _ctx(context).csrf_token()


# The two globals below build their markup with f-strings around an escaped token rather than
# ``Markup.format``: a task list calls ``form_guard()`` once per task, and ``Markup.format``
# (string.Formatter escaping every field) was a tenth of the page's render time.


def _csrf_field(ctx: RequestContext) -> str:
    token = escape(ctx.csrf_token())
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'


@_request_only
def _csrf_input(context: Context) -> Markup:
    if capturing():
        return hole("csrf_input")
    return Markup(_csrf_field(_ctx(context)))  # noqa: S704 (the token is escaped)


def _guard_fields(ctx: RequestContext) -> str:
    key = f'<input type="hidden" name="{IDEMPOTENCY_FIELD}" value="{ctx.form_key()}">'
    return _csrf_field(ctx) + key


@_request_only
def _form_guard(context: Context) -> Markup:
    """The CSRF token and a fresh idempotency key (see ``RequestContext.form_key``)."""
    if capturing():
        return hole("form_guard")
    return Markup(_guard_fields(_ctx(context)))  # noqa: S704 (the token is escaped; the key is hex)


for _global in (_csrf_token, _csrf_input, _form_guard):
    setattr(_global, KEEPABLE, True)  # each leaves a hole in a kept body

_FILLS = {
    "csrf_token": lambda ctx: str(escape(ctx.csrf_token())),
    "csrf_input": _csrf_field,
    "form_guard": _guard_fields,
}


STYLE_COOKIE = "tiered_css"
"""Set by a page that carried its stylesheets inline, to their :class:`StyleBundle` version: the
browser has prefetched the files by the next page, which links them instead."""
_STYLE_COOKIE_MAX_AGE = 365 * 24 * 3600


@_request_only
def _stylesheets(context: Context, *names: str) -> Markup:
    """The layout's stylesheets: inline on a first visit (no round trip before the page is styled,
    allowed by the CSP nonce), linked once the browser has them, and always linked for a text
    browser (which fetches no stylesheet, so inline text would only cost it bytes)."""
    request = context["request"]
    ctx = _ctx(context)
    bundle = ctx.runtime.static.bundle(names)
    seen = get_cookie(request, STYLE_COOKIE)
    if seen == bundle.version or "text-browser" in ctx.client.reasons:
        return Markup(bundle.links)  # noqa: S704 (fingerprinted static URLs)
    set_cookie(request, STYLE_COOKIE, bundle.version, max_age=_STYLE_COOKIE_MAX_AGE)
    inline = f'<style nonce="{ctx.nonce}">\n{bundle.css}</style>\n{bundle.prefetch}'
    return Markup(inline)  # noqa: S704 (the app's own stylesheets, checked by bundle())


@_request_only
def _flash_messages(context: Context) -> list[Flash]:
    return _ctx(context).pop_flashes()


@_request_only
def _flag(context: Context, key: str) -> bool:
    return flag(context["request"], key)


@_request_only
def _version_switch_url(context: Context, choice: str) -> str:
    ctx = _ctx(context)
    request = context["request"]
    here = request.url.path
    if request.url.query:
        here += "?" + request.url.query
    query = urlencode({"choice": choice, "next": here})
    return f"{ctx.runtime.settings.internal_prefix}/version?{query}"


class _BlockTemplate(Template):
    """A template whose blocks each render into one string before handing it on.

    Jinja compiles a template into generators that yield every piece of text and every
    ``{{ expression }}`` on its own, and a block yields its pieces through every block and
    template around it: a task row in Taskboard's list passes through six generators (the
    ``results`` block, ``board``, ``main``, and three extended templates' roots) on its way to
    the final ``join``. Rendering each block into a string where it is written makes that one
    generator per piece: on Taskboard's list page (20 tasks, 24 KiB) a seventh of the render.
    Jinja has no option for it, so this class wraps the blocks of every template a loader
    makes (``from_code``), and :class:`_BlockContext` lets ``super()`` find a wrapped block.
    The text is the same (``tests/tiered/test_renderer_blocks.py`` checks it against Jinja's).
    """

    @classmethod
    def from_code(
        cls,
        environment: Environment,
        code: CodeType,
        globals: MutableMapping[str, Any],
        uptodate: Callable[[], bool] | None = None,
    ) -> Template:
        template = super().from_code(environment, code, globals, uptodate)
        template.blocks = {name: _whole(render) for name, render in template.blocks.items()}
        return template


_BlockRender = Callable[[Context], Iterator[str]]


def _whole(render: _BlockRender) -> _BlockRender:
    def whole(context: Context) -> Iterator[str]:
        yield "".join(render(context))

    whole.__wrapped__ = render  # type: ignore[attr-defined]
    return whole


TITLE_BLOCK = "document_title"


def _document_title(template: Template, context: Context) -> str | None:
    """Block ``document_title`` as the page would render it, or None if no layout defines it.

    A layout's blocks join the context only as the template's root runs through each
    ``{% extends %}``, which it has done once it yields its first text (the layout's
    doctype): run it that far, then render the block alone, with the page's own ``title``.
    """
    if TITLE_BLOCK not in context.blocks:
        root = template.root_render_func(context)
        try:
            next(root, None)
        finally:
            root.close()  # type: ignore[attr-defined]  # a generator, typed as an Iterator
    renders = context.blocks.get(TITLE_BLOCK)
    if not renders:
        return None
    return "".join(renders[0](context)).strip()


class _BlockContext(Context):
    def call(self, obj: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call ``obj`` from a template; tiered's own globals get this context uncopied (see
        :func:`_request_only`), everything else Jinja's way."""
        if getattr(obj, REQUEST_ONLY, False):
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            if capturing() and not hasattr(obj, KEEPABLE):
                raise refuse_in_cache(obj.__name__.lstrip("_"))
            return obj(self, *args, **kwargs)
        return Context.call(self, obj, *args, **kwargs)

    def super(self, name: str, current: _BlockRender) -> BlockReference | Undefined:
        """``{{ super() }}``: a block's compiled code names itself unwrapped; find its wrapper."""
        for render in self.blocks.get(name, ()):
            if getattr(render, "__wrapped__", None) is current:
                current = render
                break
        return Context.super(self, name, current)


def _first_template(environment: Environment, *names: str) -> str:
    """The first of ``names`` the loader finds (the last one must exist)."""
    for name in names[:-1]:
        try:
            environment.loader.get_source(environment, name)  # type: ignore[union-attr]
        except TemplateNotFound:
            continue
        return name
    return names[-1]


class Renderer:
    """The app's Jinja environment with tiered's templates and globals."""

    def __init__(
        self,
        template_dirs: Sequence[str | Path],
        static: StaticAssets,
        *,
        debug: bool,
        fragment_cache_entries: int = 10_000,
    ) -> None:
        loader = ChoiceLoader(
            [
                FileSystemLoader([str(d) for d in template_dirs]),
                PackageLoader("tiered", "templates"),
            ]
        )
        self.environment = Environment(
            loader=loader,
            autoescape=True,
            auto_reload=debug,
            trim_blocks=True,
            lstrip_blocks=True,
            cache_size=1000,
            extensions=[FragmentCache],
        )
        self.fragments = FragmentStore(fragment_cache_entries)
        """What ``{% cache %}`` blocks keep (see :mod:`tiered.jinja.cache`)."""
        self.environment.fragment_store = self.fragments  # type: ignore[attr-defined]
        self.environment.fragment_fills = _FILLS  # type: ignore[attr-defined]
        self.environment.template_class = _BlockTemplate
        self.environment.context_class = _BlockContext
        self.environment.globals.update(
            csrf_token=_csrf_token,
            csrf_input=_csrf_input,
            form_guard=_form_guard,
            flash_messages=_flash_messages,
            static_url=static.url,
            static_integrity=static.integrity,
            stylesheets=_stylesheets,
            version_switch_url=_version_switch_url,
            flag=_flag,
        )
        self.environment.globals["error_layout"] = _first_template(
            self.environment, APP_LAYOUT, "tiered/layout.html"
        )
        # The macros read no context, so one module serves every render (an import per render
        # `with context` cost ~200 µs a page).
        self.environment.globals["ui"] = self.environment.get_template("tiered/macros.html").module

    def page(self, template: str, context: Mapping[str, Any]) -> str:
        environment = self.environment
        compiled = environment.get_template(template)
        render_context = self._context(compiled, context)
        try:
            return environment.concat(compiled.root_render_func(render_context))
        except Exception:
            environment.handle_exception()

    def block(self, template: str, block: str, context: Mapping[str, Any]) -> str:
        """One block of ``template``, as jinja2-fragments' ``render_block`` renders it."""
        return self._block(template, block, context, with_title=False)[0]

    def fragment(self, template: str, block: str, context: Mapping[str, Any]) -> str:
        """Block ``block`` of ``template`` as an enhanced request gets it: after the document's
        title, in a ``<head>`` of its own, when the template's layout has a ``document_title``
        block (tiered's does). htmx takes the title from there and sets ``document.title``, so
        the tab, the history and a screen reader's "where am I" follow in-place changes: a
        search's "Tasks matching …", a form's "Error: …".
        """
        html, title = self._block(template, block, context, with_title=True)
        if title is None:
            return html
        return f"<head><title>{title}</title></head>{html}"

    def _block(
        self, template: str, block: str, context: Mapping[str, Any], *, with_title: bool
    ) -> tuple[str, str | None]:
        environment = self.environment
        compiled = environment.get_template(template)
        try:
            render_block = compiled.blocks[block]
        except KeyError:
            raise BlockNotFoundError(block, template) from None
        render_context = self._context(compiled, context)
        try:
            html = environment.concat(render_block(render_context))
            return html, _document_title(compiled, render_context) if with_title else None
        except Exception:
            environment.handle_exception()

    def _context(self, template: Template, context: Mapping[str, Any]) -> Context:
        """The render context, as ``template.new_context`` makes it, at a fraction of the cost.

        A template's globals are a ``ChainMap`` over the environment's, which Jinja copies into
        every render's context key by key in Python (a tenth of a small page's render time); one
        dict merge does the same in C. Templates loaded with their own globals take Jinja's way.
        """
        environment = self.environment
        maps = getattr(template.globals, "maps", None)
        if maps is not None and len(maps) == 2 and not maps[0] and maps[1] is environment.globals:
            parent = {**environment.globals, **context}
            return environment.context_class(
                environment, parent, template.name, template.blocks, globals=template.globals
            )
        return template.new_context(dict(context))

    def flash_region(self, messages: list[Flash]) -> str:
        """The flash region as an out-of-band update, appended to a fragment response."""
        macros = self.environment.globals["ui"]
        return str(macros.flash_region(messages, oob=True))  # type: ignore[attr-defined]
