"""A refused body does not break the connection: the client's next request on it is answered.

The battery's reproduction: after a 400 "Too many fields" the server dropped the keep-alive
connection without a word, and the client's next request on it failed. Any answer given before the
app read all of the body did the same (a CSRF refusal, a form past the parser's limits). Real
servers on a free port (uvicorn, and granian, which ``taskboard serve`` runs), a real socket.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tiered.asgi.keepalive_app import build
from tests.tiered.live.serving import serve

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 30.0
FIELDS = 1_100
"""Past Starlette's 1,000 fields."""
TAIL = 500_000
"""A last field's size: what the parser has not read when it stops at field 1,001 (the whole
body stays within the 1 MiB limit)."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One HTTP/1.1 connection, kept alive across requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._buffer = b""

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # In pieces, a little apart, as a large body arrives over a real network: the server
        # may answer before the last of it has arrived.
        self.sock.sendall(head)
        for start in range(0, len(body), 16_384):
            self.sock.sendall(body[start : start + 16_384])
            time.sleep(0.005)
        return self._read()

    def _read(self) -> Answer:
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def _fill(self) -> None:
        chunk = self.sock.recv(65_536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(params=["uvicorn", "granian"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    if request.param == "uvicorn":
        with serve(build()) as url:
            yield int(url.rsplit(":", 1)[1])
        return
    number = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(number),
            "--workers",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "tests.tiered.asgi.keepalive_app:app",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(ROOT)))),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", number), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "granian did not start"
                time.sleep(0.1)
        yield number
    finally:
        server.terminate()
        server.wait(timeout=30)
        assert server.stderr is not None
        server.stderr.close()


def _multipart(fields: int) -> tuple[str, bytes]:
    parts = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(fields)
    )
    last = b'--B\r\nContent-Disposition: form-data; name="notes"\r\n\r\n' + b"x" * TAIL + b"\r\n"
    return "multipart/form-data; boundary=B", parts + last + b"--B--\r\n"


def _urlencoded(fields: int) -> tuple[str, bytes]:
    body = "&".join(f"f{i}=x" for i in range(fields)) + "&notes=" + "x" * TAIL
    return "application/x-www-form-urlencoded", body.encode("ascii")


@pytest.mark.parametrize("encode", [_multipart, _urlencoded])
def test_after_too_many_fields_the_next_request_on_the_connection_is_answered(
    port: int, encode: object
) -> None:
    content_type, body = encode(FIELDS)  # type: ignore[operator]
    connection = Connection(port)
    try:
        refused = connection.send(
            "POST", "/echo", {"Content-Type": content_type, "Accept": "application/json"}, body
        )
        then = connection.send("GET", "/ping", {"Accept": "application/json"})
    finally:
        connection.close()

    assert (then.status, then.body) == (200, b'{"pong":"yes"}')
    assert "connection" not in refused.headers
    assert refused.status == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert b'"code": "form-too-large"' in refused.body
    assert b"Too many fields. Maximum number of fields is 1000." in refused.body


def test_after_a_csrf_refusal_of_a_large_form_the_connection_is_kept(port: int) -> None:
    content_type, body = _urlencoded(FIELDS)
    connection = Connection(port)
    try:
        refused = connection.send(
            "POST",
            "/protected",
            {"Content-Type": content_type, "Origin": "https://evil.example"},
            body,
        )
        then = connection.send("GET", "/ping", {})
    finally:
        connection.close()

    assert refused.status == 403
    assert (then.status, then.body) == (200, b'{"pong":"yes"}')


def test_a_body_declared_too_large_is_refused_saying_the_connection_closes(port: int) -> None:
    connection = Connection(port)
    try:
        # The head alone: the client waits for the answer before it sends 2 MB it need not.
        connection.sock.sendall(
            f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n"
            "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n".encode()
        )
        refused = connection._read()
    finally:
        connection.close()

    assert refused.status == 413
    assert refused.headers["connection"] == "close"
    assert re.search(rb"larger than the limit of 1,048,576 bytes", refused.body)
