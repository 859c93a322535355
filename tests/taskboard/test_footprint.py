"""What a server process must not load: each of these would stay in its memory for good (CPython
does not give the memory of imported modules back), for something it does not need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.taskboard.conftest import SECRET

PROGRAM = textwrap.dedent(
    """
    import sys

    from starlette.testclient import TestClient

    from taskboard.app import create_app
    from tiered.testing import csrf_token

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        page = client.get("/signup")
        token = csrf_token(page.text)
        fields = {"csrf_token": token, "email": "ada@example.org", "password": "password1"}
        too_common = client.post("/signup", data=fields, follow_redirects=False)
        assert "commonly used" in too_common.text, too_common.status_code
        fields["password"] = "plum tractor mountain seven"
        assert client.post("/signup", data=fields, follow_redirects=False).status_code == 303
        assert client.get("/tasks").status_code == 200
    print(sorted(m for m in sys.modules if m.split(".")[0] in {"alembic", "psycopg", "zxcvbn"}))
    """
)


def test_a_server_on_sqlite_loads_neither_alembic_psycopg_nor_zxcvbn(
    sqlite_template: Path, tmp_path: Path
) -> None:
    # Alembic (~12 MiB, with Mako and Pygments) is for migrating, and the database is up to date;
    # psycopg (~7 MiB) is PostgreSQL's driver; zxcvbn's estimator (~8 MiB of ranked word lists)
    # is not used, only its list of common passwords. A fresh interpreter: this one has them all.
    database = shutil.copy(sqlite_template, tmp_path / "taskboard.db")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": SECRET}

    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
