"""Driving lynx and w3m without a person: keystrokes computed from the page's own HTML.

Both browsers move between links and form fields in document order (lynx with Down Arrow, w3m
with Tab), so the keystrokes to reach a field are its position among the page's stops. The page is
read with lynx's own cookies (lynx keeps them in a Netscape cookie file) and a text browser's
User-Agent, so it is the page lynx is showing.
"""

from __future__ import annotations

import subprocess
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

LYNX_UA = "Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.9"
LYNX_CFG = "INCLUDE:/etc/lynx/lynx.cfg\nPERSISTENT_COOKIES:TRUE\nACCEPT_ALL_COOKIES:TRUE\n"


@dataclass(frozen=True)
class Stop:
    """A place the cursor stops: a link or a form control."""

    tag: str
    id: str
    name: str
    text: str
    lines: int = 1
    """lynx stops on each line of a textarea."""


class _Stops(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stops: list[Stop] = []
        self._open: tuple[str, dict[str, str]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "input" and found.get("type") != "hidden":
            self.stops.append(Stop(tag, found.get("id", ""), found.get("name", ""), ""))
        elif tag in ("select", "textarea") or (tag == "a" and "href" in found) or tag == "button":
            self._open, self._text = (tag, found), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and self._open[0] == tag:
            attrs = self._open[1]
            text = " ".join("".join(self._text).split())
            lines = int(attrs.get("rows", "1") or "1") if tag == "textarea" else 1
            self.stops.append(Stop(tag, attrs.get("id", ""), attrs.get("name", ""), text, lines))
            self._open = None


def stops_of(html: str) -> list[Stop]:
    parser = _Stops()
    parser.feed(html)
    return parser.stops


def position(stops: list[Stop], *, id: str = "", text: str = "", lines: bool = True) -> int:
    """How many moves from the first stop reach the one with this id, or whose text starts with
    ``text``; ``lines``: a textarea takes one move per line (lynx), else one (w3m)."""
    moves = 0
    for stop in stops:
        if (id and stop.id == id) or (text and stop.text.startswith(text)):
            return moves
        moves += stop.lines if lines else 1
    raise AssertionError(f"no link or field {id or text!r} on the page: {stops}")


class Lynx:
    """One person's lynx: a cookie file kept between runs, each run a short keystroke script."""

    def __init__(self, base_url: str, workdir: Path) -> None:
        self.base_url = base_url
        self.workdir = workdir
        self.cookies = workdir / "cookies.txt"
        self.config = workdir / "lynx.cfg"
        self.config.write_text(LYNX_CFG, encoding="ascii")
        self.runs = 0

    def page(self, path: str) -> list[Stop]:
        """The stops of the page at ``path`` as lynx, with its cookies, would get it."""
        headers = {"User-Agent": LYNX_UA, "Cookie": cookie_header(self.cookies)}
        request = urllib.request.Request(self.base_url + path, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return stops_of(response.read().decode())

    def run(self, path: str, keys: list[str]) -> str:
        """Open ``path``, press ``keys``, save the page lynx ends on as text and return it."""
        self.runs += 1
        saved = self.workdir / f"page-{self.runs}.txt"
        script = [*keys, "p", "^J", "^U", *typed(saved.name), "^J", "q", "y"]
        commands = self.workdir / f"run-{self.runs}.lynx"
        commands.write_text("".join(f"key {key}\n" for key in script), encoding="ascii")
        subprocess.run(
            [
                "lynx",
                f"-cfg={self.config}",
                "-nopause",
                f"-useragent={LYNX_UA}",
                f"-cookie_file={self.cookies}",
                f"-cookie_save_file={self.cookies}",
                f"-cmd_script={commands}",
                self.base_url + path,
            ],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            check=True,
        )
        return saved.read_text(encoding="utf-8", errors="replace")


def cookie_header(path: Path) -> str:
    """The cookies in a Netscape cookie file (lynx writes it without the usual first line)."""
    if not path.exists():
        return ""
    pairs = []
    for line in path.read_text(encoding="ascii").splitlines():
        fields = line.split("\t")
        if len(fields) == 7 and not line.startswith("#"):
            pairs.append(f"{fields[5]}={fields[6]}")
    return "; ".join(pairs)


def typed(text: str) -> list[str]:
    """Keystrokes that type ``text`` into a field."""
    return ["<space>" if char == " " else char for char in text]


def moves(start: int, target: int, down: str = "Down Arrow", up: str = "Up Arrow") -> list[str]:
    return [down] * (target - start) if target >= start else [up] * (start - target)
