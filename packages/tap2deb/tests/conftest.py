"""Shared fixtures: echo applications in every format, built packages, a Debian 12 root.

Building a package takes seconds (the private runtime is tens of megabytes), so each package
is built once per session and shared. The debootstrapped root is cached as a tarball in
/var/tmp for the session's later tests (and later runs on the same machine).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from appcore import Application, EchoFactory, StreamServerService
from tap_packaging.testing import booted_systemd_skip_reason, namespaces_skip_reason

SOURCE_DATE_EPOCH = "1700000000"
MAINTAINER = "Jane Doe <jane@example.org>"
LINTIAN_DIR = Path(__file__).parent / "lintian"
FORMATS = {"tap": "pickle", "xml": "xml", "source": "source", "python": None}
EXTENSIONS = {"tap": ".tap", "xml": ".tax", "source": ".tas", "python": ".py"}
ROOTFS_INCLUDE = "systemd-sysv,python3,dbus"
ROOTFS_TARBALL = Path("/var/tmp/tap2deb-tests-bookworm-minbase.tar")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_app(folder: Path, kind: str, port: int, name: str = "echo") -> Path:
    """An application serving echo on 127.0.0.1:port, saved as ``kind``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{EXTENSIONS[kind]}"
    if kind == "python":
        path.write_text(
            "from appcore import Application, EchoFactory, StreamServerService\n\n"
            f"application = Application({name!r})\n"
            f"StreamServerService('tcp:{port}:interface=127.0.0.1', EchoFactory())"
            ".set_service_parent(application)\n"
        )
        return path
    from appcore import save_application

    app = Application(name)
    StreamServerService(f"tcp:{port}:interface=127.0.0.1", EchoFactory()).set_service_parent(app)
    save_application(app, path, format=FORMATS[kind])  # type: ignore[arg-type]
    return path


def tap2deb_argv(app_file: Path, out: Path, *extra: str, unsigned: bool = True) -> list[str]:
    sign = ["-u"] if unsigned else []
    return ["-t", str(app_file), "-m", MAINTAINER, *sign, "--output-dir", str(out), *extra]


@dataclass(frozen=True)
class Built:
    """One build's output folder and files."""

    out: Path
    deb: Path
    dsc: Path
    changes: Path


def run_tap2deb(argv: list[str]) -> int:
    from tap2deb import main

    return main(argv)


def build(
    app_file: Path, out: Path, *extra: str, unsigned: bool = True, gnupg_home: Path | None = None
) -> Built:
    """Build with tap2deb's main() and a fixed SOURCE_DATE_EPOCH; fail unless it exits 0."""
    env = {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    if gnupg_home is not None:
        env["GNUPGHOME"] = str(gnupg_home)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        code = run_tap2deb(tap2deb_argv(app_file, out, *extra, unsigned=unsigned))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert code == 0, f"tap2deb exited {code}"
    (deb,) = out.glob("*.deb")
    (dsc,) = out.glob("*.dsc")
    (changes,) = out.glob("*.changes")
    return Built(out, deb, dsc, changes)


@pytest.fixture(scope="session")
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def app_files(tmp_path_factory: pytest.TempPathFactory, port: int) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("apps")
    return {kind: write_app(folder / kind, kind, port) for kind in FORMATS}


def _needs_tools() -> None:
    missing = [t for t in ("dpkg-buildpackage", "dh", "dpkg-source") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages dpkg-dev and debhelper)")
    try:
        metadata.distribution("twistd")
    except metadata.PackageNotFoundError:
        pytest.fail("every package bundles twistd: install it (pip install packages/twistd)")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, app_files: dict[str, Path]) -> dict[str, Built]:
    """Version 1.0 of the echo package, built from each of the four input formats."""
    _needs_tools()
    root = tmp_path_factory.mktemp("built")
    return {kind: build(path, root / kind) for kind, path in app_files.items()}


