"""Slow 3G: how long until a Taskboard page is readable and styled, after how many round trips,
per tier, on a first visit and a repeat one.

``python -m bench.slow3g [--quick] [--no-save] [--baseline REV]`` (``make bench-slow3g``; not in
``make bench``). Real Chromium through Playwright, each page's network throttled with CDP's
``Network.emulateNetworkConditions`` to DevTools' Slow 3G preset: 2,000 ms latency, 50,000
bytes/s down and up. Each tier's browser gets a fresh context (an empty cache):

- ``core``: JavaScript off and the "basic version" cookie (``tiered_version=basic``): tiered
  decides the tier from that cookie, the User-Agent and the lite signals, never from whether
  scripts ran, so a browser with JavaScript off and no cookie gets the full tier's HTML;
- ``lite``: JavaScript on, ``Save-Data: on`` on every request;
- ``full``: JavaScript on.

In that context, one after the other (:data:`JOURNEYS`):

1. ``first /login``: the log-in page, cache empty;
2. ``log in -> list``: email and password typed, "Log in" pressed, until the task list ("Your
   tasks", its 20 tasks) has painted, timed from the POST: the POST, its redirect (a 303, or
   htmx's ``HX-Redirect``), the list and what it loads;
3. ``repeat /tasks``: the list again, ``?r=N`` (the HTML is fetched, the static files may come
   from the cache, as on a real repeat visit);
4. ``repeat /login``: the log-in page again, ``?r=N``, once the session cookie is gone (a
   logged-in visitor's ``/login`` redirects to the list).

After each, the page is left until its network is quiet (:data:`QUIET_CAP_S` at most), as a
person reads and types meanwhile; what it fetched then (prefetches, the favicon, the beacon)
counts for that journey's requests and bytes. Figures, from the CDP network events and the
page's own Performance API: first contentful paint, DOMContentLoaded and load (seconds from the
navigation's start; from the POST for the log-in); ``RT``, the requests the first paint waited
for (the HTML, each hop of the POST and its redirect, and each render-blocking stylesheet or
script fetched over the network, as Chromium's ``renderBlockingBehavior`` or the Resource Timing
``renderBlockingStatus`` says); ``serial``, the same counted as sequential round trips
(requests sent together count once); requests sent before the first paint and in all, those
served from the cache, and KiB transferred (headers included).

``--baseline REV`` measures that revision in the same run: a ``git worktree`` of it in a
temporary folder, run by the same interpreter with its ``src`` and ``apps/taskboard/src`` first on
``PYTHONPATH`` (checked: its ``tiered`` and ``taskboard`` must be imported from there), on a
database it seeded itself; each cell's journeys of the two go side by side, in two contexts of
the same browser, so a drift of the machine hits both. Three runs a cell, medians (``--quick``:
one). Numbers are printed and saved as part ``slow3g`` of ``bench/results/<date>-app.json``,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import taskboard_fixture as fixture
from bench.framework import CHROME, INSTALL_TOOLS

if TYPE_CHECKING:
    from playwright.async_api import Browser, CDPSession

REPOSITORY = Path(__file__).resolve().parents[1]
SLOW_3G: dict[str, Any] = {
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 50_000,
    "uploadThroughput": 50_000,
    "connectionType": "cellular3g",
}
"""DevTools' Slow 3G preset, as ``Network.emulateNetworkConditions`` takes it."""
TIERS = ("core", "lite", "full")
JOURNEYS = ("first /login", "log in -> list", "repeat /tasks", "repeat /login")
TASKS = 20
"""The user's tasks: one full page of the list, as in the page-weight part."""
EMAIL = "user1@example.org"
SESSION_COOKIE = "tiered_session"
RUNS = 3
QUICK_RUNS = 1
QUIET_MS = 300
"""A journey ends when no request of its page has been in flight for this long..."""
QUIET_CAP_S = 15
"""... or after this many seconds (a stream that stays open is not waited for)."""
NAVIGATION_TIMEOUT_MS = 90_000
PAINT_WAIT_S = 10
FIGURES = ("fcp_s", "dcl_s", "load_s", "round_trips", "serial", "before_paint", "requests")
FIGURES_MORE = ("cached", "kib")

