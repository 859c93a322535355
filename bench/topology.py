"""The production topology under load: nginx (TLS) in front of 1 and 2 instances, against one.

Run: ``make bench-topology`` or ``python -m bench.topology [--quick] [--seconds S] [--rounds N]
[--no-save]`` (about 3 minutes; quick, under a minute). Not part of ``make bench``, which would
then pass its 10 minutes (``bench/README.md`` says so).

One PostgreSQL database seeded as part 3 seeds it (``taskboard seed --users 1000 --tasks
100000``; dropped afterwards), one Redis (``REDIS_URL``, database 9), and the list page
(``GET /tasks`` as a browser, 20 tasks) as part 3 loads it: wrk, 2 threads and 64 connections,
a generated Lua script that sends every request as the next of 32 logged-in users. Served:

1. ``direct``: one ``taskboard serve`` (granian, one worker), plain http, no proxy;
2. ``nginx-1``: ``taskboard stack`` with ``STACK_INSTANCES=1``: nginx terminates TLS (wrk speaks
   HTTP/1.1 with keep-alive over it) and passes each request to the one instance;
3. ``nginx-2``: the same with 2 instances (nginx sends each request to the one with fewest in
   flight);
4. ``nginx-2 gzip``: the same requests with ``Accept-Encoding: gzip``, as browsers send it;
   nginx compresses the page (the app compresses nothing).

The direct instance runs with the stack's instances' environment (Redis, ``TASKBOARD_INSTANCES=1``),
so the difference between 1 and 2 is nginx and TLS alone. Nothing is pinned: this machine has 2
cores, and wrk, nginx, the instances and PostgreSQL share them in every row (part 3's one-worker
rows pin the server to a core of its own, so they are not comparable with these). Each setup is
started in turn, checked (every user's page answers 200 with 20 tasks) and warmed up, then loaded;
the sequence is repeated (``--rounds``, default 3; quick 1), and the medians are printed with the
ratios in the same round, and written to ``bench/results/<date>-app.json`` under ``topology``.

CPU per request is split by who spent it (``/proc/<pid>/stat`` before and after each run): the
instances, nginx, PostgreSQL's backends for this database, and wrk; ``cores`` is how busy the
whole machine was (every process on it, out of 2 cores). The database is dropped and the stack
stopped (``SIGTERM``, then its children are checked gone) even on Ctrl-C or ``SIGTERM``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import taskboard_fixture as fixture
from bench.framework import (
    CONNECTIONS,
    QUICK_SECONDS,
    THREADS,
    _free_port,
    parse_wrk,
    require_wrk,
)
from bench.taskboard_fixture import SeededDatabase, Visitor, _descendants, _request
from bench.taskboard_load import TASKS, USERS, VISITORS

QUICK_VISITORS = 8
ROUNDS = 3
REDIS_URL = "redis://127.0.0.1:6379/9"
"""Telemetry counts and log-in limits of every setup go here (the stack's own default is
database 0); the same for all, as in production."""
GZIP = {"Accept-Encoding": "gzip"}
SECONDS = 15.0
"""Seconds of each measured run. wrk opens its 64 connections at the same instant, and through
nginx the first request on each carries a TLS handshake: 64 handshakes at once, queued with the
requests on two cores. In a 5 s run those first requests were about 3% of all, so the p99 was
the start-up burst's (nginx-1: 254 ms in 5 s runs, 153 ms in 12 s runs, the same build, the same
hour); 15 s keeps them well under 1%, which is what the p99 target asks about."""
TARGET_P99_MS = 250.0
"""The list page's p99 at 64 connections per instance, on PostgreSQL."""
STACK_START_TIMEOUT = 120.0
STACK_STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Setup:
    """Something to load: its URL, how to reach it from Python, and its processes."""

    name: str
    what: str
    instances: int
    port: int
    tls: ssl.SSLContext | None
    groups: Callable[[], dict[str, list[int]]]
    """Process ids by who they are (``instances``, ``nginx``), read when a run starts."""

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"


# --- the setups -------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    return [pid, *_descendants(pid)]


