"""URLs made header-safe: what a client sent in a path can always go back out in a Location."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tiered.core.urls import header_url


def test_characters_outside_ascii_are_percent_encoded_as_utf_8() -> None:
    assert header_url("/tasks?q=café") == "/tasks?q=caf%C3%A9"
    assert header_url("/password-reset/\U000f4638x") == "/password-reset/%F3%B4%98%B8x"


def test_what_is_already_a_url_is_kept() -> None:
    url = "https://example.org/a/b?x=1&y=%2F#top"
    assert header_url(url) == url


@given(st.text())
def test_any_text_becomes_a_latin_1_header_without_spaces_or_controls(text: str) -> None:
    value = header_url(text)

    value.encode("latin-1")  # what Starlette does with a header; it must not raise
    assert all(0x21 <= ord(char) <= 0x7E for char in value)
