"""Where the browser suite finds its tools, and what to do when one is missing.

On a laptop without them the browser tests skip with one line saying how to get them; in CI
(``CI=true``) a missing tool fails the run instead, so the suite cannot silently stop running.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "sudo .ci/install-browser-tools"
WEBTOOLS = Path(os.environ.get("WEBTOOLS", "/opt/webtools"))


@dataclass(frozen=True)
class Tools:
    chromium: str
    lynx: str
    java: str
    vnu_jar: Path
    axe_js: Path


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def find_tools() -> tuple[Tools | None, list[str]]:
    """The tools, or ``None`` and the names of the missing ones."""
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    vnu_jar = WEBTOOLS / "node_modules/vnu-jar/build/dist/vnu.jar"
    axe_js = WEBTOOLS / "node_modules/axe-core/axe.min.js"
    found = {name: shutil.which(name) for name in ("lynx", "java")}
    missing = [name for name, path in found.items() if path is None]
    if not Path(chromium).is_file():
        missing.insert(0, f"chromium ({chromium})")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright Python package")
    if not vnu_jar.is_file():
        missing.append(f"vnu-jar ({vnu_jar})")
    if not axe_js.is_file():
        missing.append(f"axe-core ({axe_js})")
    if missing:
        return None, missing
    return Tools(
        chromium=chromium,
        lynx=str(found["lynx"]),
        java=str(found["java"]),
        vnu_jar=vnu_jar,
        axe_js=axe_js,
    ), []
