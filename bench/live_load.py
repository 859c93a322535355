"""Live updates under load: what 500 open Server-Sent Events streams cost one Taskboard process.

``python -m bench.live_load [--quick] [--streams N] [--seconds S] [--no-save]``
(``make bench-live``). One granian worker on SQLite (100 users, 2,000 tasks), the embedded
in-process bus; 100 users with 5 streams each (tabs), every stream reconnecting with
``Last-Event-ID`` when the server ends it (every 25 s). Measured in the same run:

- the list page under wrk (64 connections) with no stream open, with all of them open, and
  with none again: requests per second and p99, and the ratio to the mean of the runs without
  (the worse p99 of the two is the one reported);
- the server's resident memory with none and with all streams open, per stream;
- write → update: a task created over the JSON API, then the time until each of its owner's 5
  streams has the event, for one write per user, p50 and p99 over every delivery.

Numbers are printed and saved as part ``live`` of ``bench/results/<date>-app.json``, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.taskboard_fixture import (
    Server,
    _rss_kib,
    run_wrk,
    save_part,
    seeded_databases,
    serve,
)

USERS = 100
STREAMS_PER_USER = 5  # under LiveSettings' default of 8 a user
TOKEN_PREFIX = "tb_"  # noqa: S105 (the prefix of Taskboard's tokens, not a secret)


def make_tokens(database: Path, users: int) -> list[tuple[int, str]]:
    """A bearer token for each of the first ``users`` users, stored as Taskboard stores them
    (the SHA-256 of the token): (user id, token)."""
    made: list[tuple[int, str]] = []
    with sqlite3.connect(database) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM users ORDER BY id LIMIT ?", (users,))]
        for user_id in ids:
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            db.execute(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
                "VALUES (?, 'bench', ?, ?)",
                (user_id, hashlib.sha256(token.encode()).hexdigest(), datetime.now(UTC)),
            )
            made.append((user_id, token))
    return made


@dataclass
class Stream:
    user_id: int
    token: str
    port: int
    last_id: str = ""
    arrivals: dict[int, float] = field(default_factory=dict)
    """task id → when its task.created event arrived (monotonic)."""
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    reconnects: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._once(stop)
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.5)
            self.reconnects += 1

    async def _once(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id else ""
        writer.write(
            (
                "GET /tasks/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                f"Authorization: Bearer {self.token}\r\n{resume}\r\n"
            ).encode()
        )
        await writer.drain()
        try:
            status = await reader.readline()
            if b" 200 " not in status:
                await asyncio.sleep(1)
                return
            while (await reader.readline()).strip():
                pass  # the headers
            self.connected.set()
            event = ""
            while not stop.is_set():
                line = await reader.readline()
                if not line:
                    return  # the server ended the stream: reconnect from last_id
                text = line.decode().rstrip("\r\n")
                # Chunked framing (HTTP/1.1): size lines are hex, skip them.
                if text.startswith("id: "):
                    self.last_id = text[4:]
                elif text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: ") and event == "task.created":
                    task_id = json.loads(text[6:])["data"]["id"]
                    self.arrivals.setdefault(task_id, time.monotonic())
        finally:
            writer.close()


async def _post_task(port: int, token: str, title: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"title": title}).encode()
    writer.write(
        (
            "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    if b" 201 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"POST /tasks: {head[:200]!r}")
    return int(json.loads(payload)["id"])


async def streams_session(
    server: Server, tokens: list[tuple[int, str]], per_user: int, hold: float, wrk: Any
) -> dict[str, Any]:
    """Open every stream, measure memory, run ``wrk`` (in a thread) while they are open, then
    one write per user and its deliveries."""
    stop = asyncio.Event()
    streams = [Stream(uid, tok, server.port) for uid, tok in tokens for _ in range(per_user)]
    pid = server.worker_pids()[0]
    rss_before = _rss_kib(pid, "VmRSS")
    tasks = [asyncio.create_task(s.run(stop)) for s in streams]
    await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in streams)), 60)
    await asyncio.sleep(1.0)
    rss_after = _rss_kib(pid, "VmRSS")
    loaded = await asyncio.to_thread(wrk)
    latencies: list[float] = []
    by_user: dict[int, list[Stream]] = {}
    for stream in streams:
        by_user.setdefault(stream.user_id, []).append(stream)
    for user_id, token in tokens:
        sent = time.monotonic()
        task_id = await _post_task(server.port, token, f"Live bench {user_id}")
        deadline = sent + 10
        mine = by_user[user_id]
        while any(task_id not in s.arrivals for s in mine) and time.monotonic() < deadline:  # noqa: ASYNC110 (polling five streams)
            await asyncio.sleep(0.002)
        latencies += [(s.arrivals[task_id] - sent) * 1000 for s in mine if task_id in s.arrivals]
        await asyncio.sleep(hold / max(1, len(tokens)))
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    expected = len(tokens) * per_user
    latencies.sort()
    return {
        "streams": len(streams),
        "rss_mib_without_streams": round(rss_before / 1024, 1),
        "rss_mib_with_streams": round(rss_after / 1024, 1),
        "kib_per_stream": round((rss_after - rss_before) / len(streams), 1),
        "loaded": loaded,
        "deliveries": len(latencies),
        "deliveries_expected": expected,
        "update_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "update_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "reconnects": sum(s.reconnects for s in streams),
    }


def wrk_script(token: str) -> str:
    return (
        'wrk.method = "GET"\nwrk.path = "/tasks"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["Accept"] = "text/html"\n'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_load", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 streams, 3 s runs")
    parser.add_argument("--streams", type=int, default=None, help="streams in all (500)")
    parser.add_argument("--seconds", type=float, default=None, help="each wrk run (10)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    total = args.streams or (100 if args.quick else USERS * STREAMS_PER_USER)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    users = max(1, total // STREAMS_PER_USER)
    print(f"Live updates: {users} users x {STREAMS_PER_USER} streams, wrk {seconds:g} s runs")
    with seeded_databases(["sqlite"], users=USERS, tasks=2_000) as databases:
        database = databases["sqlite"]
        tokens = make_tokens(database.data_dir / "taskboard.db", users)
        script = wrk_script(tokens[0][1])
        with serve(database, server="granian", workers=1) as server:
            run_wrk(server, script, 1.0)  # warm-up
            before = run_wrk(server, script, seconds)
            report = asyncio.run(
                streams_session(
                    server, tokens, STREAMS_PER_USER, 2.0, lambda: run_wrk(server, script, seconds)
                )
            )
            after = run_wrk(server, script, seconds)  # the baseline again, once they closed
    loaded = report.pop("loaded")
    # The baseline is the mean of the runs either side, so a drift in the machine's speed
    # during the run shows as their difference instead of as a cost of the streams.
    quiet_rps = (before.sample.requests_per_second + after.sample.requests_per_second) / 2
    quiet = before if before.sample.p99_ms >= after.sample.p99_ms else after
    report["list_without_streams"] = {
        "rps": round(quiet_rps),
        "rps_before_and_after": [
            round(before.sample.requests_per_second),
            round(after.sample.requests_per_second),
        ],
        "p99_ms": quiet.sample.p99_ms,
    }
    report["list_with_streams"] = {
        "rps": round(loaded.sample.requests_per_second),
        "p99_ms": loaded.sample.p99_ms,
    }
    report["rps_ratio"] = round(loaded.sample.requests_per_second / max(1.0, quiet_rps), 2)
    print(
        f"  list page: {report['list_without_streams']['rps']} req/s (p99 "
        f"{quiet.sample.p99_ms} ms) without streams, {report['list_with_streams']['rps']} req/s "
        f"(p99 {loaded.sample.p99_ms} ms) with {report['streams']} open: "
        f"{report['rps_ratio']}x\n"
        f"  memory: {report['rss_mib_without_streams']} MiB -> "
        f"{report['rss_mib_with_streams']} MiB, {report['kib_per_stream']} KiB a stream\n"
        f"  write -> update: p50 {report['update_p50_ms']} ms, p99 {report['update_p99_ms']} ms "
        f"over {report['deliveries']} of {report['deliveries_expected']} deliveries; "
        f"{report['reconnects']} reconnects",
        flush=True,
    )
    if not args.no_save:
        print(f"Saved to {save_part('live', report, quick=args.quick)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
