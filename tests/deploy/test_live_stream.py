"""Live updates through the deployed topology: Server-Sent Events pass nginx unbuffered, and a
client that reconnects after the instances were rolled (every process replaced) gets, from its
``Last-Event-ID``, the change made while it was away."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import httpx2

from tests.deploy.conftest import RunningStack

STREAM = {"Accept": "text/event-stream"}


class Listener:
    """A stream of ``/tasks/live`` read on a thread: each message's id, event and data."""

    def __init__(self, stack: RunningStack, headers: dict[str, str]) -> None:
        self.messages: queue.Queue[dict[str, str]] = queue.Queue()
        self.status: int | None = None
        self.content_type = ""
        self._client = stack.client(timeout=httpx2.Timeout(30.0, read=60.0))
        self._headers = headers
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._client.stream("GET", "/tasks/live", headers=self._headers) as response:
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "")
            message: dict[str, str] = {}
            try:
                for line in response.iter_lines():
                    if not line:
                        if message:
                            self.messages.put(message)
                        message = {}
                        continue
                    name, _, value = line.partition(":")
                    if name:
                        message[name] = value.strip()
            except httpx2.HTTPError:
                return  # the stream ended (the instance went away, or we closed it)
            except Exception:
                # Closing the client from the test's thread while this one reads can surface
                # as the HTTP/2 library's own error (a frame received on a closed connection),
                # not httpx's; that is the end we asked for. Anything else is a failure.
                if self._closing.is_set():
                    return
                raise

    def next_event(self, kind: str, timeout: float) -> dict[str, str]:
        """The next message of event ``kind`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if message.get("event") == kind:
                return message
        raise AssertionError(f"no {kind} event within {timeout} s")

    def close(self) -> None:
        self._closing.set()
        self._client.close()


def _create(stack: RunningStack, api: dict[str, str], title: str) -> dict[str, Any]:
    with stack.client() as client:
        created = client.post("/tasks", json={"title": title}, headers=api)
    assert created.status_code == 201, created.text
    task: dict[str, Any] = created.json()
    return task


def test_a_stream_through_nginx_gets_each_change_at_once_and_resumes_after_a_roll(
    stack: RunningStack, api: dict[str, str]
) -> None:
    listener = Listener(stack, {**api, **STREAM})
    try:
        time.sleep(0.5)  # the stream is open before the change (a cursor covers it anyway)
        started = time.monotonic()
        task = _create(stack, api, "Heard at once over the stream")
        first = listener.next_event("task.created", timeout=5)
        took = time.monotonic() - started
    finally:
        listener.close()
    assert listener.status == 200
    assert listener.content_type.startswith("text/event-stream")
    assert f'"id":{task["id"]}' in first["data"]
    assert took < 2.0  # not held back by a buffer in nginx

    stack.sighup()  # every instance replaced while no stream is open
    missed = _create(stack, api, "Made while the stream was away")
    again = Listener(stack, {**api, **STREAM, "Last-Event-ID": first["id"]})
    try:
        resumed = again.next_event("task.created", timeout=10)
    finally:
        again.close()
    assert f'"id":{missed["id"]}' in resumed["data"]