@pytest.fixture(scope="session")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throw-away GnuPG home holding a key for the maintainer, without a passphrase."""
    if shutil.which("gpg") is None:
        pytest.skip("needs gpg (Debian package gnupg)")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", MAINTAINER, "ed25519",
         "sign", "never"],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    yield home
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, timeout=30)


@pytest.fixture(scope="session")
def built_v2(
    tmp_path_factory: pytest.TempPathFactory, app_files: dict[str, Path], gnupg_home: Path
) -> Built:
    """Version 2.0 of the echo package (from the TAP file), signed: for upgrades and signing."""
    _needs_tools()
    out = tmp_path_factory.mktemp("built-v2")
    return build(app_files["tap"], out, "-V", "2.0", unsigned=False, gnupg_home=gnupg_home)


# --- a Debian 12 root -------------------------------------------------------------------


def lifecycle_skip_reason() -> str | None:
    """Why the lifecycle tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, unshare --root and systemd-nspawn)"
    for tool, package in (
        ("debootstrap", "debootstrap"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("systemd-nspawn", "systemd-container"),
    ):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian package {package})"
    return None


def _bootstrap() -> str | None:
    """Make the root tarball; None on success, else why it failed."""
    work = Path(f"{ROOTFS_TARBALL}.work-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    mirror = os.environ.get("DEBOOTSTRAP_MIRROR", "http://deb.debian.org/debian")
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={ROOTFS_INCLUDE}", "bookworm",
             str(work), mirror],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        partial = Path(f"{ROOTFS_TARBALL}.partial-{os.getpid()}")
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(work), "-cf", str(partial), "."],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        partial.rename(ROOTFS_TARBALL)
    except subprocess.CalledProcessError as err:
        tail = (err.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
        return f"{err.cmd[0]} failed: {' / '.join(tail)}"
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bootstrap failed: {err}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None


class _Bootstrap:
    """debootstrap in a background thread, started as soon as a test will need the root:
    it downloads and unpacks while the packages build."""

    thread: threading.Thread | None = None
    error: str | None = None

    @classmethod
    def start(cls) -> None:
        if cls.thread is not None or ROOTFS_TARBALL.is_file() or lifecycle_skip_reason():
            return

        def run() -> None:
            cls.error = _bootstrap()

        cls.thread = threading.Thread(target=run, name="debootstrap", daemon=True)
        cls.thread.start()

    @classmethod
    def wait(cls) -> None:
        cls.start()
        if cls.thread is not None:
            cls.thread.join(timeout=1200)
            if cls.thread.is_alive():
                pytest.fail("debootstrap of bookworm did not finish within 20 minutes")
        if cls.error is not None:
            pytest.fail(f"debootstrap of bookworm: {cls.error}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if any("rootfs" in getattr(item, "fixturenames", ()) for item in items):
        _Bootstrap.start()


@pytest.fixture(scope="session")
def rootfs_tarball() -> Path:
    """A tarball of ``debootstrap --variant=minbase bookworm`` with systemd, python3 and dbus."""
    reason = lifecycle_skip_reason()
    if reason:
        pytest.skip(reason)
    _Bootstrap.wait()
    return ROOTFS_TARBALL


@pytest.fixture
def rootfs(rootfs_tarball: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the Debian 12 root, removed afterwards."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-xf", str(rootfs_tarball)],
        check=True, timeout=300,
    )  # fmt: skip
    yield root
    shutil.rmtree(root, ignore_errors=True)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def echo_answers(port: int, payload: bytes = b"hello tap2deb\n") -> bool:
    """True when a real client gets ``payload`` back from 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
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


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable by name)."""
    return SimpleNamespace(
        build=build,
        write_app=write_app,
        argv=tap2deb_argv,
        run=run_tap2deb,
        free_port=free_port,
        wait_for=wait_for,
        echo_answers=echo_answers,
        lintian_dir=LINTIAN_DIR,
        unsigned_argv=tap2deb_argv,
        source_date_epoch=SOURCE_DATE_EPOCH,
        maintainer=MAINTAINER,
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
