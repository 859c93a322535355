"""Migrations: the head the app checks against without Alembic, and bringing a database to it."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from taskboard.migrations.runner import HEAD, alembic_config, current_revision, migrate, upgrade


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