@contextlib.contextmanager
def direct(database: SeededDatabase) -> Iterator[Setup]:
    """One ``taskboard serve`` (granian, one worker, not pinned), plain http."""
    environ = {"REDIS_URL": REDIS_URL, "TASKBOARD_INSTANCES": "1"}
    with fixture.serve(
        database, server=fixture.DEFAULT_SERVER, workers=1, pin=False, environ=environ
    ) as server:
        yield Setup(
            "direct",
            "taskboard serve, http, no proxy",
            1,
            server.port,
            None,
            lambda: {"instances": _tree(server.process.pid)},
        )


@contextlib.contextmanager
def stack(database: SeededDatabase, instances: int) -> Iterator[Setup]:
    """``taskboard stack`` (nginx, TLS, ``instances`` instances) on ``database``; stopped with
    ``SIGTERM`` afterwards, and each of its processes checked gone (killed if it is not)."""
    port = _free_port()
    output = database.data_dir / f"stack-{instances}-{port}.out"
    log = database.data_dir / f"stack-{instances}-{port}.log"
    environ = {
        **database.environ(),
        "STACK_PORT": str(port),
        "STACK_INSTANCES": str(instances),
        "REDIS_URL": REDIS_URL,
    }
    state = database.data_dir / "stack"
    with output.open("wb") as out, log.open("wb") as err:
        # Its own session: a Ctrl-C reaches this process alone, which then stops the stack.
        process = subprocess.Popen(
            [sys.executable, "-m", "taskboard.cli", "stack"],
            env=environ,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    children: list[int] = []
    try:
        url = _wait_for_url(process, output, log)
        running = json.loads((state / "stack.json").read_text(encoding="utf-8"))
        children = [int(running["nginx"]["pid"]), *(int(i["pid"]) for i in running["instances"])]
        tls = ssl.create_default_context(cafile=str(state / "tls" / "ca.pem"))

        def groups() -> dict[str, list[int]]:
            current = json.loads((state / "stack.json").read_text(encoding="utf-8"))
            return {
                "instances": [p for i in current["instances"] for p in _tree(int(i["pid"]))],
                "nginx": _tree(int(current["nginx"]["pid"])),
            }

        what = f"taskboard stack, STACK_INSTANCES={instances}: {url} (nginx, TLS, HTTP/1.1)"
        yield Setup(f"nginx-{instances}", what, instances, port, tls, groups)
    finally:
        _stop_stack(process, [*children, *(_descendants(process.pid) if children else [])])


def _wait_for_url(process: subprocess.Popen[bytes], output: Path, log: Path) -> str:
    """The https URL the stack prints on a line of its own once everything is up."""
    deadline = time.monotonic() + STACK_START_TIMEOUT
    while time.monotonic() < deadline:
        for line in output.read_text(errors="replace").splitlines():
            if line.startswith("https://"):
                return line.strip()
        if process.poll() is not None:
            break
        time.sleep(0.2)  # polling the stack's output for its URL
    tail = log.read_text(errors="replace")[-3000:]
    state = "exited with code " + str(process.returncode) if process.poll() is not None else ""
    raise SystemExit(
        f"taskboard stack did not print its https URL within {STACK_START_TIMEOUT:.0f} s "
        f"{state}; its log ends:\n{tail}"
    )


def _stop_stack(process: subprocess.Popen[bytes], children: Sequence[int]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STACK_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"taskboard stack did not stop within {STACK_STOP_TIMEOUT:.0f} s; killing it.")
            process.kill()
            process.wait()
    deadline = time.monotonic() + 10
    left = [pid for pid in children if _alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)  # the stack has exited; its children may take a moment more
        left = [pid for pid in left if _alive(pid)]
    for pid in left:
        print(f"taskboard stack left pid {pid} ({fixture._cmdline(pid)[:80]}); killing it.")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- one run ----------------------------------------------------------------------------------


def _postgres_backends(database: SeededDatabase) -> list[int]:
    """PostgreSQL's backend processes serving ``database`` (their titles name it)."""
    name = database.url.rsplit("/", 1)[1]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and f" {name} " in fixture._cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def _cpu_by_group(setup: Setup, database: SeededDatabase) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each process, by group: the setup's, and PostgreSQL's backends."""
    groups = {**setup.groups(), "postgresql": _postgres_backends(database)}
    return {
        name: {pid: fixture._cpu_seconds([pid]) for pid in pids} for name, pids in groups.items()
    }


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def _wrk_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)s, ([\d.]+)(B|KB|MB|GB) read")
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def run(setup: Setup, script: Path, seconds: float, database: SeededDatabase) -> dict[str, Any]:
    """wrk on ``setup`` with ``script``; its figures and the CPU each group spent per request."""
    before = _cpu_by_group(setup, database)
    wrk_before = _wrk_cpu()
    busy_before, total_before = _machine_busy()
    command = fixture.wrk_command(setup.url, script, seconds, pinned=False)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    busy_after, total_after = _machine_busy()
    after = _cpu_by_group(setup, database)
    # Per process, as the pools open connections (so PostgreSQL starts backends) under load: a
    # process new since the run began spent all its CPU during it.
    cpu = {
        name: sum(max(0.0, s - before[name].get(pid, 0.0)) for pid, s in found.items())
        for name, found in after.items()
    }
    cpu["wrk"] = _wrk_cpu() - wrk_before
    sample = parse_wrk(output, setup.name)
    completed = _REQUESTS.search(output)
    requests = int(completed.group(1)) if completed else 0
    read = float(completed.group(3)) * _BYTES[completed.group(4)] if completed else 0.0
    non_2xx = _NON_2XX.search(output)
    sockets = _SOCKET.search(output)
    return {
        "requests": requests,
        "requests_per_second": sample.requests_per_second,
        "p50_ms": sample.p50_ms,
        "p99_ms": sample.p99_ms,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
        "kib_per_response": round(read / requests / 1024, 1) if requests else 0.0,
        "cpu_ms_per_request": {
            name: round(1000 * seconds_ / requests, 3) if requests else 0.0
            for name, seconds_ in cpu.items()
        },
        "cores_busy": round(
            (busy_after - busy_before) / (total_after - total_before) * (os.cpu_count() or 1), 2
        )
        if total_after > total_before
        else 0.0,
    }


# --- the whole part ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    """``direct``, ``nginx-1``, ``nginx-2``, ``nginx-2 gzip``: the row's name."""
    headers: Mapping[str, str]


def _workloads(setup: Setup) -> list[Workload]:
    plain = Workload(setup.name, {})
    return [plain, Workload(f"{setup.name} gzip", GZIP)] if setup.instances == 2 else [plain]


def _check(setup: Setup, workload: Workload, visitors: Sequence[Visitor]) -> None:
    """Every visitor's list page answers 200 with 20 tasks (``fixture.verify``); and a proxy
    asked for gzip answers gzip (else the gzip row would measure nothing new)."""
    fixture.verify(setup.port, "page", visitors, tls=setup.tls, headers=workload.headers)
    if workload.headers.get("Accept-Encoding") == "gzip":
        headers = {**fixture._get_headers("page"), **workload.headers}
        headers["Cookie"] = visitors[0].cookie
        status, found, _ = _request(setup.port, "GET", "/tasks", headers=headers, tls=setup.tls)
        if status != 200 or found.get("content-encoding") != ["gzip"]:
            raise SystemExit(
                f"{workload.name}: GET /tasks with Accept-Encoding: gzip answered {status} with "
                f"Content-Encoding {found.get('content-encoding')}; expected gzip from nginx."
            )


def measure(
    database: SeededDatabase, seconds: float, warmup: float, rounds: int, visitors: int
) -> dict[str, Any]:
    """Every setup in turn, ``rounds`` times; each row's medians and the same-round ratios."""
    load_before = fixture.machine()["load_average"]
    factories: list[Callable[[], contextlib.AbstractContextManager[Setup]]] = [
        lambda: direct(database),
        lambda: stack(database, 1),
        lambda: stack(database, 2),
    ]
    logged_in: dict[bool, list[Visitor]] = {}
    """By whether they logged in over https: the plain cookies or the __Host- ones."""
    samples: dict[str, list[dict[str, Any]]] = {}
    described: dict[str, str] = {}
    for round_ in range(1, rounds + 1):
        print(f"Round {round_} of {rounds}", flush=True)
        for factory in factories:
            with factory() as setup:
                https = setup.tls is not None
                if https not in logged_in:
                    # The sessions are in the database: both stacks accept the same cookies.
                    logged_in[https] = fixture.log_in(setup.port, visitors, 0, tls=setup.tls)
                users = logged_in[https]
                for workload in _workloads(setup):
                    _check(setup, workload, users)
                    script = database.data_dir / f"wrk-{secrets.token_hex(4)}.lua"
                    script.write_text(
                        fixture.lua_script("page", users, headers=workload.headers),
                        encoding="utf-8",
                    )
                    if warmup:
                        run(setup, script, warmup, database)
                    found = run(setup, script, seconds, database)
                    samples.setdefault(workload.name, []).append(found)
                    described[workload.name] = setup.what + (
                        ", Accept-Encoding: gzip" if workload.headers else ""
                    )
                    errors = found["non_2xx"] + found["socket_errors"]
                    print(
                        f"  {workload.name:13} {found['requests_per_second']:6.0f} req/s"
                        f"  p50 {found['p50_ms']:5.0f} ms  p99 {found['p99_ms']:6.0f} ms"
                        f"  {errors} errors  {found['cores_busy']:.2f} cores busy",
                        flush=True,
                    )
    rows = [_summary(name, described[name], found) for name, found in samples.items()]
    return {
        "date": fixture.now(),
        "load_average_before": load_before,
        "load_average_after": fixture.machine()["load_average"],
        "settings": {
            "seed": f"taskboard seed --users {USERS} --tasks {TASKS}",
            "seed_seconds": round(database.seed_seconds, 1),
            "database": "postgresql",
            "redis": REDIS_URL,
            "nginx": fixture._version_of(["nginx", "-v"]),
            "workload": fixture.WORKLOADS["page"],
            "visitors": visitors,
            "seconds": seconds,
            "warmup_seconds": warmup,
            "rounds": rounds,
            "threads": THREADS,
            "connections": CONNECTIONS,
            "placement": "nothing pinned: wrk, nginx, the instances and PostgreSQL share the "
            f"machine's {os.cpu_count()} cores",
        },
        "ratios": _ratios(samples),
        "target": {"list page p99 ms at 64 connections per instance": TARGET_P99_MS},
        "results": rows,
    }


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def _summary(name: str, what: str, found: Sequence[dict[str, Any]]) -> dict[str, Any]:
    groups = found[0]["cpu_ms_per_request"].keys()
    return {
        "setup": name,
        "what": what,
        "requests_per_second": _median([f["requests_per_second"] for f in found]),
        "p50_ms": _median([f["p50_ms"] for f in found]),
        "p99_ms": _median([f["p99_ms"] for f in found]),
        "non_2xx": sum(f["non_2xx"] for f in found),
        "socket_errors": sum(f["socket_errors"] for f in found),
        "kib_per_response": _median([f["kib_per_response"] for f in found]),
        "cpu_ms_per_request": {
            g: _median([f["cpu_ms_per_request"][g] for f in found]) for g in groups
        },
        "cores_busy": _median([f["cores_busy"] for f in found]),
        "samples": list(found),
    }


RATIOS = {
    "nginx-1 / direct": ("nginx-1", "direct"),
    "nginx-2 / nginx-1": ("nginx-2", "nginx-1"),
    "nginx-2 / direct": ("nginx-2", "direct"),
    "nginx-2 gzip / nginx-2": ("nginx-2 gzip", "nginx-2"),
}
"""Requests per second of one setup over another's, in the same round (medians over rounds)."""


def _ratios(samples: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for label, (mine, theirs) in RATIOS.items():
        pairs = zip(samples.get(mine, []), samples.get(theirs, []), strict=False)
        values = [
            a["requests_per_second"] / b["requests_per_second"]
            for a, b in pairs
            if b["requests_per_second"]
        ]
        if values:
            ratios[label] = round(statistics.median(values), 2)
    return ratios


def print_table(report: dict[str, Any]) -> None:
    settings = report["settings"]
    print()
    print(
        f"The production topology (PostgreSQL; the list page; wrk -t{THREADS} -c{CONNECTIONS}; "
        f"{settings['visitors']} logged-in users; {settings['seconds']:g} s runs, median of "
        f"{settings['rounds']}); load average {report['load_average_before']} before, "
        f"{report['load_average_after']} after"
    )
    header = (
        f"{'setup':13} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'KiB':>5} "
        f"{'CPU ms/req: app':>15} {'nginx':>6} {'pg':>5} {'wrk':>5} {'cores':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        cpu = row["cpu_ms_per_request"]
        errors = row["non_2xx"] + row["socket_errors"]
        print(
            f"{row['setup']:13} {row['requests_per_second']:6.0f} {row['p50_ms']:7.1f} "
            f"{row['p99_ms']:7.1f} {errors:6} {row['kib_per_response']:5.1f} "
            f"{cpu['instances']:15.2f} {cpu.get('nginx', 0.0):6.2f} {cpu['postgresql']:5.2f} "
            f"{cpu['wrk']:5.2f} {row['cores_busy']:5.2f}"
            + (
                f"  ({row['non_2xx']} non-2xx, {row['socket_errors']} socket errors)"
                if errors
                else ""
            )
        )
    print(
        "errors: non-2xx answers and socket errors; KiB: bytes read per response (headers "
        "too); cores: how busy the whole machine was, of its "
        f"{os.cpu_count()}. Nothing is pinned: wrk, nginx, the instances and PostgreSQL share "
        "the cores, so 2 instances show how the stack scales here, not on 2 machines."
    )
    print("  ".join(f"{label}: {value:.2f}x" for label, value in report["ratios"].items()))
    for row in report["results"]:
        if row["setup"].endswith("gzip"):
            continue
        per_instance = CONNECTIONS // (2 if row["setup"] == "nginx-2" else 1)
        met = "met" if row["p99_ms"] <= TARGET_P99_MS else "NOT met"
        if not row["requests_per_second"]:
            met = "no request completed: not a figure"
        print(
            f"Target p99 <= {TARGET_P99_MS:.0f} ms, {row['setup']} ({per_instance} connections "
            f"per instance): {row['p99_ms']:.0f} ms ({met})"
        )


def _stop_on_sigterm() -> None:
    """``SIGTERM`` ends the run as Ctrl-C does: through every ``finally`` (stack, database)."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(f"Stopped by {signal.Signals(signum).name}.")

    signal.signal(signal.SIGTERM, stop)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SECONDS:g} s runs, 1 round, 8 users"
    )
    parser.add_argument(
        "--seconds", type=float, help=f"seconds per measured run (default {SECONDS:g})"
    )
    parser.add_argument("--rounds", type=int, help=f"rounds (default {ROUNDS}; quick 1)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    require_wrk()
    _stop_on_sigterm()
    if not fixture.postgres_available():
        raise SystemExit(
            "PostgreSQL is not reachable at 127.0.0.1:5432; the stack runs on PostgreSQL only."
        )
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    rounds = args.rounds or (1 if args.quick else ROUNDS)
    visitors = QUICK_VISITORS if args.quick else VISITORS
    started = time.monotonic()
    fixture.warn_if_busy()
    print(f"Seeding postgresql: taskboard seed --users {USERS} --tasks {TASKS}", flush=True)
    try:
        with fixture.seeded_databases(["postgresql"], users=USERS, tasks=TASKS) as databases:
            print(f"Seeded in {time.monotonic() - started:.0f} s.", flush=True)
            report = measure(databases["postgresql"], seconds, 1.0, rounds, visitors)
    except KeyboardInterrupt:
        raise SystemExit("Interrupted: the stack is stopped and the database dropped.") from None
    report["mode"] = "quick" if args.quick else "full"
    report["wall_seconds"] = round(time.monotonic() - started)
    print_table(report)
    print(f"\nThe topology benchmark took {report['wall_seconds']} s.")
    if not args.no_save:
        print(f"Written to {fixture.save_part('topology', report, quick=args.quick)}")


if __name__ == "__main__":
    main()
