"""The pytest plugin: its fixtures and marker in a pytest run of their own, and what it costs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import tiered.testing
from tiered.testing import PROFILES
from tiered.testing.plugin import PROFILE_NAMES

TESTS = """\
import pytest

SEEN = []


def test_once_per_profile(profile):
    SEEN.append(profile.name)


@pytest.mark.tiered_profiles("text_browser", "crawler")
def test_marked(profile, tiered_profiles):
    assert [p.name for p in tiered_profiles] == ["text_browser", "crawler"]
    SEEN.append("marked " + profile.name)


@pytest.mark.parametrize("profile", ["mine"])
def test_own_parameters_win(profile):
    assert profile == "mine"


def test_last():
    assert SEEN == [
        "no_js_browser", "enhanced_browser", "api_client", "save_data_2g",
        "legacy_browser", "text_browser", "crawler", "marked text_browser", "marked crawler",
    ]
"""


def pytest_run(directory: Path, source: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_it.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "error",
            "--strict-markers",
            *arguments,
            str(directory / "test_it.py"),
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_profile_fixture_runs_a_test_once_per_profile(tmp_path: Path) -> None:
    result = pytest_run(tmp_path, TESTS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 passed" in result.stdout


def test_the_marker_is_registered_and_refuses_unknown_names(tmp_path: Path) -> None:
    source = """\
    import pytest

    @pytest.mark.tiered_profiles("lynx")
    def test_it(profile):
        pass
    """

    result = pytest_run(tmp_path, source)

    assert result.returncode != 0
    assert "@pytest.mark.tiered_profiles on test_it.py::test_it: Unknown profile 'lynx'" in (
        result.stdout + result.stderr
    )


def test_the_marker_needs_a_name(tmp_path: Path) -> None:
    source = """\
    import pytest

    @pytest.mark.tiered_profiles()
    def test_it(profile):
        pass
    """

    result = pytest_run(tmp_path, source)

    assert result.returncode != 0
    assert "names no profile; name one or more" in result.stdout + result.stderr


def test_the_plugin_is_registered_with_pytest() -> None:
    registered = {ep.name: ep.value for ep in entry_points(group="pytest11")}

    assert registered.get("tiered") == "tiered.testing.plugin", (
        "tiered's pytest11 entry point is missing: pyproject.toml needs "
        '[project.entry-points.pytest11] tiered = "tiered.testing.plugin" (then `make sync`).'
    )


def test_the_plugin_lists_the_profiles_names() -> None:
    assert list(PROFILE_NAMES) == [profile.name for profile in PROFILES]


def test_loading_the_plugin_imports_none_of_the_kit() -> None:
    script = (
        "import sys, tiered.testing.plugin\n"
        "kit = ('tiered.testing.profiles', 'tiered.testing.matrix', 'tiered.testing.parity',"
        " 'tiered.testing.html', 'starlette.testclient', 'httpx2')\n"
        "print([name for name in kit if name in sys.modules])\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", tiered.testing.__all__)
def test_every_public_name_loads(name: str) -> None:
    assert getattr(tiered.testing, name) is not None
    assert name in dir(tiered.testing)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"has no attribute 'route_matrx'"):
        tiered.testing.route_matrx  # noqa: B018