_STATE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const meta = document.querySelector('meta[name="tiered-tier"]');
  const heading = document.querySelector("h1");
  return {
    origin: performance.timeOrigin,
    fcp: paint ? paint.startTime : null,
    dcl: nav.domContentLoadedEventStart,
    load: nav.loadEventStart,
    blocking: performance.getEntriesByType("resource")
      .filter((entry) => entry.renderBlockingStatus === "blocking").map((entry) => entry.name),
    tier: meta ? meta.content : "core",
    heading: heading ? heading.textContent.trim() : "",
    tasks: document.querySelectorAll("[data-task-id]").length,
    inline_styles: document.querySelectorAll("style").length,
    login_form: document.querySelector('input[name="email"]') !== null,
  };
}"""
"""What the page says about itself: paint and navigation timings (ms from its time origin), the
render-blocking resources, the tier it was served, and enough of its content to check it."""


# --- the code under test ----------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One version of the code, served and measured: this checkout, or the baseline."""

    label: str
    environ: dict[str, str]
    """Added to the seed's and the server's environment (the baseline's ``PYTHONPATH``)."""
    rev: str
    uncommitted: int
    """Files under ``src/`` and ``apps/`` that differ from ``rev`` (``git status``)."""

    def describe(self) -> str:
        changes = f" + {self.uncommitted} uncommitted files" if self.uncommitted else ""
        return f"{self.label}: {self.rev}{changes}"


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None when it fails (not a checkout; an unknown revision)."""
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def served_code(label: str, environ: Mapping[str, str], expected: Path | None = None) -> Side:
    """Where ``tiered`` and ``taskboard`` are imported from in ``environ`` (as the seed and the
    server will import them), and that checkout's revision; ``expected``: the folder they must
    come from."""
    script = "import json, tiered as t, taskboard as b; print(json.dumps([t.__file__, b.__file__]))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"Importing tiered and taskboard for {label} failed:\n{result.stderr}")
    tiered_file, taskboard_file = (Path(name).resolve() for name in json.loads(result.stdout))
    root = tiered_file.parents[2]  # <root>/src/tiered/__init__.py
    if expected is not None and not (
        root == expected.resolve() and taskboard_file.is_relative_to(expected.resolve())
    ):
        raise SystemExit(
            f"{label}: tiered came from {tiered_file} and taskboard from {taskboard_file}, not "
            f"from the worktree {expected}; PYTHONPATH did not take precedence over the "
            "virtualenv's editable installs, so this would measure the wrong code."
        )
    rev = _git(root, "rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    changed = (_git(root, "status", "--porcelain", "--", "src", "apps") or "").splitlines()
    return Side(label, dict(environ), rev, len(changed))


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached ``git worktree`` of ``rev`` in a temporary folder, removed afterwards."""
    commit = _git(REPOSITORY, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if commit is None:
        raise SystemExit(
            f"Unknown revision {rev!r} for --baseline; give a commit, tag or branch that "
            "`git rev-parse` knows (e3c8ceb, HEAD~1, main)."
        )
    with tempfile.TemporaryDirectory(prefix="bench-slow3g-") as directory:
        path = Path(directory) / "baseline"
        if _git(REPOSITORY, "worktree", "add", "--detach", "--quiet", str(path), commit) is None:
            raise SystemExit(f"`git worktree add {path} {commit}` failed.")
        try:
            yield path
        finally:
            for args in (("worktree", "remove", "--force", str(path)), ("worktree", "prune")):
                subprocess.run(
                    ["git", "-C", str(REPOSITORY), *args], capture_output=True, check=False
                )


def baseline_environ(path: Path) -> dict[str, str]:
    """``PYTHONPATH`` with the worktree's packages first (before the editable installs)."""
    paths = [str(path / "src"), str(path / "apps" / "taskboard" / "src")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {"PYTHONPATH": os.pathsep.join(paths)}


# --- what the browser did ---------------------------------------------------------------------


@dataclass
class Hop:
    """One request as Chromium made it; each hop of a redirect is one."""

    url: str
    method: str
    kind: str
    """CDP's resource type: ``Document``, ``Stylesheet``, ``Script``, ``Fetch``, ``Ping``…"""
    sent: float
    """When it was sent, epoch milliseconds (the page's ``performance.timeOrigin`` clock)."""
    blocking: bool
    """Chromium's ``renderBlockingBehavior`` said it blocks rendering."""
    answered: float | None = None
    ended: float | None = None
    status: int = 0
    size: int = 0
    """Bytes received, headers included."""
    cached: bool = False
    failed: bool = False
    stream: bool = False
    """A Server-Sent Events response (the full tier's live updates): it stays open."""


@dataclass
class Network:
    """The CDP ``Network`` events of one page, as hops."""

    hops: list[Hop] = field(default_factory=list)
    _open: dict[str, Hop] = field(default_factory=dict)
    _offset: float = 0.0
    """Seconds from CDP's monotonic ``timestamp`` to wall time."""

    def listen(self, cdp: CDPSession) -> None:
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestServedFromCache", self._from_cache)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.loadingFailed", self._failed)

    def _ms(self, timestamp: float) -> float:
        return (timestamp + self._offset) * 1000

    def _sent(self, event: dict[str, Any]) -> None:
        if event["request"]["url"].startswith("data:"):
            return  # decoded in the page, never sent
        if not self.hops:
            self._offset = event["wallTime"] - event["timestamp"]
        previous = self._open.get(event["requestId"])
        redirect = event.get("redirectResponse")
        if previous is not None and redirect is not None:
            previous.status = redirect["status"]
            previous.answered = previous.ended = self._ms(event["timestamp"])
            previous.size += int(redirect.get("encodedDataLength", 0))
        request = event["request"]
        hop = Hop(
            request["url"],
            request["method"],
            event.get("type", "Other"),
            self._ms(event["timestamp"]),
            event.get("renderBlockingBehavior") in ("Blocking", "InBodyParserBlocking"),
        )
        self.hops.append(hop)
        self._open[event["requestId"]] = hop

    def _from_cache(self, event: dict[str, Any]) -> None:
        if hop := self._open.get(event["requestId"]):
            hop.cached = True

    def _response(self, event: dict[str, Any]) -> None:
        if hop := self._open.get(event["requestId"]):
            response = event["response"]
            hop.status = response["status"]
            hop.answered = self._ms(event["timestamp"])
            hop.size = int(response.get("encodedDataLength", 0))
            hop.stream = response.get("mimeType") == "text/event-stream"
            hop.cached = hop.cached or any(
                response.get(name) for name in ("fromDiskCache", "fromPrefetchCache")
            )

    def _data(self, event: dict[str, Any]) -> None:
        if hop := self._open.get(event["requestId"]):
            hop.size += int(event.get("encodedDataLength", 0))

    def _finished(self, event: dict[str, Any]) -> None:
        if hop := self._open.get(event["requestId"]):
            hop.ended = self._ms(event["timestamp"])
            hop.size = max(hop.size, int(event.get("encodedDataLength", 0)))

    def _failed(self, event: dict[str, Any]) -> None:
        if hop := self._open.get(event["requestId"]):
            hop.ended = self._ms(event["timestamp"])
            hop.failed = True

    async def quiet(self, since: int) -> None:
        """Until no request sent since hop ``since`` has been in flight for :data:`QUIET_MS`
        (a Server-Sent Events stream aside), or :data:`QUIET_CAP_S` have passed."""
        deadline = time.monotonic() + QUIET_CAP_S
        calm_since: float | None = None
        while time.monotonic() < deadline:
            busy = any(hop.ended is None and not hop.stream for hop in self.hops[since:])
            now = time.monotonic()
            if busy:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= QUIET_MS / 1000:
                return
            await asyncio.sleep(0.05)


def _critical(hop: Hop, blocking: set[str], paint: float) -> bool:
    """Did the first paint wait for this request, fetched over the network?"""
    if hop.cached or hop.failed:
        return False
    if hop.kind == "Document" or (hop.method == "POST" and hop.kind != "Ping"):
        # the page itself: painting may start before the whole of it has arrived
        return hop.answered is not None and hop.answered <= paint
    blocks = hop.blocking or hop.url in blocking
    return blocks and hop.ended is not None and hop.ended <= paint


def _serial(chain: Sequence[Hop]) -> int:
    """The critical requests as sequential round trips: a request sent once another's answer
    had started to arrive is one round trip after it."""
    waves: list[tuple[Hop, int]] = []
    for hop in sorted(chain, key=lambda item: item.sent):
        before = [wave for other, wave in waves if (other.answered or other.sent) <= hop.sent]
        waves.append((hop, 1 + max(before, default=0)))
    return max((wave for _, wave in waves), default=0)


def figures(hops: Sequence[Hop], state: dict[str, Any], start: float) -> dict[str, Any]:
    """One journey's figures from its hops and the page it ended on; times from ``start``
    (epoch ms)."""
    origin = state["origin"]
    paint = origin + (state["fcp"] if state["fcp"] is not None else float("nan"))
    chain = [hop for hop in hops if _critical(hop, set(state["blocking"]), paint)]
    return {
        "fcp_s": round((paint - start) / 1000, 3),
        "dcl_s": round((origin + state["dcl"] - start) / 1000, 3),
        "load_s": round((origin + state["load"] - start) / 1000, 3),
        "round_trips": len(chain),
        "serial": _serial(chain),
        "before_paint": sum(1 for hop in hops if hop.sent < paint),
        "requests": len(hops),
        "cached": sum(1 for hop in hops if hop.cached),
        "kib": round(sum(hop.size for hop in hops if not hop.cached) / 1024, 1),
        "tier": state["tier"],
        "inline_styles": state["inline_styles"],
        "critical": [f"{hop.method} {_path(hop.url)} {hop.status}" for hop in chain],
        "requested": [
            f"{hop.method} {_path(hop.url)} {'cache' if hop.cached else hop.status or '-'}"
            for hop in hops
        ],
    }


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3] if url.count("/") >= 3 else url


