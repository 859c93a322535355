"""Page weight per tier: every Taskboard page's HTML, and the CSS, JavaScript and fonts it pulls in.

Run alone: ``python -m bench.page_weight [--no-lighthouse]``; ``make bench`` and ``make bench-app``
run it too.

For each page (landing, signup, login, the task list with 20 tasks, a task, the delete
confirmation, settings, an error page) and each tier, the HTML is fetched as that tier's browser:

- ``core``: Chrome with the "basic version" cookie (``tiered_version=basic``), as a person who
  chose the basic version (lynx and old browsers get the same HTML, but fetch no CSS);
- ``lite``: Chrome with ``Save-Data: on``;
- ``full``: Chrome.

Then every stylesheet, script, image and preload the HTML names is fetched, and every ``url()``
in the stylesheets (fonts, images). Sizes are raw and compressed (gzip -9, and brotli at quality
11 with the ``brotli`` package, a dev dependency). Taskboard compresses its static CSS and
JavaScript itself (brotli or gzip, ``tiered.asgi.static``), so their compressed columns are what
a browser downloads; its HTML goes out uncompressed, so the HTML's compressed columns are what a
compressing proxy in front would send. Nothing is asserted: the table shows the targets.

Lighthouse (``lighthouse@12.8.2`` from npm, which ``bench/install-tools`` installs into
``$WEBTOOLS/lighthouse``, ``$WEBTOOLS`` defaulting to ``/opt/webtools``; mobile emulation with its
simulated throttling; against the system Chromium, on loopback only) scores the logged-in task
list and the logged-out log-in page (a first visit: each run starts an empty browser profile)
for performance and accessibility; it is skipped, with a line saying so and what installs it,
when Node, Chromium or Lighthouse is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from bench import taskboard_fixture as fixture
from bench.framework import CHROME, INSTALL_TOOLS
from bench.taskboard_fixture import BROWSER_ACCEPT, SeededDatabase

LIMIT_HTML = 14 * 1024
"""Every page's HTML, compressed: what fits in the first round trip (TCP's initial window of
10 segments carries about 14 KiB)."""
LIMIT_JS = 20 * 1024
LIMIT_CSS = 10 * 1024
TARGET_PERFORMANCE = 95
TARGET_ACCESSIBILITY = 100
LIGHTHOUSE_VERSION = "12.8.2"
"""The release ``bench/install-tools`` installs (13 needs a newer Node than Debian's)."""
TIERS: dict[str, dict[str, str]] = {
    "core": {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT},
    "lite": {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT, "Save-Data": "on"},
    "full": {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT},
}
TIER_COOKIE = {"core": "tiered_version=basic", "lite": "", "full": ""}
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".otf", ".eot")
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")

try:
    _brotli: Any = importlib.import_module("brotli")
except ImportError:  # a dev dependency: installed by `make`
    _brotli = None


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def brotlied(data: bytes) -> int | None:
    return len(_brotli.compress(data, quality=11)) if _brotli is not None else None


@dataclass
class Sizes:
    raw: int = 0
    gzip: int = 0
    brotli: int | None = 0

    def add(self, data: bytes) -> None:
        self.raw += len(data)
        self.gzip += gzipped(data)
        compressed = brotlied(data)
        if compressed is None or self.brotli is None:
            self.brotli = None
        else:
            self.brotli += compressed

    def as_dict(self) -> dict[str, int | None]:
        return {"raw": self.raw, "gzip": self.gzip, "brotli": self.brotli}


