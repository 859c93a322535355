"""URLs as header values.

A ``Location`` or ``HX-Redirect`` is often built from the request's own (decoded) path, which may
hold any character a client sent; a header carries only bytes, so such a URL is percent-encoded
(as UTF-8) on its way out, and what is already percent-encoded is kept.
"""

from __future__ import annotations

from urllib.parse import quote

_KEPT = "!#$%&'()*+,/:;=?@[]~"
"""RFC 3986's reserved characters, ``%`` (an escape already made) and ``~``: left as they are."""


def header_url(url: str) -> str:
    """``url`` with every character a header cannot carry as is percent-encoded.

    Example::

        header_url("/tasks?q=café")  # '/tasks?q=caf%C3%A9'
    """
    return quote(url, safe=_KEPT)
