"""The ``taskboard`` command, run in-process on SQLite and PostgreSQL, and once for real."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from taskboard.accounts.models import User
from taskboard.accounts.service import verify_password
from taskboard.cli import FAILED, OK, USAGE, main
from taskboard.migrations.runner import HEAD
from taskboard.settings import async_database_url, sync_database_url
from taskboard.tasks.models import Task
from tests.taskboard.conftest import BACKENDS, SECRET

PASSPHRASE = "plum tractor mountain seven"


class Terminal(io.StringIO):
    """Standard input that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def use_database(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TASKBOARD_DATA", str(data_dir))
    monkeypatch.setenv("SECRET_KEY", SECRET)


@pytest.fixture
def database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated, empty database (SQLite, and PostgreSQL when configured) the CLI will use."""
    use_database(monkeypatch, database_url, tmp_path)
    return database_url


@pytest.fixture(params=BACKENDS)
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        url = f"sqlite+inline:///{tmp_path / 'fresh.db'}"
        use_database(monkeypatch, url, tmp_path)
        yield url
        return
    server = os.environ["TEST_POSTGRES_URL"]
    name = f"taskboard_cli_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        sync_database_url(async_database_url(server)), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = async_database_url(server.rsplit("/", 1)[0] + "/" + name)
    use_database(monkeypatch, url, tmp_path)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def query(url: str, statement: Any) -> list[Any]:
    engine = create_engine(sync_database_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement))
    finally:
        engine.dispose()


def users(url: str) -> list[Any]:
    return query(url, select(User.email, User.is_admin, User.password_hash).order_by(User.id))


# --- migrate --------------------------------------------------------------------------------


def test_migrate_brings_an_empty_database_to_head_and_says_so(
    empty_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == OK
    first = capsys.readouterr().out

    assert main(["migrate"]) == OK
    second = capsys.readouterr().out

    assert f"from an empty database to revision {HEAD}." in first
    assert first.startswith("Migrated ")
    assert f"up to date (revision {HEAD})" in second
    engine = create_engine(sync_database_url(empty_database))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"users", "tasks", "sessions", "api_tokens", "flag_overrides", "flag_changes"} <= tables


def test_a_bad_database_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/tasks")
    monkeypatch.setenv("SECRET_KEY", SECRET)

    assert main(["migrate"]) == FAILED

    assert "DATABASE_URL scheme 'mysql' is not supported" in capsys.readouterr().err


def test_an_unreachable_database_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use_database(monkeypatch, f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}", tmp_path)

    assert main(["migrate"]) == FAILED

    error = capsys.readouterr().err
    assert "taskboard: error: cannot use the database at sqlite+inline:///" in error
    assert "unable to open database file" in error
    assert "Traceback" not in error


# --- create-user ----------------------------------------------------------------------------


def test_create_user_reads_the_password_from_stdin(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSPHRASE + "\n"))

    code = main(["create-user", "  Ada@Example.ORG ", "--password-stdin", "--admin"])

    assert code == OK
    assert capsys.readouterr().out == "Created an admin: ada@example.org (id 1).\n"
    [(email, is_admin, password_hash)] = users(database)
    assert (email, is_admin) == ("ada@example.org", True)
    assert verify_password(password_hash, PASSPHRASE)


def test_create_user_asks_twice_on_a_terminal(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return PASSPHRASE

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", getpass)

    assert main(["create-user", "bo@example.org"]) == OK

    assert prompts == ["Password: ", "Password (again): "]
    assert "Created a user: bo@example.org" in capsys.readouterr().out
    [(email, is_admin, _)] = users(database)
    assert (email, is_admin) == ("bo@example.org", False)


def test_two_different_passwords_create_nothing(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([PASSPHRASE, PASSPHRASE + "!"])
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))

    assert main(["create-user", "bo@example.org"]) == FAILED

    assert "the two passwords differ" in capsys.readouterr().err
    assert users(database) == []


def test_without_a_terminal_the_password_must_come_on_stdin(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    assert main(["create-user", "bo@example.org"]) == FAILED

    assert "--password-stdin" in capsys.readouterr().err
    assert users(database) == []


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSPHRASE, "taskboard: error: email: Enter an email address like"),
        ("bo@example.org", "short", "taskboard: error: password: Your password must be at least 8"),
        ("bo@example.org", "password123", "taskboard: error: password: This password is on a list"),
    ],
)
def test_bad_input_is_refused_with_the_reason(
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    email: str,
    password: str,
    message: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))

    assert main(["create-user", email, "--password-stdin"]) == FAILED

    assert message in capsys.readouterr().err
    assert users(database) == []


def test_an_email_that_has_an_account_is_refused(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSPHRASE + "\n"))
    assert main(["create-user", "bo@example.org", "--password-stdin"]) == OK
    monkeypatch.setattr(sys, "stdin", io.StringIO("another long passphrase\n"))

    assert main(["create-user", "BO@example.org", "--password-stdin", "--admin"]) == FAILED

    assert "email: An account with this email already exists" in capsys.readouterr().err
    [(email, is_admin, password_hash)] = users(database)
    assert (email, is_admin) == ("bo@example.org", False)
    assert verify_password(password_hash, PASSPHRASE)


# --- seed -----------------------------------------------------------------------------------


def test_seed_creates_users_and_varied_tasks_spread_across_them(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", "--users", "5", "--tasks", "50", "--password", PASSPHRASE]) == OK

    output = capsys.readouterr()
    assert "Seeded 5 users and 50 tasks" in output.out
    assert "seeding" in output.err
    assert "100%" in output.err
    seeded = users(database)
    assert [email for email, _, _ in seeded] == [f"user{n}@example.org" for n in range(1, 6)]
    assert len({password_hash for _, _, password_hash in seeded}) == 1  # hashed once
    assert verify_password(seeded[0][2], PASSPHRASE)
    tasks = query(database, select(Task.owner_id, Task.title, Task.notes, Task.done, Task.due_on))
    assert len(tasks) == 50
    assert {owner for owner, *_ in tasks} == {1, 2, 3, 4, 5}
    assert len({title for _, title, *_ in tasks}) > 20
    assert {done for *_, done, _ in tasks} == {True, False}
    assert any(notes for _, _, notes, *_ in tasks)
    assert any(not notes for _, _, notes, *_ in tasks)
    assert any(due is None for *_, due in tasks)
    assert any(due is not None for *_, due in tasks)


def test_seeding_again_skips_existing_users_and_adds_only_for_new_ones(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", "--users", "3", "--tasks", "10"]) == OK
    assert main(["seed", "--users", "3", "--tasks", "10"]) == OK
    again = capsys.readouterr().out
    assert main(["seed", "--users", "5", "--tasks", "4"]) == OK
    more = capsys.readouterr().out

    assert "All 3 seed users exist already; nothing to seed." in again
    assert "Skipped 3 users that already exist." in more
    assert "Seeded 2 users and 4 tasks" in more
    counts = query(
        database,
        select(Task.owner_id, func.count()).group_by(Task.owner_id).order_by(Task.owner_id),
    )
    assert sum(count for _, count in counts) == 14
    assert {owner for owner, _ in counts} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--users", "0", "--tasks", "5"], "'0' is not a positive whole number"),
        (["--users", "many", "--tasks", "5"], "'many' is not a whole number"),
        (["--users", "2"], "the following arguments are required: --tasks"),
    ],
)
def test_seed_arguments_are_checked(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["seed", *arguments])

    assert exit_info.value.code == USAGE
    assert message in capsys.readouterr().err


# --- serve ----------------------------------------------------------------------------------


def test_serve_migrates_then_can_run_uvicorn_with_uvloop_and_httptools(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: calls.append({"app": app, **options}))
    monkeypatch.setenv("PORT", "8765")

    assert main(["serve", "--server", "uvicorn"]) == OK

    [options] = calls
    assert options["app"] == "taskboard.app:create_app"
    assert {
        key: options[key] for key in ("factory", "host", "port", "workers", "loop", "http")
    } == {
        "factory": True,
        "host": "127.0.0.1",
        "port": 8765,
        "workers": 1,
        "loop": "uvloop",
        "http": "httptools",
    }
    assert options["access_log"] is False
    output = capsys.readouterr()
    assert output.out == "Taskboard on http://127.0.0.1:8765/ (uvicorn, 1 worker)\n"
    assert f"to revision {HEAD}" in output.err
    assert main(["migrate"]) == OK
    assert "up to date" in capsys.readouterr().out


def test_serve_runs_granian_by_default(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[dict[str, Any]] = []

    class FakeGranian:
        def __init__(self, target: str, **options: Any) -> None:
            made.append({"target": target, **options})

        def serve(self) -> None:
            made.append({"served": True})

    monkeypatch.setattr("granian.Granian", FakeGranian)

    assert main(["serve", "--port", "8001", "--workers", "3"]) == OK

    options, served = made
    assert served == {"served": True}
    assert (options["target"], options["factory"], options["workers"]) == (
        "taskboard.app:create_app",
        True,
        3,
    )
    assert (options["address"], options["port"]) == ("127.0.0.1", 8001)
    assert "(granian, 3 workers)" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_for_real_prints_the_url_and_one_json_line_per_request(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "TASKBOARD_DATA": str(tmp_path / "var"), "SECRET_KEY": SECRET}
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "taskboard.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-1"}
                )
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "the server did not start within 60 s"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)

    lines = out.splitlines()
    assert lines[0] == f"Taskboard on http://127.0.0.1:{port}/ (granian, 1 worker)"
    records = [json.loads(line) for line in lines[1:]]
    access = [r for r in records if r["logger"] == "tiered.access"]
    assert next((r["request_id"], r["path"], r["status"]) for r in access) == (
        "probe-1",
        "/healthz",
        200,
    )
    assert [r["path"] for r in access] == ["/healthz", "/readyz"]
    assert (tmp_path / "var" / "taskboard.db").is_file()
    assert "Migrated" in err