# --- the journeys -----------------------------------------------------------------------------


def _context_options(tier: str) -> dict[str, Any]:
    options: dict[str, Any] = {"user_agent": CHROME, "java_script_enabled": tier != "core"}
    if tier == "lite":
        options["extra_http_headers"] = {"Save-Data": "on"}
    return options


def _check(state: dict[str, Any], journey: str, label: str) -> None:
    """Stop when a page is not what the journey needs: a bench of the wrong page is worse than
    none."""
    if journey.endswith("/login"):
        good = state["login_form"]
        wanted = "the log-in form"
    else:
        good = state["heading"] == "Your tasks" and state["tasks"] >= TASKS
        wanted = f"'Your tasks' with {TASKS} tasks"
    if not good or state["fcp"] is None:
        raise SystemExit(
            f"{label}, {journey}: expected {wanted}, painted; got heading {state['heading']!r}, "
            f"{state['tasks']} tasks, first contentful paint {state['fcp']}."
        )


async def journey(
    browser: Browser, port: int, tier: str, run: int, *, throttle: bool = True, label: str = ""
) -> dict[str, dict[str, Any]]:
    """The four journeys of one tier's browser, in one fresh context."""
    base = f"http://127.0.0.1:{port}"
    context = await browser.new_context(**_context_options(tier))
    try:
        if tier == "core":
            await context.add_cookies([{"name": "tiered_version", "value": "basic", "url": base}])
        page = await context.new_page()
        page.set_default_timeout(NAVIGATION_TIMEOUT_MS)
        cdp = await context.new_cdp_session(page)
        network = Network()
        network.listen(cdp)
        await cdp.send("Network.enable")
        if throttle:
            await cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        found: dict[str, dict[str, Any]] = {}

        async def finish(name: str, since: int, start: float | None = None) -> None:
            state = await page.evaluate(_STATE)
            waited = 0
            while state["fcp"] is None and waited < PAINT_WAIT_S * 20:
                # A fast page may fire load before its first frame is painted.
                await asyncio.sleep(0.05)
                waited += 1
                state = await page.evaluate(_STATE)
            _check(state, name, f"{label} {tier}")
            await network.quiet(since)
            hops = network.hops[since:]
            found[name] = figures(hops, state, state["origin"] if start is None else start)

        since = len(network.hops)
        await page.goto(f"{base}/login", wait_until="load")
        await finish("first /login", since)

        since = len(network.hops)
        await page.fill('input[name="email"]', EMAIL)
        await page.fill('input[name="password"]', fixture.PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"{base}/tasks", wait_until="load")
        post = next(
            hop for hop in network.hops[since:] if hop.method == "POST" and hop.kind != "Ping"
        )
        await finish("log in -> list", since, post.sent)

        since = len(network.hops)
        await page.goto(f"{base}/tasks?r={run}", wait_until="load")
        await finish("repeat /tasks", since)

        await context.clear_cookies(name=SESSION_COOKIE)
        since = len(network.hops)
        await page.goto(f"{base}/login?r={run}", wait_until="load")
        await finish("repeat /login", since)
        return found
    finally:
        await context.close()


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def chromium_path() -> str:
    """The system Chromium (``CHROME_PATH``, as for Lighthouse), after checking that it and
    Playwright are there."""
    try:
        import playwright.async_api  # noqa: F401 (only checked here)
    except ImportError:
        raise SystemExit("Playwright is missing: `make` installs the dev dependencies.") from None
    chromium = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    if not Path(chromium).exists():
        raise SystemExit(f"Chromium is missing at {chromium}: `{INSTALL_TOOLS}` installs it.")
    return chromium


