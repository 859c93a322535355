"""Slow clients from one address do not lock others out: while Debian's slowhttptest holds 2,000
slowloris connections and 1,000 slow bodies open from 127.0.0.1, a client on 127.0.0.2 is still
answered, promptly, every time."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

from tests.deploy.conftest import RunningStack, in_ci

FLOOD_SECONDS = 25
PROBE_EVERY = 0.5
PROBE_TIMEOUT = 3.0
PROBE_ADDRESS = "127.0.0.2"


def established(port: int) -> int:
    """Established TCP connections whose local port is ``port`` (nginx's side), from /proc."""
    wanted = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with Path(table).open() as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[1].endswith(wanted) and fields[3] == "01":
                    count += 1
    return count


def slowhttptest() -> str:
    found = shutil.which("slowhttptest")
    if found is None:
        message = "the slow-client test needs slowhttptest (apt-get install slowhttptest)"
        if in_ci():
            pytest.fail(f"CI=true, so this is a failure: {message}", pytrace=False)
        pytest.skip(message)
    return found


def test_slowloris_and_slow_bodies_from_one_address_leave_others_served(
    stack: RunningStack, tmp_path: Path
) -> None:
    tool = slowhttptest()
    target = f"{stack.url}login"
    common = ["-i", "3", "-l", str(FLOOD_SECONDS), "-p", "5", "-u", target]
    floods = [
        # Slowloris: 2,000 connections (500 a second) that send a header line every 3 s.
        [tool, "-H", "-c", "2000", "-r", "500", *common],
        # Slow bodies: 1,000 POSTs announcing 100 kB, sent a few bytes every 3 s.
        [tool, "-B", "-c", "1000", "-r", "250", "-s", "100000", *common],
    ]
    outputs = [tmp_path / "slowloris.txt", tmp_path / "slow-body.txt"]
    processes = []
    for command, output in zip(floods, outputs, strict=True):
        with output.open("w") as out:
            processes.append(
                subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
            )
    probes: list[tuple[float, int | str]] = []
    peak = 0
    transport = httpx2.HTTPTransport(local_address=PROBE_ADDRESS, verify=stack.ssl_context())
    try:
        with httpx2.Client(
            base_url=stack.base_url,
            transport=transport,
            timeout=PROBE_TIMEOUT,
            limits=httpx2.Limits(max_keepalive_connections=0),  # a new connection each time
        ) as probe:
            deadline = time.monotonic() + FLOOD_SECONDS - 2
            while time.monotonic() < deadline:
                peak = max(peak, established(stack.port))
                began = time.monotonic()
                try:
                    status: int | str = probe.get("/readyz").status_code
                except httpx2.HTTPError as exc:
                    status = repr(exc)
                probes.append((time.monotonic() - began, status))
                time.sleep(PROBE_EVERY)  # a probe every half second, as a monitor would
    finally:
        for process in processes:
            try:
                process.wait(timeout=FLOOD_SECONDS + 20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    assert len(probes) >= 30
    assert [p for p in probes if p[1] != 200] == []
    assert max(seconds for seconds, _ in probes) < 2.0, probes
    # The flood was real: thousands of connections held open at once.
    assert peak >= 2000, f"at most {peak} connections were open; check {outputs}"
    # And the limit per address turned the excess slow bodies away (429) without an instance.
    # (nginx logs those once their connections close, which the floods' end does; the log is
    # flushed within a second.)
    access_log = stack.state_dir / "nginx" / "access.log"
    deadline = time.monotonic() + 10
    while (refused := access_log.read_text().count('"POST /login HTTP/1.1" 429')) < 500:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)  # polling nginx's access log until it is flushed
    assert refused >= 500
    with stack.client() as client:
        assert client.get("/readyz").status_code == 200  # and all is well afterwards
