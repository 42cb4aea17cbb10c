"""What tap2deb and tap2rpm share: service files, the signing-key check, tarballs, staging."""

from __future__ import annotations

import io
import lzma
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import tap_packaging
from appcore import CantCreateError, UnavailableError, UsageError
from tap_packaging import ApplicationInfo

pytestmark = pytest.mark.timeout(120)

INFO = ApplicationInfo(Path("/x/web.tas"), "source", "web", None, None, frozenset({"appcore"}))


# --- small helpers


def test_source_date_epoch_from_the_environment() -> None:
    assert tap_packaging.source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    assert tap_packaging.source_date_epoch({}) > 1700000000  # now


@pytest.mark.parametrize("value", ["", "-1", "1.5", "soon", "1e9"])
def test_source_date_epoch_rejects_non_seconds(value: str) -> None:
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        tap_packaging.source_date_epoch({"SOURCE_DATE_EPOCH": value})


def test_one_line() -> None:
    assert tap_packaging.one_line("  web service \n", "description", 20) == "web service"
    for bad in ("", "   ", "two\nlines", "x" * 21):
        with pytest.raises(
            UsageError, match="invalid description: one non-empty line of at most 20"
        ):
            tap_packaging.one_line(bad, "description", 20)


def test_installed_names_and_twistd_args() -> None:
    assert tap_packaging.app_file_name("web", "xml") == "web.tax"
    assert {tap_packaging.app_file_name("a", t) for t in tap_packaging.FILE_TYPES} == {
        "a.tap",
        "a.tax",
        "a.tas",
        "a.py",
    }
    assert tap_packaging.service_twistd_args("web", INFO) == (
        "--no_save --logfile=/var/log/web/web.log --rundir=/var/lib/web -s /etc/web/web.tas"
    )


def test_runtime_distributions() -> None:
    wanted, unowned = tap_packaging.runtime_distributions(
        ["appcore", "typer", "not_a_module_xyz"], ["hypothesis"]
    )
    assert wanted == sorted({"appcore", "twistd", "typer-slim", "hypothesis"})
    assert unowned == ["not_a_module_xyz"]
    assert tap_packaging.runtime_distributions([]) == (["appcore", "twistd"], [])


# --- service files


def test_systemd_unit() -> None:
    unit = tap_packaging.systemd_unit(
        name="web",
        description="web service",
        user="webu",
        launcher="/usr/lib/web/twistd",
        twistd_args=tap_packaging.service_twistd_args("web", INFO),
        options_file="/etc/sysconfig/web",
    )
    lines = unit.splitlines()
    for expected in (
        "Description=web service",
        "Type=notify",
        "User=webu",
        "Group=webu",
        "EnvironmentFile=-/etc/sysconfig/web",
        "ExecStart=/usr/lib/web/twistd --nodaemon --pidfile= --no_save "
        "--logfile=/var/log/web/web.log --rundir=/var/lib/web -s /etc/web/web.tas $TWISTD_OPTIONS",
        "StateDirectory=web",
        "StateDirectoryMode=0750",
        "LogsDirectory=web",
        "LogsDirectoryMode=0750",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "WantedBy=multi-user.target",
    ):
        assert expected in lines
    assert [line for line in lines if line.startswith("[")] == ["[Unit]", "[Service]", "[Install]"]


def test_logrotate_text() -> None:
    text = tap_packaging.logrotate_text("web", "webu")
    assert text.startswith("/var/log/web/*.log {\n")
    assert text.endswith("}\n")
    assert "    su webu webu\n" in text
    assert "copytruncate" in text


# --- signing key


def test_signing_key_missing_gpg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without gpg
    with pytest.raises(UnavailableError, match="gpg not found.*-u/--unsigned"):
        tap_packaging.check_signing_key("jane@example.org")


@pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg (Debian package gnupg)")
def test_signing_key_with_real_gpg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    with pytest.raises(UnavailableError, match="no GPG secret key for 'jane@example.org'"):
        tap_packaging.check_signing_key("jane@example.org")
    try:
        subprocess.run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Jane <jane@example.org>"]
            + ["ed25519", "sign", "never"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        tap_packaging.check_signing_key("jane@example.org")
        with pytest.raises(UnavailableError, match="no GPG secret key"):
            tap_packaging.check_signing_key("john@example.org")
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], check=False, timeout=30)


