"""Jobs: an import of 10,000 rows and an export of 100,000 tasks through a real worker process,
and jobs per second through the queue, on each broker this machine has.

``python -m bench.jobs [--quick] [--no-save]`` (``make bench-jobs``). For each broker (the
embedded SQLite one; Redis and RabbitMQ when they answer on their usual ports): a fresh SQLite
database with 100,000 tasks for one user, one ``taskboard worker`` process, then

- import: a 10,000-row CSV file, from the message sent to the job done; against the baseline
  of the same rows added in one transaction in this process (the floor for the work itself);
- export: all 100,000 tasks as CSV, from sent to done; against reading them in this process;
- throughput: N one-row imports sent at once, jobs per second until the last is done;
- the worker's peak memory (``VmHWM``) after each, and its resident memory before the first.

Numbers are printed and saved as part ``jobs`` of ``bench/results/<date>-app.json``, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.taskboard_fixture import save_part
from taskboard.accounts.service import create_user
from taskboard.db import Database
from taskboard.jobs import service
from taskboard.jobs.queue import JobQueue
from taskboard.migrations.runner import upgrade
from taskboard.settings import Settings
from taskboard.tasks import transfer

SECRET = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105 (a bench's own)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


def brokers() -> dict[str, str | None]:
    found: dict[str, str | None] = {"embedded (SQLite)": None}
    if _answers(6379):
        found["Redis"] = "redis://127.0.0.1:6379/15"
    if _answers(5672):
        found["RabbitMQ"] = "amqp://guest:guest@127.0.0.1:5672//"
    return found


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, data_dir: Path, broker: str | None, tasks: int) -> None:
        self.data_dir = data_dir
        database = data_dir / "taskboard.db"
        upgrade(f"sqlite+inline:///{database}")
        self.settings = Settings(
            database_url=f"sqlite+inline:///{database}",
            secret_key=SECRET,
            data_dir=data_dir,
            broker=broker,
            job_queue=f"taskboard-bench-{os.getpid()}",  # a queue of its own on the broker
        )
        self.owner = asyncio.run(self._user("bench@example.org"))
        with sqlite3.connect(database) as db:
            db.executemany(
                "INSERT INTO tasks (owner_id, title, notes, done, version) VALUES (?, ?, ?, 0, 1)",
                ((self.owner, f"Seeded task {n}", "Some notes") for n in range(tasks)),
            )
        self.importer = asyncio.run(self._user("importer@example.org"))
        self.queue = JobQueue(self.settings.broker_url, self.settings.job_queue)
        self.worker: subprocess.Popen[bytes] | None = None

    async def _user(self, email: str) -> int:
        database = Database(self.settings.database_url)
        try:
            return (await create_user(database, email, "bench password 1")).id
        finally:
            await database.dispose()

    def start_worker(self) -> int:
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.database_url.replace("+inline", ""),
            "TASKBOARD_DATA": str(self.data_dir),
            "SECRET_KEY": SECRET,
            "JOB_QUEUE": self.settings.job_queue,
        }
        env.pop("BROKER_URL", None)
        if self.settings.broker:
            env["BROKER_URL"] = self.settings.broker
        log = (self.data_dir / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "taskboard", "worker"], env=env, stdout=log, stderr=log
        )
        # Ready when a first job has run through it.
        self.run_jobs([self._job(transfer.IMPORT_KIND, b"title\nwarm-up\n", self.importer)])
        return memory_kib(self.worker.pid, "VmRSS")

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.terminate()
            self.worker.wait(timeout=30)
        self.queue.close()

    def _job(self, kind: str, content: bytes | None, owner: int, **params: Any) -> int:
        async def create() -> int:
            database = Database(self.settings.database_url)
            try:
                job = await service.create(
                    database, owner, kind, params, input_bytes=content, input_name="bench.csv"
                )
                return job.id
            finally:
                await database.dispose()

        return asyncio.run(create())

    def run_jobs(self, ids: list[int], timeout: float = 600) -> float:
        """Send the jobs, wait for all to finish; seconds from the first send."""
        started = time.perf_counter()
        for job_id in ids:
            self.queue.send_now(job_id)
        database = self.data_dir / "taskboard.db"
        marks = ",".join("?" * len(ids))
        deadline = started + timeout
        while time.perf_counter() < deadline:
            with sqlite3.connect(database) as db:
                (left,) = db.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE id IN ({marks}) "  # noqa: S608 (marks only)
                    "AND status NOT IN ('done', 'failed')",
                    ids,
                ).fetchone()
            if not left:
                return time.perf_counter() - started
            time.sleep(0.02)  # polling the jobs' rows, as a person's job page does
        raise TimeoutError(f"{len(ids)} jobs not done in {timeout} s")

    def peak_kib(self) -> int:
        assert self.worker is not None
        return memory_kib(self.worker.pid, "VmHWM")


def direct_insert_seconds(rows: list[transfer.ImportRow], data_dir: Path) -> float:
    path = data_dir / "baseline.db"
    upgrade(f"sqlite+inline:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO users (email, password_hash, is_admin) VALUES ('b@x', 'x', 0)")
    started = time.perf_counter()
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO tasks (owner_id, title, notes, due_on, done, version) "
            "VALUES (1, ?, ?, ?, ?, 1)",
            ((r.title, r.notes, r.due_on, r.done) for r in rows),
        )
    return time.perf_counter() - started


def direct_read_seconds(data_dir: Path, owner: int) -> float:
    started = time.perf_counter()
    with sqlite3.connect(data_dir / "taskboard.db") as db:
        for _ in db.execute(
            "SELECT title, notes, due_on, done FROM tasks WHERE owner_id = ?", (owner,)
        ):
            pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 / 10,000 rows, 50 jobs")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    import_rows, export_rows, small_jobs = (
        (1_000, 10_000, 50) if args.quick else (10_000, 100_000, 200)
    )
    csv_file = ("title,notes,due_on,done\n" + "".join(
        f"Imported task {n},Notes for task {n},2030-01-01,false\n" for n in range(import_rows)
    )).encode()  # fmt: skip
    rows = transfer.read_import(csv_file)
    results: dict[str, Any] = {"date": date.today().isoformat(), "quick": args.quick, "brokers": {}}
    print(
        f"Jobs: import {import_rows:,} rows, export {export_rows:,} tasks, {small_jobs} small jobs"
    )
    for name, url in brokers().items():
        with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
            data_dir = Path(tmp)
            bench = Bench(data_dir, url, export_rows)
            try:
                rss = bench.start_worker()
                baseline_import = direct_insert_seconds(rows, data_dir)
                seconds_import = bench.run_jobs(
                    [bench._job(transfer.IMPORT_KIND, csv_file, bench.importer)]
                )
                peak_import = bench.peak_kib()
                baseline_export = direct_read_seconds(data_dir, bench.owner)
                seconds_export = bench.run_jobs(
                    [bench._job(transfer.EXPORT_KIND, None, bench.owner, format="csv")]
                )
                peak_export = bench.peak_kib()
                small = [
                    bench._job(transfer.IMPORT_KIND, b"title\none\n", bench.importer)
                    for _ in range(small_jobs)
                ]
                seconds_small = bench.run_jobs(small)
            finally:
                bench.stop_worker()
        figures = {
            "worker_rss_mib": round(rss / 1024, 1),
            "import_seconds": round(seconds_import, 2),
            "import_rows_per_second": round(import_rows / seconds_import),
            "import_vs_direct_insert": round(seconds_import / baseline_import, 1),
            "import_peak_mib": round(peak_import / 1024, 1),
            "export_seconds": round(seconds_export, 2),
            "export_rows_per_second": round(export_rows / seconds_export),
            "export_vs_direct_read": round(seconds_export / baseline_export, 1),
            "export_peak_mib": round(peak_export / 1024, 1),
            "jobs_per_second": round(small_jobs / seconds_small, 1),
        }
        results["brokers"][name] = figures
        print(
            f"  {name:18} worker {figures['worker_rss_mib']} MiB at rest | import "
            f"{figures['import_seconds']} s ({figures['import_rows_per_second']:,} rows/s, "
            f"{figures['import_vs_direct_insert']}x a direct insert), peak "
            f"{figures['import_peak_mib']} MiB | export {figures['export_seconds']} s "
            f"({figures['export_rows_per_second']:,} rows/s, {figures['export_vs_direct_read']}x "
            f"a direct read), peak {figures['export_peak_mib']} MiB | "
            f"{figures['jobs_per_second']} jobs/s",
            flush=True,
        )
    if not args.no_save:
        print(f"Saved to {save_part('jobs', results, quick=args.quick)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
