"""The vendored htmx and its SSE extension are the pinned, unmodified npm files, and the
re-vendoring script checks them.

The script is exercised offline: a small tarball stands in for ``npm pack``'s output.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR_DIR = ROOT / "src/tiered/static/tiered/vendor/htmx"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_htmx", ROOT / "scripts/vendor_htmx.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vendor_htmx", module)
    spec.loader.exec_module(module)
    return module


script = load_script()
VendorError: type[Exception] = script.VendorError
sri_sha384: Callable[[bytes], str] = script.sri_sha384
read_record: Callable[[Path], dict[str, str]] = script.read_record
read_members: Callable[[Path, list[str]], dict[str, bytes]] = script.read_members
check: Callable[[Path], str] = script.check
main: Callable[[list[str]], int] = script.main


def test_vendored_htmx_matches_the_sha384_recorded_next_to_it() -> None:
    record = read_record(VENDOR_DIR)

    assert record["package"] == "htmx.org"
    assert record["version"] == "4.0.1"
    assert sri_sha384((VENDOR_DIR / "htmx.min.js").read_bytes()) == record["sha384"]


def test_recorded_sha384_is_the_scripts_pin() -> None:
    assert read_record(VENDOR_DIR)["sha384"] == script.PINNED_SHA384
    assert read_record(VENDOR_DIR)["tarball-integrity"] == script.PINNED_TARBALL_INTEGRITY


def test_vendored_htmx_is_the_4_0_1_build_with_its_license() -> None:
    source = (VENDOR_DIR / "htmx.min.js").read_text(encoding="utf-8")

    assert 'this.version="4.0.1"' in source
    assert "Zero-Clause BSD" in (VENDOR_DIR / "LICENSE").read_text(encoding="utf-8")


def test_vendored_sse_extension_matches_its_recorded_sha384_and_pin() -> None:
    record = read_record(VENDOR_DIR)

    assert record["sse-file"].startswith("hx-sse.min.js (dist/ext/hx-sse.min.js")
    assert sri_sha384((VENDOR_DIR / "hx-sse.min.js").read_bytes()) == record["sse-sha384"]
    assert record["sse-sha384"] == script.PINNED_SSE_SHA384


def test_vendored_sse_extension_is_htmx_4s_sse_extension() -> None:
    source = (VENDOR_DIR / "hx-sse.min.js").read_text(encoding="utf-8")

    assert 'registerExtension("sse",' in source
    assert '"hx-sse:connect"' in source  # the attribute tiered/live.js sets on its connector


def test_check_accepts_the_vendored_copy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    out = capsys.readouterr().out
    assert script.PINNED_SHA384 in out
    assert script.PINNED_SSE_SHA384 in out


def copy_vendor(
    tmp_path: Path, script_bytes: bytes | None = None, sse_bytes: bytes | None = None
) -> Path:
    dest = tmp_path / "htmx"
    dest.mkdir()
    for name in ("VERSION", "LICENSE", "htmx.min.js", "hx-sse.min.js"):
        (dest / name).write_bytes((VENDOR_DIR / name).read_bytes())
    if script_bytes is not None:
        (dest / "htmx.min.js").write_bytes(script_bytes)
    if sse_bytes is not None:
        (dest / "hx-sse.min.js").write_bytes(sse_bytes)
    return dest


def test_check_rejects_a_modified_file_and_names_both_hashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = copy_vendor(tmp_path, b"alert(1)")

    with pytest.raises(VendorError, match="expected sha384-Qp9rdC8H"):
        check(dest)
    assert main(["--check", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert sri_sha384(b"alert(1)") in err
    assert "--sha384" in err


def test_check_rejects_a_modified_extension_and_names_both_hashes(tmp_path: Path) -> None:
    dest = copy_vendor(tmp_path, sse_bytes=b"alert(2)")

    with pytest.raises(VendorError, match="expected sha384-v8HvucQ") as refused:
        check(dest)
    assert sri_sha384(b"alert(2)") in str(refused.value)
    assert "hx-sse.min.js" in str(refused.value)


def test_check_says_how_to_fix_a_missing_extension(tmp_path: Path) -> None:
    dest = copy_vendor(tmp_path)
    (dest / "hx-sse.min.js").unlink()

    with pytest.raises(VendorError, match=r"hx-sse\.min\.js is missing; run scripts/vendor_htmx"):
        check(dest)


def test_check_refuses_a_record_from_before_the_extension(tmp_path: Path) -> None:
    dest = copy_vendor(tmp_path)
    record = (dest / "VERSION").read_text(encoding="utf-8")
    (dest / "VERSION").write_text(
        "".join(line for line in record.splitlines(True) if not line.startswith("sse-")),
        encoding="utf-8",
    )

    with pytest.raises(VendorError, match=r"expected \(no sse-sha384 line in VERSION\)"):
        check(dest)


def test_check_says_how_to_fix_a_missing_record(tmp_path: Path) -> None:
    with pytest.raises(VendorError, match=r"VERSION is missing; run scripts/vendor_htmx\.py"):
        check(tmp_path)


def make_tarball(path: Path, members: Mapping[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_members_are_read_in_memory_from_the_tarball(tmp_path: Path) -> None:
    tarball = make_tarball(
        tmp_path / "htmx.org-9.9.9.tgz",
        {"package/dist/htmx.min.js": b"var htmx;", "package/LICENSE": b"0BSD"},
    )

    files = read_members(tarball, ["package/dist/htmx.min.js", "package/LICENSE"])

    assert files == {"package/dist/htmx.min.js": b"var htmx;", "package/LICENSE": b"0BSD"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["htmx.org-9.9.9.tgz"]


def test_a_missing_member_names_the_member(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path / "t.tgz", {"package/LICENSE": b"0BSD"})

    with pytest.raises(VendorError, match=r"no 'package/dist/htmx\.min\.js'"):
        read_members(tarball, ["package/dist/htmx.min.js"])


def test_vendor_writes_files_only_when_both_hashes_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, sse = b"var htmx = 1;", b"htmx.registerExtension('sse', {});"
    tarball = make_tarball(
        tmp_path / "htmx.org-9.9.9.tgz",
        {
            "package/dist/htmx.min.js": body,
            "package/dist/ext/hx-sse.min.js": sse,
            "package/LICENSE": b"0BSD",
        },
    )
    monkeypatch.setattr(script, "npm_pack", lambda spec, workdir: (tarball, "sha512-fake"))
    dest = tmp_path / "out"

    with pytest.raises(VendorError, match=r"sha384 of htmx\.org@9\.9\.9 dist/htmx\.min\.js"):
        script.vendor(dest, "9.9.9", "sha384-wrong", tmp_path, sri_sha384(sse))
    with pytest.raises(VendorError, match=r"sha384 of htmx\.org@9\.9\.9 dist/ext/hx-sse\.min"):
        script.vendor(dest, "9.9.9", sri_sha384(body), tmp_path, "sha384-wrong")
    assert not dest.exists()

    script.vendor(dest, "9.9.9", sri_sha384(body), tmp_path, sri_sha384(sse))
    assert (dest / "htmx.min.js").read_bytes() == body
    assert (dest / "hx-sse.min.js").read_bytes() == sse
    assert (dest / "LICENSE").read_bytes() == b"0BSD"
    record = read_record(dest)
    assert (record["version"], record["sha384"]) == ("9.9.9", sri_sha384(body))
    assert record["sse-sha384"] == sri_sha384(sse)
    assert check(dest) == sri_sha384(body)


def test_upgrading_without_a_hash_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version", "9.9.9"]) == 1
    assert "needs --sha384" in capsys.readouterr().err


def test_upgrading_without_the_extensions_hash_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--version", "9.9.9", "--sha384", "sha384-x"]) == 1
    assert "needs --sha384 and --sse-sha384" in capsys.readouterr().err
