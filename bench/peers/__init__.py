"""Taskboard's list page built the usual ways, as peers measured beside it (``bench.list_peers``).

- :mod:`bench.peers.fastapi_list`: the idiomatic FastAPI build (SQLAlchemy 2 async ORM over
  aiosqlite, ``Jinja2Templates``, Starlette's signed-cookie ``SessionMiddleware``, ``Depends``);
- :mod:`bench.peers.django_list`: the Django 5.2 build (ORM models on the same tables, a
  signed-cookie session, a template), served through WSGI.

Both read the database ``taskboard seed`` filled (``BENCH_PEER_DATABASE``: the SQLite file) and
sign their cookies with ``BENCH_PEER_SECRET``. Each has a bench-only ``POST /login`` that takes an
``email`` and puts that user's id in the session, without a password: the page is what is
measured, not the log-in.
"""

from __future__ import annotations

DATABASE_ENVIRON = "BENCH_PEER_DATABASE"
"""The SQLite file both peers read (the one Taskboard serves)."""
SECRET_ENVIRON = "BENCH_PEER_SECRET"  # noqa: S105 (the variable's name, not a secret)
"""What both peers sign their session cookies with."""
