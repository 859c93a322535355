"""What tiered costs over plain Starlette and plain FastAPI: ``json`` and ``fortunes`` over HTTP.

Run: ``make bench`` or ``make bench-quick`` (with every other benchmark); or alone,
``python -m bench.framework [--quick] [--seconds S] [--rounds N] [--warmup S]``, and in-process
(each app awaited directly, no server) ``python -m bench.framework --in-process [--quick]``.

Every variant in ``bench/fortunes_apps.py`` runs in its own uvicorn process (uvloop, httptools,
one worker) pinned to CPU 0; wrk (2 threads, 64 connections) runs pinned to CPU 1. Each endpoint's
response is checked before anything is measured. Then every endpoint is loaded in turn, and the
whole sequence is repeated (``--rounds``), so a drift in the machine's speed hits every variant
alike; ratios are taken within a round, and the medians over rounds are printed and written to
``bench/results/<date>.json`` (a quick run: ``<date>-quick.json``). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import escape

from bench.fortunes_apps import ADDITIONAL, DB_ENVIRON, FORTUNES, create_database

RESULTS = Path(__file__).resolve().parent / "results"
SERVER_CPU = "0"
LOAD_CPU = "1"
THREADS = 2
CONNECTIONS = 64
SECONDS = 5.0
"""Seconds per measured run (``--seconds``); a quick run measures for 1 s."""
QUICK_SECONDS = 1.0
INSTALL_TOOLS = "sudo bench/install-tools"
"""What installs the tools the benchmarks drive (wrk; Lighthouse, Node and Chromium)."""
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# variant name -> (factory in bench.fortunes_apps, what it is)
VARIANTS: dict[str, tuple[str, str]] = {
    "starlette": ("bare_starlette", "(a) bare Starlette"),
    "fastapi": ("plain_fastapi", "(b) plain FastAPI + Jinja2Templates"),
    "starlette+templates": ("starlette_templates", "(c) Starlette route + Jinja2Templates"),
    "starlette+models": ("starlette_models", "(e) bare Starlette with the tiered view's data"),
    "tiered view": ("tiered_view", "(d) tiered @view on FastAPI"),
}


def _sorted_rows() -> list[tuple[int, str]]:
    rows = [*enumerate(FORTUNES, start=1), (0, ADDITIONAL)]
    return sorted(rows, key=lambda row: row[1])


def _table() -> str:
    cells = "".join(f"<tr><td>{id_}</td><td>{escape(m)}</td></tr>" for id_, m in _sorted_rows())
    return f"<table><tr><th>id</th><th>message</th></tr>{cells}</table>"


PAGE = f"<!DOCTYPE html><html><head><title>Fortunes</title></head><body>{_table()}</body></html>"


def _check_json(body: bytes) -> bool:
    return bool(json.loads(body) == {"message": "Hello, World!"})


def _check_page(body: bytes) -> bool:
    return body.decode() == PAGE and b"&lt;script&gt;" in body


def _check_fragment(body: bytes) -> bool:
    return body.decode() == _table()


def _check_fortunes_json(body: bytes) -> bool:
    expected = [{"id": id_, "message": message} for id_, message in _sorted_rows()]
    return bool(json.loads(body) == {"fortunes": expected})


@dataclass(frozen=True)
class Endpoint:
    test: str
    """``json``, ``fortunes page``, ``fortunes fragment`` or ``fortunes json``."""
    variant: str
    path: str
    headers: dict[str, str]
    content_type: str
    check: Callable[[bytes], bool] = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.test} / {self.variant}"


_JSON = {"User-Agent": CHROME, "Accept": "application/json"}
_PAGE = {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT}
_FRAGMENT = {"User-Agent": CHROME, "Accept": "text/html", "HX-Request": "true"}
_HTML = "text/html; charset=utf-8"

ENDPOINTS = [
    *(
        Endpoint("json", v, "/json", _JSON, "application/json", _check_json)
        for v in ("starlette", "fastapi", "tiered view")
    ),
    *(
        Endpoint("fortunes page", v, "/fortunes", _PAGE, _HTML, _check_page)
        for v in (
            "starlette",
            "fastapi",
            "starlette+templates",
            "starlette+models",
            "tiered view",
        )
    ),
    *(
        Endpoint("fortunes fragment", v, "/fortunes", _FRAGMENT, _HTML, _check_fragment)
        for v in ("tiered view",)
    ),
    *(
        Endpoint("fortunes json", v, "/fortunes", _JSON, "application/json", _check_fortunes_json)
        for v in ("tiered view",)
    ),
]
# What each test is compared with: the same test if the baseline has it, else its page.
BASELINE_TEST = {
    "json": "json",
    "fortunes page": "fortunes page",
    "fortunes fragment": "fortunes page",
    "fortunes json": "fortunes page",
}


@dataclass
class Sample:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _servers(database: Path) -> Iterator[dict[str, int]]:
    """Start every variant's uvicorn (one process each); once all answer, pin every one (all its
    threads) to the server CPU; yield their ports. Started unpinned, they import in parallel."""
    env = {**os.environ, DB_ENVIRON: str(database), "PYTHONPATH": str(Path.cwd())}
    processes: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for variant, (factory, _) in VARIANTS.items():
            port = _free_port()
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                f"bench.fortunes_apps:{factory}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            processes.append(subprocess.Popen(command, env=env))
            ports[variant] = port
        for variant, port in ports.items():
            _wait_for(port, variant)
        if shutil.which("taskset"):
            for process in processes:
                subprocess.run(
                    ["taskset", "-a", "-p", "-c", SERVER_CPU, str(process.pid)],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for(port: int, variant: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"The {variant!r} server did not start on port {port} within 20 s.")


def _verify(endpoint: Endpoint, port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{endpoint.path}", headers=endpoint.headers
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
        body = response.read()
        content_type = response.headers.get("content-type")
        status = response.status
    _check_response(endpoint, status, content_type, body)


def _check_response(
    endpoint: Endpoint, status: int, content_type: str | None, body: bytes, how: str = ""
) -> None:
    """Stop unless the response is the endpoint's: 200, its ``Content-Type``, its body."""
    if status != 200 or content_type != endpoint.content_type or not endpoint.check(body):
        raise SystemExit(
            f"{endpoint.label}{how}: wrong response (status {status}, Content-Type "
            f"{content_type!r}); body starts {body[:200]!r}. Fix the variant before measuring it."
        )


