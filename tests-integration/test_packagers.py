"""tap2deb and tap2rpm from wheels in dist/: one package per application file format.

The packagers' own suites check lintian/rpmlint and run the package lifecycle in a Debian 12
root (``scripts/nox -s package``); here each tool runs as a user runs it, installed from the
built wheels beside twistd (which every package bundles).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

MAKE_APP = """
import sys
from appcore import Application, EchoFactory, StreamServerService, save_application
app = Application("echoapp")
endpoint = "tcp:7107:interface=127.0.0.1"
StreamServerService(endpoint, EchoFactory(), name="echo").set_service_parent(app)
save_application(app, sys.argv[1], format=sys.argv[2])
"""

PY_APP = """
from appcore import Application, EchoFactory, StreamServerService

application = Application("echoapp")
StreamServerService("tcp:7107:interface=127.0.0.1", EchoFactory()).set_service_parent(application)
"""

FILES = {"tap": "pickle", "tax": "xml", "tas": "source", "py": None}
MAINTAINER = "Tap Tester <tap@example.org>"


def app_file(env, folder: Path, ext: str) -> Path:  # type: ignore[no-untyped-def]
    path = folder / f"echoapp.{ext}"
    fmt = FILES[ext]
    if fmt is None:
        path.write_text(PY_APP)
    else:
        done = env.run(env.python, "-c", MAKE_APP, path, fmt)
        assert done.returncode == 0, done.stderr
    return path


def listing(*command: str | Path) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("ext", list(FILES))
def test_tap2deb_wraps_each_format(make_venv, tmp_path: Path, ext: str) -> None:  # type: ignore[no-untyped-def]
    env = make_venv("tap2deb")  # alone: it brings all a build needs (twistd included)
    source = app_file(env, tmp_path, ext)
    out = tmp_path / "out"
    done = env.run(env.bin("tap2deb"), "-t", source, "-m", MAINTAINER, "-p", "echoapp",
                   "-V", "1.0", "-u", "--output-dir", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (deb,) = out.glob("echoapp_1.0*_*.deb")
    assert list(out.glob("*.dsc"))
    assert list(out.glob("*.changes"))
    info = listing("dpkg-deb", "--info", deb)
    assert "Package: echoapp" in info
    contents = listing("dpkg-deb", "--contents", deb)
    assert "./etc/echoapp/" in contents
    assert "./etc/init.d/echoapp" in contents
    assert "systemd/system/echoapp.service" in contents
    assert "site/twistd/" in contents  # the bundled runtime holds twistd


@pytest.mark.parametrize("ext", list(FILES))
def test_tap2rpm_wraps_each_format(make_venv, tmp_path: Path, ext: str) -> None:  # type: ignore[no-untyped-def]
    env = make_venv("tap2rpm")  # alone: it brings all a build needs (twistd included)
    source = app_file(env, tmp_path, ext)
    out = tmp_path / "out"
    done = env.run(env.bin("tap2rpm"), "-t", source, "-m", MAINTAINER, "-p", "echoapp",
                   "-V", "1.0", "-u", "--output-dir", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    binaries = [p for p in out.glob("echoapp-1.0-*.rpm") if not p.name.endswith(".src.rpm")]
    assert len(binaries) == 1, sorted(p.name for p in out.iterdir())
    assert list(out.glob("*.src.rpm"))
    assert list(out.glob("*.spec"))
    assert "digests" in listing("rpm", "-K", binaries[0]).lower()
    files = listing("rpm", "-qlp", binaries[0])
    assert "/etc/echoapp/" in files
    assert "/etc/sysconfig/echoapp" in files
    assert "site/twistd/" in files
    scripts = listing("rpm", "--scripts", "-qp", binaries[0])
    assert "useradd" in scripts or "adduser" in scripts
