"""Shared fixtures: echo applications in every format, built RPMs, a Debian 12 root.

Building a package takes seconds (the private runtime is tens of megabytes), so each package
is built once per session and shared. The debootstrapped root is the one tap2deb's tests
cache in /var/tmp (same recipe, same path: CI bootstraps once); the systemd test needs rpm
inside the root too, so a copy with Debian's rpm package added is cached beside it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from appcore import Application, EchoFactory, StreamServerService, save_application
from tap_packaging.testing import booted_systemd_skip_reason, namespaces_skip_reason

SOURCE_DATE_EPOCH = "1700000000"
MAINTAINER = "Jane Doe <jane@example.org>"
RPMLINT_CONFIG = Path(__file__).parent / "rpmlint" / "tap2rpm.toml"
FORMATS = {"tap": "pickle", "xml": "xml", "source": "source", "python": None}
EXTENSIONS = {"tap": ".tap", "xml": ".tax", "source": ".tas", "python": ".py"}
# shared with tap2deb's tests: the same debootstrap recipe cached at the same path
ROOTFS_INCLUDE = "systemd-sysv,python3,dbus"
ROOTFS_TARBALL = Path("/var/tmp/tap2deb-tests-bookworm-minbase.tar")
RPM_ROOTFS_TARBALL = Path("/var/tmp/tap2rpm-tests-bookworm-rpm.tar")
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_app(folder: Path, kind: str, port: int, extra: str = "") -> Path:
    """An application named echo serving echo on 127.0.0.1:port, saved as ``kind``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"echo{EXTENSIONS[kind]}"
    if kind == "python":
        path.write_text(
            "from appcore import Application, EchoFactory, StreamServerService\n\n"
            "application = Application('echo')\n"
            f"StreamServerService('tcp:{port}:interface=127.0.0.1', EchoFactory())"
            f".set_service_parent(application)\n{extra}"
        )
        return path
    app = Application("echo")
    StreamServerService(f"tcp:{port}:interface=127.0.0.1", EchoFactory()).set_service_parent(app)
    save_application(app, path, format=FORMATS[kind])  # type: ignore[arg-type]
    return path


@dataclass(frozen=True)
class Built:
    """One build's output folder and files."""

    out: Path
    spec: Path
    srpm: Path
    rpm: Path


def run_tap2rpm(argv: list[str], env: dict[str, str] | None = None) -> int:
    """tap2rpm's main() with ``env`` added to the environment for the call."""
    from tap2rpm import main

    env = {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **(env or {})}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return main(argv)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build(app_file: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> Built:
    """Build with tap2rpm's main() and a fixed SOURCE_DATE_EPOCH; fail unless it exits 0."""
    argv = ["-t", str(app_file), "-m", MAINTAINER, "--output-dir", str(out), "-q", *extra]
    code = run_tap2rpm(argv, env)
    assert code == 0, f"tap2rpm exited {code}"
    (spec,) = out.glob("*.spec")
    (srpm,) = out.glob("*.src.rpm")
    (rpm,) = [p for p in out.glob("*.rpm") if not p.name.endswith(".src.rpm")]
    return Built(out, spec, srpm, rpm)


def needs_rpmbuild() -> None:
    if shutil.which("rpmbuild") is None:
        pytest.skip("needs rpmbuild (Debian package rpm)")


@pytest.fixture(scope="session")
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def app_files(tmp_path_factory: pytest.TempPathFactory, port: int) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("apps")
    return {kind: write_app(folder / kind, kind, port) for kind in FORMATS}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, app_files: dict[str, Path]) -> dict[str, Built]:
    """Version 1.0 of the echo package, unsigned, built from each of the four input formats."""
    needs_rpmbuild()
    root = tmp_path_factory.mktemp("built")
    return {kind: build(path, root / kind, "-u") for kind, path in app_files.items()}


@pytest.fixture(scope="session")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throw-away GnuPG home holding a key for the maintainer, without a passphrase."""
    if shutil.which("gpg") is None:
        pytest.skip("needs gpg (Debian package gnupg)")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", MAINTAINER, "rsa3072",
         "sign", "never"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    yield home
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, timeout=30)


@pytest.fixture(scope="session")
def built_v2(tmp_path_factory: pytest.TempPathFactory, port: int, gnupg_home: Path) -> Built:
    """Version 2.0 from a changed Python application file, signed: upgrades and signing."""
    needs_rpmbuild()
    app = write_app(tmp_path_factory.mktemp("app-v2"), "python", port, "# version 2\n")
    out = tmp_path_factory.mktemp("built-v2")
    return build(app, out, "-V", "2.0", env={"GNUPGHOME": str(gnupg_home)})


# --- a Debian 12 root -------------------------------------------------------------------


def root_skip_reason() -> str | None:
    """Why the tests in a Debian root cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, rpm --root, systemd-nspawn)"
    for tool, package in (
        ("debootstrap", "debootstrap"),
        ("rpm", "rpm"),
        ("nsenter", "util-linux"),
        ("pgrep", "procps"),
        ("systemd-nspawn", "systemd-container"),
    ):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian package {package})"
    return None


