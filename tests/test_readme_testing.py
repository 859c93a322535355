"""The README's "Testing your app with tiered.testing" example, run by pytest beside the quickstart
app it tests, so neither can rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(section: str, language: str) -> list[str]:
    text = README.read_text(encoding="utf-8").split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_readme_testing_example_passes(tmp_path: Path) -> None:
    (app,) = _blocks("Quickstart", "python")
    (template,) = _blocks("Quickstart", "html")
    (tests,) = _blocks("Testing your app with tiered.testing", "python")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.html").write_text(template, encoding="utf-8")
    (tmp_path / "app.py").write_text(app, encoding="utf-8")
    (tmp_path / "test_app.py").write_text(tests, encoding="utf-8")

    command = ["-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-W", "error"]
    result = subprocess.run(
        [sys.executable, *command, "--strict-markers", "test_app.py"],
        cwd=tmp_path,
        env={**os.environ, "TIERED_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout  # 2 tests, and one per profile for the third
