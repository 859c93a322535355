"""Taskboard's benchmarks in one run: under load, servers and memory, page weight, its peers.

Run: ``make bench`` and ``make bench-quick`` run it after the framework benchmarks; alone, ``make
bench-app`` (about 5 minutes) or ``make bench-app-quick`` (under a minute); or ``python -m
bench.app [--quick] [--seconds S] [--no-postgres] [--no-lighthouse]``. The soak is separate:
``make bench-soak`` (``python -m bench.servers --soak``).

One seeding (``taskboard seed --users 1000 --tasks 100000`` into SQLite and into a fresh
PostgreSQL database, at the same time) serves all four parts, which are printed as tables and
written together to ``bench/results/<date>-app.json`` (``load``, ``servers``, ``page_weight``,
``peers``; each with its own date and load average). See ``bench/README.md`` for each figure.

Full: 5 s runs, each after a 1 s warm-up; every workload on SQLite and PostgreSQL with 2 workers
and with 1; the servers compared in 2 interleaved rounds; Lighthouse. Quick (written to
``<date>-app-quick.json``): 1 s runs, SQLite only, 1 worker, the ``page`` and ``mix`` workloads
(one warm-up per server), 8 logged-in users instead of 32, 1 round of the servers, no Lighthouse
(``--lighthouse`` adds it). The servers compared also serve the page-weight part, and part 5's
granian server is the Taskboard of part 7, the list page against the same page built the
idiomatic FastAPI way and the Django way (``bench.list_peers``: 3 rotating cycles of 5 s runs;
quick, 2 of 1 s).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from bench import list_peers, page_weight, servers, taskboard_load
from bench import taskboard_fixture as fixture
from bench.framework import QUICK_SECONDS, SECONDS, require_wrk
from bench.taskboard_fixture import DbKind, Workload

QUICK_WORKLOADS: tuple[Workload, ...] = ("page", "mix")
QUICK_LOGINS = (8, 4)
"""Users logged in for a quick run, and how many of them write: each log-in is an argon2 check
(a quarter of a second of the server's CPU), so 32 take about 10 s."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="fewer variants, 1 s runs (under a minute)"
    )
    parser.add_argument(
        "--seconds", type=float, help=f"seconds per measured run (default {SECONDS:g})"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--lighthouse", action="store_true", help="run Lighthouse in a quick run")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    require_wrk()
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    warmup = 1.0
    run_lighthouse = not args.no_lighthouse and (args.lighthouse or not args.quick)
    started = time.monotonic()
    fixture.warn_if_busy()
    kinds: list[DbKind] = ["sqlite"]
    if args.no_postgres or args.quick:
        pass
    elif fixture.postgres_available():
        kinds.append("postgresql")
    else:
        print("PostgreSQL is not reachable at 127.0.0.1:5432; SQLite only.", flush=True)
    print(
        f"Seeding {', '.join(kinds)}: taskboard seed --users {taskboard_load.USERS} "
        f"--tasks {taskboard_load.TASKS}",
        flush=True,
    )
    with fixture.seeded_databases(
        kinds, users=taskboard_load.USERS, tasks=taskboard_load.TASKS
    ) as databases:
        took = {"seeding": time.monotonic() - started}
        print(f"Seeded in {took['seeding']:.0f} s.", flush=True)
        print("3. Taskboard under load", flush=True)
        visitors: dict[DbKind, list[fixture.Visitor]] = {}
        load = taskboard_load.measure(
            databases,
            seconds,
            warmup,
            warmup_each=not args.quick,
            visitors=visitors,
            two_workers=() if args.quick else ("sqlite", "postgresql"),
            workloads=QUICK_WORKLOADS if args.quick else tuple(fixture.WORKLOADS),
            logins=QUICK_LOGINS
            if args.quick
            else (taskboard_load.VISITORS, taskboard_load.WRITERS),
        )
        load["mode"] = "quick" if args.quick else "full"
        took["load"] = time.monotonic() - started - sum(took.values())
        print("5. Servers and memory", flush=True)
        with servers.serve_both(databases["sqlite"]) as running:
            compared = servers.compare(
                databases["sqlite"],
                seconds,
                warmup,
                1 if args.quick else 2,
                visitors["sqlite"],
                running,
            )
            took["servers"] = time.monotonic() - started - sum(took.values())
            print("4. Page weight", flush=True)
            weight = page_weight.measure(
                databases["sqlite"],
                run_lighthouse=run_lighthouse,
                visitor=visitors["sqlite"][0],
                lighthouse_skipped="--no-lighthouse" if args.no_lighthouse else "a quick run",
                running=running["uvicorn"],
            )
            took["page weight"] = time.monotonic() - started - sum(took.values())
            print("7. The list page against its peers (FastAPI, Django)", flush=True)
            peers = list_peers.measure(
                databases["sqlite"],
                running["granian"],
                visitors["sqlite"],
                seconds,
                warmup,
                list_peers.QUICK_CYCLES if args.quick else list_peers.CYCLES,
            )
            peers["mode"] = "quick" if args.quick else "full"
            took["peers"] = time.monotonic() - started - sum(took.values())
    taskboard_load.print_table(load)
    servers.print_table(compared)
    page_weight.print_table(weight)
    list_peers.print_table(peers)
    parts = ", ".join(f"{part} {seconds:.0f}" for part, seconds in took.items())
    print(f"\nAll Taskboard benchmarks took {time.monotonic() - started:.0f} s ({parts}).")
    if not args.no_save:
        fixture.save_part("load", load, quick=args.quick)
        fixture.save_part("servers", compared, quick=args.quick)
        fixture.save_part("page_weight", weight, quick=args.quick)
        print(f"Written to {fixture.save_part('peers', peers, quick=args.quick)}")


if __name__ == "__main__":
    main()
