"""Re-vendor Swagger UI from the npm registry and verify it against pins.

Run by hand (or ``make vendor``) when re-creating or upgrading the vendored copy; never at install
time. It needs ``npm`` and the npm registry, nothing else (standard library only).

    python scripts/vendor_swagger_ui.py          # fetch the pinned version, verify it, write it
    python scripts/vendor_swagger_ui.py --check  # verify the vendored copy, offline
    python scripts/vendor_swagger_ui.py --version 5.36.0 \\
        --sha384 swagger-ui-bundle.js=sha384-... --sha384 swagger-ui.css=sha384-... ...
                                                 # upgrade: one --sha384 per file (then re-pin)

Only what tiered's docs page needs comes from the ``swagger-ui-dist`` tarball: the bundle (which
holds the API preset), its stylesheet, Swagger UI's icon, and the license files. Source maps, the
standalone preset, the OAuth2 redirect page and the sample ``index.html`` stay out. Each file has
its own sha384 pin, recorded in ``VERSION`` beside the files.

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

PACKAGE = "swagger-ui-dist"
PINNED_VERSION = "5.35.0"
PINNED_TARBALL_INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="  # noqa: E501
# sha384 of each vendored file, as it is in the pinned tarball (checked against its integrity).
PINNED_SHA384: Mapping[str, str] = {
    "swagger-ui-bundle.js": (
        "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
    ),
    "swagger-ui.css": "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
    "favicon-32x32.png": "sha384-vCPruBEcPmxk2uv19KNJCkWttTDv8oQxBAzSuTndOepjsIyiKHSoLNlWOcQMpXdL",
    "LICENSE": "sha384-II9e1ieUDl5AxyiVq3/FflTua1Sr0kMJ25e6imG7rXg7SiAsA2VemsvEqVsLqM7/",
    "NOTICE": "sha384-0WsY5RW2lVusdcWTnoCx5fP8TSnX2JZrr3m82bJxkn2hS3VYTh1Ar/IQSNtZJB3d",
    "swagger-ui-bundle.js.LICENSE.txt": (
        "sha384-9K6Bw0izPlkJhBYpUag02GZV9xD+b8m/SSHHt0Ye/VRiuhblAprOAYBo2KnqR/Mh"
    ),
}
FILES = tuple(PINNED_SHA384)
"""The vendored files, by the names they have at the top of the tarball's ``package/``."""
RECORD_FILE = "VERSION"
VENDOR_DIR = Path(__file__).resolve().parent.parent / "src/tiered/static/tiered/vendor/swagger-ui"


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


def record_text(version: str, tarball_integrity: str, hashes: Mapping[str, str]) -> str:
    lines = [
        "# Vendored by scripts/vendor_swagger_ui.py; do not edit by hand. Re-vendor: make vendor",
        f"package: {PACKAGE}",
        f"version: {version}",
        f"source: https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{version}.tgz (npm pack)",
        f"tarball-integrity: {tarball_integrity}",
        "license: LICENSE and NOTICE (Apache-2.0, from the tarball); the bundled libraries' "
        "notices are in swagger-ui-bundle.js.LICENSE.txt",
        "# Each file below is the tarball's package/<name>, unmodified, and its sha384.",
        *(f"{name}: {hashes[name]}" for name in FILES),
    ]
    return "\n".join(lines) + "\n"


def read_record(dest: Path) -> dict[str, str]:
    """The ``key: value`` lines of the VERSION file next to the vendored files."""
    path = dest / RECORD_FILE
    if not path.is_file():
        raise VendorError(f"{path} is missing; run scripts/vendor_swagger_ui.py to vendor it.")
    record: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(":")
            record[key.strip()] = value.strip()
    return record


def vendor(dest: Path, version: str, hashes: Mapping[str, str], workdir: Path) -> str:
    """Fetch ``version``, verify every file, write the vendored copy; return the tarball
    integrity. Nothing is written unless every file matches its hash."""
    tarball, integrity = npm_pack(f"{PACKAGE}@{version}", workdir)
    if version == PINNED_VERSION:
        verify(f"integrity of {tarball.name}", integrity, PINNED_TARBALL_INTEGRITY)
    files = read_members(tarball, [f"package/{name}" for name in FILES])
    for name in FILES:
        actual = sri_sha384(files[f"package/{name}"])
        verify(f"sha384 of {PACKAGE}@{version} {name}", actual, hashes[name])
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (dest / name).write_bytes(files[f"package/{name}"])
    (dest / RECORD_FILE).write_text(record_text(version, integrity, hashes), encoding="utf-8")
    return integrity


def check(dest: Path) -> dict[str, str]:
    """Verify the vendored files against their VERSION record and, for the pinned version, this
    script's pins; return each file's sha384."""
    record = read_record(dest)
    pinned = record.get("version") == PINNED_VERSION
    result: dict[str, str] = {}
    for name in FILES:
        path = dest / name
        if not path.is_file():
            raise VendorError(f"{path} is missing; run scripts/vendor_swagger_ui.py to vendor it.")
        actual = sri_sha384(path.read_bytes())
        verify(f"sha384 of {path}", actual, record.get(name, f"(no {name} line in VERSION)"))
        if pinned:
            verify(
                f"sha384 of {name} recorded in {dest / RECORD_FILE}", actual, PINNED_SHA384[name]
            )
        result[name] = actual
    return result


def parse_hashes(values: Sequence[str]) -> dict[str, str]:
    """``NAME=sha384-…`` arguments as a mapping; an unknown name or a bad value is refused."""
    hashes: dict[str, str] = {}
    for value in values:
        name, _, digest = value.partition("=")
        if name not in FILES or not digest.startswith("sha384-"):
            raise VendorError(
                f"--sha384 {value!r} is not NAME=sha384-...; NAME is one of {', '.join(FILES)}."
            )
        hashes[name] = digest
    return hashes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="verify the vendored copy, offline")
    parser.add_argument("--version", default=PINNED_VERSION, help=f"{PACKAGE} version to vendor")
    parser.add_argument(
        "--sha384",
        action="append",
        default=[],
        metavar="NAME=SHA384",
        help="expected sha384 of one vendored file (each one is needed to upgrade)",
    )
    parser.add_argument("--dest", type=Path, default=VENDOR_DIR, help="vendor directory")
    args = parser.parse_args(argv)
    try:
        if args.check:
            for name, digest in check(args.dest).items():
                print(f"OK {args.dest / name} {digest}")
            return 0
        hashes = parse_hashes(args.sha384)
        if args.version == PINNED_VERSION:
            hashes = {**PINNED_SHA384, **hashes}
        missing = [name for name in FILES if name not in hashes]
        if missing:
            raise VendorError(
                f"Upgrading to {args.version} needs --sha384 NAME=sha384-... for "
                f"{', '.join(missing)}: check each file's hash against upstream, pass them, "
                "then update the pins in this script."
            )
        with tempfile.TemporaryDirectory() as workdir:
            integrity = vendor(args.dest, args.version, hashes, Path(workdir))
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Vendored {PACKAGE}@{args.version} ({integrity}) into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
