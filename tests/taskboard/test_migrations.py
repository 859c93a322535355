"""Migrations: the head the app checks against without Alembic, and what a server process loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.script import ScriptDirectory

from taskboard.migrations.runner import HEAD, alembic_config, current_revision, migrate, upgrade
from tests.taskboard.conftest import SECRET


def test_head_is_the_newest_migration() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+inline:///unused.db"))

    assert script.get_current_head() == HEAD, (
        "taskboard.migrations.runner.HEAD must name the newest migration in versions/"
    )


def test_migrate_says_where_the_database_was_and_brings_it_to_head(tmp_path: Path) -> None:
    url = f"sqlite+inline:///{tmp_path / 'fresh.db'}"

    assert current_revision(url) is None
    assert migrate(url) is None
    assert current_revision(url) == HEAD
    assert migrate(url) == HEAD


def test_a_database_behind_is_migrated_the_rest_of_the_way(tmp_path: Path) -> None:
    url = f"sqlite+inline:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")

    assert migrate(url) == "0002"
    assert current_revision(url) == HEAD


def test_a_server_on_an_up_to_date_database_loads_neither_alembic_nor_psycopg(
    sqlite_template: Path, tmp_path: Path
) -> None:
    # Each is ~7-12 MiB of a worker's memory that CPython would never give back; a fresh
    # interpreter, since this one has imported both for the tests.
    program = textwrap.dedent(
        """
        import sys
        from starlette.testclient import TestClient
        from taskboard.app import create_app

        with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
            assert client.get("/login").status_code == 200
        print(sorted({"alembic", "psycopg", "mako"} & set(sys.modules)))
        """
    )
    database = shutil.copy(sqlite_template, tmp_path / "taskboard.db")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": SECRET}

    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