_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(endpoint: Endpoint, port: int, seconds: float) -> Sample:
    command = [
        *(["taskset", "-c", LOAD_CPU] if shutil.which("taskset") else []),
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--latency",
        *(arg for name, value in endpoint.headers.items() for arg in ("-H", f"{name}: {value}")),
        f"http://127.0.0.1:{port}{endpoint.path}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output, endpoint.label)


def parse_wrk(output: str, label: str = "the run") -> Sample:
    """req/s, p50 and p99 (ms) and the error count from wrk's ``--latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise SystemExit(f"Could not read wrk's output for {label}:\n{output}")
    latency = {q: float(v) * _UNITS[u] for q, v, u in _LATENCY.findall(output)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Sample(float(rps.group(1)), latency.get("50", 0.0), latency.get("99", 0.0), errors)


def require_wrk() -> None:
    """Stop, saying what installs it, when wrk is missing: every HTTP benchmark drives it."""
    if shutil.which("wrk") is None:
        raise SystemExit(
            f"wrk is not installed: `{INSTALL_TOOLS}` installs it (or `apt-get install -y wrk`)."
        )


def results_path(quick: bool = False) -> Path:
    """``bench/results/<date>.json``; a quick run writes ``<date>-quick.json``, so it never
    replaces a full run's figures."""
    return RESULTS / f"{datetime.date.today().isoformat()}{'-quick' if quick else ''}.json"


PART_KEYS = ("core_decisions", "flags_telemetry", "in_process")
"""Part 2's reports, kept under these keys of the same file as the framework's."""


def read_results(path: Path) -> dict[str, Any]:
    """What a results file holds; nothing when it is missing or not JSON."""
    if path.exists():
        with contextlib.suppress(ValueError):
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    return {}


def write_results(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``path`` (in ``bench/results/``); the path, relative when it can be."""
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def stamped(load_before: float, **fields: Any) -> dict[str, Any]:
    """A part's report: the time, the load average before and now, then ``fields``."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(_load_average(), 2),
        **fields,
    }


def save_results(report: dict[str, Any], *, quick: bool, part: str | None = None) -> Path:
    """Write to today's ``bench/results/<date>.json``: the framework's report at the top level
    (``part`` None), or part 2's under its key, keeping every other part the file holds."""
    path = results_path(quick)
    data = read_results(path)
    if part is None:
        data = {**{key: data[key] for key in PART_KEYS if key in data}, **report}
    else:
        data[part] = report
    return write_results(path, data)


def _load_average() -> float:
    return os.getloadavg()[0]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    names = (
        "tiered",
        "starlette",
        "fastapi",
        "pydantic",
        "jinja2",
        "uvicorn",
        "uvloop",
        "httptools",
    )
    versions = {"python": platform.python_version()}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    versions["wrk"] = (wrk.stdout or wrk.stderr).split("[", 1)[0].strip()
    return versions


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure(seconds: float, warmup: float, rounds: int) -> dict[str, object]:
    samples: dict[str, list[Sample]] = {e.label: [] for e in ENDPOINTS}
    load_before = _load_average()
    with tempfile.TemporaryDirectory() as directory:
        database = Path(directory) / "fortunes.sqlite3"
        create_database(database)
        with _servers(database) as ports:
            for endpoint in ENDPOINTS:
                _verify(endpoint, ports[endpoint.variant])
            print(f"All {len(ENDPOINTS)} responses verified.", flush=True)
            for endpoint in ENDPOINTS if warmup > 0 else ():
                _wrk(endpoint, ports[endpoint.variant], max(1.0, round(warmup)))
            for round_ in range(1, rounds + 1):
                print(f"Round {round_} of {rounds}", flush=True)
                for endpoint in ENDPOINTS:
                    sample = _wrk(endpoint, ports[endpoint.variant], seconds)
                    samples[endpoint.label].append(sample)
                    print(
                        f"  {endpoint.label:40} {sample.requests_per_second:9.0f} req/s", flush=True
                    )
    rows = []
    for endpoint in ENDPOINTS:
        mine = samples[endpoint.label]
        baseline = BASELINE_TEST[endpoint.test]
        ratios: dict[str, float] = {}
        for against in ("fastapi", "starlette"):
            theirs = samples[f"{baseline} / {against}"]
            ratios[against] = _median(
                [
                    a.requests_per_second / b.requests_per_second
                    for a, b in zip(mine, theirs, strict=True)
                    if b.requests_per_second  # none when a run completed no request
                ]
            )
        rows.append(
            {
                "test": endpoint.test,
                "variant": endpoint.variant,
                "what": VARIANTS[endpoint.variant][1],
                "requests_per_second": _median([s.requests_per_second for s in mine]),
                "p50_ms": _median([s.p50_ms for s in mine]),
                "p99_ms": _median([s.p99_ms for s in mine]),
                "x_fastapi": ratios["fastapi"],
                "x_starlette": ratios["starlette"],
                "errors": sum(s.errors for s in mine),
                "samples": [asdict(s) for s in mine],
            }
        )
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(_load_average(), 2),
        "versions": _versions(),
        "settings": {
            "seconds": seconds,
            "warmup_seconds": warmup,
            "rounds": rounds,
            "threads": THREADS,
            "connections": CONNECTIONS,
            "server": "uvicorn, uvloop + httptools, 1 worker, taskset -c 0",
            "load": "wrk, taskset -c 1",
        },
        "results": rows,
    }