def _tar_into(folder: Path, tarball: Path) -> None:
    """Write ``folder`` as ``tarball`` atomically (readers never see a partial file)."""
    partial = Path(f"{tarball}.partial-{os.getpid()}")
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(folder), "-cf", str(partial), "."],
        check=True, timeout=300,
    )  # fmt: skip
    partial.rename(tarball)


def _extract(tarball: Path, folder: Path) -> None:
    folder.mkdir(parents=True)
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(folder), "-xf", str(tarball)],
        check=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="session")
def rootfs_tarball() -> Path:
    """``debootstrap --variant=minbase bookworm`` with systemd, python3 and dbus (shared)."""
    reason = root_skip_reason()
    if reason:
        pytest.skip(reason)
    if ROOTFS_TARBALL.is_file():
        return ROOTFS_TARBALL
    work = Path(f"{ROOTFS_TARBALL}.work-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    mirror = os.environ.get("DEBOOTSTRAP_MIRROR", "http://deb.debian.org/debian")
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={ROOTFS_INCLUDE}", "bookworm",
             str(work), mirror],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        _tar_into(work, ROOTFS_TARBALL)
    except subprocess.CalledProcessError as err:
        tail = (err.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
        pytest.fail(f"debootstrap of bookworm failed: {' / '.join(tail)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ROOTFS_TARBALL


@pytest.fixture(scope="session")
def rpm_rootfs_tarball(rootfs_tarball: Path) -> Path:
    """The shared root plus Debian's rpm package, to run rpm inside a booted container."""
    if RPM_ROOTFS_TARBALL.is_file() and (
        RPM_ROOTFS_TARBALL.stat().st_mtime >= rootfs_tarball.stat().st_mtime
    ):
        return RPM_ROOTFS_TARBALL
    work = Path(f"{RPM_ROOTFS_TARBALL}.work-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        _extract(rootfs_tarball, work)
        # debootstrap left the package lists: no apt-get update needed, only the download
        result = subprocess.run(
            ["chroot", str(work), "sh", "-c",
             "apt-get install -y -q --no-install-recommends rpm && apt-get clean"],
            env=CHROOT_ENV, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            pytest.fail(f"installing rpm in the Debian root failed: {' / '.join(tail)}")
        _tar_into(work, RPM_ROOTFS_TARBALL)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RPM_ROOTFS_TARBALL


@pytest.fixture
def rootfs(rootfs_tarball: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the shared Debian 12 root, removed afterwards."""
    root = tmp_path / "root"
    _extract(rootfs_tarball, root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def rpm_rootfs(rpm_rootfs_tarball: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the Debian 12 root that has rpm, removed afterwards."""
    root = tmp_path / "rpm-root"
    _extract(rpm_rootfs_tarball, root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def echo_answers(port: int, payload: bytes = b"hello tap2rpm\n") -> bool:
    """True when a real client gets ``payload`` back from 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(payload)
            received = b""
            while len(received) < len(payload):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            return received == payload
    except OSError:
        return False


def run(*command: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command; fail with its output unless it exits 0; its stdout."""
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable by name)."""
    return SimpleNamespace(
        build=build,
        write_app=write_app,
        run_tap2rpm=run_tap2rpm,
        run=run,
        free_port=free_port,
        wait_for=wait_for,
        echo_answers=echo_answers,
        rpmlint_config=RPMLINT_CONFIG,
        source_date_epoch=SOURCE_DATE_EPOCH,
        maintainer=MAINTAINER,
        chroot_env=CHROOT_ENV,
    )


# --- what the machine can give: namespaces, a booted systemd -----------------------------


@pytest.fixture(scope="session")
def namespaces() -> None:
    """Skip, naming why, where pid and mount namespaces are not available."""
    reason = namespaces_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def booted_systemd() -> None:
    """Skip, naming why, where a container cannot boot systemd."""
    reason = booted_systemd_skip_reason()
    if reason:
        pytest.skip(reason)
