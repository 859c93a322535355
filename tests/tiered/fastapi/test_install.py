"""``tiered.install``'s lifespan: what it prepares at start, so no request waits for it."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.testclient import TestClient

import tiered
from tiered.core import useragent

SECRET = "install-test-secret-0123456789abcdef0123"


def test_the_user_agent_parser_is_built_at_start_not_by_the_first_request() -> None:
    """Compiling its rules takes about 0.2 s: on the event loop, under load, a fresh instance's
    first requests waited for it."""
    useragent._parser.cache_clear()
    app = FastAPI()
    tiered.install(app, secret_key=SECRET)

    with TestClient(app):
        assert useragent._parser.cache_info().currsize == 1  # before any request
