"""Entity tags and the conditional request headers that carry them (RFC 9110, section 13).

A view that declares how to tag its data (``tiered.view(..., etag=...)``) sends ``ETag`` with its
JSON; a client that sends the tag back in ``If-None-Match`` gets ``304 Not Modified``, and one
that sends it in ``If-Match`` on a write lets the app refuse a stale change with
:class:`~tiered.core.errors.PreconditionFailed`. Parsing never raises on what a client sends: a
header that is not a list of entity tags matches nothing.

Example::

    tags = entity_tags('W/"3", "4"')      # EntityTags(any=False, tags=('3', '4'))
    tags.matches("4")                     # True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TAG = re.compile(r'\s*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class EntityTags:
    """The entity tags of an ``If-Match`` or ``If-None-Match`` header, opaque parts only.

    Weak and strong tags are kept alike: ``If-None-Match`` compares weakly by definition, and the
    tags tiered issues are strong, so a weak one sent back to ``If-Match`` names the same state.
    """

    any: bool
    """The header was ``*``: any current representation matches."""
    tags: tuple[str, ...] = ()

    def matches(self, tag: str) -> bool:
        return self.any or tag in self.tags


@lru_cache(maxsize=256)
def entity_tags(header: str | None) -> EntityTags | None:
    """The tags in ``header``, or ``None`` when it is absent or not a list of entity tags."""
    if header is None:
        return None
    text = header.strip()
    if text == "*":
        return EntityTags(any=True)
    tags: list[str] = []
    position = 0
    while position < len(text):
        found = _TAG.match(text, position)
        if found is None:
            return None
        tags.append(found.group(1))
        position = found.end()
    return EntityTags(any=False, tags=tuple(tags)) if tags else None


def quoted(tag: str) -> str:
    """``tag`` as an ``ETag`` header value (a strong tag)."""
    return f'"{tag}"'