async def measure(
    servers: Sequence[tuple[Side, int]], runs: int, chromium: str
) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Every tier's journeys ``runs`` times on each server; one tier's journeys on the servers
    go side by side."""
    from playwright.async_api import async_playwright

    # SIGTERM cancels the run, as Ctrl-C does, so every context and the browser close first.
    main_task = asyncio.current_task()
    if main_task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            # Unthrottled, once per server and tier: templates compiled, static files
            # compressed, the page checked, before anything is timed.
            for tier in TIERS:
                await asyncio.gather(
                    *(
                        journey(browser, port, tier, 0, throttle=False, label=side.label)
                        for side, port in servers
                    )
                )
            for run in range(1, runs + 1):
                started = time.monotonic()
                for tier in TIERS:
                    done = await asyncio.gather(
                        *(journey(browser, port, tier, run, label=s.label) for s, port in servers)
                    )
                    for (side, _), found in zip(servers, done, strict=True):
                        for name, figures_found in found.items():
                            cells.setdefault((side.label, tier, name), []).append(figures_found)
                print(f"  run {run} of {runs}: {time.monotonic() - started:.0f} s", flush=True)
        finally:
            await browser.close()
    return cells


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numbers; the lists and the tier of the first run."""
    summary: dict[str, Any] = {
        name: round(_median([run[name] for run in runs]), 3) for name in FIGURES + FIGURES_MORE
    }
    summary["tier_served"] = sorted({run["tier"] for run in runs})
    summary["critical"] = runs[0]["critical"]
    summary["requested"] = runs[0]["requested"]
    return summary


