"""Building real RPMs from each input format and checking them with the real rpm tools:
digests, header, file list, scriptlets, config files, rpmlint, a rebuild from the source RPM,
reproducibility and signing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
KINDS = ["tap", "xml", "source", "python"]
EXT = {"tap": "tap", "xml": "tax", "source": "tas", "python": "py"}
FLAGS = {"tap": "-f", "xml": "-x", "source": "-s", "python": "-y"}
# header tags that identify one build (and the signature over it), not its content
ID_TAGS = {"HDRID", "HEADERIMMUTABLE", "PKGID", "SHA1HEADER", "SHA256HEADER", "SIGMD5",
           "SIGSIZE", "LONGSIGSIZE", "SOURCEPKGID"}  # fmt: skip


def _rpm(*args: str, kit: SimpleNamespace) -> str:
    return str(kit.run("rpm", *args))


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_and_digests(built: dict[str, Any], kind: str, kit: SimpleNamespace) -> None:
    b = built[kind]
    assert sorted(p.name for p in b.out.iterdir()) == sorted(
        [b.rpm.name, "echo-1.0-1.src.rpm", "echo.spec"]
    )
    assert re.fullmatch(r"echo-1\.0-1\.(x86_64|aarch64|noarch|[a-z0-9_]+)\.rpm", b.rpm.name)
    check = _rpm("-K", str(b.rpm), str(b.srpm), kit=kit)
    assert check.count("digests OK") == 2, check


@pytest.mark.parametrize("kind", KINDS)
def test_header(built: dict[str, Any], kind: str, kit: SimpleNamespace) -> None:
    info = _rpm("-qip", str(built[kind].rpm), kit=kit)
    pairs = (line.partition(":") for line in info.splitlines())
    fields = {key.strip(): value.strip() for key, _, value in pairs if not key.startswith(" ")}
    assert fields["Name"] == "echo"
    assert fields["Version"] == "1.0"
    assert fields["Release"] == "1"
    assert fields["Build Host"] == "reproducible"
    assert fields["Packager"] == kit.maintainer
    assert fields["Signature"] == "(none)"
    assert fields["Source RPM"] == "echo-1.0-1.src.rpm"
    assert "2023" in fields["Build Date"]  # SOURCE_DATE_EPOCH=1700000000
    requires = _rpm("-qp", "--requires", str(built[kind].rpm), kit=kit).splitlines()
    assert any(r.startswith("python(abi)") for r in requires)
    assert "/usr/sbin/useradd" in requires
    assert "logrotate" in requires
    provides = _rpm("-qp", "--provides", str(built[kind].rpm), kit=kit)
    assert ".so" not in provides  # the private runtime provides nothing to the system


@pytest.mark.parametrize("kind", KINDS)
def test_file_list(built: dict[str, Any], kind: str, kit: SimpleNamespace) -> None:
    rpm = str(built[kind].rpm)
    listing = _rpm("-qlp", rpm, kit=kit).splitlines()
    for path in (
        f"/etc/echo/echo.{EXT[kind]}",
        "/etc/sysconfig/echo",
        "/etc/logrotate.d/echo",
        "/etc/rc.d/init.d/echo",
        "/usr/lib/systemd/system/echo.service",
        "/usr/lib/echo/twistd",
        "/usr/lib/echo/site/appcore/__init__.py",
        "/usr/lib/echo/site/twistd/__init__.py",
        "/var/lib/echo",
        "/var/log/echo",
    ):
        assert path in listing, path
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in listing)
    assert not any(p.startswith("/usr/lib/.build-id") for p in listing)
    # owners and modes: the service user owns only its logs and state; the app is 0640
    lines = {line.split()[-1]: line.split() for line in _rpm("-qlvp", rpm, kit=kit).splitlines()}
    assert lines["/var/lib/echo"][:4] == ["drwxr-x---", "2", "echo", "echo"]
    assert lines["/var/log/echo"][:4] == ["drwxr-x---", "2", "echo", "echo"]
    assert lines[f"/etc/echo/echo.{EXT[kind]}"][0] == "-rw-r-----"
    assert lines[f"/etc/echo/echo.{EXT[kind]}"][2:4] == ["root", "echo"]
    assert lines["/etc/rc.d/init.d/echo"][0] == "-rwxr-xr-x"
    configs = _rpm("-qp", "--configfiles", rpm, kit=kit).split()
    assert sorted(configs) == sorted(
        [f"/etc/echo/echo.{EXT[kind]}", "/etc/logrotate.d/echo", "/etc/sysconfig/echo"]
    )
    # c = %config, n = noreplace: an edited file is kept on upgrade (the new one: .rpmnew)
    listed = _rpm("-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]", rpm, kit=kit)
    flags = dict(line.rsplit(" ", 1) for line in listed.splitlines())
    for path in configs:
        assert flags[path] == "cn", path
    assert flags["/usr/lib/echo/twistd"] == ""
    unit = subprocess.run(
        f"rpm2cpio {rpm} | cpio -i --to-stdout ./usr/lib/systemd/system/echo.service",
        shell=True, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert "User=echo" in unit
    assert f"{FLAGS[kind]} /etc/echo/echo.{EXT[kind]}" in unit


def test_scriptlets(built: dict[str, Any], kit: SimpleNamespace) -> None:
    scripts = _rpm("-qp", "--scripts", str(built["tap"].rpm), kit=kit)
    pattern = re.compile(
        r"^(\w+) scriptlet \(using /bin/sh\):\n(.*?)(?=^\w+ scriptlet|\Z)", re.S | re.M
    )
    sections = {m.group(1): m.group(2) for m in pattern.finditer(scripts)}
    assert set(sections) == {"preinstall", "postinstall", "preuninstall", "postuninstall"}
    assert "useradd -r -g echo -d /var/lib/echo" in sections["preinstall"]
    post = sections["postinstall"]
    assert 'if [ "$1" -eq 1 ]' in post
    assert "systemctl enable echo.service" in post
    assert "systemctl start echo.service" in post
    assert "chkconfig --add echo" in post
    preun = sections["preuninstall"]
    # stop and disable only on erase: everything sits under the $1 = 0 guard
    guarded = preun.split('if [ "$1" -eq 0 ]; then', 1)
    assert len(guarded) == 2
    before = [line for line in guarded[0].splitlines() if not line.lstrip().startswith("#")]
    assert not any("systemctl" in line or "service" in line for line in before)
    assert "systemctl stop echo.service" in guarded[1]
    assert "systemctl --no-reload disable echo.service" in guarded[1]
    postun = sections["postuninstall"]
    assert 'if [ "$1" -ge 1 ]; then\n        systemctl try-restart echo.service' in postun
    for text in sections.values():
        assert text.rstrip().endswith("exit 0")
        kit.run("sh", "-n", "-c", text)  # valid POSIX sh
        if shutil.which("dash"):
            kit.run("dash", "-n", "-c", text)


@pytest.mark.parametrize("kind", KINDS)
def test_rpmlint(built: dict[str, Any], kind: str, kit: SimpleNamespace) -> None:
    if shutil.which("rpmlint") is None:
        pytest.skip("needs rpmlint (Debian package rpmlint)")
    b = built[kind]
    result = subprocess.run(
        ["rpmlint", "-c", str(kit.rpmlint_config), str(b.rpm), str(b.srpm), str(b.spec)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1]
    errors = [line for line in result.stdout.splitlines() if ": E: " in line]
    assert errors == [], result.stdout
    assert " 0 errors" in summary, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def _contents(rpm: Path, kit: SimpleNamespace) -> dict[str, str]:
    """Everything rpm reports about a package except the tags identifying one build."""
    tags = [t for t in _rpm("--querytags", kit=kit).split() if t not in ID_TAGS]
    fmt = "".join(f"{t}=[%{{{t}}} ]\\n" for t in tags)
    out = subprocess.run(
        ["rpm", "-qp", "--qf", fmt, str(rpm)], capture_output=True, text=True, timeout=120,
        check=False,
    ).stdout  # fmt: skip
    found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    found["dump"] = _rpm("-qp", "--dump", str(rpm), kit=kit)
    found["scripts"] = _rpm("-qp", "--scripts", str(rpm), kit=kit)
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_rebuild_from_source_rpm(
    built: dict[str, Any], kind: str, kit: SimpleNamespace, tmp_path: Path
) -> None:
    b = built[kind]
    top = tmp_path / "rpmbuild"
    env = {**os.environ, "SOURCE_DATE_EPOCH": kit.source_date_epoch, "HOME": str(tmp_path)}
    kit.run("rpmbuild", "--rebuild", "--define", f"_topdir {top}", str(b.srpm), env=env)
    (rebuilt,) = (top / "RPMS").rglob("*.rpm")
    assert rebuilt.name == b.rpm.name
    ours, theirs = _contents(b.rpm, kit), _contents(rebuilt, kit)
    assert ours.keys() == theirs.keys()
    different = sorted(k for k in ours if ours[k] != theirs[k])
    assert different == []
    assert "/usr/lib/echo/site/appcore/__init__.py" in theirs["dump"]


def test_reproducible(app_files: dict[str, Path], kit: SimpleNamespace, tmp_path: Path) -> None:
    # two builds back to back into different folders (the runtime is copied from the
    # environment, so builds far apart could see other work on it in between)
    first = kit.build(app_files["python"], tmp_path / "first", "-u")
    again = kit.build(app_files["python"], tmp_path / "again", "-u")
    for ours, theirs in (
        (first.rpm, again.rpm),
        (first.srpm, again.srpm),
        (first.spec, again.spec),
    ):
        assert ours.name == theirs.name
        assert ours.read_bytes() == theirs.read_bytes(), f"{ours.name} differs"


def test_signed(built_v2: Any, gnupg_home: Path, kit: SimpleNamespace, tmp_path: Path) -> None:
    env = {**os.environ, "GNUPGHOME": str(gnupg_home)}
    public = tmp_path / "key.asc"
    public.write_text(kit.run("gpg", "--armor", "--export", kit.maintainer, env=env))
    db = tmp_path / "rpmdb"
    db.mkdir()
    kit.run("rpm", "--dbpath", str(db), "--import", str(public))
    for package in (built_v2.rpm, built_v2.srpm):
        check = kit.run("rpm", "--dbpath", str(db), "-K", str(package))
        assert "signatures OK" in check, check
        assert "Signature" in _rpm("-qip", str(package), kit=kit)
        assert "RSA/" in _rpm("-qp", "--qf", "%{RSAHEADER:pgpsig}", str(package), kit=kit)
    # without the key, rpm reports it missing instead of accepting the signature
    empty = tmp_path / "empty-rpmdb"
    empty.mkdir()
    result = subprocess.run(
        ["rpm", "--dbpath", str(empty), "-K", str(built_v2.rpm)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "NOKEY" in result.stdout + result.stderr or result.returncode != 0
