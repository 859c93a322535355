"""One Taskboard instance: ``taskboard serve`` (granian, one worker) on a port of its own.

Each instance is a separate process group, so that Ctrl-C in the terminal reaches the stack
alone and the stack stops things in order: nginx first, then the instances. granian drains on
``SIGTERM``: it stops accepting, finishes the requests in flight, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from taskboard.stack.config import HOST

READY_TIMEOUT = 90.0
"""How long a new instance may take to answer ``/readyz`` 200 (a cold start on a busy machine
imports the app, connects to the database and checks its migrations)."""
STOP_TIMEOUT = 30.0
"""How long an instance may take to finish its requests after ``SIGTERM`` before it is killed."""

Preexec = Callable[[], None] | None


async def wait_until(
    ready: Callable[[], Awaitable[bool]],
    process: asyncio.subprocess.Process,
    name: str,
    exited: str,
    late: str,
) -> None:
    """Poll ``ready`` every 0.1 s until it says so; raise when ``process`` (``name``) exits
    first (``exited``: what it did not get to) or after :data:`READY_TIMEOUT` (``late``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    while loop.time() < deadline:
        if process.returncode is not None:
            raise RuntimeError(
                f"{name} (pid {process.pid}) exited with code {process.returncode} {exited}"
            )
        if await ready():
            return
        await asyncio.sleep(0.1)  # polling: neither says when it is ready on its own
    raise TimeoutError(f"{name} (pid {process.pid}) {late} after {READY_TIMEOUT:.0f} s")


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice; the instance binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(eq=False)
class Instance:
    slot: int
    port: int
    process: asyncio.subprocess.Process
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    @classmethod
    async def start(
        cls, slot: int, port: int, environ: Mapping[str, str], log: Path, preexec: Preexec = None
    ) -> Instance:
        command = [
            sys.executable,
            "-m",
            "taskboard.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--server",
            "granian",
            "--no-worker",  # the stack runs the job workers itself
        ]
        with log.open("ab") as out:
            out.write(f"--- instance {slot} on {HOST}:{port}, {time.ctime()}\n".encode())
            out.flush()
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=dict(environ),
                start_new_session=True,
                preexec_fn=preexec,
            )
        return cls(slot=slot, port=port, process=process)

    async def wait_ready(self) -> None:
        """Return once ``GET /readyz`` answers 200; raise if it exits or the time runs out."""

        async def answers() -> bool:
            return await readyz(self.port) == 200

        await wait_until(
            answers, self.process, f"instance {self.slot}", "before it was ready", "not ready"
        )

    async def stop(self) -> int | None:
        """``SIGTERM`` (granian drains), then ``SIGKILL`` to the whole group if it takes too long.

        The group is killed in any case once the leader is gone, so that no granian worker of
        this instance outlives it. Returns the exit code.
        """
        return await stop_group(self.process)


async def stop_group(process: asyncio.subprocess.Process) -> int | None:
    """``SIGTERM`` to a process that leads its own group, ``SIGKILL`` to the whole group after
    :data:`STOP_TIMEOUT`, and to the group in any case once the leader is gone (so none of its
    children outlives it). Returns the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


async def readyz(port: int) -> int | None:
    """The status of ``GET /readyz`` on the instance at ``port``; ``None``: no answer."""
    return await probe(port, "/readyz")


async def probe(port: int, path: str, *, tls: bool = False) -> int | None:
    """The status of ``GET path`` on ``127.0.0.1:port`` (HTTP/1.1; with ``tls``, over TLS without
    checking the certificate, which may be the user's own for another name); ``None``: no answer.
    """
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(2.0):
            reader, writer = await asyncio.open_connection(HOST, port, ssl=context)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n"
                    "Accept: application/json\r\n\r\n".encode()
                )
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return None
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@dataclass(eq=False)
class JobWorker:
    """One job worker: ``taskboard worker``, a process group of its own like an instance."""

    slot: int
    process: asyncio.subprocess.Process
    ready_file: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    @classmethod
    async def start(
        cls,
        slot: int,
        environ: Mapping[str, str],
        log: Path,
        ready_file: Path,
        preexec: Preexec = None,
    ) -> JobWorker:
        with log.open("ab") as out:
            out.write(f"--- job worker {slot}, {time.ctime()}\n".encode())
            out.flush()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "taskboard.cli",
                "worker",
                f"--ready-file={ready_file}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=dict(environ),
                start_new_session=True,
                preexec_fn=preexec,
            )
        return cls(slot=slot, process=process, ready_file=ready_file)

    async def wait_ready(self) -> None:
        """Return once the worker takes jobs (its ready file exists); raise if it exits or the
        time runs out. Its start (Celery, the app's modules, the broker) is seconds of CPU: a
        stack that sent traffic before it was over served its first seconds at half speed."""

        async def took_jobs() -> bool:
            return self.ready_file.exists()

        await wait_until(
            took_jobs,
            self.process,
            f"job worker {self.slot}",
            "before it took jobs",
            "not taking jobs",
        )

    async def stop(self) -> int | None:
        """``SIGTERM`` (Celery's warm shutdown: the job in hand finishes), then ``SIGKILL`` to
        the group after :data:`STOP_TIMEOUT` (the job's message goes back to the queue)."""
        return await stop_group(self.process)
