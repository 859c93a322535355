"""Fingerprinted static files: content-hashed URLs that can be cached forever.

At start-up every file under the static directories is hashed once. ``static_url("app.css")``
answers ``/static/app.3f9a1c2b4d.css``; that URL is served with ``Cache-Control: immutable`` for a
year, because a change to the file changes its URL. The plain name still works (revalidated on each
use) for links that cannot know the hash. Subresource Integrity values (sha384) are computed from
the same bytes.

Starlette's ``StaticFiles`` serves one directory by its real names; fingerprinting and several
roots (tiered's own files and the app's) are what this module adds on top of its ``FileResponse``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from tiered.core.errors import ImproperlyConfigured, NotFound

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"
_HASH_LENGTH = 10


@dataclass(frozen=True, slots=True)
class StaticFile:
    path: Path
    logical: str
    fingerprinted: str
    integrity: str


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
        self._by_logical: dict[str, StaticFile] = {}
        self._by_url_path: dict[str, tuple[StaticFile, bool]] = {}
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
        entry = self._by_logical.get(logical)
        if entry is None:
            raise ImproperlyConfigured(
                f"No static file {logical!r}; known files start with: "
                f"{', '.join(sorted(self._by_logical)[:5])}."
            )
        return f"{self.prefix}/{entry.fingerprinted}"

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
            response = FileResponse(
                entry.path,
                headers={"Cache-Control": IMMUTABLE if immutable else REVALIDATE},
            )
        await response(scope, receive, send)
