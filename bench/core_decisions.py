"""What tiered's per-request decisions cost: Client, tier, representation and Vary.

Run: ``make bench`` (or ``python -m bench.core_decisions``). Each header set is a realistic request;
the baseline, measured in the same run, is one whole bare-Starlette JSON request served in-process
(no HTTP server), so the ratio says how much of such a request the decisions would add. The
numbers are printed, never asserted: this machine's speed drifts from run to run.

Two columns per header set: ``warm`` is the steady state (the same browsers and hints come back
all day, and the parses are cached); ``cold`` defeats the caches with a unique User-Agent and
Accept per call, the worst case a flood of random headers could force.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.framework import save_results, stamped
from tiered.core.capabilities import read_client
from tiered.core.negotiation import negotiate
from tiered.core.vary import vary_value

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)

TARGET_US = 10.0
"""The issue's target for the decisions, warm, per request."""

HEADER_SETS: dict[str, dict[str, str]] = {
    "modern browser + hints": {
        "accept": BROWSER_ACCEPT,
        "user-agent": CHROME,
        "ect": "4g",
        "rtt": "50",
        "downlink": "10",
        "device-memory": "8",
        "sec-ch-ua-mobile": "?0",
        "sec-ch-prefers-color-scheme": '"dark"',
        "cookie": "tiered_js=1; tiered_session=abc",
    },
    "htmx request": {
        "accept": "text/html",
        "user-agent": CHROME,
        "hx-request": "true",
        "hx-request-type": "partial",
        "hx-target": "div#tasks",
        "hx-source": "form#new-task",
        "hx-current-url": "http://127.0.0.1:8000/tasks",
        "cookie": "tiered_js=1; tiered_session=abc",
    },
    "phone on 2G, Save-Data": {
        "accept": BROWSER_ACCEPT,
        "user-agent": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Mobile Safari/537.36",
        "save-data": "on",
        "ect": "2g",
        "rtt": "1900",
        "downlink": "0.25",
        "device-memory": "1",
        "sec-ch-ua-mobile": "?1",
    },
    "API client": {"accept": "application/json", "user-agent": "python-httpx/0.28.1"},
    "lynx": {
        "accept": "text/html, text/plain, text/sgml, */*;q=0.01",
        "user-agent": "Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.9",
    },
    "crawler": {
        "accept": "*/*",
        "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    },
}


def decide(headers: dict[str, str], cookies: dict[str, str]) -> str:
    client = read_client(headers, cookies)
    negotiated = negotiate(headers.get("accept"), client.htmx)
    return vary_value(negotiated, client)


def per_call_us(func: Callable[[], object], seconds: float) -> float:
    """Median of five timed batches, in microseconds per call."""
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            func()
        if time.perf_counter() - start > seconds / 10:
            break
        batch *= 2
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(batch):
            func()
        samples.append((time.perf_counter() - start) / batch * 1e6)
    return sorted(samples)[2]


def bare_starlette_request_us(seconds: float) -> float:
    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Hello, World!"})

    app = Starlette(routes=[Route("/json", hello)])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/json",
        "raw_path": b"/json",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        return None

    async def serve(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            await app(dict(scope), receive, send)
        return time.perf_counter() - start

    # Inside one running loop, as a server would call the app; batches sized to ~seconds/10.
    count = 1000
    while asyncio.run(serve(count)) < seconds / 10:
        count *= 2
    samples = sorted(asyncio.run(serve(count)) / count * 1e6 for _ in range(5))
    return samples[2]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument(
        "--quick", action="store_true", help="write to <date>-quick.json (with --seconds 0.2)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    baseline = bare_starlette_request_us(args.seconds)
    counter = itertools.count()
    print(f"baseline: a bare Starlette JSON request in-process costs {baseline:.1f} µs\n")
    print(f"{'header set':<26} {'warm µs':>8} {'cold µs':>8} {'warm / baseline':>16}")
    worst = 0.0
    rows: list[dict[str, object]] = []
    for name, headers in HEADER_SETS.items():
        cookies: dict[str, str] = {}
        if "cookie" in headers:
            cookies = dict(part.split("=", 1) for part in headers["cookie"].split("; "))

        def warm_call(h: dict[str, str] = headers, c: dict[str, str] = cookies) -> str:
            return decide(h, c)

        warm = per_call_us(warm_call, args.seconds)

        def cold(h: dict[str, str] = headers, c: dict[str, str] = cookies) -> str:
            n = next(counter)
            fresh = {
                **h,
                "user-agent": f"{h['user-agent']} r/{n}",
                "accept": f"{h['accept']}, x/{n}",
            }
            return decide(fresh, c)

        cold_us = per_call_us(cold, args.seconds)
        worst = max(worst, warm)
        print(f"{name:<26} {warm:>8.2f} {cold_us:>8.1f} {warm / baseline:>16.3f}")
        rows.append({"header_set": name, "warm_us": round(warm, 2), "cold_us": round(cold_us, 2)})
    verdict = "within" if worst < TARGET_US else "OVER"
    print(f"\nslowest warm decision: {worst:.2f} µs — {verdict} the {TARGET_US:g} µs target")
    if not args.no_save:
        report = stamped(
            load_before,
            seconds=args.seconds,
            baseline_us=round(baseline, 2),
            baseline="one bare Starlette JSON request, in-process",
            results=rows,
            slowest_warm_us=round(worst, 2),
            target_us=TARGET_US,
        )
        print(f"Written to {save_results(report, quick=args.quick, part='core_decisions')}")


if __name__ == "__main__":
    main()
