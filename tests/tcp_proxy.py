"""A TCP proxy for tests that can stall: a network that stops delivering, not a refused port.

``PausableProxy(host, port)`` listens on 127.0.0.1 (``proxy.port``) and forwards every
connection to ``host:port``, on an event loop of its own in a daemon thread, so synchronous
tests and an app on another loop (``TestClient``'s) can both use it. ``pause()`` stops
delivering in both directions while it keeps accepting connections and reading (and holding)
what either side sends, the way a stalled network path looks to a client: the kernel still
acknowledges every byte, so a server's timeouts never fire and nothing is refused or reset.
``resume()`` delivers what was held, in order, and forwards again. ``refuse()`` is the other
kind of outage, a server that is down: every connection is dropped and new ones are refused
until ``resume()`` listens again on the same port. ``close()`` drops every connection and stops
the thread.

Example::

    with PausableProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        proxy.pause()   # queries through `url` now hang
        proxy.resume()  # and complete
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 65536


class PausableProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host:target_port`` until paused."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self._thread.start()
        self._flowing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server = self._call(self._start())
        self.port: int = self._server.sockets[0].getsockname()[1]

    @property
    def paused(self) -> bool:
        return not self._flowing.is_set()

    @property
    def connections(self) -> int:
        """Open connections, counting both sides of each forwarded one."""
        return len(self._writers)

    def pause(self) -> None:
        """Stop delivering bytes either way; keep accepting connections and holding bytes."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        """Deliver what was held (listening again after ``refuse()``) and forward again."""
        self._call(self._resume())

    def refuse(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server does."""
        self._call(self._refuse())

    def close(self) -> None:
        """Close the listener and every connection, and stop the proxy's thread."""
        if self._loop.is_closed():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> PausableProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(5)

    async def _start(self) -> asyncio.Server:
        self._flowing.set()
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _resume(self) -> None:
        if not self._server.is_serving():
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )
        self._flowing.set()

    async def _refuse(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _stop(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.close()
            return
        self._writers.add(upstream_writer)
        with contextlib.suppress(asyncio.CancelledError):  # close() ends every connection
            await asyncio.gather(
                self._pipe(reader, upstream_writer),
                self._pipe(upstream_reader, writer),
                return_exceptions=True,
            )
        self._writers.discard(writer)
        self._writers.discard(upstream_writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy ``reader`` to ``writer``; while paused, read on but hold what arrives."""
        held: asyncio.Queue[bytes] = asyncio.Queue()

        async def read() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(_CHUNK):
                    held.put_nowait(data)
            held.put_nowait(b"")  # end of stream, delivered after what came before it

        reading = asyncio.ensure_future(read())
        try:
            while True:
                data = await held.get()
                await self._flowing.wait()
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            writer.close()
