"""The flag tables: the migration matches the models, and a bad stored row never breaks flags."""

from __future__ import annotations

import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert
from starlette.testclient import TestClient

import taskboard.admin.models  # noqa: F401  (the flag tables on Base.metadata)
from taskboard.admin.models import FlagOverride
from taskboard.admin.service import SqlFlagOverrideStore
from taskboard.db import Base, Database
from taskboard.settings import Settings, sync_database_url
from tests.taskboard.admin.flags_support import CHROME, flags_of
from tests.taskboard.conftest import Account, db_run, log_in, make_user


def test_migration_0002_creates_exactly_the_flag_tables_of_the_models(
    client: TestClient, settings: Settings
) -> None:
    engine = create_engine(sync_database_url(settings.database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_a_stored_override_that_cannot_be_read_is_skipped_and_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    db_run(client, insert(FlagOverride).values(key="inline_create", definition={"rules": "x"}))
    db_run(
        client,
        insert(FlagOverride).values(key="in_place_edit", definition={"enabled": False}),
    )
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    assert client.portal is not None

    with caplog.at_level(logging.ERROR, logger="taskboard.admin"):
        loaded = client.portal.call(SqlFlagOverrideStore(database).load)

    assert set(loaded) == {"in_place_edit"}
    assert loaded["in_place_edit"].enabled is False
    assert "Ignoring the stored override of flag 'inline_create'" in caplog.text


def test_the_page_and_the_flags_still_work_beside_an_unreadable_override(
    client: TestClient,
) -> None:
    admin: Account = make_user(client, "admin@example.org", is_admin=True)
    log_in(client, admin)
    db_run(client, insert(FlagOverride).values(key="inline_create", definition={"rules": "x"}))
    assert client.portal is not None
    client.portal.call(flags_of(client).refresh)

    page = client.get("/admin/flags")
    tasks = client.get("/tasks", headers=CHROME)

    assert page.status_code == 200
    assert "<li>If the tier is lite or full: on.</li>" in page.text  # the declaration is shown
    assert 'data-hx-post="/tasks"' in tasks.text  # and in force
