"""A small live-updates app, served by uvicorn on 127.0.0.1, and a reader of its event streams.

A real server, because a stream must be read as it arrives (httpx's ASGI transport hands over a
response only once it is complete). Changes are published through the app's own routes, in the
server's event loop, as an app would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2
import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import tiered
from tiered.live import LiveBus, LiveSettings, LiveStreams, origin_of

START_TIMEOUT = 10.0


@dataclass
class LiveApp:
    app: FastAPI
    bus: LiveBus
    live: LiveStreams


def build_live_app(bus: LiveBus, settings: LiveSettings) -> LiveApp:
    """``/users/{user}/live`` (stream) and ``/live/poll`` for the topic ``tasks:{user}``;
    ``POST /users/{user}/tasks/{id}`` publishes ``task.updated``; ``POST /shutdown`` closes the
    bus. Posts carry a bearer token, which tiered exempts from CSRF."""
    app = FastAPI()
    tiered.install(app, tiered.TieredSettings(debug=True))
    live = LiveStreams(bus, settings)

    @app.get("/users/{user}/live")
    async def stream(request: Request, user: str) -> Response:
        return await live.stream(request, f"tasks:{user}", key=user)

    @app.get("/users/{user}/live/poll")
    async def poll(request: Request, user: str) -> Response:
        return await live.poll(request, f"tasks:{user}")

    @app.get("/users/{user}/cursor")
    async def cursor(user: str) -> Response:
        return JSONResponse({"cursor": await bus.cursor(f"tasks:{user}")})

    @app.post("/users/{user}/tasks/{task}")
    async def change(request: Request, user: str, task: int) -> Response:
        event = await bus.publish(
            f"tasks:{user}", "task.updated", {"id": task}, origin=origin_of(request)
        )
        return JSONResponse({"id": event.id})

    @app.post("/shutdown")
    async def shutdown() -> Response:
        await bus.aclose()
        return JSONResponse({})

    return LiveApp(app, bus, live)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test app did not start on 127.0.0.1:{port}")
        time.sleep(0.01)  # polling the server's started flag, not a fixed wait
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class EventStream:
    """Reads an open SSE response one message (its lines, up to a blank line) at a time.

    Keep it while the stream should stay open: its line iterator, once garbage, closes the
    response (and so the connection).
    """

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def message(self) -> list[str]:
        lines: list[str] = []
        for line in self._lines:
            if line == "":
                if lines:
                    return lines
                continue
            lines.append(line)
        raise EOFError(f"the stream ended after {lines!r}")

    def messages(self, count: int) -> list[list[str]]:
        return [self.message() for _ in range(count)]

    def ended(self) -> bool:
        """Whether the stream ends (rather than sending another message) from here."""
        try:
            self.message()
        except EOFError:
            return True
        return False


def publish(client: httpx2.Client, user: str, task: int, origin: str | None = None) -> str:
    headers = {"Authorization": "Bearer test"}
    if origin is not None:
        headers["X-Tiered-Live-Origin"] = origin
    response = client.post(f"/users/{user}/tasks/{task}", headers=headers)
    response.raise_for_status()
    event_id: str = response.json()["id"]
    return event_id


def cursor_of(client: httpx2.Client, user: str) -> str:
    value: str = client.get(f"/users/{user}/cursor").json()["cursor"]
    return value


def event_lines(event_id: str, task: int, origin: str | None = None) -> list[str]:
    """The lines of the SSE message for a ``task.updated`` event."""
    quoted_origin = f'"{origin}"' if origin else "null"
    data = f'{{"data":{{"id":{task}}},"origin":{quoted_origin}}}'
    return [f"id: {event_id}", "event: task.updated", f"data: {data}"]
