"""What flags and telemetry add to a request: the same request with each on and off, in-process.

Run: ``make bench`` (or ``python -m bench.telemetry_overhead [--seconds S] [--rounds N]``). One
FastAPI app per variant, with ``tiered.install`` and one lean ``tiered.route`` handler, is called
directly as an ASGI app inside one event loop (no HTTP server, so only the app's CPU counts):

- ``flags``: the handler asks three flags (one plain switch, one tier rule, one 50 % sticky
  rollout), so each request evaluates three flags through OpenFeature;
- ``telemetry``: ``tiered.Telemetry()`` with its default in-memory store: Prometheus counters and
  histogram, the per-minute tally, flag-exposure counts (and its once-a-second flush task);
- ``+ tracing``: telemetry with an OpenTelemetry SDK provider and OpenTelemetry's ASGI
  middleware (spans made, then dropped: no exporter), the cost before any network.

Two requests: a browser's page (Chrome, ``Accept: text/html``; a page view, the full tier) and an
API client's JSON. The variants are measured in turn, several rounds, and the median per variant
is printed with its difference from the same request with neither flags nor telemetry. Numbers
are printed, never asserted; on a busy machine trust the ``best`` columns more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request

import tiered
from bench.framework import save_results, stamped
from tiered import FlagDefinition, Flags, Rule, Telemetry, TieredSettings

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PAGE = (
    '{% extends "tiered/layout.html" %}{% block title %}Board{% endblock %}'
    "{% block main %}{% block body %}<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}"
    "</ul>{% endblock %}{% endblock %}"
)
FLAG_KEYS = ("inline_edit", "live_updates", "search_as_you_type")
REQUESTS: dict[str, list[tuple[bytes, bytes]]] = {
    "page": [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", CHROME.encode()),
        (b"accept", BROWSER_ACCEPT.encode()),
        (b"cookie", b"tiered_js=1"),
    ],
    "json": [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"python-httpx/0.28"),
        (b"accept", b"application/json"),
    ],
}
VARIANTS = (
    ("off", "off"),
    ("on", "off"),
    ("off", "on"),
    ("on", "on"),
    ("on", "on + tracing"),
)


class Board(BaseModel):
    items: list[str]
    flags: list[bool]


def flags() -> Flags:
    return Flags(
        {
            "inline_edit": FlagDefinition("inline_edit", default=True),
            "live_updates": FlagDefinition("live_updates", rules=(Rule(when={"tier": ("full",)}),)),
            "search_as_you_type": FlagDefinition(
                "search_as_you_type", rules=(Rule(when={}, rollout=50),)
            ),
        }
    )


def build(templates: Path, with_flags: bool, telemetry: str) -> FastAPI:
    app = FastAPI()
    settings = TieredSettings(debug=False, secret_key="b" * 40, template_dirs=(str(templates),))
    instrument: Telemetry | None = None
    if telemetry == "on":
        instrument = Telemetry()
    elif telemetry == "on + tracing":
        instrument = Telemetry(tracer_provider=TracerProvider())
    tiered.install(app, settings, flags=flags() if with_flags else None, telemetry=instrument)
    items = [f"Task {i}" for i in range(10)]

    if with_flags:

        @tiered.route(app, "/board", "board.html", block="body")
        async def board(request: Request) -> Board:
            return Board(items=items, flags=[tiered.flag(request, key) for key in FLAG_KEYS])

    else:

        @tiered.route(app, "/board", "board.html", block="body")
        async def plain_board(request: Request) -> Board:
            return Board(items=items, flags=[])

    return app


def scope_for(headers: list[tuple[bytes, bytes]], path: str = "/board") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def per_request_us(
    app: Starlette, headers: list[tuple[bytes, bytes]], count: int, path: str = "/board"
) -> float:
    scope = scope_for(headers, path)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - start
    if set(statuses) != {200}:
        raise SystemExit(f"the bench app answered {sorted(set(statuses))}, not 200")
    return elapsed / count * 1e6


async def lifespan(app: Starlette) -> Callable[[], Awaitable[None]]:
    """Start the app's lifespan (telemetry closes in it); return the coroutine that ends it."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, queue.get, send)
    )
    await started.wait()

    async def stop() -> None:
        await queue.put({"type": "lifespan.shutdown"})
        await task

    return stop


async def run(seconds: float, rounds: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        templates = Path(folder)
        (templates / "board.html").write_text(PAGE, encoding="utf-8")
        apps = {variant: build(templates, variant[0] == "on", variant[1]) for variant in VARIANTS}
        stops = [await lifespan(app) for app in apps.values()]
        results: dict[tuple[str, tuple[str, str]], list[float]] = {}
        for request, headers in REQUESTS.items():
            for app in apps.values():  # warm up: templates compiled, parses cached
                await per_request_us(app, headers, 200)
            count = 200
            while await per_request_us(apps[VARIANTS[0]], headers, count) * count / 1e6 < (
                seconds / 10
            ):
                count *= 2
            for _ in range(rounds):
                for variant, app in apps.items():
                    samples = [await per_request_us(app, headers, count) for _ in range(3)]
                    results.setdefault((request, variant), []).append(min(samples))
        for stop in stops:
            await stop()

    print(
        f"{'request':<8} {'flags':<6} {'telemetry':<15} {'best µs':>8} {'+µs':>7} {'ratio':>6}"
        f" {'median µs':>10} {'+µs':>7}"
    )
    rows: list[dict[str, Any]] = []
    for request in REQUESTS:
        base = results[(request, VARIANTS[0])]
        for variant in VARIANTS:
            samples = results[(request, variant)]
            best, median = min(samples), statistics.median(samples)
            print(
                f"{request:<8} {variant[0]:<6} {variant[1]:<15} {best:>8.1f} "
                f"{best - min(base):>+7.1f} {best / min(base):>6.2f} {median:>10.1f} "
                f"{median - statistics.median(base):>+7.1f}"
            )
            rows.append(
                {
                    "request": request,
                    "flags": variant[0],
                    "telemetry": variant[1],
                    "best_us": round(best, 1),
                    "best_added_us": round(best - min(base), 1),
                    "median_us": round(median, 1),
                    "median_added_us": round(median - statistics.median(base), 1),
                }
            )
    print(
        "\n+µs and ratio: against the same request with neither flags nor telemetry. best: the "
        "fastest batch of all rounds (least disturbed by other work on the machine); median: of "
        "the rounds, each the best of three batches."
    )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measured batch")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every variant")
    parser.add_argument("--quick", action="store_true", help="write to <date>-quick.json")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = asyncio.run(run(args.seconds, args.rounds))
    if not args.no_save:
        report = stamped(
            load_before,
            seconds=args.seconds,
            rounds=args.rounds,
            flags_per_request=len(FLAG_KEYS),
            results=rows,
        )
        print(f"Written to {save_results(report, quick=args.quick, part='flags_telemetry')}")


if __name__ == "__main__":
    main()