# --- the report -------------------------------------------------------------------------------


def _ratio(this: float, base: float) -> str:
    return f"{this / base:.2f}" if base else "-"


COLUMNS = ("FCP s", "DCL s", "load s", "RT", "serial", "req<FCP", "req", "cached", "KiB")
WIDTHS = (6, 6, 6, 3, 6, 7, 4, 6, 6)


def _row(tier: str, journey_name: str, code: str, values: list[str]) -> str:
    return f"{tier:5} {journey_name:15} {code:12} " + " ".join(
        f"{value:>{width}}" for value, width in zip(values, WIDTHS, strict=True)
    )


def _values(summary: dict[str, Any]) -> list[str]:
    return [
        f"{summary['fcp_s']:.2f}",
        f"{summary['dcl_s']:.2f}",
        f"{summary['load_s']:.2f}",
        f"{summary['round_trips']:g}",
        f"{summary['serial']:g}",
        f"{summary['before_paint']:g}",
        f"{summary['requests']:g}",
        f"{summary['cached']:g}",
        f"{summary['kib']:.1f}",
    ]


def print_table(report: dict[str, Any]) -> None:
    sides = [side["label"] for side in report["sides"]]
    cells = {(c["side"], c["tier"], c["journey"]): c["median"] for c in report["cells"]}
    runs = report["runs"]
    print()
    print(
        f"Slow 3G ({SLOW_3G['latency']:,} ms, {SLOW_3G['downloadThroughput']:,} bytes/s down "
        f"and up), {'median of ' + str(runs) + ' runs' if runs > 1 else 'one run'}. Seconds from "
        "the navigation's start (log in: from the POST); RT = requests the first paint waited "
        "for, serial = the same as sequential round trips; KiB transferred."
    )
    for side in report["sides"]:
        print(f"  {side['description']}")
    header = _row("tier", "journey", "code", list(COLUMNS))
    print(header)
    print("-" * len(header))
    for tier in TIERS:
        for name in JOURNEYS:
            this = cells[(sides[0], tier, name)]
            print(_row(tier, name, sides[0], _values(this)))
            for other in sides[1:]:
                base = cells[(other, tier, name)]
                print(_row("", "", other, _values(base)))
                ratios = [_ratio(this[key], base[key]) for key in (*FIGURES, *FIGURES_MORE)]
                print(_row("", "", "ratio", ratios))
    served = {
        f"{side} {tier}": cell["tier_served"]
        for (side, tier, _), cell in cells.items()
        if cell["tier_served"] != [tier]
    }
    if served:
        print(f"Served another tier than the browser's: {served}")
    print("What the first paint waited for (first run):")
    for side in sides:
        for tier in TIERS:
            critical = cells[(side, tier, "first /login")]["critical"]
            print(f"  {side} {tier} first /login: {', '.join(critical)}")


