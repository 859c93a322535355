"""Re-vendor htmx and its SSE extension from the npm registry and verify them against pins.

Run by hand (or ``make vendor``) when re-creating or upgrading the vendored copy; never at install
time. It needs ``npm`` and the npm registry, nothing else (standard library only).

    python scripts/vendor_htmx.py                # fetch the pinned version, verify it, write it
    python scripts/vendor_htmx.py --check        # verify the vendored copy, offline
    python scripts/vendor_htmx.py --version 4.0.2 --sha384 sha384-... --sse-sha384 sha384-...
                                                 # upgrade (then re-pin)

Two scripts come from the one tarball: ``dist/htmx.min.js`` and ``dist/ext/hx-sse.min.js`` (htmx
4's Server-Sent Events extension, which ``tiered/live.js`` drives); each has its own sha384 pin.

The tarball comes from ``npm pack``, which checks it against the registry's ``dist.integrity``;
for the pinned version this script also checks that integrity against its own pin. Files are read
out of the tarball in memory, so no path inside it is ever written to disk.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

PACKAGE = "htmx.org"
PINNED_VERSION = "4.0.1"
# sha384 of dist/htmx.min.js in the npm tarball. The quick-start snippet in htmx 4.0.1's README
# gives a different value (sha384-BvJp...); this one is what the published file hashes to.
PINNED_SHA384 = "sha384-Qp9rdC8H7EqOoX+nR0P3RPG2Noji+qdwJlGpfzwQJsfOpp3sGwIdSP9xO3+UlEhn"
PINNED_TARBALL_INTEGRITY = "sha512-oF7JgXhDW9UXCy/k1ZYFUQgzu/rm19ORWPSPNL91vPluB2PB9+MV55tyQdH/w7o2EAbTYUG5SDW1R60mdkdqGg=="  # noqa: E501
# sha384 of dist/ext/hx-sse.min.js in the same tarball (checked against that tarball's integrity).
PINNED_SSE_SHA384 = "sha384-v8HvucQ+ohQhMg0arboXc5049yNR46QKMjphs7YDch+Wm7zpfK5XVS01f26mQDJV"

# tarball member -> vendored file name
MEMBERS: Mapping[str, str] = {
    "package/dist/htmx.min.js": "htmx.min.js",
    "package/dist/ext/hx-sse.min.js": "hx-sse.min.js",
    "package/LICENSE": "LICENSE",
}
SCRIPT_FILE = "htmx.min.js"
SSE_FILE = "hx-sse.min.js"
RECORD_FILE = "VERSION"
VENDOR_DIR = Path(__file__).resolve().parent.parent / "src/tiered/static/tiered/vendor/htmx"


class VendorError(Exception):
    """The vendored files could not be fetched or do not match their pins."""


def sri_sha384(data: bytes) -> str:
    """The Subresource Integrity value (``sha384-<base64>``) of ``data``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def verify(what: str, actual: str, expected: str) -> None:
    """Raise :class:`VendorError` naming both values when ``actual`` is not ``expected``."""
    if actual != expected:
        raise VendorError(
            f"{what} is {actual}; expected {expected}. Do not vendor a file whose hash you have "
            "not checked against upstream; to upgrade on purpose, pass --version and --sha384."
        )


