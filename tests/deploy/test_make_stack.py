"""``make stack`` as a user runs it in a terminal: the URL on a line of its own, its state in
``$TASKBOARD_DATA/stack/``, and Ctrl-C (SIGINT to the terminal's process group) stops it all."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import (
    Launched,
    database_for_run,
    descendants,
    drop_database,
    launch,
    require_parts,
    stack_environ,
    wait_gone,
)


@pytest.fixture
def database_url() -> Iterator[str]:
    url = database_for_run("taskboard_make_stack")
    try:
        yield url
    finally:
        drop_database(url)


def test_make_stack_serves_https_keeps_its_state_and_stops_on_ctrl_c(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    require_parts()
    environ = stack_environ(tmp_path, database_url, redis_url)
    make: Launched = launch(["make", "--no-print-directory", "stack"], environ, tmp_path / "err")
    try:
        url = make.wait_for_url()
        state = tmp_path / "stack"
        stack_pid = int((state / "stack.pid").read_text())
        pids = descendants(make.process.pid)
        curl = subprocess.run(
            ["curl", "-sS", "--cacert", str(state / "tls" / "ca.pem"), f"{url}healthz"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

        assert url == f"https://127.0.0.1:{environ['STACK_PORT']}/"
        assert curl.stdout == '{"status":"ok"}', curl.stderr
        assert stack_pid in pids  # make's child: the stack itself
        assert stack_pid != make.process.pid
        # make, stack, nginx and its workers, 2 instances, 2 job workers
        assert len(pids) >= 1 + 1 + 1 + 2 + 2 + 2
        for name in ("nginx.conf", "stack.json", "secret_key", "tls/ca.pem", "tls/ca.key"):
            assert (state / name).is_file(), name
        assert stat.S_IMODE((state / "secret_key").stat().st_mode) == 0o600
        assert stat.S_IMODE((state / "tls" / "ca.key").stat().st_mode) == 0o600
        assert {p.name for p in (state / "logs").iterdir()} == {
            "instance-0.log",
            "instance-1.log",
            "worker-0.log",
            "worker-1.log",
        }
        assert (state / "nginx" / "nginx.pid").is_file()

        os.killpg(make.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        make.process.wait(timeout=60)
        left = wait_gone(pids)

        assert not left, f"still running after Ctrl-C: {sorted(left)}\n{make.log()}"
        assert not (state / "stack.pid").exists()
        assert "SIGINT: stopping everything." in make.log()
    finally:
        if make.process.poll() is None:
            os.killpg(make.process.pid, signal.SIGKILL)
            make.process.wait()
        make.close()
