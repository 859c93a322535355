"""Every benchmark but the soak, in one run, with the total wall time at the end.

Run: ``make bench`` (under 10 minutes on 2 quiet cores) or ``make bench-quick`` (under 2
minutes); or ``python -m bench [--quick] [--no-postgres] [--no-lighthouse] [--no-save]``.

1. framework overhead (``bench.framework``): 5 s runs, 2 interleaved rounds, each endpoint warmed
   up for 1 s first; quick: 1 s runs, 2 rounds, no warm-up; then the same endpoints in-process
   (each app awaited directly: 3 rounds of 3,000 requests an endpoint, quick 300; ~15 s);
2. the core's decisions (``bench.core_decisions``: 1 s per figure; quick 0.2 s), then what flags
   and telemetry add (``bench.telemetry_overhead``: 0.5 s batches, 3 rounds; quick 0.2 s, 2);
3. Taskboard under load, 5. servers and memory, 4. page weight and Lighthouse, 7. the list page
   against the same page built the FastAPI way and the Django way (``bench.app``, one seeding for
   the four): see its docstring for the full and quick sets.

The soak stays a target of its own: ``make bench-soak``; so does the production topology,
``make bench-topology`` (``bench.topology``: nginx with 1 and 2 instances; its own seeding and
stacks take about 3 minutes, which would take the full run past 10). wrk is needed (the run
stops at once, saying what installs it, when it is missing); Lighthouse is skipped, saying what
installs it.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

from bench import app, core_decisions, framework, telemetry_overhead
from bench.framework import require_wrk


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="fewer variants, 1 s runs (under 2 minutes)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="Taskboard on SQLite only")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    require_wrk()
    quick = ["--quick"] if args.quick else []
    save = ["--no-save"] if args.no_save else []
    batches = (
        ["--seconds", "0.2", "--rounds", "2"]
        if args.quick
        else ["--seconds", "0.5", "--rounds", "3"]
    )
    parts: list[tuple[str, Callable[[], None]]] = [
        ("1. Framework overhead", lambda: framework.main([*quick, *save])),
        (
            "1. Framework overhead, in-process",
            lambda: framework.main(["--in-process", *quick, *save]),
        ),
        (
            "2. The core's decisions",
            lambda: core_decisions.main(["--seconds", "0.2" if args.quick else "1", *quick, *save]),
        ),
        (
            "2. Flags and telemetry overhead",
            lambda: telemetry_overhead.main([*batches, *quick, *save]),
        ),
        (
            "3-5, 7. Taskboard",
            lambda: app.main(
                [
                    *quick,
                    *save,
                    *(["--no-postgres"] if args.no_postgres else []),
                    *(["--no-lighthouse"] if args.no_lighthouse else []),
                ]
            ),
        ),
    ]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    took: list[tuple[str, float]] = []
    for title, run in parts:
        print(f"\n=== {title} ===", flush=True)
        part_started = time.monotonic()
        run()
        took.append((title, time.monotonic() - part_started))
    print(f"\n=== {'Quick run' if args.quick else 'Full run'}: wall time ===")
    for title, seconds in took:
        print(f"  {title:34} {seconds:5.0f} s")
    total = time.monotonic() - started
    print(f"  {'total':34} {total:5.0f} s ({total / 60:.1f} min)")
    print(f"  load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
