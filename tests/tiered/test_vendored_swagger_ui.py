"""The vendored Swagger UI is the pinned, unmodified npm files, and the re-vendoring script checks
them. The script is exercised offline: a small tarball stands in for ``npm pack``'s output."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR_DIR = ROOT / "src/tiered/static/tiered/vendor/swagger-ui"


def load_script() -> ModuleType:
    path = ROOT / "scripts/vendor_swagger_ui.py"
    spec = importlib.util.spec_from_file_location("vendor_swagger_ui", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vendor_swagger_ui", module)
    spec.loader.exec_module(module)
    return module


script = load_script()
VendorError: type[Exception] = script.VendorError
FILES: tuple[str, ...] = script.FILES
PINNED_SHA384: Mapping[str, str] = script.PINNED_SHA384
sri_sha384: Callable[[bytes], str] = script.sri_sha384
read_record: Callable[[Path], dict[str, str]] = script.read_record
check: Callable[[Path], dict[str, str]] = script.check
main: Callable[[list[str]], int] = script.main


def test_vendored_files_are_the_pinned_5_35_0_files() -> None:
    record = read_record(VENDOR_DIR)

    assert (record["package"], record["version"]) == ("swagger-ui-dist", "5.35.0")
    assert record["tarball-integrity"] == script.PINNED_TARBALL_INTEGRITY
    for name in FILES:
        assert sri_sha384((VENDOR_DIR / name).read_bytes()) == record[name] == PINNED_SHA384[name]


def test_only_what_the_docs_page_needs_is_vendored() -> None:
    assert sorted(p.name for p in VENDOR_DIR.iterdir()) == sorted([*FILES, "VERSION"])
    assert not any(name.endswith(".map") for name in FILES)


def test_vendored_copy_carries_swagger_uis_apache_license() -> None:
    assert "Apache License" in (VENDOR_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "SmartBear" in (VENDOR_DIR / "NOTICE").read_text(encoding="utf-8")


def test_check_accepts_the_vendored_copy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    out = capsys.readouterr().out
    assert all(PINNED_SHA384[name] in out for name in FILES)


def copy_vendor(tmp_path: Path) -> Path:
    dest = tmp_path / "swagger-ui"
    dest.mkdir()
    for name in (*FILES, "VERSION"):
        (dest / name).write_bytes((VENDOR_DIR / name).read_bytes())
    return dest


def test_check_rejects_a_modified_file_and_names_both_hashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = copy_vendor(tmp_path)
    (dest / "swagger-ui.css").write_bytes(b"body{display:none}")

    with pytest.raises(VendorError, match=re.escape(f"expected {PINNED_SHA384['swagger-ui.css']}")):
        check(dest)
    assert main(["--check", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert sri_sha384(b"body{display:none}") in err
    assert "--sha384" in err


def test_check_rejects_a_record_that_lost_a_file(tmp_path: Path) -> None:
    dest = copy_vendor(tmp_path)
    record = (dest / "VERSION").read_text(encoding="utf-8")
    kept = (line for line in record.splitlines(True) if not line.startswith("NOTICE:"))
    (dest / "VERSION").write_text("".join(kept), encoding="utf-8")

    with pytest.raises(VendorError, match=r"expected \(no NOTICE line in VERSION\)"):
        check(dest)


def test_check_says_how_to_fix_a_missing_file_or_record(tmp_path: Path) -> None:
    dest = copy_vendor(tmp_path)
    (dest / "swagger-ui-bundle.js").unlink()

    with pytest.raises(VendorError, match=r"bundle\.js is missing; run scripts/vendor_swagger_ui"):
        check(dest)
    with pytest.raises(VendorError, match=r"VERSION is missing; run scripts/vendor_swagger_ui"):
        check(tmp_path)


def make_tarball(path: Path, members: Mapping[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_vendor_writes_files_only_when_every_hash_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = {name: f"/* {name} 9.9.9 */".encode() for name in FILES}
    tarball = make_tarball(
        tmp_path / "swagger-ui-dist-9.9.9.tgz",
        {f"package/{name}": data for name, data in contents.items()},
    )
    monkeypatch.setattr(script, "npm_pack", lambda spec, workdir: (tarball, "sha512-fake"))
    hashes = {name: sri_sha384(data) for name, data in contents.items()}
    dest = tmp_path / "out"

    with pytest.raises(VendorError, match=r"sha384 of swagger-ui-dist@9\.9\.9 swagger-ui\.css"):
        script.vendor(dest, "9.9.9", {**hashes, "swagger-ui.css": "sha384-wrong"}, tmp_path)
    assert not dest.exists()

    assert script.vendor(dest, "9.9.9", hashes, tmp_path) == "sha512-fake"
    assert {name: (dest / name).read_bytes() for name in FILES} == contents
    record = read_record(dest)
    assert record["version"] == "9.9.9"
    assert check(dest) == hashes


def test_upgrading_needs_a_hash_for_every_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version", "9.9.9", "--sha384", "swagger-ui.css=sha384-x"]) == 1
    err = capsys.readouterr().err
    assert "needs --sha384 NAME=sha384-... for swagger-ui-bundle.js, favicon-32x32.png" in err
    assert "swagger-ui.css," not in err


def test_a_malformed_hash_argument_is_refused_with_the_names_allowed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--sha384", "bundle.js=sha384-x"]) == 1
    err = capsys.readouterr().err
    assert "--sha384 'bundle.js=sha384-x' is not NAME=sha384-...; NAME is one of" in err
    assert "swagger-ui-bundle.js, swagger-ui.css" in err
