"""Taskboard under load: logged-in users on a seeded database; SQLite and PostgreSQL; 1, 2 workers.

Run alone: ``python -m bench.taskboard_load [--quick] [--seconds S] [--no-postgres]``; ``make
bench`` and ``make bench-app`` run it with the page-weight and server benchmarks
(``bench/app.py``).

A database seeded with ``taskboard seed`` (1,000 users, 100,000 tasks: 100 tasks a user) in SQLite
(a temporary data directory) and in PostgreSQL (a fresh database on 127.0.0.1:5432, dropped
afterwards). 32 users log in through ``POST /login`` (8 of them also get API tokens); wrk (2
threads, 64 connections) sends every request as the next user, with its session cookie:

- ``page``, ``fragment`` (``HX-Request: true``) and ``json`` of the list (``GET /tasks``, 20 tasks);
- ``search`` (``GET /tasks?q=dentist``);
- ``mix``: 80% list pages, 10% ``POST /tasks`` and 10% ``POST /tasks/{id}/toggle`` (JSON, with a
  bearer token, so no CSRF token is needed).

With 1 worker the server is pinned to CPU 0 and wrk to CPU 1; with 2 workers the machine's two
cores are shared by both workers and wrk (there is no third core), so 2 workers shows how the app
scales only roughly. Every workload is checked as every user before it is measured.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any

from bench import taskboard_fixture as fixture
from bench.framework import CONNECTIONS, QUICK_SECONDS, SECONDS, THREADS, require_wrk
from bench.taskboard_fixture import DbKind, SeededDatabase, Visitor, Workload

USERS = 1_000
TASKS = 100_000
VISITORS = 32
WRITERS = 8
TARGET_P99_MS = 100.0


def measure_database(
    database: SeededDatabase,
    seconds: float,
    warmup: float,
    *,
    warmup_each: bool = True,
    workers_options: Sequence[int] = (2, 1),
    workloads: Sequence[Workload] = tuple(fixture.WORKLOADS),
    logins: tuple[int, int] = (VISITORS, WRITERS),
) -> tuple[list[dict[str, Any]], list[Visitor]]:
    """Each of ``workloads`` on ``database`` with each worker count; the visitors (``logins``:
    how many, and how many of them write) are logged in on the first server and reused (their
    sessions are in the database). ``warmup_each``: warm up before every workload, else only
    before the first on each server."""
    rows: list[dict[str, Any]] = []
    visitors: list[Visitor] = []
    for workers in workers_options:
        with contextlib.ExitStack() as stack:
            # What `taskboard serve` runs by default; part 5 compares it with uvicorn.
            server = stack.enter_context(
                fixture.serve(database, workers=workers, server=fixture.DEFAULT_SERVER)
            )
            if not visitors:
                visitors = fixture.log_in(server.port, *logins)
            for index, workload in enumerate(workloads):
                fixture.verify(server.port, workload, visitors)
                script = fixture.lua_script(workload, visitors)
                if warmup and (warmup_each or index == 0):
                    fixture.run_wrk(server, script, warmup)
                run = fixture.run_wrk(server, script, seconds)
                rows.append(
                    {
                        "database": database.kind,
                        "workers": workers,
                        "server": server.server,
                        "placement": server.placement,
                        "workload": workload,
                        "what": fixture.WORKLOADS[workload],
                        "requests_per_second": run.sample.requests_per_second,
                        "p50_ms": run.sample.p50_ms,
                        "p99_ms": run.sample.p99_ms,
                        "errors": run.sample.errors,
                        "worker_restarts": run.worker_restarts,
                        "cpu_ms_per_request": run.cpu_ms_per_request,
                        "peak_rss_mib_per_worker": run.peak_rss_mib,
                        "vmhwm_mib_per_worker": run.hwm_mib,
                    }
                )
                print(
                    f"  {database.kind:10} {workers} worker(s) {workload:9} "
                    f"{run.sample.requests_per_second:7.0f} req/s  p99 {run.sample.p99_ms:6.0f} ms"
                    f"  {run.cpu_ms_per_request:5.2f} CPU ms/req"
                    f"  RSS {max(run.peak_rss_mib):.0f} MiB",
                    flush=True,
                )
    return rows, visitors


def measure(
    databases: dict[DbKind, SeededDatabase],
    seconds: float,
    warmup: float,
    *,
    warmup_each: bool = True,
    visitors: dict[DbKind, list[Visitor]] | None = None,
    two_workers: Sequence[DbKind] = ("sqlite", "postgresql"),
    one_worker: bool = True,
    workloads: Sequence[Workload] = tuple(fixture.WORKLOADS),
    logins: tuple[int, int] = (VISITORS, WRITERS),
) -> dict[str, Any]:
    """Part 3 on every database: 2 workers on the databases in ``two_workers``, and 1 worker
    (unless ``one_worker`` is false); ``visitors``, when given, receives each database's
    logged-in visitors for the other parts to reuse."""
    load_before = fixture.machine()["load_average"]
    rows: list[dict[str, Any]] = []
    for kind, database in databases.items():
        found, logged_in = measure_database(
            database,
            seconds,
            warmup,
            warmup_each=warmup_each,
            workers_options=(
                *((2,) if kind in two_workers else ()),
                *((1,) if one_worker else ()),
            ),
            workloads=workloads,
            logins=logins,
        )
        rows.extend(found)
        if visitors is not None:
            visitors[kind] = logged_in
    return {
        "date": fixture.now(),
        "load_average_before": load_before,
        "load_average_after": fixture.machine()["load_average"],
        "settings": {
            "seed": f"taskboard seed --users {USERS} --tasks {TASKS}",
            "seed_seconds": {k: round(d.seed_seconds, 1) for k, d in databases.items()},
            "visitors": logins[0],
            "writers": logins[1],
            "seconds": seconds,
            "warmup_seconds": warmup,
            "warmup_before": "every workload" if warmup_each else "the first workload on a server",
            "workloads": list(workloads),
            "threads": THREADS,
            "connections": CONNECTIONS,
            "one_worker": "taskset -c 0 for the server, taskset -c 1 for wrk",
            "two_workers": "not pinned: 2 workers and wrk share the machine's 2 cores",
        },
        "target": {"list page p99 ms at 64 connections on SQLite, 1 worker": TARGET_P99_MS},
        "results": rows,
    }


def print_table(report: dict[str, Any]) -> None:
    print()
    print(
        f"Taskboard under load (wrk -t{THREADS} -c{CONNECTIONS}; "
        f"{report['settings']['visitors']} logged-in users); load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after"
    )
    header = (
        f"{'database':10} {'workers':>7} {'workload':9} {'req/s':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'CPU ms':>6} {'RSS MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        if "skipped" in row:
            print(f"{row['database']:10} {row['workers']:7} skipped: {row['skipped']}")
            continue
        errors = f"  ({row['errors']} errors)" if row["errors"] else ""
        if row.get("worker_restarts"):
            errors += f"  ({row['worker_restarts']} workers restarted: not a fair figure)"
        print(
            f"{row['database']:10} {row['workers']:7} {row['workload']:9} "
            f"{row['requests_per_second']:7.0f} {row['p50_ms']:7.1f} {row['p99_ms']:7.1f} "
            f"{row['cpu_ms_per_request']:6.2f} {max(row['peak_rss_mib_per_worker']):8.0f}{errors}"
            + (f"  ({row['note']})" if row.get("note") else "")
        )
    print(
        "1 worker: server on CPU 0, wrk on CPU 1. 2 workers: this machine has only 2 cores, so "
        "both workers and wrk share them (not pinned)."
    )
    target = next(
        (
            r
            for r in report["results"]
            if r["database"] == "sqlite" and r["workers"] == 1 and r.get("workload") == "page"
        ),
        None,
    )
    if target is not None:
        met = "met" if target["p99_ms"] < TARGET_P99_MS else "NOT met"
        print(
            f"Target: list page on SQLite, 1 worker, p99 < {TARGET_P99_MS:.0f} ms: "
            f"{target['p99_ms']:.0f} ms ({met})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per run")
    parser.add_argument(
        "--seconds", type=float, help=f"seconds per measured run (default {SECONDS:g})"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    require_wrk()
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    warmup = 1.0
    fixture.warn_if_busy()
    kinds: list[DbKind] = ["sqlite"]
    if not args.no_postgres and fixture.postgres_available():
        kinds.append("postgresql")
    with fixture.seeded_databases(kinds, users=USERS, tasks=TASKS) as databases:
        report = measure(databases, seconds, warmup)
    report["mode"] = "quick" if args.quick else "full"
    print_table(report)
    if not args.no_save:
        print(f"\nWritten to {fixture.save_part('load', report, quick=args.quick)}")


if __name__ == "__main__":
    main()
