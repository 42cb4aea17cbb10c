"""Bad input: one line on stderr, the right exit code, nothing left in the output folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.timeout(300)


def _tap2rpm(
    argv: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m tap2rpm`` as a real process: its exit code, stdout and stderr."""
    full_env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", **(env or {})}
    full_env.pop("RPM_PACKAGER", None)
    return subprocess.run(
        [sys.executable, "-m", "tap2rpm", *argv],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tap2rpm: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert result.stdout == ""


@pytest.fixture
def app(tmp_path: Path, kit: SimpleNamespace) -> Path:
    return Path(kit.write_app(tmp_path / "apps", "tap", kit.free_port()))


@pytest.mark.parametrize(
    ("extra", "code", "words"),
    [
        (["-m", "no email here"], 64, ["invalid maintainer"]),
        (["-V", "1.0-2"], 64, ["invalid version", "no '-'"]),
        (["-V", ""], 64, ["invalid version"]),
        (["--release", "1-2"], 64, ["invalid release"]),
        (["-r", "-bad"], 64, ["invalid package name"]),
        (["-p", "bad name"], 64, ["invalid package name"]),
        (["--user", "Root!"], 64, ["invalid user name"]),
        (["-y", "zip"], 64, ["unknown type"]),
        (["-e", "two\nlines"], 64, ["invalid description"]),
        (["--compression", "lzip"], 64, ["invalid --compression"]),
        (["--requires", "%{foo}"], 64, ["invalid --requires"]),
    ],
)
def test_bad_options(
    app: Path, tmp_path: Path, extra: list[str], code: int, words: list[str]
) -> None:
    out = tmp_path / "out"
    argv = ["-t", str(app), "-m", "Jane Doe <jane@example.org>", "-u", "--output-dir", str(out)]
    result = _tap2rpm([*argv, *extra], tmp_path)
    _one_line_error(result, code, *words)
    assert not out.exists()


def test_no_maintainer(app: Path, tmp_path: Path) -> None:
    result = _tap2rpm(["-t", str(app), "-u", "--output-dir", "out"], tmp_path)
    _one_line_error(result, 64, "no maintainer", "-m")
    assert not (tmp_path / "out").exists()


def test_missing_file(tmp_path: Path) -> None:
    result = _tap2rpm(["-m", "J D <j@example.org>", "-u", "--output-dir", "out"], tmp_path)
    _one_line_error(result, 66, "twistd.tap")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "content"), [("bad.tap", b"not a pickle"),
                                               ("bad.py", b"x = (")])  # fmt: skip
def test_corrupt_file(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    result = _tap2rpm(["-t", name, "-m", "J D <j@example.org>", "-u", "-o", "out"], tmp_path)
    _one_line_error(result, 65, name)
    assert not (tmp_path / "out").exists()


def test_rpmbuild_missing(app: Path, tmp_path: Path) -> None:
    # a PATH holding only the Python interpreter: rpmbuild is not found
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    out = tmp_path / "out"
    result = _tap2rpm(
        ["-t", str(app), "-m", "J D <j@example.org>", "-u", "--output-dir", str(out)],
        tmp_path,
        env={"PATH": str(bin_dir)},
    )
    _one_line_error(result, 69, "rpmbuild not found", "Debian package rpm")
    assert not out.exists()


def test_no_signing_key(app: Path, tmp_path: Path) -> None:
    if shutil.which("gpg") is None or shutil.which("rpmbuild") is None:
        pytest.skip("needs gpg and rpmbuild (Debian packages gnupg and rpm)")
    home = tmp_path / "empty-gnupg"
    home.mkdir(mode=0o700)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    result = _tap2rpm(
        ["-t", str(app), "-m", "J D <j@example.org>", "--output-dir", str(out)],
        tmp_path,
        env={"GNUPGHOME": str(home)},
    )
    _one_line_error(result, 69, "no GPG secret key", "-u/--unsigned")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)},
                   check=False, timeout=30)  # fmt: skip


@pytest.mark.slow
def test_failed_build_leaves_nothing(app: Path, tmp_path: Path) -> None:
    """rpmbuild itself fails (a malformed requirement): exit 70, the folder as it was."""
    if shutil.which("rpmbuild") is None:
        pytest.skip("needs rpmbuild (Debian package rpm)")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    result = _tap2rpm(
        ["-t", str(app), "-m", "J D <j@example.org>", "-u", "--output-dir", str(out),
         "--requires", "foo >="],
        tmp_path,
    )  # fmt: skip
    _one_line_error(result, 70, "rpmbuild failed")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    fresh = tmp_path / "fresh"
    result = _tap2rpm(
        ["-t", str(app), "-m", "J D <j@example.org>", "-u", "--output-dir", str(fresh),
         "--requires", "foo >="],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 70
    assert not fresh.exists()
