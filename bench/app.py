"""Taskboard's benchmarks in one run: under load, servers and memory, page weight.

Run: ``make bench-app`` (about 7 minutes) or ``make bench-app-quick`` (2 s runs, 2 workers on
SQLite only, written to ``<date>-app-quick.json``; about 2 minutes on a quiet machine); or
``python -m bench.app [--quick] [--seconds S] [--no-postgres] [--no-lighthouse]``. The soak is
separate: ``make bench-soak`` (``python -m bench.servers --soak``).

One seeding (``taskboard seed --users 1000 --tasks 100000`` into SQLite and into a fresh
PostgreSQL database, at the same time) serves all three parts, which are printed as tables and
written together to ``bench/results/<date>-app.json`` (``load``, ``servers``, ``page_weight``;
each with its own date and load average). See ``bench/README.md`` for each figure.
"""

from __future__ import annotations

import argparse
import time

from bench import page_weight, servers, taskboard_load
from bench import taskboard_fixture as fixture
from bench.taskboard_fixture import DbKind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short runs (about 2 minutes)")
    parser.add_argument("--seconds", type=float, help="seconds per measured run (default 8)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 8.0)
    warmup = 1.0
    started = time.monotonic()
    fixture.warn_if_busy()
    kinds: list[DbKind] = ["sqlite"]
    if args.no_postgres:
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
        print("3. Taskboard under load", flush=True)
        visitors: dict[DbKind, list[fixture.Visitor]] = {}
        load = taskboard_load.measure(
            databases,
            seconds,
            warmup,
            warmup_each=not args.quick,
            visitors=visitors,
            two_workers=("sqlite",) if args.quick else ("sqlite", "postgresql"),
        )
        load["mode"] = "quick" if args.quick else "full"
        print("5. Servers and memory", flush=True)
        compared = servers.compare(
            databases["sqlite"], seconds, warmup, 1 if args.quick else 2, visitors["sqlite"]
        )
        print("4. Page weight", flush=True)
        weight = page_weight.measure(
            databases["sqlite"],
            run_lighthouse=not args.no_lighthouse,
            visitor=visitors["sqlite"][0],
        )
    taskboard_load.print_table(load)
    servers.print_table(compared)
    page_weight.print_table(weight)
    print(f"\nAll Taskboard benchmarks took {time.monotonic() - started:.0f} s.")
    if not args.no_save:
        fixture.save_part("load", load, quick=args.quick)
        fixture.save_part("servers", compared, quick=args.quick)
        print(f"Written to {fixture.save_part('page_weight', weight, quick=args.quick)}")


if __name__ == "__main__":
    main()
