"""PostgreSQL's pool: sized from the server's max_connections, handed out in order of arrival,
and a 503 when no connection comes free within the bound."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

import tiered
from taskboard.app import create_app
from taskboard.db import Database, DbSession
from taskboard.ops.pool import (
    CHECKOUT_TIMEOUT_SECONDS,
    POOL_CAP,
    RESERVED_CONNECTIONS,
    AdmissionGate,
    pool_size_for,
)
from taskboard.ops.service import UNAVAILABLE_DETAIL
from taskboard.settings import Settings, sync_database_url
from tests.taskboard.conftest import SECRET

needs_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_POSTGRES_URL"), reason="needs TEST_POSTGRES_URL"
)


# --- sizing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_connections", "instances", "explicit", "size"),
    [
        (100, 1, None, POOL_CAP),  # one process: the cap, far below the server's limit
        (100, 12, None, 7),  # (100 - 10) // 12: every instance gets its share
        (100, 90, None, 1),
        (100, 3, 30, 30),  # an explicit size that fits is taken as it is, above the cap
        (20, 1, None, 10),
    ],
)
def test_the_pool_is_each_instances_share_of_max_connections(
    max_connections: int, instances: int, explicit: int | None, size: int
) -> None:
    assert pool_size_for(max_connections, instances, explicit) == size
    assert size * instances <= max_connections - RESERVED_CONNECTIONS


def test_more_instances_than_max_connections_allows_are_refused_with_the_fix() -> None:
    with pytest.raises(tiered.ImproperlyConfigured) as refused:
        pool_size_for(100, 91)

    message = str(refused.value)
    assert "TASKBOARD_INSTANCES=91" in message
    assert "max_connections=100" in message
    assert "Raise max_connections to at least 101" in message


def test_an_explicit_pool_size_that_oversubscribes_is_refused_with_the_fix() -> None:
    with pytest.raises(tiered.ImproperlyConfigured) as refused:
        pool_size_for(100, 4, explicit=25)

    message = str(refused.value)
    assert "DATABASE_POOL_SIZE=25" in message
    assert "needs 100 connections" in message
    assert "Set DATABASE_POOL_SIZE to at most 22" in message


def test_instances_and_pool_size_are_read_from_the_environment(tmp_path: Path) -> None:
    base = {"SECRET_KEY": SECRET, "TASKBOARD_DATA": str(tmp_path)}

    assert Settings.from_environ(base).instances == 1
    assert Settings.from_environ(base).database_pool_size is None
    read = Settings.from_environ({**base, "TASKBOARD_INSTANCES": "6", "DATABASE_POOL_SIZE": "4"})
    assert (read.instances, read.database_pool_size) == (6, 4)
    for name, value in [("TASKBOARD_INSTANCES", "0"), ("DATABASE_POOL_SIZE", "ten")]:
        with pytest.raises(tiered.ImproperlyConfigured) as refused:
            Settings.from_environ({**base, name: value})
        assert f"{name}={value!r} is not a whole number of at least 1" in str(refused.value)


def server_max_connections(url: str) -> int:
    engine = create_engine(sync_database_url(url))
    with engine.connect() as connection:
        value = int(connection.execute(text("SHOW max_connections")).scalar_one())
    engine.dispose()
    return value


@pytest.mark.postgres
@needs_postgres
@pytest.mark.parametrize("instances", [1, 7])
def test_the_app_sizes_its_pool_from_the_servers_max_connections(
    postgres_url: str, tmp_path: Path, instances: int
) -> None:
    app = create_app(
        Settings(
            database_url=postgres_url, secret_key=SECRET, data_dir=tmp_path, instances=instances
        )
    )

    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/readyz").status_code == 200
        database: Database = app.state.database
        max_connections = server_max_connections(postgres_url)
        assert database.pool_size == min(POOL_CAP, (max_connections - 10) // instances)


@pytest.mark.postgres
@needs_postgres
def test_the_pool_is_open_before_the_first_request(postgres_url: str, tmp_path: Path) -> None:
    """A fresh instance behind a proxy takes load at once: its connections must not be opened
    by that load (the topology bench's tail was a fresh instance's first seconds)."""
    app = create_app(Settings(database_url=postgres_url, secret_key=SECRET, data_dir=tmp_path))

    with TestClient(app, base_url="http://127.0.0.1:8000"):
        database: Database = app.state.database
        pool = database.engine.sync_engine.pool
        assert database.pool_size is not None
        assert pool.checkedin() == database.pool_size  # type: ignore[attr-defined]
        assert pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.postgres
@needs_postgres
def test_the_app_will_not_start_with_more_instances_than_the_server_has_connections(
    postgres_url: str, tmp_path: Path
) -> None:
    max_connections = server_max_connections(postgres_url)
    app = create_app(
        Settings(
            database_url=postgres_url,
            secret_key=SECRET,
            data_dir=tmp_path,
            instances=max_connections,
        )
    )

    with pytest.raises(tiered.ImproperlyConfigured) as refused:  # noqa: SIM117
        with TestClient(app, base_url="http://127.0.0.1:8000"):
            pass

    assert f"TASKBOARD_INSTANCES={max_connections} processes cannot share" in str(refused.value)


# --- handing out in order -----------------------------------------------------------------------


def test_the_gate_admits_waiters_in_the_order_they_arrived() -> None:
    async def run() -> tuple[list[int], bool]:
        gate = AdmissionGate(1)
        assert gate.try_acquire()
        admitted: list[int] = []

        async def wait(number: int) -> None:
            await gate.acquire()
            admitted.append(number)
            await asyncio.sleep(0)
            gate.release()

        waiters = []
        for number in range(6):
            waiters.append(asyncio.create_task(wait(number)))
            await asyncio.sleep(0)  # in line before the next one comes
        gate.release()
        overtook = gate.try_acquire()  # a newcomer, just as a place came free
        await asyncio.gather(*waiters)
        return admitted, overtook

    admitted, overtook = asyncio.run(run())

    assert admitted == [0, 1, 2, 3, 4, 5]
    assert overtook is False


def test_a_waiter_that_gives_up_or_is_refused_takes_no_place() -> None:
    async def run() -> AdmissionGate:
        gate = AdmissionGate(1)
        assert gate.try_acquire()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await gate.acquire()
        refused = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        gate.reject_waiting(lambda: RuntimeError("the breaker opened"))
        with pytest.raises(RuntimeError, match="the breaker opened"):
            await refused
        gate.release()
        return gate

    gate = asyncio.run(run())

    assert (gate.held, gate.waiting) == (0, 0)
    assert gate.try_acquire()


@pytest.mark.postgres
@needs_postgres
def test_the_pool_hands_out_connections_in_the_order_they_were_asked_for(
    postgres_url: str,
) -> None:
    async def run() -> list[int]:
        database = Database(postgres_url, pool_size=1)
        await database.start()
        gate = database.gate
        assert gate is not None
        served: list[int] = []

        async def use(number: int) -> None:
            async with database.engine.connect() as connection:
                served.append(number)
                await connection.execute(text("SELECT pg_sleep(0.005)"))

        users = []
        for number in range(10):
            users.append(asyncio.create_task(use(number)))
            for _ in range(100):  # until it is in line, before the next one asks
                if gate.held + gate.waiting > number:
                    break
                await asyncio.sleep(0)
        await asyncio.gather(*users)
        await database.dispose()
        return served

    assert asyncio.run(run()) == list(range(10))


@pytest.fixture
def one_connection_app(
    postgres_url: str, tmp_path: Path
) -> Iterator[tuple[FastAPI, threading.Event]]:
    settings = Settings(
        database_url=postgres_url, secret_key=SECRET, data_dir=tmp_path, database_pool_size=1
    )
    app = create_app(settings)
    release = threading.Event()

    @app.get("/hold")
    async def hold(db: DbSession) -> dict[str, bool]:
        await db.execute(text("SELECT 1"))  # the pool's only connection, until released
        await asyncio.to_thread(release.wait, 10)
        return {"held": True}

    @app.get("/probe")
    async def probe(db: DbSession) -> dict[str, int]:
        return {"one": await db.scalar(text("SELECT 1")) or 0}

    yield app, release
    release.set()


@pytest.mark.postgres
@needs_postgres
def test_a_request_that_finds_no_free_connection_within_the_bound_answers_503(
    one_connection_app: tuple[FastAPI, threading.Event],
) -> None:
    app, release = one_connection_app
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        holder = threading.Thread(target=client.get, args=("/hold",))
        holder.start()
        database: Database = app.state.database
        assert database.gate is not None
        while database.gate.held < 1:
            time.sleep(0.01)

        started = time.monotonic()
        response = client.get("/probe", headers={"Accept": "application/json"})
        waited = time.monotonic() - started
        release.set()
        holder.join()

        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["detail"] == UNAVAILABLE_DETAIL
        assert CHECKOUT_TIMEOUT_SECONDS - 0.1 < waited < CHECKOUT_TIMEOUT_SECONDS + 1
        assert client.get("/probe").json() == {"one": 1}  # the connection came back
