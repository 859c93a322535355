"""The stack's supervisor: start everything in order, roll the instances on ``SIGHUP``, restart
what dies, stop everything on ``SIGINT``/``SIGTERM``.

A rolling restart loses no request. For each instance slot in turn: start a replacement on a
fresh port and wait until its ``/readyz`` answers 200; point nginx's upstream at it and reload
nginx, waiting until nginx's old workers (which may still hold requests for the old instance)
have finished and exited; only then ``SIGTERM`` the old instance, which gets no new request by
then and drains whatever it still has. At every moment at least ``STACK_INSTANCES`` instances
are ready, and nginx sends each request to one that is.

An instance that dies on its own is replaced the same way, after a back-off that doubles with
each quick failure (1 s, 2 s, … 30 s); meanwhile nginx's passive health check sends its share
to the others. An nginx that dies is started again the same way.

Everything runs on one asyncio loop in the main thread; slot changes are serialised by a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from taskboard.settings import shown_url
from taskboard.stack import backends
from taskboard.stack.config import HOST, PROXY_ADDRESS, StackConfig, current_user
from taskboard.stack.instances import Instance, JobWorker, Preexec, free_port, probe
from taskboard.stack.nginx import Nginx, render
from taskboard.stack.tls import Certificate, local_certificate
from tiered import ImproperlyConfigured

log = logging.getLogger("taskboard.stack")

MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0
"""An instance that ran this long before it died starts its slot's back-off again from 1 s."""
NGINX_START_TIMEOUT = 15.0


