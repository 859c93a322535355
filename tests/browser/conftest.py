"""The browser suite's fixtures: the tools (skip, or fail in CI, when one is missing), Taskboard on
a real port, one Chromium, the audits, and the counts printed at the end of the run."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.audits import Audits
from tests.browser.live_server import LiveServer, job_worker, serve_taskboard
from tests.browser.tools import INSTALL_HINT, Tools, find_tools, in_ci
from tests.deploy.conftest import redis_url, stack  # noqa: F401 (the deployed journeys' fixtures)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

HERE = Path(__file__).parent
Report = pytest.TestReport
SUITE_KEY = pytest.StashKey["Suite"]()
LAST = ("test_parity.py", "test_html_validity.py")
"""Run after every journey (test order is otherwise random): they judge what the journeys left."""


@dataclass
class Suite:
    """What the run did, for the summary and for the tests that judge it."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    snapshots: dict[str, list[tuple[str, str, bool, str | None]]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    audits: Audits | None = None
    vnu_errors: list[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SUITE_KEY] = Suite()


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    yield  # after pytest-randomly's shuffle
    ours = [item for item in items if item.path.is_relative_to(HERE)]
    if not ours:
        return
    found, missing = find_tools()
    if found is None and not in_ci():
        # One skipped test carries the message, so the run shows it once, not once per test.
        ours[0].add_marker(pytest.mark.skip(reason=f"{len(ours)} {_missing_message(missing)}"))
        config.hook.pytest_deselected(items=ours[1:])
        items[:] = [item for item in items if item not in ours[1:]]
        return
    # The browser tests run as one block after every other test: Playwright's sync API keeps an
    # event loop running in this thread while its session lasts, which would break any later
    # test that starts a loop of its own (asyncio.run, anyio.run, a TestClient portal).
    others = [item for item in items if not item.path.is_relative_to(HERE)]
    last = [item for item in ours if item.path.name in LAST]
    journeys = [item for item in ours if item not in last]
    items[:] = others + journeys + sorted(last, key=lambda item: LAST.index(item.path.name))


@pytest.fixture(scope="session")
def suite(request: pytest.FixtureRequest) -> Suite:
    return request.config.stash[SUITE_KEY]


@pytest.fixture(scope="session")
def tools() -> Tools:
    found, missing = find_tools()
    if found is None:
        pytest.fail(f"CI=true, so this is a failure: {_missing_message(missing)}", pytrace=False)
    return found


def _missing_message(missing: list[str]) -> str:
    return f"browser tests need {', '.join(missing)}; enable them with `{INSTALL_HINT}`"


@pytest.fixture(scope="session")
def live_server(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Taskboard and a job worker beside it (mail, imports), as ``make run`` serves it."""
    data_dir = tmp_path_factory.mktemp("taskboard")
    with serve_taskboard(data_dir) as server, job_worker(data_dir):
        yield server


@pytest.fixture(scope="session")
def audits(tools: Tools, suite: Suite, tmp_path_factory: pytest.TempPathFactory) -> Audits:
    suite.audits = Audits(tools.axe_js, tmp_path_factory.mktemp("html"))
    return suite.audits


@pytest.fixture
def browser(tools: Tools) -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded one), headless; Playwright adds --no-sandbox.

    One per test, not per session: while Playwright's sync API is open its event loop counts as
    running in this thread, and every other test's anyio.run (TestClient) would then fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=tools.chromium)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Report, Report]:
    report = yield
    journey = getattr(item, "callspec", None)
    name = item.path.name
    if report.when != "call" or not name.startswith("test_") or "journey" not in item.name:
        return report
    suite = item.config.stash[SUITE_KEY]
    label = journey.id if journey is not None else item.name.removeprefix("test_")
    (suite.passed if report.passed else suite.failed).append(label)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    suite = terminalreporter.config.stash[SUITE_KEY]
    if not suite.passed and not suite.failed:
        return
    write = terminalreporter.write_line
    terminalreporter.section("browser suite")
    total = len(suite.passed) + len(suite.failed)
    write(f"journeys x profiles passed: {len(suite.passed)} of {total} ({', '.join(suite.passed)})")
    if suite.failed:
        write(f"journeys x profiles FAILED: {', '.join(suite.failed)}")
    if suite.audits is not None:
        write(
            f"axe (WCAG 2.2 A/AA) violations: {len(suite.audits.violations)} "
            f"in {suite.audits.states_audited} page states"
        )
        shown = "not run" if suite.vnu_errors is None else str(len(suite.vnu_errors))
        write(f"vnu errors: {shown} in {suite.audits.documents} pages and fragments")
    for name, seconds in suite.timings.items():
        write(f"{name}: {seconds:.1f} s")
    groups: dict[str, dict[str, int]] = {}
    for client, tasks in suite.snapshots.items():
        journey = "full journey" if client.startswith("chromium") else "core journey"
        groups.setdefault(journey, {})[client] = len(tasks)
    for journey, counts in groups.items():
        same = len({repr(suite.snapshots[client]) for client in counts}) == 1
        shown = ", ".join(f"{client} {n}" for client, n in counts.items())
        verdict = "the same tasks" if same else "DIFFERENT tasks"
        write(f"parity, {journey}: {verdict} in the database ({shown})")
