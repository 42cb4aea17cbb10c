"""Building real packages from each input format: contents, lintian, source rebuild, signing,
reproducibility. Every check runs the real Debian tools on real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
KINDS = ["tap", "xml", "source", "python"]
EXT = {"tap": "tap", "xml": "tax", "source": "tas", "python": "py"}


def _run(*command: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_build_outputs(built: dict[str, Any], kind: str) -> None:
    out: Path = built[kind].out
    names = sorted(p.name for p in out.iterdir())
    # .changes and .buildinfo carry the build machine's architecture, the .deb its own: "all"
    # when the bundled runtime holds no compiled module
    host = _run("dpkg", "--print-architecture").strip()
    assert names == sorted(
        [
            "echo-1.0",
            "echo_1.0-1.debian.tar.xz",
            "echo_1.0-1.dsc",
            f"echo_1.0-1_{host}.buildinfo",
            f"echo_1.0-1_{host}.changes",
            built[kind].deb.name,
            "echo_1.0.orig.tar.xz",
        ]
    )
    # the debian/ folder stays for a person to polish, without build leftovers
    debian = out / "echo-1.0" / "debian"
    assert (debian / "control").is_file()
    assert (debian / "rules").is_file()
    assert not (debian / "echo").exists()
    assert not (debian / "files").exists()

    deb = str(built[kind].deb)
    assert _run("dpkg-deb", "-f", deb, "Package", "Version") == "Package: echo\nVersion: 1.0-1\n"
    depends = _run("dpkg-deb", "-f", deb, "Depends")
    assert "adduser" in depends
    if deb.endswith("_all.deb"):  # pure Python runtime: any python3 from 3.11 on
        assert "python3 (>= 3.11~)" in depends
    else:  # compiled modules, built for the interpreter running tap2deb (3.13 on Debian 13)
        major, minor = sys.version_info[:2]
        assert f"python3 (>= {major}.{minor}~), python3 (<< {major}.{minor + 1})" in depends
    listing = _run("dpkg-deb", "-c", deb)
    # dh_installsystemd puts units in /lib/systemd/system up to Debian 12 and, with the
    # merged /usr, in /usr/lib/systemd/system from Debian 13 on
    unit_path = next(
        (p for p in ("./usr/lib/systemd/system/echo.service", "./lib/systemd/system/echo.service")
         if p in listing),
        "./lib/systemd/system/echo.service",
    )  # fmt: skip
    for path in (
        f"./etc/echo/echo.{EXT[kind]}",
        "./etc/default/echo",
        "./etc/init.d/echo",
        "./etc/logrotate.d/echo",
        unit_path,
        "./usr/lib/echo/twistd",
        "./usr/lib/echo/site/appcore/__init__.py",
        "./usr/lib/echo/site/twistd/__init__.py",
        "./usr/share/doc/echo/copyright",
    ):
        assert path in listing, path
    assert "__pycache__" not in listing
    assert ".pyc" not in listing
    assert "root/root" in listing
    assert all("root/root" in line for line in listing.splitlines() if line)

    control = out / "control"
    _run("dpkg-deb", "-e", deb, str(control))
    conffiles = (control / "conffiles").read_text().split()
    assert f"/etc/echo/echo.{EXT[kind]}" in conffiles
    assert "/etc/default/echo" in conffiles
    for script in ("postinst", "prerm", "postrm"):
        assert "set -e" in (control / script).read_text()
    shutil.rmtree(control)
    flag = {"tap": "-f", "xml": "-x", "source": "-s", "python": "-y"}[kind]
    unit = _run("sh", "-c", f"dpkg-deb --fsys-tarfile {deb} | tar -xO {unit_path}")
    assert f"{flag} /etc/echo/echo.{EXT[kind]}" in unit
    assert "Type=notify" in unit
    assert "NoNewPrivileges=yes" in unit


def test_lintian_clean(built: dict[str, Any], kit: SimpleNamespace) -> None:
    """lintian --fail-on error,warning on every .changes, with only archive tags disabled
    (see tests/lintian/profiles/tap2deb/main.profile for each tag's reason)."""
    if shutil.which("lintian") is None:
        pytest.skip("needs lintian (Debian package lintian)")
    changes = [str(built[kind].changes) for kind in KINDS]
    result = subprocess.run(
        ["lintian", "--allow-root", "--include-dir", str(kit.lintian_dir), "--profile",
         "tap2deb", "--fail-on", "error,warning", *changes],
        capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]


@pytest.mark.parametrize("kind", KINDS)
def test_source_package_rebuilds(built: dict[str, Any], kind: str, tmp_path: Path) -> None:
    """dpkg-source -x then dpkg-buildpackage -us -uc -b gives the same .deb, byte for byte."""
    dsc = built[kind].dsc
    _run("dpkg-source", "-x", str(dsc), str(tmp_path / "src"))
    # the changelog dates the rebuild; tap2deb's own compression level gives the same bytes
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(DPKG_DEB_COMPRESSOR_TYPE="xz", DPKG_DEB_COMPRESSOR_LEVEL="1")
    _run("dpkg-buildpackage", "-us", "-uc", "-b", cwd=tmp_path / "src", env=env)
    rebuilt = tmp_path / built[kind].deb.name
    assert rebuilt.is_file()
    assert rebuilt.read_bytes() == built[kind].deb.read_bytes()


def test_reproducible(app_files: dict[str, Path], kit: SimpleNamespace, tmp_path: Path) -> None:
    """The same inputs and SOURCE_DATE_EPOCH give byte-identical packages.

    The two builds run side by side through ``python -m tap2deb``, from the same environment.
    """
    env = {**os.environ, "SOURCE_DATE_EPOCH": kit.source_date_epoch}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "tap2deb", *kit.argv(app_files["python"], tmp_path / name)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("one", "two")
    ]
    for run in runs:
        out, err = run.communicate(timeout=400)
        assert run.returncode == 0, err
        assert out.splitlines()[0].endswith(".deb")
    one, two = tmp_path / "one", tmp_path / "two"
    names = sorted(p.name for p in one.iterdir() if p.is_file())
    assert names == sorted(p.name for p in two.iterdir() if p.is_file())
    assert len(names) == 6
    # .buildinfo records when the build ran (Build-Date) by design, and .changes its checksum
    packages = [n for n in names if not n.endswith((".buildinfo", ".changes"))]
    assert len(packages) == 4
    for name in packages:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_signed_build(built_v2: Any, gnupg_home: Path) -> None:
    """Without -u the .dsc and .changes carry a signature gpg verifies."""
    for path in (built_v2.dsc, built_v2.changes):
        text = path.read_text()
        assert text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"), path.name
        _run(
            "gpg",
            "--batch",
            "--verify",
            str(path),
            env={**os.environ, "GNUPGHOME": str(gnupg_home)},
        )
