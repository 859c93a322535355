"""Taskboard's list page the idiomatic FastAPI way: a peer measured beside Taskboard.

What a competent FastAPI developer writes from the FastAPI and SQLAlchemy docs, with no tuning:
SQLAlchemy 2's async ORM over ``sqlite+aiosqlite`` (the async SQLite driver SQLAlchemy documents)
on the database ``taskboard seed`` filled, declarative models mapped onto Taskboard's ``users`` and
``tasks`` tables, Starlette's ``SessionMiddleware`` (a signed cookie holding the user id),
``Depends`` for the database session and the current user, and ``Jinja2Templates``.

``GET /tasks[?q=&status=&page=]``: the user's 20 newest tasks with their count, searched in titles
and notes (``q``) and filtered by state (``status``: all, open, done), as Taskboard's list shows
them. ``POST /login`` (a form with ``email``) is the bench's way in: it puts the user's id in the
session without asking for a password (see :mod:`bench.peers`).

Served like Taskboard, by granian (one worker): ``granian --interface asgi --factory
bench.peers.fastapi_list:create_app`` with ``BENCH_PEER_DATABASE`` and ``BENCH_PEER_SECRET`` set.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, Text, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.middleware.sessions import SessionMiddleware

from bench.peers import DATABASE_ENVIRON, SECRET_ENVIRON

PAGE_SIZE = 20
Status = Literal["all", "open", "done"]

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text)
    done: Mapped[bool] = mapped_column(Boolean)
    due_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db)]


async def get_current_user(request: Request, db: DbSession) -> User:
    user_id = request.session.get("user_id")
    user = await db.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login"})
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def create_app(database: str | None = None, secret: str | None = None) -> FastAPI:
    """The app on the SQLite file ``database`` (default: ``$BENCH_PEER_DATABASE``), its cookies
    signed with ``secret`` (default: ``$BENCH_PEER_SECRET``)."""
    path = database or os.environ[DATABASE_ENVIRON]
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(title="Task list, the FastAPI way", lifespan=lifespan)
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret or os.environ[SECRET_ENVIRON],
        same_site="lax",
        https_only=False,
    )

    @app.post("/login")
    async def login(
        request: Request, db: DbSession, email: Annotated[str, Form()]
    ) -> RedirectResponse:
        user = await db.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "No such user")
        request.session.clear()
        request.session["user_id"] = user.id
        return RedirectResponse("/tasks", status_code=status.HTTP_303_SEE_OTHER)

    @app.get("/tasks", response_class=HTMLResponse)
    async def list_tasks(
        request: Request,
        user: CurrentUser,
        db: DbSession,
        q: Annotated[str, Query(max_length=200)] = "",
        status: Status = "all",
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> HTMLResponse:
        filters = [Task.owner_id == user.id]
        if status != "all":
            filters.append(Task.done == (status == "done"))
        q = q.strip()
        if q:
            filters.append(or_(Task.title.ilike(f"%{q}%"), Task.notes.ilike(f"%{q}%")))
        total = await db.scalar(select(func.count()).select_from(Task).where(*filters)) or 0
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(page, pages)
        tasks = await db.scalars(
            select(Task)
            .where(*filters)
            .order_by(Task.created_at.desc(), Task.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
        return templates.TemplateResponse(
            request,
            "fastapi/tasks.html",
            {
                "user": user,
                "tasks": tasks.all(),
                "total": total,
                "page": page,
                "pages": pages,
                "q": q,
                "status": status,
            },
        )

    return app