# --- in-process: each variant's ASGI app awaited directly -------------------------------------


IN_PROCESS_REQUESTS = 3000
"""Requests a measurement (``--in-process``); each round measures every endpoint once."""


async def _in_process(rounds: int, count: int) -> dict[str, Any]:
    """µs a request, each endpoint's app awaited directly: no server, no socket, one request at
    a time. Steadier than HTTP on a shared machine (what the server does is the same for every
    variant, and what makes over-HTTP figures drift is mostly outside the app); the best of
    ``rounds`` is kept, and the ratios are of those bests."""
    from bench import fortunes_apps
    from bench.telemetry_overhead import lifespan, per_request_us

    apps: dict[str, Any] = {}
    stops = []
    samples: dict[str, list[float]] = {e.label: [] for e in ENDPOINTS}
    try:
        for variant, (factory, _) in VARIANTS.items():
            apps[variant] = getattr(fortunes_apps, factory)()
            stops.append(await lifespan(apps[variant]))
        for endpoint in ENDPOINTS:
            await _verify_in_process(apps[endpoint.variant], endpoint)
            await per_request_us(apps[endpoint.variant], _raw(endpoint), count // 10, endpoint.path)
        for round_ in range(1, rounds + 1):
            print(f"Round {round_} of {rounds} (in-process)", flush=True)
            for endpoint in ENDPOINTS:
                app = apps[endpoint.variant]
                us = await per_request_us(app, _raw(endpoint), count, endpoint.path)
                samples[endpoint.label].append(us)
                print(f"  {endpoint.label:40} {us:7.1f} µs", flush=True)
    finally:
        for stop in stops:
            await stop()
    best = {label: min(found) for label, found in samples.items()}
    rows = []
    for endpoint in ENDPOINTS:
        baseline = BASELINE_TEST[endpoint.test]
        mine = best[endpoint.label]
        rows.append(
            {
                "test": endpoint.test,
                "variant": endpoint.variant,
                "us_per_request": round(mine, 2),
                "x_fastapi": round(best[f"{baseline} / fastapi"] / mine, 3),
                "x_starlette": round(best[f"{baseline} / starlette"] / mine, 3),
                "samples_us": [round(us, 2) for us in samples[endpoint.label]],
            }
        )
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "load_average_before": round(_load_average(), 2),
        "settings": {"requests": count, "rounds": rounds, "kept": "the best of the rounds"},
        "results": rows,
    }


