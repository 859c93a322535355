"""Fingerprinted static files: content-hashed URLs that can be cached forever.

At start-up every file under the static directories is hashed once. ``static_url("app.css")``
answers ``/static/app.3f9a1c2b4d.css``; that URL is served with ``Cache-Control: immutable`` for a
year, because a change to the file changes its URL. The plain name still works (revalidated on each
use) for links that cannot know the hash. Subresource Integrity values (sha384) are computed from
the same bytes.

Text files (CSS, JavaScript, SVG, JSON, source maps) are sent compressed to a client that accepts
it: brotli when the ``brotli`` package is installed and the client names ``br``, else gzip, each
compressed once per process on first use and kept in memory (tiered's own files and an app's
are small). A proxy in front may compress as well; it leaves a response that already is alone.

A layout's stylesheets can also go into the page itself (:class:`StyleBundle`): a first visit is
then readable and styled after one round trip instead of two, and later pages link the files the
first one asked the browser to prefetch.

Starlette's ``StaticFiles`` serves one directory by its real names; fingerprinting and several
roots (tiered's own files and the app's) are what this module adds on top of its ``FileResponse``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path, PurePosixPath

from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from tiered.core.errors import ImproperlyConfigured, NotFound

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"
_HASH_LENGTH = 10
COMPRESSIBLE = frozenset({".css", ".js", ".mjs", ".svg", ".json", ".map", ".txt", ".html"})
"""Suffixes of the files sent compressed when the client accepts it."""

try:  # optional: brotli makes CSS and JavaScript ~15% smaller than gzip does
    import brotli as _brotli
except ImportError:  # pragma: no cover (installed with the dev dependencies)
    _brotli = None


def _encoding_for(accept_encoding: str) -> str | None:
    """``br`` or ``gzip`` when ``Accept-Encoding`` allows it (a ``q=0`` refuses), else ``None``."""
    allowed: set[str] = set()
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
        try:
            accepted = float(quality) > 0
        except ValueError:
            accepted = False
        if accepted:
            allowed.add(name.strip())
    if _brotli is not None and ("br" in allowed or "*" in allowed):
        return "br"
    if "gzip" in allowed or "*" in allowed:
        return "gzip"
    return None


def _compress(content: bytes, encoding: str) -> bytes:
    if encoding == "br":
        assert _brotli is not None
        compressed: bytes = _brotli.compress(content, quality=11)
        return compressed
    return gzip.compress(content, compresslevel=9, mtime=0)


@dataclass(frozen=True, slots=True)
class StaticFile:
    path: Path
    logical: str
    fingerprinted: str
    integrity: str


@dataclass(frozen=True, slots=True)
class StyleBundle:
    """The stylesheets a layout names, taken together (``{{ stylesheets(...) }}`` in templates).

    ``css`` is their text, for a page's own ``<style>`` on a first visit; ``prefetch`` asks the
    browser to fetch the files meanwhile, at low priority, for the next page, whose ``links``
    then come from its cache. ``version`` changes whenever one of the files does.
    """

    version: str
    css: str
    links: str
    prefetch: str


_RELATIVE_URL = re.compile(r"""url\(\s*(?!['"]?(?:[a-z][a-z0-9+.-]*:|/|#))""", re.IGNORECASE)
"""A ``url(`` with neither a scheme (``data:``, ``https:``) nor an absolute path nor a fragment."""
_CLOSES_STYLE = re.compile(r"</style", re.IGNORECASE)


def _fingerprint(logical: str, digest: str) -> str:
    pure = PurePosixPath(logical)
    stem, suffix = pure.name, ""
    if "." in pure.name:
        stem, suffix = pure.name.split(".", 1)
        suffix = "." + suffix
    name = f"{stem}.{digest[:_HASH_LENGTH]}{suffix}"
    return str(pure.with_name(name))


class StaticAssets:
    """The static files of an app, by logical name, with their fingerprinted URLs."""

    def __init__(self, directories: list[Path], prefix: str) -> None:
        self.prefix = prefix
        self._compressed: dict[tuple[str, str], tuple[bytes, str]] = {}
        """(logical name, encoding) → (the compressed bytes, their ETag)."""
        self._by_logical: dict[str, StaticFile] = {}
        self._by_url_path: dict[str, tuple[StaticFile, bool]] = {}
        self._bundles: dict[tuple[str, ...], StyleBundle] = {}
        for directory in directories:
            if not directory.is_dir():
                raise ImproperlyConfigured(
                    f"Static directory {str(directory)!r} does not exist; create it or remove it "
                    "from static_dirs."
                )
            for file in sorted(p for p in directory.rglob("*") if p.is_file()):
                logical = file.relative_to(directory).as_posix()
                if logical in self._by_logical:
                    continue  # an earlier directory wins, so an app can override tiered's files
                self._add(file, logical)

    def _add(self, file: Path, logical: str) -> None:
        content = file.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        integrity = "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()
        entry = StaticFile(file, logical, _fingerprint(logical, digest), integrity)
        self._by_logical[logical] = entry
        self._by_url_path[entry.fingerprinted] = (entry, True)
        self._by_url_path.setdefault(logical, (entry, False))

    def url(self, logical: str) -> str:
        """The fingerprinted URL of a static file; an unknown name is a template bug: it raises."""
        return f"{self.prefix}/{self._entry(logical).fingerprinted}"

    def _entry(self, logical: str) -> StaticFile:
        entry = self._by_logical.get(logical)
        if entry is None:
            raise ImproperlyConfigured(
                f"No static file {logical!r}; known files start with: "
                f"{', '.join(sorted(self._by_logical)[:5])}."
            )
        return entry

    def bundle(self, names: tuple[str, ...]) -> StyleBundle:
        """The stylesheets ``names`` as one :class:`StyleBundle`, built once per process."""
        found = self._bundles.get(names)
        if found is not None:
            return found
        entries = [self._entry(name) for name in names]
        texts = []
        for entry in entries:
            text = entry.path.read_text(encoding="utf-8")
            if _RELATIVE_URL.search(text):
                raise ImproperlyConfigured(
                    f"The stylesheet {entry.logical!r} has a relative url(), which would resolve "
                    "against the page once the stylesheet is in it; use an absolute path "
                    "(/static/...), a full URL or a data: URI."
                )
            if _CLOSES_STYLE.search(text):
                raise ImproperlyConfigured(
                    f"The stylesheet {entry.logical!r} contains '</style', which would end the "
                    "page's <style> element early."
                )
            texts.append(text)
        urls = [f"{self.prefix}/{entry.fingerprinted}" for entry in entries]
        version = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:_HASH_LENGTH]
        found = StyleBundle(
            version=version,
            css="\n".join(texts),
            links="\n".join(f'<link rel="stylesheet" href="{url}">' for url in urls),
            prefetch="\n".join(f'<link rel="prefetch" href="{url}">' for url in urls),
        )
        self._bundles[names] = found
        return found

    def integrity(self, logical: str) -> str:
        entry = self._by_logical.get(logical)
        if entry is None:
            raise ImproperlyConfigured(f"No static file {logical!r}.")
        return entry.integrity

    def files(self) -> list[StaticFile]:
        return list(self._by_logical.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one file: the ASGI endpoint of the route ``{prefix}/{path:path}``."""
        response: Response
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                "Method not allowed", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        else:
            relative = scope.get("path_params", {}).get("path", "")
            found = self._by_url_path.get(relative)
            if found is None:
                # Raised, not answered, so the error is negotiated like every other one.
                raise NotFound(f"There is no static file {relative!r}.")
            entry, immutable = found
            cache = IMMUTABLE if immutable else REVALIDATE
            if entry.path.suffix.lower() in COMPRESSIBLE:
                response = self._compressible(scope, entry, cache)
            else:
                response = FileResponse(entry.path, headers={"Cache-Control": cache})
        await response(scope, receive, send)

    def _compressible(self, scope: Scope, entry: StaticFile, cache: str) -> Response:
        """The file compressed for this client when it accepts it (and as it is otherwise),
        with ``Vary: Accept-Encoding``; a matching ``If-None-Match`` is a 304."""
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        encoding = _encoding_for(headers.get("accept-encoding", ""))
        if encoding is None:
            return FileResponse(
                entry.path, headers={"Cache-Control": cache, "Vary": "Accept-Encoding"}
            )
        key = (entry.logical, encoding)
        kept = self._compressed.get(key)
        if kept is None:
            body = _compress(entry.path.read_bytes(), encoding)
            tag = f'"{hashlib.sha256(body).hexdigest()[:20]}-{encoding}"'
            kept = self._compressed[key] = (body, tag)
        body, tag = kept
        modified = formatdate(entry.path.stat().st_mtime, usegmt=True)
        common = {
            "Cache-Control": cache,
            "Vary": "Accept-Encoding",
            "ETag": tag,
            "Last-Modified": modified,
        }
        if tag in headers.get("if-none-match", ""):
            return Response(status_code=304, headers=common)
        media_type, _ = mimetypes.guess_type(entry.path.name)
        if media_type and (media_type.startswith("text/") or media_type.endswith("javascript")):
            media_type += "; charset=utf-8"
        return Response(
            body,
            media_type=media_type or "application/octet-stream",
            headers={**common, "Content-Encoding": encoding},
        )