# --- reproducible tarballs


def _tree(root: Path, mtime: int) -> Path:
    tree = root / "web-1.0"
    (tree / "app").mkdir(parents=True)
    (tree / "runtime" / "site" / "pkg").mkdir(parents=True)
    (tree / "app" / "web.tas").write_text("app = 1\n")
    (tree / "runtime" / "site" / "pkg" / "b.py").write_text("b = 2\n")
    (tree / "runtime" / "site" / "pkg" / "a.py").write_text("a = 1\n")
    launcher = tree / "runtime" / "twistd"
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o700)
    (tree / "runtime" / "site" / "pkg" / "a.py").chmod(0o600)
    (tree / "notes.txt").write_text("left out by parts\n")
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return tree


@pytest.mark.parametrize("compression", [None, "xz"])
def test_tarball_is_reproducible(
    tmp_path: Path, compression: tap_packaging.TarCompression | None
) -> None:
    first = _tree(tmp_path / "one", 1_000_000)
    second = _tree(tmp_path / "two", 2_000_000)
    (second / "runtime" / "site" / "pkg" / "a.py").chmod(0o664)  # another umask
    for tree in (first, second):
        tap_packaging.write_reproducible_tar(
            tree, tree.parent / "out.tar", 1_700_000_000, compression=compression
        )
    data = (first.parent / "out.tar").read_bytes()
    assert data == (second.parent / "out.tar").read_bytes()
    assert sorted(p.name for p in first.parent.iterdir()) == ["out.tar", "web-1.0"]  # no temp
    if compression == "xz":
        data = lzma.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "web-1.0"
    assert names == ["web-1.0", *sorted(names[1:])]
    assert "web-1.0/notes.txt" in names
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "root", "root")
        assert member.mtime == 1_700_000_000
    modes = {m.name: m.mode for m in members}
    assert modes["web-1.0/runtime/twistd"] == 0o755
    assert modes["web-1.0/runtime/site/pkg/a.py"] == 0o644
    assert modes["web-1.0/runtime"] == 0o755


def test_tarball_parts(tmp_path: Path) -> None:
    tree = _tree(tmp_path, 1_000_000)
    target = tmp_path / "orig.tar.xz"
    tap_packaging.write_reproducible_tar(
        tree, target, 1_700_000_000, parts=("runtime", "app"), compression="xz"
    )
    with tarfile.open(target) as tar:
        names = tar.getnames()
        assert tar.extractfile("web-1.0/app/web.tas").read() == b"app = 1\n"  # type: ignore[union-attr]
    assert names == [
        "web-1.0/app",
        "web-1.0/app/web.tas",
        "web-1.0/runtime",
        "web-1.0/runtime/site",
        "web-1.0/runtime/site/pkg",
        "web-1.0/runtime/site/pkg/a.py",
        "web-1.0/runtime/site/pkg/b.py",
        "web-1.0/runtime/twistd",
    ]


def test_tarball_failure_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tap_packaging.write_reproducible_tar(tmp_path / "missing", tmp_path / "out.tar", 0)
    assert list(tmp_path.iterdir()) == []


# --- staging


def test_staging_success_keeps_only_what_was_moved(tmp_path: Path) -> None:
    output = tmp_path / "out" / "deep"
    with tap_packaging.staging_folder(output, "tap2x") as staging:
        assert staging.parent == output
        assert staging.name.startswith(".tap2x-")
        (staging / "result").write_text("done")
        (staging / "scratch").write_text("left behind")
        os.replace(staging / "result", output / "result")
    assert [p.name for p in output.iterdir()] == ["result"]


def test_staging_failure_removes_a_created_output_folder(tmp_path: Path) -> None:
    output = tmp_path / "new"

    def build() -> None:
        with tap_packaging.staging_folder(output, "t") as staging:
            (staging / "half").write_text("x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build()
    assert not output.exists()


def test_staging_failure_keeps_an_existing_output_folder(tmp_path: Path) -> None:
    (tmp_path / "old.deb").write_text("kept")
    with pytest.raises(KeyboardInterrupt), tap_packaging.staging_folder(tmp_path, "t"):
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["old.deb"]


def test_staging_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    folder = tap_packaging.staging_folder(blocker / "out", "t")
    with pytest.raises(CantCreateError, match="cannot create the output folder"):
        folder.__enter__()
