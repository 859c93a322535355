"""``SIGHUP`` rolls the instances one at a time while clients keep going: no request fails, no
POST is lost or done twice, and afterwards other processes answer.

What "fails" means is what a browser sees. nginx's reload closes idle keep-alive connections
(HTTP/1.1) and sends GOAWAY on idle HTTP/2 ones; a request written on such a connection in that
same instant never reached nginx, and a browser sends it again on a new connection (Chromium
does so for any method when a reused connection closes before a byte of the answer). These
clients do the same, once. That such a retry is safe is checked, not assumed: every POST must
have made exactly one task.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx2
import psycopg

from tests.deploy.conftest import RunningStack

CLIENTS = 8
"""Concurrent clients (under nginx's 64 connections per address): half are httpx2 on HTTP/1.1
with keep-alive, half curl on HTTP/2, each curl sending a batch of requests over one connection.

Not httpx2 on HTTP/2: when nginx's old workers finish (a reload), they send GOAWAY and complete
the streams in flight, as HTTP/2 says; httpcore2 2.16 then fails such a stream instead of
reading its answer (a client bug: browsers and curl read it)."""
BATCH = 30
"""Requests per curl process."""
WARM_UP = 30
"""Requests answered before the roll starts, and again after it has finished."""


@dataclass
class Load:
    """Clients looping over GET /tasks and POST /tasks (bearer, JSON) until told to stop."""

    stack: RunningStack
    api: dict[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    upstreams: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def record(self, title: str, expected: int, status: int, upstream: str, text: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.upstreams[upstream] += 1
            if status != expected:
                self.failures.append(f"{title}: {status} {text}")
            elif expected == 201:
                self.created.append(title)

    def run(self, number: int) -> None:
        if number % 2:
            self.run_curl(number)
        else:
            self.run_httpx(number)

    def curl_section(self, title: str, post: bool) -> str:
        """One request in curl's config syntax (each ``next`` section stands alone)."""
        lines = [
            f'url = "{self.stack.base_url}/tasks{"" if post else "?q=roll"}"',
            f'cacert = "{self.stack.ca}"',
            "http2",
            'output = "/dev/null"',
            'write-out = "%{http_code} %header{x-upstream}\\n"',
            *(f"header = {json.dumps(f'{k}: {v}')}" for k, v in self.api.items()),
        ]
        if post:
            lines.append('header = "Content-Type: application/json"')
            lines.append(f"data = {json.dumps(json.dumps({'title': title}))}")
        return "\n".join(lines) + "\n"

    def run_curl(self, number: int) -> None:
        sent = 0
        retries: list[tuple[str, int, str]] = []
        resent: set[str] = set()
        while not self.stop.is_set():
            batch, retries = retries, []
            while len(batch) < BATCH:
                sent += 1
                title, post = f"roll {number}-{sent}", sent % 3 == 0
                batch.append((title, 201 if post else 200, self.curl_section(title, post)))
            result = subprocess.run(
                ["curl", "-sS", "-K", "-"],
                input="next\n".join(section for _, _, section in batch),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            answers = result.stdout.splitlines()
            if len(answers) != len(batch):
                with self.lock:
                    self.failures.append(f"curl answered {len(answers)}: {result.stderr}")
            for (title, expected, section), answer in zip(batch, answers, strict=False):
                code, _, upstream = answer.partition(" ")
                if code == "000" and title not in resent:  # no answer at all: once more
                    resent.add(title)
                    with self.lock:
                        self.retried.append(f"{title}: {result.stderr.strip()}")
                    retries.append((title, expected, section))
                    continue
                self.record(title, expected, int(code), upstream or "?", result.stderr)

    def send(self, client: httpx2.Client, title: str, *, post: bool) -> httpx2.Response:
        if post:
            return client.post("/tasks", json={"title": title}, headers=self.api)
        return client.get("/tasks", params={"q": "roll"}, headers=self.api)

    def run_httpx(self, number: int) -> None:
        with self.stack.client(http2=False) as client:
            sent = 0
            while not self.stop.is_set():
                sent += 1
                title = f"roll {number}-{sent}"
                expected = 201 if sent % 3 == 0 else 200
                try:
                    response = self.send(client, title, post=expected == 201)
                except httpx2.RemoteProtocolError as exc:  # closed before any answer: once more
                    with self.lock:
                        self.retried.append(f"{title}: {exc!r}")
                    try:
                        response = self.send(client, title, post=expected == 201)
                    except Exception as again:
                        with self.lock:
                            self.failures.append(f"{title}: {again!r} after {exc!r}")
                        continue
                except Exception as exc:  # any other transport error is a lost request
                    with self.lock:
                        self.failures.append(f"{title}: {exc!r}")
                    continue
                upstream = response.headers.get("x-upstream", "?")
                self.record(title, expected, response.status_code, upstream, response.text)

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        target = self.answered() + count
        deadline = time.monotonic() + timeout
        while self.answered() < target:
            assert time.monotonic() < deadline, f"the load stalled: {self.statuses}"
            time.sleep(0.05)  # polling the clients' progress


def test_a_rolling_restart_under_load_fails_no_request(
    stack: RunningStack, api: dict[str, str]
) -> None:
    before = stack.instances()
    nginx_before = stack.state()["nginx"]["pid"]
    load = Load(stack, api)
    threads = [threading.Thread(target=load.run, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        load.wait_for(WARM_UP)
        during = load.answered()
        after = stack.sighup()
        during = load.answered() - during
        load.wait_for(WARM_UP)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert load.failures == []
    # A race at each reload, once at most per client connection (a busy machine makes it more
    # likely: CI saw 4 in one run); more than that is a pattern, not the race.
    assert len(load.retried) <= CLIENTS, load.retried
    assert during > 50, f"only {during} requests during the roll: the load did not overlap it"
    new = [(i["slot"], i["pid"], i["port"]) for i in after["instances"]]
    assert len(new) == len(before) == 2
    assert not {pid for _, pid, _ in new} & {i.pid for i in before}  # every instance replaced
    assert not {port for _, _, port in new} & {i.port for i in before}
    assert after["nginx"]["pid"] == nginx_before  # reloaded, not restarted
    # Both the old and the new instances answered this load.
    old_addresses = {f"127.0.0.1:{i.port}" for i in before}
    new_addresses = {f"127.0.0.1:{port}" for _, _, port in new}
    assert set(load.upstreams) == old_addresses | new_addresses, load.upstreams
    # Every POST that answered 201 made exactly one task; none was made without an answer.
    with psycopg.connect(stack.database_url) as db:
        stored = [row[0] for row in db.execute("SELECT title FROM tasks WHERE title LIKE 'roll %'")]
    assert sorted(stored) == sorted(load.created)
    # The new instances serve on their own addresses, and the old ones are gone.
    for instance in stack.instances():
        assert instance.pid in stack.pids()
    assert not {i.pid for i in before} & stack.pids()
