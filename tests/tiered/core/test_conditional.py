"""Entity tags in If-Match / If-None-Match: parsed leniently, never raising on what is sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered.core.conditional import EntityTags, entity_tags, quoted


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"3"', EntityTags(any=False, tags=("3",))),
        ('W/"3", "4"', EntityTags(any=False, tags=("3", "4"))),
        (' "a" ,W/"b" ', EntityTags(any=False, tags=("a", "b"))),
        ("*", EntityTags(any=True)),
        ('""', EntityTags(any=False, tags=("",))),
    ],
)
def test_a_list_of_entity_tags_is_read(header: str, expected: EntityTags) -> None:
    assert entity_tags(header) == expected


@pytest.mark.parametrize("header", [None, "", "3", '"a" "b"', '"unterminated', "W/3", '"a",,'])
def test_anything_else_is_no_list_at_all(header: str | None) -> None:
    assert entity_tags(header) is None


def test_star_matches_any_tag_and_a_list_only_its_own() -> None:
    assert EntityTags(any=True).matches("9")
    assert EntityTags(any=False, tags=("1", "2")).matches("2")
    assert not EntityTags(any=False, tags=("1",)).matches("2")
    assert quoted("7") == '"7"'


@given(st.text())
def test_no_header_makes_it_raise(header: str) -> None:
    tags = entity_tags(header)

    assert tags is None or isinstance(tags, EntityTags)