def _die_with_parent() -> Preexec:
    """A ``preexec_fn`` that has the kernel ``SIGTERM`` a child when the stack dies (Linux), so
    that even a ``kill -9`` of the stack leaves no nginx or instance holding its ports."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state = config.state
        self.slots: list[Instance] = []
        self.workers: list[JobWorker] = []
        self.owned: set[Instance] = set()
        """Every instance process started and not yet seen to exit: current, new and retiring."""
        self.rolls = 0
        self.failures = [0] * config.instances
        self.certificate: Certificate | None = None
        self.nginx = Nginx(self.state.nginx_conf, self.state.nginx)
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._roll_task: asyncio.Task[None] | None = None
        self._roll_again = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._preexec = _die_with_parent()
        self._environ = self._instance_environ()

    # --- the whole life ------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop_signal, self._stop_requested, stop_signal)
        loop.add_signal_handler(signal.SIGHUP, self._roll_requested)
        try:
            started = await self._start()
            if started:
                print(self.config.url, flush=True)
                log.info(
                    "Up: %s, %d instances. SIGHUP (kill -HUP %d) rolls them; Ctrl-C or SIGTERM "
                    "stops everything.",
                    self.config.url,
                    len(self.slots),
                    os.getpid(),
                )
                await self._stopping.wait()
        finally:
            await self._stop()
            for handled in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(handled)
        return 0

    async def _start(self) -> bool:
        """Everything up, in order; ``False`` if a stop was asked for on the way."""
        config = self.config
        created = await asyncio.to_thread(backends.ensure_database, config.database_url)
        shown = shown_url(config.database_url)
        log.info("Database %s %s.", shown, "created" if created else "exists")
        before = await asyncio.to_thread(backends.migrate_database, config.database_url)
        log.info("Database %s migrated (it was at %s).", shown, before or "an empty schema")
        await asyncio.to_thread(backends.check_redis, config.redis_url)
        self.certificate = await asyncio.to_thread(self._certificate)
        if self._stopping.is_set():
            return False
        first = [self._start_instance(slot) for slot in range(config.instances)]
        self.slots = list(await asyncio.gather(*first))
        self.workers = [await self._start_worker(slot) for slot in range(config.workers)]
        # Traffic comes only once everything has started: the workers' start is seconds of
        # CPU, and on a small machine it halved what a stack served in its first seconds.
        await asyncio.gather(*(instance.wait_ready() for instance in self.slots))
        log.info(
            "Instances ready: %s.",
            ", ".join(f"{i.slot} (pid {i.pid}, {i.address})" for i in self.slots),
        )
        await asyncio.gather(*(worker.wait_ready() for worker in self.workers))
        if self.workers:
            log.info(
                "Job workers taking jobs: %s.",
                ", ".join(f"{w.slot} (pid {w.pid})" for w in self.workers),
            )
        if self._stopping.is_set():
            return False
        await self._start_nginx()
        self._write_state()
        return not self._stopping.is_set()

    def _stop_requested(self, signum: int) -> None:
        if not self._stopping.is_set():
            log.info("%s: stopping everything.", signal.Signals(signum).name)
        self._stopping.set()

    async def _stop(self) -> None:
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # nginx first (its workers finish what they hold), then the instances drain and exit.
        await self.nginx.stop()
        codes = await asyncio.gather(*(instance.stop() for instance in list(self.owned)))
        log.info("Stopped nginx and %d instance processes (exit codes %s).", len(codes), codes)
        # The workers last: a job the instances queued while draining still gets taken.
        worker_codes = await asyncio.gather(*(worker.stop() for worker in list(self.workers)))
        if worker_codes:
            log.info("Stopped %d job workers (exit codes %s).", len(worker_codes), worker_codes)
        self.state.state_file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            if self.state.pid_file.read_text().strip() == str(os.getpid()):
                self.state.pid_file.unlink()

    # --- instances ---------------------------------------------------------------------------

    def _instance_environ(self) -> dict[str, str]:
        config = self.config
        environ = dict(config.environ if config.environ is not None else os.environ)
        environ.update(
            DATABASE_URL=config.database_url,
            REDIS_URL=config.redis_url,
            SECRET_KEY=config.secret_key,
            # Only nginx connects from this address (proxy_bind): trust its X-Forwarded-*.
            FORWARDED_ALLOW_IPS=PROXY_ADDRESS,
            TASKBOARD_INSTANCES=str(config.instances),
            BROKER_URL=config.broker_url or config.redis_url,
            # Mailed links name the stack's own address, never a Host a request made up.
            PUBLIC_URL=environ.get("PUBLIC_URL") or config.url.rstrip("/"),
            PYTHONUNBUFFERED="1",  # the instance's log file is current, not 8 KiB behind
        )
        return environ

    async def _start_instance(self, slot: int) -> Instance:
        instance = await Instance.start(
            slot, free_port(), self._environ, self.state.instance_log(slot), self._preexec
        )
        self.owned.add(instance)
        self._spawn(self._watch_instance(instance))
        return instance

    async def _start_worker(self, slot: int) -> JobWorker:
        worker = await JobWorker.start(
            slot,
            self._environ,
            self.state.worker_log(slot),
            self.state.worker_ready(slot),
            self._preexec,
        )
        self._spawn(self._watch_worker(worker))
        return worker

    async def _watch_worker(self, worker: JobWorker) -> None:
        """A worker that exits is replaced (after 2 s, so one that cannot start does not spin);
        its job, if it held one, runs again (taskboard.jobs)."""
        code = await worker.process.wait()
        if self._stopping.is_set() or self.workers[worker.slot] is not worker:
            return
        log.warning(
            "Job worker %d (pid %d) exited with code %s; see %s. Replacing it.",
            worker.slot,
            worker.pid,
            code,
            self.state.worker_log(worker.slot),
        )
        await asyncio.sleep(2.0)
        if not self._stopping.is_set():
            self.workers[worker.slot] = await self._start_worker(worker.slot)
            self._write_state()

    async def _roll_workers(self) -> None:
        """Each worker in turn: the new one starts, then the old one finishes its job and exits."""
        for slot, old in enumerate(list(self.workers)):
            self.workers[slot] = await self._start_worker(slot)
            await old.stop()

    async def _watch_instance(self, instance: Instance) -> None:
        code = await instance.process.wait()
        self.owned.discard(instance)
        if self._stopping.is_set() or instance not in self.slots:
            return  # stopped on purpose, or a replacement that never took its slot
        lived = time.monotonic() - instance.started
        if lived > STABLE_AFTER:
            self.failures[instance.slot] = 0
        log.warning(
            "Instance %d (pid %d, %s) exited with code %s after %.0f s; see %s. Replacing it.",
            instance.slot,
            instance.pid,
            instance.address,
            code,
            lived,
            self.state.instance_log(instance.slot),
        )
        self._spawn(self._restart(instance.slot))

    async def _restart(self, slot: int) -> None:
        while not self._stopping.is_set():
            delay = min(MAX_BACKOFF, 2.0 ** self.failures[slot])
            self.failures[slot] += 1
            log.info("Instance %d: starting a new one in %.0f s.", slot, delay)
            await asyncio.sleep(delay)
            try:
                await self._replace(slot)
            except Exception as exc:  # the new one failed too: back off further and try again
                log.warning("Instance %d: the new one failed: %s", slot, exc)
                continue
            return

    async def _replace(self, slot: int) -> None:
        """A new process for ``slot``, ready and in nginx's upstream before the old one stops."""
        async with self._lock:
            old = self.slots[slot]
            new = await self._start_instance(slot)
            try:
                await new.wait_ready()
            except BaseException:
                await new.stop()
                raise
            self.slots[slot] = new
            try:
                await self._reload_nginx()
            except BaseException:
                self.slots[slot] = old
                await new.stop()
                raise
            code = await old.stop() if old.running else old.process.returncode
            log.info(
                "Instance %d: pid %d on %s replaced pid %d on %s (which exited with %s).",
                slot,
                new.pid,
                new.address,
                old.pid,
                old.address,
                code,
            )
            self._write_state()

    # --- rolling restarts ----------------------------------------------------------------

    def _roll_requested(self) -> None:
        if self._stopping.is_set():
            return
        if self._roll_task is not None and not self._roll_task.done():
            log.info("SIGHUP: a roll is under way; another follows it.")
            self._roll_again = True
            return
        log.info("SIGHUP: rolling %d instances, one at a time.", len(self.slots))
        self._roll_task = self._spawn(self._roll())

    async def _roll(self) -> None:
        while True:
            began = time.monotonic()
            for slot in range(len(self.slots)):
                try:
                    await self._replace(slot)
                except Exception as exc:
                    log.error(
                        "Roll stopped at instance %d, which keeps its old process: %s", slot, exc
                    )
                    return
            await self._roll_workers()
            self.rolls += 1
            self._write_state()
            log.info(
                "Rolled %d instances and %d job workers in %.1f s.",
                len(self.slots),
                len(self.workers),
                time.monotonic() - began,
            )
            if not self._roll_again:
                return
            self._roll_again = False

    # --- nginx ---------------------------------------------------------------------------

    def _certificate(self) -> Certificate:
        config = self.config
        if config.tls_cert and config.tls_key:
            return Certificate(chain=config.tls_cert, key=config.tls_key, ca=None)
        certificate = local_certificate(self.state.tls)
        log.info(
            "TLS: a certificate for 127.0.0.1 and localhost from the local CA %s (trust it: "
            "curl --cacert %s …; or your own with STACK_TLS_CERT and STACK_TLS_KEY).",
            certificate.ca,
            certificate.ca,
        )
        return certificate

    def _write_nginx_conf(self) -> None:
        assert self.certificate is not None
        root = os.geteuid() == 0
        values: dict[str, str | list[str]] = {
            "state_dir": str(self.state.root),
            # As root, the workers would otherwise run as nobody, who cannot write the state
            # directory under a private home or temporary folder.
            "user": f"user {current_user()};" if root else "",
            "listen": f"{HOST}:{self.config.port}",
            "certificate": str(self.certificate.chain),
            "certificate_key": str(self.certificate.key),
            "upstream_servers": [
                f"server {instance.address} max_fails=2 fail_timeout=5s;" for instance in self.slots
            ],
            "proxy_bind": PROXY_ADDRESS,
            "debug_headers": (
                "add_header X-Upstream $upstream_addr always;"
                if self.config.expose_upstream
                else ""
            ),
        }
        text = render(self.config.nginx_template.read_text(encoding="utf-8"), values)
        partial = self.state.nginx_conf.with_suffix(".tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(self.state.nginx_conf)

    async def _start_nginx(self) -> None:
        self._write_nginx_conf()
        process = await self.nginx.start(self._preexec)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NGINX_START_TIMEOUT
        while await probe(self.config.port, "/readyz", tls=True) != 200:
            if process.returncode is not None or loop.time() > deadline:
                process.kill() if process.returncode is None else None
                raise ImproperlyConfigured(
                    f"nginx did not start on {HOST}:{self.config.port} (exit code "
                    f"{process.returncode}): {self._nginx_errors()}"
                )
            await asyncio.sleep(0.05)  # polling until nginx answers through to an instance
        log.info("nginx (pid %d) on %s, config %s.", process.pid, self.config.url, self.nginx.conf)
        self._spawn(self._watch_nginx(process))

    async def _reload_nginx(self) -> None:
        self._write_nginx_conf()
        await self.nginx.reload()

    async def _watch_nginx(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if self._stopping.is_set():
            return
        log.error("nginx exited with code %s: %s. Starting it again.", code, self._nginx_errors())
        delay = 1.0
        while not self._stopping.is_set():
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    await self._start_nginx()
                self._write_state()
                return
            except Exception as exc:
                log.error("nginx failed to start again: %s", exc)
                delay = min(MAX_BACKOFF, delay * 2)

    def _nginx_errors(self) -> str:
        error_log = self.state.nginx / "error.log"
        try:
            lines = error_log.read_text(errors="replace").splitlines()[-5:]
        except OSError:
            return f"no {error_log}"
        return " | ".join(lines) or f"nothing in {error_log}"

    # --- bookkeeping ---------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _write_state(self) -> None:
        """``stack.json``: what runs now, for people and tests (``jq . var/stack/stack.json``)."""
        state = {
            "pid": os.getpid(),
            "url": self.config.url,
            "ca": str(self.certificate.ca) if self.certificate and self.certificate.ca else None,
            "nginx": {"pid": self.nginx.pid, "conf": str(self.nginx.conf)},
            "instances": [
                {
                    "slot": instance.slot,
                    "pid": instance.pid,
                    "port": instance.port,
                    "url": f"http://{instance.address}/",
                    "log": str(self.state.instance_log(instance.slot)),
                }
                for instance in self.slots
            ],
            "workers": [
                {"slot": w.slot, "pid": w.pid, "log": str(self.state.worker_log(w.slot))}
                for w in self.workers
            ],
            "rolls": self.rolls,
        }
        partial = self.state.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        partial.replace(self.state.state_file)


def claim_pid_file(path: Path) -> None:
    """Write this process's pid to ``path``, refusing if a live stack already holds it."""
    try:
        other = int(path.read_text().strip())
    except (OSError, ValueError):
        other = 0
    if other and other != os.getpid() and _alive(other):
        raise ImproperlyConfigured(
            f"a stack is already running with this state directory (pid {other}, in {path}); "
            f"stop it with kill -TERM {other}, or set TASKBOARD_DATA to another directory."
        )
    path.write_text(f"{os.getpid()}\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_stack(config: StackConfig) -> int:
    """Run the stack until it is told to stop; the exit code."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s stack: %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    config.state.create()
    claim_pid_file(config.state.pid_file)
    try:
        return asyncio.run(Stack(config).run())
    finally:
        with contextlib.suppress(OSError):
            if config.state.pid_file.read_text().strip() == str(os.getpid()):
                config.state.pid_file.unlink()