def _raw(endpoint: Endpoint) -> list[tuple[bytes, bytes]]:
    headers = {"host": "127.0.0.1:8000", **{k.lower(): v for k, v in endpoint.headers.items()}}
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def _verify_in_process(app: Any, endpoint: Endpoint) -> None:
    """The same check as over HTTP: status, ``Content-Type`` and body."""
    from bench.telemetry_overhead import scope_for

    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(dict(message))

    await app(scope_for(_raw(endpoint), endpoint.path), receive, send)
    start = messages[0]
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    _check_response(endpoint, start["status"], headers.get("content-type"), body, " in-process")


def print_in_process(report: dict[str, Any]) -> None:
    print()
    print(f"{report['cpu']}; in-process, the best of {report['settings']['rounds']} rounds")
    header = f"{'test':18} {'variant':19} {'µs/req':>8} {'x FastAPI':>9} {'x Starlette':>11}"
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        print(
            f"{row['test']:18} {row['variant']:19} {row['us_per_request']:8.1f} "
            f"{row['x_fastapi']:9.2f} {row['x_starlette']:11.2f}"
        )


def print_table(report: dict[str, object]) -> None:
    rows = report["results"]
    assert isinstance(rows, list)
    print()
    print(
        f"{report['cpu']}; load average {report['load_average_before']} before, "
        f"{report['load_average_after']} after"
    )
    header = (
        f"{'test':18} {'variant':19} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'x FastAPI':>9} {'x Starlette':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        errors = f"  ({row['errors']} errors)" if row["errors"] else ""
        print(
            f"{row['test']:18} {row['variant']:19} {row['requests_per_second']:8.0f} "
            f"{row['p50_ms']:7.2f} {row['p99_ms']:7.2f} {row['x_fastapi']:9.2f} "
            f"{row['x_starlette']:11.2f}{errors}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per run")
    parser.add_argument(
        "--seconds", type=float, help=f"seconds per measured run (default {SECONDS:g})"
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds of load on each endpoint before the rounds (default 1; quick 0: the check "
        "has served each endpoint once)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="await each app directly instead of over HTTP (no server; µs a request; "
        f"{IN_PROCESS_REQUESTS} requests a measurement, quick {IN_PROCESS_REQUESTS // 10})",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.in_process:
        count = IN_PROCESS_REQUESTS // 10 if args.quick else IN_PROCESS_REQUESTS
        with tempfile.TemporaryDirectory() as directory:
            database = Path(directory) / "fortunes.sqlite3"
            create_database(database)
            os.environ[DB_ENVIRON] = str(database)
            report = asyncio.run(_in_process(max(args.rounds, 3), count))
        print_in_process(report)
        if not args.no_save:
            print(f"\nWritten to {save_results(report, quick=args.quick, part='in_process')}")
        return
    require_wrk()
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    # wrk takes whole seconds only
    warmup = args.warmup if args.warmup is not None else (0.0 if args.quick else 1.0)
    load = _load_average()
    if load > 0.5:
        print(
            f"Warning: the load average is {load:.2f}; results are noisier while the machine "
            "is busy (wait for under 0.5 to compare runs).",
            flush=True,
        )
    report = measure(seconds, warmup, args.rounds)
    report["mode"] = "quick" if args.quick else "full"
    print_table(report)
    if not args.no_save:
        print(f"\nWritten to {save_results(report, quick=args.quick)}")


if __name__ == "__main__":
    main()
