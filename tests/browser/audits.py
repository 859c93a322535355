"""What every page state is checked for: axe-core (WCAG 2.2 A/AA) now, the Nu Html Checker later.

Axe runs in the page as the journey passes through each state. Every page (``page.content()``) and
every htmx response body is written to a folder, and one vnu run at the end validates them all.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession, Page, Response

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.html.slice(0, 160))}));
}"""
# A fragment is validated as the body of the smallest valid document around it, with the title it
# leads with (tiered sends the page's, which htmx makes the document's) in that document's head.
FRAGMENT_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">{}</head><body>{}</body></html>'
)
FRAGMENT_TITLE = re.compile(r"\A<head>(<title>[^<]*</title>)</head>")


@dataclass
class Violation:
    profile: str
    state: str
    rule: str
    impact: str
    help: str
    nodes: list[str]

    def __str__(self) -> str:
        nodes = "\n      ".join(self.nodes)
        return (
            f"[{self.profile}] {self.state}: {self.rule} ({self.impact}) {self.help}\n      {nodes}"
        )


@dataclass
class Audits:
    """Collects axe violations and the HTML to validate, for the whole run."""

    axe_js: Path
    html_dir: Path
    violations: list[Violation] = field(default_factory=list)
    states_audited: int = 0
    documents: int = 0
    _axe_source: str = ""

    def axe(self, page: Page, profile: str, state: str, scripts_off: CDPSession | None) -> None:
        """Run axe on the page as it is. ``scripts_off``: the page's script switch (no-JS profile):
        turned on only while axe runs, so the page itself never ran a script."""
        if not self._axe_source:
            self._axe_source = self.axe_js.read_text(encoding="utf-8")
        if scripts_off is not None:
            scripts_off.send("Emulation.setScriptExecutionDisabled", {"value": False})
        try:
            # evaluate() is not subject to the page's CSP, unlike an added <script> tag.
            if not page.evaluate('() => typeof window.axe === "object"'):
                page.evaluate(self._axe_source)
            found: list[dict[str, Any]] = page.evaluate(RUN_AXE, WCAG_TAGS)
        finally:
            if scripts_off is not None:
                scripts_off.send("Emulation.setScriptExecutionDisabled", {"value": True})
        self.states_audited += 1
        for item in found:
            self.violations.append(
                Violation(
                    profile, state, item["id"], item["impact"], item["help"], list(item["nodes"])
                )
            )

    def keep_page(self, page: Page, profile: str, state: str) -> None:
        self._write(f"{profile}-{state}-page", page.content())

    def keep_fragment(self, response: Response, profile: str) -> None:
        """An htmx response's HTML (call from a ``response`` listener)."""
        request = response.request
        if request.headers.get("hx-request") != "true" or response.status in (204, 304):
            return
        if not response.headers.get("content-type", "").startswith("text/html"):
            return
        body = response.text()
        if body.lstrip().lower().startswith("<!doctype"):
            self._write(f"{profile}-fragment-full", body)
        elif body.strip():
            title = FRAGMENT_TITLE.match(body)
            head = title.group(1) if title else "<title>fragment</title>"
            rest = body[title.end() :] if title else body
            self._write(f"{profile}-fragment", FRAGMENT_PAGE.format(head, rest))

    def _write(self, stem: str, html: str) -> None:
        self.documents += 1
        path = self.html_dir / f"{self.documents:04d}-{stem}.html"
        path.write_text(html, encoding="utf-8")


def validate_html(java: str, vnu_jar: Path, html_dir: Path) -> list[str]:
    """Every error the Nu Html Checker finds in the folder, as ``file:line: message``."""
    files = sorted(str(path) for path in html_dir.glob("*.html"))
    if not files:
        return []
    result = subprocess.run(
        [java, "-jar", str(vnu_jar), "--errors-only", "--format", "json", "--stdout", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"vnu failed ({result.returncode}): {result.stderr.strip()}")
    messages = json.loads(result.stdout or '{"messages": []}')["messages"]
    return [
        f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}: {m['message']}"
        f" [{m.get('extract', '').strip()[:120]}]"
        for m in messages
        if m.get("type") == "error" or m.get("subType") == "fatal"
    ]