class _Resources(HTMLParser):
    """The sub-resources a browser fetches for the page, and its scripts' loading attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (kind, url)
        self.blocking_scripts: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts += 1
            loading = "defer" in attributes or "async" in attributes
            if not loading and attributes.get("type") != "module":
                self.blocking_scripts.append(attributes.get("src") or "(inline)")
            if attributes.get("src"):
                self.urls.append(("js", attributes["src"] or ""))
        elif tag == "link" and attributes.get("href"):
            rel = (attributes.get("rel") or "").lower().split()
            if "stylesheet" in rel:
                self.urls.append(("css", attributes["href"] or ""))
            elif "preload" in rel or "modulepreload" in rel or "icon" in rel:
                kind = {"style": "css", "script": "js", "font": "font"}.get(
                    attributes.get("as") or "", "other"
                )
                kind = "js" if "modulepreload" in rel else kind
                self.urls.append((kind, attributes["href"] or ""))
        elif tag == "img" and attributes.get("src"):
            self.urls.append(("other", attributes["src"] or ""))


@dataclass
class PageWeight:
    page: str
    path: str
    tier: str
    status: int
    html: Sizes
    requests: int
    js: Sizes = field(default_factory=Sizes)
    css: Sizes = field(default_factory=Sizes)
    fonts: Sizes = field(default_factory=Sizes)
    other: Sizes = field(default_factory=Sizes)
    scripts: int = 0
    blocking_scripts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "path": self.path,
            "tier": self.tier,
            "status": self.status,
            "html": self.html.as_dict(),
            "requests": self.requests,
            "js": self.js.as_dict(),
            "css": self.css.as_dict(),
            "fonts": self.fonts.as_dict(),
            "other": self.other.as_dict(),
            "scripts": self.scripts,
            "render_blocking_scripts": self.blocking_scripts,
            "missing": self.missing,
        }


def _weigh(port: int, page: str, path: str, tier: str, cookie: str) -> PageWeight:
    headers = dict(TIERS[tier])
    cookies = "; ".join(c for c in (cookie, TIER_COOKIE[tier]) if c)
    if cookies:
        headers["Cookie"] = cookies
    status, body = fixture.get(port, path, headers)
    html = Sizes()
    html.add(body)
    parser = _Resources()
    parser.feed(body.decode("utf-8", errors="replace"))
    weight = PageWeight(page, path, tier, status, html, 1, scripts=parser.scripts)
    weight.blocking_scripts = parser.blocking_scripts
    base = f"http://127.0.0.1:{port}{path}"
    seen: set[str] = set()
    queue = [(kind, urljoin(base, url)) for kind, url in parser.urls]
    while queue:
        kind, url = queue.pop(0)
        parts = urlsplit(url)
        if parts.netloc != f"127.0.0.1:{port}":
            weight.missing.append(f"{url} (another host; not fetched)")
            continue
        if url in seen:
            continue
        seen.add(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sub_status, data = fixture.get(port, target, {"User-Agent": CHROME, "Accept": "*/*"})
        weight.requests += 1
        if sub_status != 200:
            weight.missing.append(f"{target} ({sub_status})")
            continue
        if parts.path.endswith(FONT_SUFFIXES):
            kind = "font"
        {"js": weight.js, "css": weight.css, "font": weight.fonts}.get(kind, weight.other).add(data)
        if kind == "css":
            for match in _CSS_URL.finditer(data.decode("utf-8", errors="replace")):
                found = match.group(1) or match.group(2)
                if found and not found.startswith("data:"):
                    is_css = match.group(2) is not None
                    queue.append(("css" if is_css else "other", urljoin(url, found)))
    return weight


def _pages(port: int, visitor: fixture.Visitor) -> list[tuple[str, str, str]]:
    """(page, path, cookie): logged out for the first three, logged in for the rest."""
    _, body = fixture.get(port, "/tasks", {"Accept": "application/json", "Cookie": visitor.cookie})
    task_id = json.loads(body)["items"][0]["id"]
    return [
        ("landing", "/", ""),
        ("signup", "/signup", ""),
        ("login", "/login", ""),
        ("tasks list", "/tasks", visitor.cookie),
        ("task", f"/tasks/{task_id}", visitor.cookie),
        ("delete confirmation", f"/tasks/{task_id}/delete", visitor.cookie),
        ("settings", "/settings", visitor.cookie),
        ("error (404)", "/tasks/999999999", visitor.cookie),
    ]


LIGHTHOUSE_LABELS = {"/tasks": "/tasks (logged in)", "/login": "/login (logged out)"}
"""What Lighthouse scores: the task list with the visitor's session, and the log-in page as a
first visitor sees it (each run is a fresh browser profile, so its cache is empty)."""


def lighthouse(port: int, cookie: str | None, path: str = "/tasks") -> dict[str, Any]:
    """Lighthouse's performance and accessibility scores for ``path`` (sent with ``cookie``, a
    ``Cookie`` header, unless None), or why it was not run."""
    webtools = Path(os.environ.get("WEBTOOLS", "/opt/webtools"))
    # bench/install-tools's own npm prefix, or beside the browser suite's tools
    candidates = [webtools / d / "node_modules" / ".bin" / "lighthouse" for d in ("lighthouse", "")]
    binary = next((path for path in candidates if path.exists()), candidates[0])
    chrome = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    missing = [
        what
        for what, present in (
            ("node", shutil.which("node") is not None),
            (f"Chromium at {chrome}", Path(chrome).exists()),
            (f"lighthouse at {binary}", binary.exists()),
        )
        if not present
    ]
    if missing:
        return {
            "skipped": f"Lighthouse skipped: {', '.join(missing)} missing. `{INSTALL_TOOLS}` "
            f"installs Node, Chromium and Lighthouse {LIGHTHOUSE_VERSION}."
        }
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "report"
        command = [
            str(binary),
            f"http://127.0.0.1:{port}{path}",
            "--quiet",
            "--output=json",
            f"--output-path={output}.json",
            "--only-categories=performance,accessibility",
            "--chrome-flags=--headless=new --no-sandbox --disable-background-networking "
            "--disable-component-update --no-first-run",
            *([f"--extra-headers={json.dumps({'Cookie': cookie})}"] if cookie else []),
        ]
        started = time.monotonic()
        result = subprocess.run(
            command,
            env={**os.environ, "CHROME_PATH": chrome},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        report_path = Path(f"{output}.json")
        if result.returncode != 0 or not report_path.exists():
            return {"skipped": f"Lighthouse failed ({result.returncode}): {result.stderr[-500:]}"}
        report = json.loads(report_path.read_text(encoding="utf-8"))
    audits = report["audits"]

    def numeric(name: str) -> float | None:
        value = audits.get(name, {}).get("numericValue")
        return round(value, 1) if isinstance(value, int | float) else None

    failed_a11y = [
        ref["id"]
        for ref in report["categories"]["accessibility"]["auditRefs"]
        if ref.get("weight") and audits.get(ref["id"], {}).get("score") not in (None, 1)
    ]
    bootup = audits.get("bootup-time", {}).get("details", {}).get("items", [])
    work = audits.get("mainthread-work-breakdown", {}).get("details", {}).get("items", [])
    return {
        "url": LIGHTHOUSE_LABELS.get(path, path),
        "seconds": round(time.monotonic() - started, 1),
        "script_bootup_ms": {
            str(item.get("url", "")).rsplit("/", 1)[-1]: round(item.get("scripting", 0), 1)
            for item in bootup[:4]
        },
        "main_thread_ms": {
            str(item.get("groupLabel", item.get("group", ""))): round(item.get("duration", 0), 1)
            for item in work[:5]
        },
        "version": report.get("lighthouseVersion"),
        "form_factor": report["configSettings"].get("formFactor"),
        "throttling": report["configSettings"].get("throttlingMethod"),
        "performance": round(report["categories"]["performance"]["score"] * 100),
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "first_contentful_paint_ms": numeric("first-contentful-paint"),
        "largest_contentful_paint_ms": numeric("largest-contentful-paint"),
        "total_blocking_time_ms": numeric("total-blocking-time"),
        "cumulative_layout_shift": numeric("cumulative-layout-shift"),
        "total_byte_weight": numeric("total-byte-weight"),
        "failed_accessibility_audits": failed_a11y,
        "warnings": report.get("runWarnings", []),
    }


def measure(
    database: SeededDatabase,
    *,
    run_lighthouse: bool = True,
    visitor: fixture.Visitor | None = None,
    lighthouse_skipped: str = "--no-lighthouse",
    running: fixture.Server | None = None,
) -> dict[str, Any]:
    """Every page in every tier; ``visitor``, already logged in to ``database``, is reused, and
    so is ``running``, a server of ``database`` (else one is started: 1 worker, pinned).
    ``lighthouse_skipped``: why, when ``run_lighthouse`` is false."""
    with contextlib.ExitStack() as stack:
        server = running or stack.enter_context(fixture.serve(database, workers=1))
        if visitor is None:
            visitor = fixture.log_in(server.port, 1, 0)[0]
        rows = [
            _weigh(server.port, page, path, tier, cookie)
            for page, path, cookie in _pages(server.port, visitor)
            for tier in TIERS
        ]
        skipped = {"skipped": f"Lighthouse skipped ({lighthouse_skipped})."}
        scores = lighthouse(server.port, visitor.cookie) if run_lighthouse else skipped
        # The log-in page after the list, so a failure to run Lighthouse is only reported once.
        login_scores = (
            lighthouse(server.port, None, "/login")
            if run_lighthouse and "skipped" not in scores
            else scores
        )
    return {
        "date": fixture.now(),
        "load_average": fixture.machine()["load_average"],
        "compression": {
            "gzip": "gzip -9 (Python's gzip, level 9)",
            "brotli": "brotli quality 11" if _brotli is not None else "brotli not installed",
        },
        "tiers": {
            "core": "Chrome + tiered_version=basic cookie",
            "lite": "Chrome + Save-Data: on",
            "full": "Chrome",
        },
        "targets": {
            "html_compressed_bytes": LIMIT_HTML,
            "full_js_compressed_bytes": LIMIT_JS,
            "css_compressed_bytes": LIMIT_CSS,
            "core_js_bytes": 0,
            "render_blocking_scripts": 0,
            "lighthouse_performance": TARGET_PERFORMANCE,
            "lighthouse_accessibility": TARGET_ACCESSIBILITY,
        },
        "pages": [row.as_dict() for row in rows],
        "lighthouse": scores,
        "lighthouse_login": login_scores,
    }


def _kb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:.1f}"


def print_table(report: dict[str, Any]) -> None:
    pages = report["pages"]
    print()
    print("Page weight per tier, KiB (raw / gzip -9 / brotli 11); req = the page + what it loads")
    header = (
        f"{'page':20} {'tier':4} {'st':>3} {'HTML raw':>8} {'gz':>5} {'br':>5} {'req':>3} "
        f"{'JS raw':>6} {'gz':>5} {'br':>5} {'CSS raw':>7} {'gz':>5} {'br':>5} {'font':>4} "
        f"{'block':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in pages:
        html, js, css, fonts = row["html"], row["js"], row["css"], row["fonts"]
        print(
            f"{row['page']:20} {row['tier']:4} {row['status']:3} {_kb(html['raw']):>8} "
            f"{_kb(html['gzip']):>5} {_kb(html['brotli']):>5} {row['requests']:3} "
            f"{_kb(js['raw']):>6} {_kb(js['gzip']):>5} {_kb(js['brotli']):>5} "
            f"{_kb(css['raw']):>7} {_kb(css['gzip']):>5} {_kb(css['brotli']):>5} "
            f"{_kb(fonts['gzip']):>4} {len(row['render_blocking_scripts']):5}"
            + (f"  missing: {', '.join(row['missing'])}" if row["missing"] else "")
        )
    largest_html = max(pages, key=lambda r: r["html"]["gzip"])
    full_js = max(r["js"]["gzip"] for r in pages if r["tier"] == "full")
    css = max(r["css"]["gzip"] for r in pages)
    core_js = sum(r["js"]["raw"] for r in pages if r["tier"] == "core")
    blocking = sum(len(r["render_blocking_scripts"]) for r in pages)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print("Targets (gzip sizes; brotli is smaller):")
    print(
        f"  every page's HTML <= {_kb(LIMIT_HTML)} KiB compressed: largest "
        f"{_kb(largest_html['html']['gzip'])} KiB ({largest_html['page']}, "
        f"{largest_html['tier']}): {verdict(largest_html['html']['gzip'] <= LIMIT_HTML)}"
    )
    print(
        f"  full tier's JavaScript <= {_kb(LIMIT_JS)} KiB compressed: {_kb(full_js)} KiB: "
        f"{verdict(full_js <= LIMIT_JS)}"
    )
    print(f"  CSS <= {_kb(LIMIT_CSS)} KiB compressed: {_kb(css)} KiB: {verdict(css <= LIMIT_CSS)}")
    print(f"  the core tier downloads no JavaScript: {core_js} bytes: {verdict(core_js == 0)}")
    print(f"  no render-blocking script: {blocking} found: {verdict(blocking == 0)}")
    scored = [report["lighthouse"]]
    # reports saved before the log-in page was scored have no lighthouse_login
    if report.get("lighthouse_login", scored[0]) != scored[0]:
        scored.append(report["lighthouse_login"])
    for scores in scored:
        _print_lighthouse(scores)
    if _brotli is None:
        print("  (brotli sizes need the dev dependencies, which `make` installs)")


def _print_lighthouse(scores: dict[str, Any]) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    warnings = scores.get("warnings", [])

    if "skipped" in scores:
        print(f"  {scores['skipped']}")
    else:
        print(
            f"  Lighthouse {scores['version']} ({scores['form_factor']}, {scores['throttling']}) "
            f"on {scores['url']}: performance {scores['performance']} (target "
            f">= {TARGET_PERFORMANCE}: {verdict(scores['performance'] >= TARGET_PERFORMANCE)}), "
            f"accessibility {scores['accessibility']} (target {TARGET_ACCESSIBILITY}: "
            f"{verdict(scores['accessibility'] >= TARGET_ACCESSIBILITY)}); FCP "
            f"{scores['first_contentful_paint_ms']} ms, LCP {scores['largest_contentful_paint_ms']}"
            f" ms, TBT {scores['total_blocking_time_ms']} ms; main thread (simulated 4x slower "
            f"CPU): {scores.get('main_thread_ms')}"
            + (
                f"; failing: {', '.join(scores['failed_accessibility_audits'])}"
                if scores["failed_accessibility_audits"]
                else ""
            )
            + (f"; Lighthouse warned: {' '.join(warnings)}" if warnings else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    # 100 tasks a user, as in the load benchmark: the list shows its first 20
    with fixture.seeded_databases(["sqlite"], users=10, tasks=1_000) as databases:
        report = measure(databases["sqlite"], run_lighthouse=not args.no_lighthouse)
    print_table(report)
    if not args.no_save:
        print(f"\nWritten to {fixture.save_part('page_weight', report)}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