def _stop_on_sigterm() -> None:
    """``SIGTERM`` ends the run as Ctrl-C does: through every ``finally`` (the servers, their
    databases, the baseline's worktree)."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(f"Stopped by {signal.Signals(signum).name}.")

    signal.signal(signal.SIGTERM, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slow3g", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="one run a cell instead of three")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--baseline", metavar="REV", help="also measure this git revision, in the same run"
    )
    args = parser.parse_args(argv)
    runs = QUICK_RUNS if args.quick else RUNS
    chromium = chromium_path()
    _stop_on_sigterm()
    fixture.warn_if_busy()
    load_before = fixture.machine()["load_average"]
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        sides = [served_code("this", {})]
        if args.baseline:
            path = stack.enter_context(worktree(args.baseline))
            sides.append(served_code(args.baseline, baseline_environ(path), expected=path))
        servers = []
        for side in sides:
            databases = stack.enter_context(
                fixture.seeded_databases(["sqlite"], users=1, tasks=TASKS, environ=side.environ)
            )
            server = stack.enter_context(
                fixture.serve(
                    databases["sqlite"],
                    server=fixture.DEFAULT_SERVER,
                    pin=False,
                    environ=side.environ,
                )
            )
            servers.append((side, server.port))
        print(
            f"Slow 3G: {', '.join(side.describe() for side in sides)}; {runs} run(s) of "
            f"{len(TIERS)} tiers x {len(JOURNEYS)} journeys",
            flush=True,
        )
        try:
            cells = asyncio.run(measure(servers, runs, chromium))
        except asyncio.CancelledError:
            raise SystemExit("Stopped by SIGTERM.") from None
        finally:
            _stop_on_sigterm()  # the event loop's handler is gone with it
    report: dict[str, Any] = {
        "date": fixture.now(),
        "load_average_before": load_before,
        "load_average_after": fixture.machine()["load_average"],
        "seconds": round(time.monotonic() - started),
        "quick": args.quick,
        "runs": runs,
        "network": SLOW_3G,
        "tiers": {
            "core": "JavaScript off, tiered_version=basic cookie",
            "lite": "JavaScript on, Save-Data: on",
            "full": "JavaScript on",
        },
        "sides": [
            {
                "label": side.label,
                "rev": side.rev,
                "uncommitted_files": side.uncommitted,
                "description": side.describe(),
            }
            for side in sides
        ],
        "cells": [
            {
                "side": side,
                "tier": tier,
                "journey": name,
                "median": summarise(found),
                "runs": [{key: run[key] for key in (*FIGURES, *FIGURES_MORE)} for run in found],
            }
            for (side, tier, name), found in cells.items()
        ],
    }
    print_table(report)
    print(f"{report['seconds']} s in all")
    if not args.no_save:
        print(f"Saved to {fixture.save_part('slow3g', report, quick=args.quick)}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
