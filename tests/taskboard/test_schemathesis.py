"""Taskboard's OpenAPI document is exact: schemathesis, every check on, finds nothing to report.

For each database, a fresh Taskboard on a real socket (as the browser suite serves it), one
account, and ``schemathesis run`` with the repository's ``schemathesis.toml``: its examples,
coverage, fuzzing and stateful phases, every check (statuses, content types, schemas, ``Allow``,
unsupported methods, auth ignored, use after free, ...), a bearer token from
``tests/taskboard/schemathesis_hooks.py``. The limits on guessing passwords are raised for the
run: the fuzzer fails to log in thousands of times from one address, which is what they stop.

The seed is fixed so that CI runs the same cases every time; ``TEST_SCHEMATHESIS_SEED=random``
(or a number) explores others. The summary at the end of the run says how many cases each
database answered.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest

from taskboard.accounts import service as accounts
from taskboard.db import Database
from tests.browser.live_server import serve_taskboard
from tests.taskboard.conftest import SCHEMATHESIS_KEY

REPOSITORY = Path(__file__).resolve().parents[2]
PASSWORD = "a passphrase for the fuzzer"
SEED = "20261204"
MAX_MINUTES = 3
UNLIMITED = "100000/minute"
_CASES = re.compile(r"(\d[\d,]*) generated")


def _account(database_url: str) -> str:
    """A user made through the service, as ``taskboard create-user`` makes one."""
    email = f"fuzzer-{uuid.uuid4().hex[:8]}@example.org"

    async def create() -> None:
        database = Database(database_url)
        try:
            await accounts.register(database, email, PASSWORD)
        finally:
            await database.dispose()

    anyio.run(create)
    return email


def test_schemathesis_finds_nothing(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    limits = {
        "login_failures_per_address": UNLIMITED,
        "login_failures_per_account": UNLIMITED,
        "login_failures_per_device": UNLIMITED,
        "signups_per_address": UNLIMITED,
        "reset_requests_per_address": UNLIMITED,
    }
    with serve_taskboard(tmp_path, database_url, **limits) as server:
        email = _account(database_url)
        seed = os.environ.get("TEST_SCHEMATHESIS_SEED", SEED)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "SCHEMATHESIS_BASE_URL": server.url,
            "SCHEMATHESIS_EMAIL": email,
            "SCHEMATHESIS_PASSWORD": PASSWORD,
        }
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--no-color",
            f"--max-time={MAX_MINUTES * 60}",
        ]
        if seed != "random":  # the same cases in the same order, no examples kept between runs
            command += ["--seed", seed, "--generation-deterministic"]
        else:
            command += ["--generation-database", "none"]
        run = subprocess.run(
            command,
            cwd=REPOSITORY,
            env=env,
            capture_output=True,
            text=True,
            timeout=(MAX_MINUTES + 2) * 60,
            check=False,
        )
    found = _CASES.findall(run.stdout)
    cases = found[-1] if found else "?"
    request.config.stash[SCHEMATHESIS_KEY].append(
        f"{backend}: {cases} test cases, exit {run.returncode}"
        + (" (0 failures)" if run.returncode == 0 else " (see the test's output)")
    )
    assert run.returncode == 0, _shown(run.stdout) + run.stderr[-5000:]


def _shown(output: str, width: int = 300) -> str:
    """schemathesis's report with its longest lines (a fuzzed URL, a body) cut to ``width``."""
    return "\n".join(
        line if len(line) <= width else line[:width] + " …" for line in output.splitlines()
    )