def npm_pack(spec: str, workdir: Path) -> tuple[Path, str]:
    """Download ``spec`` with ``npm pack``; return the tarball and the integrity npm verified."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm was not found on PATH; install Node.js (npm) and run this again.")
    completed = subprocess.run(  # noqa: S603 - fixed argv, no shell; spec is a package@version
        [npm, "pack", "--json", "--silent", spec],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise VendorError(f"npm pack {spec} failed ({completed.returncode}): {completed.stderr}")
    try:
        info = json.loads(completed.stdout)[0]
        filename, integrity = str(info["filename"]), str(info["integrity"])
    except (ValueError, LookupError, TypeError) as exc:
        raise VendorError(
            f"npm pack {spec} printed no JSON file record: {completed.stdout!r}"
        ) from exc
    tarball = workdir / Path(filename).name
    verify(f"sha512 of {tarball.name}", sri_sha512(tarball.read_bytes()), integrity)
    return tarball, integrity


def read_members(tarball: Path, names: Sequence[str]) -> dict[str, bytes]:
    """Read regular files out of a tarball in memory (nothing is extracted to disk)."""
    result: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for name in names:
            try:
                member = archive.getmember(name)
            except KeyError as exc:
                raise VendorError(f"{tarball.name} has no {name!r}; is the pin right?") from exc
            stream = archive.extractfile(member) if member.isfile() else None
            if stream is None:
                raise VendorError(f"{name!r} in {tarball.name} is not a regular file.")
            with stream:
                result[name] = stream.read()
    return result


def record_text(version: str, sha384: str, tarball_integrity: str, sse_sha384: str) -> str:
    return (
        "# Vendored by scripts/vendor_htmx.py; do not edit by hand. Re-vendor: make vendor\n"
        f"package: {PACKAGE}\n"
        f"version: {version}\n"
        f"source: https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{version}.tgz (npm pack)\n"
        f"file: {SCRIPT_FILE} (dist/htmx.min.js in the tarball, unmodified)\n"
        f"sha384: {sha384}\n"
        f"sse-file: {SSE_FILE} (dist/ext/hx-sse.min.js in the tarball, unmodified)\n"
        f"sse-sha384: {sse_sha384}\n"
        f"tarball-integrity: {tarball_integrity}\n"
        "license: LICENSE (BSD Zero Clause, from the tarball)\n"
    )


def read_record(dest: Path) -> dict[str, str]:
    """The ``key: value`` lines of the VERSION file next to the vendored script."""
    path = dest / RECORD_FILE
    if not path.is_file():
        raise VendorError(f"{path} is missing; run scripts/vendor_htmx.py to vendor htmx.")
    record: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(":")
            record[key.strip()] = value.strip()
    return record


def vendor(dest: Path, version: str, sha384: str, workdir: Path, sse_sha384: str) -> str:
    """Fetch ``version``, verify it, write the vendored files; return the tarball integrity."""
    tarball, integrity = npm_pack(f"{PACKAGE}@{version}", workdir)
    if version == PINNED_VERSION:
        verify(f"integrity of {tarball.name}", integrity, PINNED_TARBALL_INTEGRITY)
    files = read_members(tarball, list(MEMBERS))
    verify(
        f"sha384 of {PACKAGE}@{version} dist/htmx.min.js",
        sri_sha384(files["package/dist/htmx.min.js"]),
        sha384,
    )
    verify(
        f"sha384 of {PACKAGE}@{version} dist/ext/hx-sse.min.js",
        sri_sha384(files["package/dist/ext/hx-sse.min.js"]),
        sse_sha384,
    )
    dest.mkdir(parents=True, exist_ok=True)
    for member, name in MEMBERS.items():
        (dest / name).write_bytes(files[member])
    record = record_text(version, sha384, integrity, sse_sha384)
    (dest / RECORD_FILE).write_text(record, encoding="utf-8")
    return integrity


def check(dest: Path) -> str:
    """Verify the vendored scripts against their VERSION record and this script's pins; return
    the sha384 of htmx itself."""
    record = read_record(dest)
    pinned = record.get("version") == PINNED_VERSION
    actual = _check_file(dest, SCRIPT_FILE, record, "sha384", PINNED_SHA384 if pinned else None)
    _check_file(dest, SSE_FILE, record, "sse-sha384", PINNED_SSE_SHA384 if pinned else None)
    return actual


def _check_file(dest: Path, name: str, record: Mapping[str, str], key: str, pin: str | None) -> str:
    script = dest / name
    if not script.is_file():
        raise VendorError(f"{script} is missing; run scripts/vendor_htmx.py to vendor htmx.")
    actual = sri_sha384(script.read_bytes())
    verify(f"sha384 of {script}", actual, record.get(key, f"(no {key} line in VERSION)"))
    if pin is not None:
        verify(f"{key} recorded in {dest / RECORD_FILE}", actual, pin)
    return actual


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="verify the vendored copy, offline")
    parser.add_argument("--version", default=PINNED_VERSION, help="htmx.org version to vendor")
    parser.add_argument("--sha384", help="expected sha384 of dist/htmx.min.js (needed to upgrade)")
    parser.add_argument(
        "--sse-sha384", help="expected sha384 of dist/ext/hx-sse.min.js (needed to upgrade)"
    )
    parser.add_argument("--dest", type=Path, default=VENDOR_DIR, help="vendor directory")
    args = parser.parse_args(argv)
    try:
        if args.check:
            print(f"OK {args.dest / SCRIPT_FILE} {check(args.dest)}")
            print(f"OK {args.dest / SSE_FILE} {read_record(args.dest)['sse-sha384']}")
            return 0
        if args.version != PINNED_VERSION and not (args.sha384 and args.sse_sha384):
            raise VendorError(
                f"Upgrading to {args.version} needs --sha384 and --sse-sha384: check the hashes "
                "of dist/htmx.min.js and dist/ext/hx-sse.min.js against upstream, pass them, "
                "then update PINNED_* in this script."
            )
        sha384 = args.sha384 or PINNED_SHA384
        sse_sha384 = args.sse_sha384 or PINNED_SSE_SHA384
        with tempfile.TemporaryDirectory(prefix="vendor-htmx-") as workdir:
            integrity = vendor(args.dest, args.version, sha384, Path(workdir), sse_sha384)
        print(f"Vendored {PACKAGE}@{args.version} into {args.dest}: {sha384} ({integrity})")
        return 0
    except VendorError as exc:
        print(f"vendor_htmx: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
