"""Servers and memory: Taskboard under uvicorn and under granian, and its RSS over a soak.

Run alone: ``python -m bench.servers [--quick] [--seconds S]`` (the comparison), or
``python -m bench.servers --soak [--soak-seconds 300] [--server granian|uvicorn]`` (``make
bench-soak``; granian by default, as ``taskboard serve``); ``make bench`` and ``make bench-app``
run the comparison with the other Taskboard benchmarks.

Comparison: ``taskboard serve --server uvicorn`` (uvloop + httptools) and ``--server granian``,
one worker each, both running at once, pinned to CPU 0 (wrk on CPU 1), on the same seeded SQLite
database, with the same logged-in users; the list page and the mixed load (20% writes) are
loaded on each in turn, and the sequence is repeated (``--rounds``). The workers' RSS is sampled
every half second during each run (``VmRSS`` in ``/proc/<pid>/status``); ``VmHWM`` is each
worker's peak since it started.

Soak: the mixed load for ``--soak-seconds`` on one pinned worker; RSS is sampled every 5 seconds.
Growth is the last sample over the first sample after a warm-up (a tenth of the soak, at most a
minute), so start-up and the caches filling are not counted as a leak.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench import taskboard_fixture as fixture
from bench.framework import QUICK_SECONDS, SECONDS, require_wrk
from bench.taskboard_fixture import SeededDatabase, ServerKind, Workload

SERVERS: tuple[ServerKind, ...] = ("uvicorn", "granian")
COMPARED: tuple[Workload, ...] = ("page", "mix")
TARGET_RSS_MIB = 150.0
TARGET_GROWTH = 0.05
SOAK_SECONDS = 300.0


def compare(
    database: SeededDatabase,
    seconds: float,
    warmup: float,
    rounds: int,
    visitors: list[fixture.Visitor] | None = None,
    running: dict[ServerKind, fixture.Server] | None = None,
) -> dict[str, Any]:
    """uvicorn against granian; ``visitors`` already logged in to ``database`` are reused, and so
    are the servers in ``running`` (from :func:`serve_both`), which are left running."""
    load_before = fixture.machine()["load_average"]
    samples: dict[tuple[ServerKind, Workload], list[fixture.Run]] = {}
    with ExitStack() as stack:
        servers = running or stack.enter_context(serve_both(database))
        if visitors is None:
            visitors = fixture.log_in(servers["uvicorn"].port, 32, 8)
        for server in servers.values():
            for workload in COMPARED:
                fixture.verify(server.port, workload, visitors)
                if warmup:
                    fixture.run_wrk(server, fixture.lua_script(workload, visitors), warmup)
        worker_counts = {kind: len(server.worker_pids()) for kind, server in servers.items()}
        for round_ in range(1, rounds + 1):
            for workload in COMPARED:
                script = fixture.lua_script(workload, visitors)
                for kind, server in servers.items():
                    run = fixture.run_wrk(server, script, seconds)
                    samples.setdefault((kind, workload), []).append(run)
                    print(
                        f"  round {round_} {kind:8} {workload:5} "
                        f"{run.sample.requests_per_second:7.0f} req/s  p99 "
                        f"{run.sample.p99_ms:6.0f} ms  RSS {max(run.peak_rss_mib):.0f} MiB",
                        flush=True,
                    )
    rows = []
    for (kind, workload), runs in samples.items():
        uvicorn_runs = samples[("uvicorn", workload)]
        ratios = [  # a run that completed no request (a stalled, busy machine) has none
            r.sample.requests_per_second / u.sample.requests_per_second
            for r, u in zip(runs, uvicorn_runs, strict=True)
            if u.sample.requests_per_second
        ]
        rows.append(
            {
                "server": kind,
                "workload": workload,
                "what": fixture.WORKLOADS[workload],
                "worker_processes": worker_counts[kind],
                "requests_per_second": statistics.median(
                    r.sample.requests_per_second for r in runs
                ),
                "p50_ms": statistics.median(r.sample.p50_ms for r in runs),
                "p99_ms": statistics.median(r.sample.p99_ms for r in runs),
                "x_uvicorn": statistics.median(ratios) if ratios else float("nan"),
                "errors": sum(r.sample.errors for r in runs),
                "worker_restarts": sum(r.worker_restarts for r in runs),
                "cpu_ms_per_request": statistics.median(r.cpu_ms_per_request for r in runs),
                "peak_rss_mib_per_worker": [
                    max(values) for values in zip(*(r.peak_rss_mib for r in runs), strict=True)
                ],
                "vmhwm_mib_per_worker": runs[-1].hwm_mib,
                "samples": [
                    {
                        "requests_per_second": r.sample.requests_per_second,
                        "p50_ms": r.sample.p50_ms,
                        "p99_ms": r.sample.p99_ms,
                        "errors": r.sample.errors,
                    }
                    for r in runs
                ],
            }
        )
    return {
        "date": fixture.now(),
        "load_average_before": load_before,
        "load_average_after": fixture.machine()["load_average"],
        "settings": {
            "database": database.kind,
            "seconds": seconds,
            "warmup_seconds": warmup,
            "rounds": rounds,
            "placement": "each server 1 worker, taskset -c 0; wrk taskset -c 1 (-t2 -c64)",
        },
        "targets": {"worker_rss_mib": TARGET_RSS_MIB},
        "results": rows,
    }


@contextmanager
def serve_both(database: SeededDatabase) -> Iterator[dict[ServerKind, fixture.Server]]:
    """uvicorn and granian, one worker each, pinned to the server CPU, serving ``database``."""
    with ExitStack() as stack:
        yield {kind: stack.enter_context(fixture.serve(database, server=kind)) for kind in SERVERS}


def soak(database: SeededDatabase, seconds: float, server_kind: ServerKind) -> dict[str, Any]:
    load_before = fixture.machine()["load_average"]
    with fixture.serve(database, server=server_kind) as server:
        visitors = fixture.log_in(server.port, 32, 8)
        fixture.verify(server.port, "mix", visitors)
        run = fixture.run_wrk(
            server, fixture.lua_script("mix", visitors), seconds, sample_every=5.0
        )
    warmup = min(seconds / 10, 60.0)
    after_warmup = [rss for t, rss in run.rss_series if t >= warmup]
    base = after_warmup[0] if after_warmup else run.rss_series[0][1]
    end = run.rss_series[-1][1]
    return {
        "date": fixture.now(),
        "load_average_before": load_before,
        "load_average_after": fixture.machine()["load_average"],
        "settings": {
            "server": server.label,
            "workload": fixture.WORKLOADS["mix"],
            "seconds": seconds,
            "warmup_seconds": warmup,
            "placement": server.placement,
        },
        "targets": {"growth": TARGET_GROWTH},
        "requests_per_second": run.sample.requests_per_second,
        "p50_ms": run.sample.p50_ms,
        "p99_ms": run.sample.p99_ms,
        "errors": run.sample.errors,
        "worker_restarts": run.worker_restarts,
        "cpu_ms_per_request": run.cpu_ms_per_request,
        "rss_mib_after_warmup": base,
        "rss_mib_at_end": end,
        "rss_mib_max": max(rss for _, rss in run.rss_series),
        "growth": round((end - base) / base, 4) if base else None,
        "vmhwm_mib_per_worker": run.hwm_mib,
        "rss_series": run.rss_series,
    }


def print_table(report: dict[str, Any]) -> None:
    print()
    print(
        f"Servers (1 worker each, CPU 0; wrk on CPU 1; SQLite); load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after"
    )
    header = (
        f"{'server':8} {'workload':8} {'req/s':>7} {'x uvicorn':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU ms':>6} {'RSS MiB':>8} {'VmHWM':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        errors = f"  ({row['errors']} errors)" if row["errors"] else ""
        if row.get("worker_restarts"):
            errors += f"  ({row['worker_restarts']} workers restarted: not a fair figure)"
        print(
            f"{row['server']:8} {row['workload']:8} {row['requests_per_second']:7.0f} "
            f"{row['x_uvicorn']:9.2f} {row['p50_ms']:7.1f} {row['p99_ms']:7.1f} "
            f"{row['cpu_ms_per_request']:6.2f} "
            f"{max(row['peak_rss_mib_per_worker']):8.0f} {max(row['vmhwm_mib_per_worker']):6.0f}"
            f"{errors}"
        )
    peak = max(max(row["peak_rss_mib_per_worker"]) for row in report["results"])
    met = "met" if peak <= TARGET_RSS_MIB else "NOT met"
    print(f"Target: a worker's RSS under load <= {TARGET_RSS_MIB:.0f} MiB: {peak:.0f} MiB ({met})")


def print_soak(report: dict[str, Any]) -> None:
    print()
    growth = report["growth"]
    met = "met" if growth is not None and growth < TARGET_GROWTH else "NOT met"
    print(
        f"Soak: {report['settings']['workload']}, {report['settings']['seconds']:.0f} s on "
        f"{report['settings']['server']}; load average {report['load_average_before']} before, "
        f"{report['load_average_after']} after"
    )
    print(
        f"  {report['requests_per_second']:.0f} req/s, p99 {report['p99_ms']:.0f} ms, "
        f"{report['errors']} errors; RSS {report['rss_mib_after_warmup']:.1f} MiB after the "
        f"warm-up, {report['rss_mib_at_end']:.1f} MiB at the end, {report['rss_mib_max']:.1f} "
        f"MiB at most: growth {100 * (growth or 0):.1f}% (target < {100 * TARGET_GROWTH:.0f}%: "
        f"{met})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per run, 1 round"
    )
    parser.add_argument(
        "--seconds", type=float, help=f"seconds per measured run (default {SECONDS:g})"
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 2; quick 1)")
    parser.add_argument("--soak", action="store_true", help="run the soak instead")
    parser.add_argument(
        "--soak-seconds", type=float, default=SOAK_SECONDS, help="soak length (default 300)"
    )
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default=fixture.DEFAULT_SERVER,
        help=f"soak's server (default {fixture.DEFAULT_SERVER}, what taskboard serve runs)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    require_wrk()
    fixture.warn_if_busy()
    with fixture.seeded_databases(["sqlite"], users=1_000, tasks=100_000) as databases:
        database = databases["sqlite"]
        if args.soak:
            report = soak(database, args.soak_seconds, args.server)
            print_soak(report)
            part = "soak"
        else:
            seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
            rounds = args.rounds or (1 if args.quick else 2)
            report = compare(database, seconds, 1.0, rounds)
            print_table(report)
            part = "servers"
    if not args.no_save:
        print(f"\nWritten to {fixture.save_part(part, report, quick=args.quick)}")


if __name__ == "__main__":
    main()
