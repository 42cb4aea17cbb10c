"""Bad input: one line on stderr, the right exit code, the output folder as it was."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.timeout(60)


def _snapshot(folder: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"")
        for p in folder.rglob("*")
    )


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("already here\n")
    return folder


def _fails(
    kit: SimpleNamespace, capsys: pytest.CaptureFixture[str], argv: list[str], code: int
) -> str:
    assert kit.run(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tap2deb: error: ")
    return lines[0]


def test_missing_file(kit: SimpleNamespace, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(out)
    line = _fails(kit, capsys, kit.argv(out / "nope.tap", out), 66)
    assert "nope.tap" in line
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.tap", b"\x80\x05not a pickle at all"), ("bad.tax", b"<?xml version='1.0'?><oops"),
     ("bad.tas", b"import os\nos.system('true')\n"), ("bad.py", b"def broken(:\n")],
)  # fmt: skip
def test_corrupt_file(
    kit: SimpleNamespace,
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes,
) -> None:
    app = tmp_path / name
    app.write_bytes(content)
    before = _snapshot(out)
    line = _fails(kit, capsys, kit.argv(app, out), 65)
    assert name in line
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-m", "nobody"], "maintainer"),
        (["-m", "Jane <not-an-email>"], "maintainer"),
        (["-V", "one.two"], "version"),
        (["-V", "1.0-"], "version"),
        (["-p", "Bad_Name"], "package name"),
        (["-p", "x"], "package name"),
        (["--user", "Root!"], "user name"),
        (["-y", "yaml"], "type"),
        (["--init", "upstart"], "--init"),
        (["-e", "a" * 81], "description"),
    ],
)
def test_invalid_options(
    kit: SimpleNamespace,
    app_files: dict[str, Path],
    out: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    needle: str,
) -> None:
    before = _snapshot(out)
    line = _fails(kit, capsys, [*kit.argv(app_files["python"], out), *extra], 64)
    assert needle in line
    assert _snapshot(out) == before


def test_new_output_folder_not_left_behind(
    kit: SimpleNamespace, app_files: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    target = tmp_path / "new" / "out"
    _fails(kit, capsys, [*kit.argv(app_files["python"], target), "-V", "bad"], 64)
    assert not target.exists()


def test_missing_tool_names_the_debian_package(
    kit: SimpleNamespace,
    app_files: dict[str, Path],
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    before = _snapshot(out)
    line = _fails(kit, capsys, kit.argv(app_files["python"], out), 69)
    assert "dpkg-buildpackage" in line
    assert "dpkg-dev" in line
    assert _snapshot(out) == before


def test_signing_without_a_key_suggests_unsigned(
    kit: SimpleNamespace,
    app_files: dict[str, Path],
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needed = ("dpkg-buildpackage", "dpkg-source", "dpkg-deb", "dh", "gpg")
    if any(shutil.which(tool) is None for tool in needed):
        pytest.skip("needs dpkg-dev, debhelper and gnupg")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    before = _snapshot(out)
    line = _fails(kit, capsys, kit.argv(app_files["python"], out, unsigned=False), 69)
    assert "-u/--unsigned" in line
    assert _snapshot(out) == before
