"""Tests for tiered.core.versions: choosing a JSON API version and announcing its retirement."""

from __future__ import annotations

import dataclasses
import doctest
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered.core import versions as versions_module
from tiered.core.errors import ImproperlyConfigured, NotAcceptable, UnknownVersion
from tiered.core.negotiation import negotiate
from tiered.core.versions import UNKNOWN_VERSION_DETAIL, ApiVersion, JsonVersions

DEPRECATED = datetime(2025, 1, 1, tzinfo=UTC)  # 1735689600
SUNSET = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
LINK = "https://example.com/api/v1-deprecation"

V1 = ApiVersion("1", deprecated_at=DEPRECATED, sunset_at=SUNSET, link=LINK)
V2 = ApiVersion("2")
API = JsonVersions((V1, V2), current="2")


def test_no_version_requested_selects_current() -> None:
    assert API.select(None) is V2


def test_requested_version_is_selected() -> None:
    assert API.select("1") is V1
    assert API.select("2") is V2


def test_version_from_accept_selects_it() -> None:
    requested = negotiate("application/json; version=1", None).version
    assert API.select(requested) is V1
    assert API.select(negotiate("application/json", None).version) is V2


@pytest.mark.parametrize("requested", ["3", "", "v1", "1.0", " 1"])
def test_unknown_version_raises_406_listing_versions(requested: str) -> None:
    with pytest.raises(UnknownVersion) as caught:
        API.select(requested)
    problem = caught.value
    assert isinstance(problem, NotAcceptable)
    assert (problem.status, problem.code) == (406, "unknown-version")
    assert problem.extra == {"versions": ["1", "2"]}
    assert problem.detail == UNKNOWN_VERSION_DETAIL.format(
        requested=repr(requested), versions="'1', '2'", current="2"
    )
    assert "version=2" in problem.detail


def test_unknown_version_message_shortens_a_long_request() -> None:
    with pytest.raises(UnknownVersion) as caught:
        API.select("9" * 500)
    assert "'" + "9" * 40 + "…'" in str(caught.value.detail)


def test_deprecated_version_headers_exactly_formatted() -> None:
    assert API.response_headers(V1) == (
        ("Deprecation", "@1735689600"),  # RFC 9745: Structured Field Date, Unix seconds
        ("Sunset", "Wed, 31 Dec 2025 23:59:59 GMT"),  # RFC 8594: IMF-fixdate
        ("Link", '<https://example.com/api/v1-deprecation>; rel="deprecation"'),
    )


def test_current_version_sends_no_deprecation_headers() -> None:
    assert API.response_headers(V2) == ()


def test_each_header_is_sent_only_when_set() -> None:
    assert API.response_headers(ApiVersion("0", link="/docs/deprecations")) == (
        ("Link", '</docs/deprecations>; rel="deprecation"'),
    )
    assert API.response_headers(ApiVersion("0", sunset_at=SUNSET)) == (
        ("Sunset", "Wed, 31 Dec 2025 23:59:59 GMT"),
    )
    assert API.response_headers(ApiVersion("0", deprecated_at=DEPRECATED)) == (
        ("Deprecation", "@1735689600"),
    )


def test_dates_in_other_zones_are_sent_in_gmt() -> None:
    paris_summer = timezone(timedelta(hours=2))
    version = ApiVersion(
        "1",
        deprecated_at=datetime(2025, 7, 1, 2, 0, tzinfo=paris_summer),
        sunset_at=datetime(2026, 1, 1, 1, 30, 15, 999_999, tzinfo=paris_summer),
    )
    assert API.response_headers(version) == (
        ("Deprecation", f"@{int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())}"),
        ("Sunset", "Wed, 31 Dec 2025 23:30:15 GMT"),
    )


def test_deprecation_before_1970_floors_to_whole_seconds() -> None:
    version = ApiVersion("old", deprecated_at=datetime(1969, 12, 31, 23, 59, 59, 500_000, UTC))
    assert API.response_headers(version) == (("Deprecation", "@-1"),)


aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))]),
)


@given(aware_datetimes)
def test_deprecation_and_sunset_headers_read_back_as_the_same_second(moment: datetime) -> None:
    headers = dict(ApiVersion("1", deprecated_at=moment, sunset_at=moment)._headers)
    assert headers["Deprecation"] == f"@{math.floor(moment.timestamp())}"
    sunset = headers["Sunset"]
    assert sunset.endswith(" GMT")
    assert len(sunset) == len("Wed, 31 Dec 2025 23:59:59 GMT")
    # strptime, not email.utils, which reads year 0099 as 1999 (RFC 5322 §4.3 obsolete years).
    read_back = datetime.strptime(sunset, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert read_back == moment.replace(microsecond=0)


def test_content_type_names_the_version() -> None:
    assert API.content_type(V1) == "application/json; version=1"
    assert API.content_type(V2, "application/problem+json") == (
        "application/problem+json; version=2"
    )


def test_versions_given_as_a_list_are_kept_as_a_tuple() -> None:
    api = JsonVersions([V1, V2], current="1")  # type: ignore[arg-type]
    assert api.versions == (V1, V2)
    assert api == JsonVersions((V1, V2), current="1")
    assert hash(api) == hash(JsonVersions((V1, V2), current="1"))


def test_replace_recomputes_headers() -> None:
    assert API.response_headers(dataclasses.replace(V1, link=None, sunset_at=None)) == (
        ("Deprecation", "@1735689600"),
    )


def test_sunset_equal_to_deprecation_is_allowed() -> None:
    ApiVersion("1", deprecated_at=DEPRECATED, sunset_at=DEPRECATED + timedelta(microseconds=1))
    ApiVersion("1", deprecated_at=DEPRECATED + timedelta(microseconds=9), sunset_at=DEPRECATED)


# --- configuration mistakes --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "v 2", 'a"b', "1;q=0", "2,3", "é", "x\r\n"])
def test_version_name_must_be_a_token(name: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="is not allowed; use a non-empty name"):
        ApiVersion(name)


@pytest.mark.parametrize("field", ["deprecated_at", "sunset_at"])
def test_naive_datetimes_are_refused(field: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"{field}=.* has no time zone"):
        ApiVersion("1", **{field: datetime(2025, 1, 1)})  # type: ignore[arg-type]


def test_sunset_before_deprecation_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="sunset before the deprecation"):
        ApiVersion("1", deprecated_at=SUNSET, sunset_at=DEPRECATED)


@pytest.mark.parametrize(
    "link",
    ["", "https://example.com/a b", "<https://x>", 'https://x/"', "https://x/\r\nSet-Cookie"],
)
def test_unusable_links_are_refused(link: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="is not a usable URI reference"):
        ApiVersion("1", link=link)


def test_versions_must_not_be_empty() -> None:
    with pytest.raises(ImproperlyConfigured, match="at least one ApiVersion"):
        JsonVersions((), current="1")


def test_version_names_must_be_unique() -> None:
    with pytest.raises(ImproperlyConfigured, match="'1' is listed twice"):
        JsonVersions((V1, ApiVersion("1")), current="1")


def test_current_must_be_offered() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"'3' is not one of the versions offered, '1', '2'"
    ):
        JsonVersions((V1, V2), current="3")


def test_docstring_examples_run() -> None:
    results = doctest.testmod(versions_module)
    assert results.attempted > 0
    assert results.failed == 0
