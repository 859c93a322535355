"""nginx under the stack's supervision: render ``deploy/nginx.conf``, check it, run it in the
foreground, reload it, and know when a reload has finished.

nginx's reload (``SIGHUP`` to the master) starts new workers with the new configuration and asks
the old ones to finish their requests and exit; the master's pid stays the same. The stack must
know when the old workers are gone: until then, they may still send requests to an instance it
is about to stop. :meth:`Nginx.reload` returns only then (bounded by ``worker_shutdown_timeout``
in the configuration).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tiered import ImproperlyConfigured

_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")
RELOAD_TIMEOUT = 30.0
"""Longer than the configuration's ``worker_shutdown_timeout`` (15 s), after which nginx itself
closes what old workers still hold."""
STOP_TIMEOUT = 20.0


def find_nginx() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ImproperlyConfigured(
            "nginx is not installed; the stack terminates TLS with it. On Debian or Ubuntu: "
            "apt-get install nginx (the stack runs it from its own configuration; the "
            "system's nginx service can stay off)."
        )
    return found


def render(template: str, values: Mapping[str, str | Sequence[str]]) -> str:
    """``template`` with each ``{{ name }}`` replaced; comment lines are left as they are.

    A sequence becomes one line per item, indented like the placeholder. A name without a value
    is a mistake in the template or here, so it raises instead of leaving the braces to nginx.
    """
    lines = []
    for line in template.splitlines():
        if line.lstrip().startswith("#"):
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]

        def value(match: re.Match[str], indent: str = indent) -> str:
            name = match.group(1)
            if name not in values:
                raise ImproperlyConfigured(
                    f"The nginx template has {{{{ {name} }}}}, which the stack does not fill; "
                    f"it fills: {', '.join(sorted(values))}."
                )
            given = values[name]
            return given if isinstance(given, str) else ("\n" + indent).join(given)

        lines.append(_PLACEHOLDER.sub(value, line))
    return "\n".join(lines) + "\n"


class Nginx:
    """One nginx master process, run by the stack in the foreground (``daemon off``)."""

    def __init__(self, conf: Path, prefix: Path, executable: str | None = None) -> None:
        self.conf = conf
        self.prefix = prefix
        self.executable = executable or find_nginx()
        self.process: asyncio.subprocess.Process | None = None

    def _command(self, *extra: str) -> list[str]:
        # -e: the error log before the configuration is read (else /var/log/nginx/error.log).
        error_log = str(self.prefix / "error.log")
        return [
            self.executable,
            "-c",
            str(self.conf),
            "-p",
            str(self.prefix),
            "-e",
            error_log,
            *extra,
        ]

    async def check(self) -> None:
        """``nginx -t``: refuse a configuration nginx would refuse, with nginx's reason."""
        process = await asyncio.create_subprocess_exec(
            *self._command("-t", "-q"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise ImproperlyConfigured(
                f"nginx refuses {self.conf}: {output.decode(errors='replace').strip()}"
            )

    async def start(self, preexec: Callable[[], None] | None = None) -> asyncio.subprocess.Process:
        await self.check()
        self.process = await asyncio.create_subprocess_exec(
            *self._command("-g", "daemon off;"),
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the stack only; it stops nginx in order
            preexec_fn=preexec,
        )
        return self.process

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.returncode is None else None

    def workers(self) -> set[int]:
        """The master's children now: its workers, and the cache manager and loader."""
        return children_of(self.pid) if self.pid else set()

    async def reload(self) -> None:
        """Apply the configuration on disk, and return once no old worker is left."""
        await self.check()
        pid = self.pid
        if pid is None:
            raise RuntimeError("nginx is not running")
        old = self.workers()
        os.kill(pid, signal.SIGHUP)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RELOAD_TIMEOUT
        while loop.time() < deadline:
            now = self.workers()
            if not (now & old) and now:
                return
            await asyncio.sleep(0.05)  # polling /proc for the old workers' exit
        raise TimeoutError(f"nginx's old workers {sorted(old & self.workers())} did not exit")

    async def stop(self) -> None:
        """Graceful stop (``SIGQUIT``: in-flight requests finish), then a hard one if needed."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


def children_of(pid: int) -> set[int]:
    """The pids whose parent is ``pid``, from ``/proc`` (Linux)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry.name))
    return found
