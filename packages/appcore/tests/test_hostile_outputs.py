"""Outputs that are not what they seem: links, FIFOs and devices where a file goes, killed
saves, and permission caps that hold whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from appcore import (
    Application,
    CantCreateError,
    FileObserver,
    Service,
    load_application,
    save_application,
    write_atomic,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: whatever caps a mode then, it is not the umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _char_device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")


def test_save_refuses_a_link_and_leaves_its_target_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    victim.chmod(0o600)
    link = tmp_path / "app.tap"
    link.symlink_to(victim)
    with pytest.raises(CantCreateError, match="it is a symbolic link, not a regular file"):
        save_application(Application("app"), link)
    assert link.is_symlink()
    assert victim.read_bytes() == b"precious"
    assert _mode(victim) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.tap", "victim"]


def test_write_atomic_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    with pytest.raises(CantCreateError, match="it is a FIFO") as caught:
        write_atomic(fifo, b"data")
    assert caught.value.exit_code == 73
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.usefixtures("open_umask")
def test_max_mode_caps_new_and_existing_files(tmp_path: Path) -> None:
    new = tmp_path / "new.tap"
    save_application(Application("new"), new, max_mode=0o600)
    assert _mode(new) == 0o600
    existing = tmp_path / "old.bin"
    existing.write_bytes(b"old")
    existing.chmod(0o664)
    write_atomic(existing, b"new", max_mode=0o640)
    assert _mode(existing) == 0o640
    write_atomic(existing, b"again")  # without a cap an existing file keeps its bits
    assert _mode(existing) == 0o640


_KILLED_SAVE = """
import os, signal, sys
from appcore import Application, Persistent, save_application

class Killed(Persistent):
    def __getstate__(self):
        os.kill(os.getpid(), signal.SIGKILL)  # dies midway, as the OOM killer would do it

app = Application("killed")
app.state = Killed()
save_application(app, sys.argv[1], format="source")
"""


def test_next_save_removes_the_temp_file_a_killed_save_left(tmp_path: Path) -> None:
    target = tmp_path / "app.tas"
    done = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(target)], check=False)
    assert done.returncode == -9
    (left,) = [p.name for p in tmp_path.iterdir()]
    assert left.startswith(".app.tas.")
    assert left.endswith(".tmp")
    # Look-alikes of other files, and names tempfile never makes, are not ours to remove.
    others = [".app.tas.bak.tmp", ".app.tasx.abcdefgh.tmp", ".other.tas.abcdefgh.tmp"]
    for name in others:
        (tmp_path / name).write_bytes(b"")
    app = Application("app")
    Service("one").set_service_parent(app)
    save_application(app, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["app.tas", *others])
    assert load_application(target).name == "app"


def test_log_file_is_never_opened_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "app.log"
    link.symlink_to(victim)
    with pytest.raises(CantCreateError, match="is a symbolic link") as caught:
        FileObserver(link)
    assert caught.value.exit_code == 73
    assert victim.read_text() == "precious\n"


def test_log_file_fifo_without_reader_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "app.log"
    os.mkfifo(fifo)
    with pytest.raises(CantCreateError, match="cannot open log file"):
        FileObserver(fifo)  # a blocking open would wait here for a reader forever


@pytest.mark.usefixtures("open_umask")
def test_log_file_mode_is_capped_on_every_open(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("")
    path.chmod(0o666)
    observer = FileObserver(path, rotate_length=200, max_mode=0o600)
    logger = logging.getLogger("appcore.test.capped")
    logger.propagate = False
    logger.addHandler(observer)
    try:
        assert _mode(path) == 0o600
        for n in range(10):
            logger.warning("line %d %s", n, "x" * 40)  # rotates: a new file is opened
        assert (tmp_path / "app.log.1").exists()
        assert _mode(path) == 0o600
    finally:
        logger.removeHandler(observer)
        observer.close()


def test_log_onto_a_device_is_written_but_never_rotated(tmp_path: Path) -> None:
    device = tmp_path / "null"
    _char_device(device)
    observer = FileObserver(device, rotate_length=50, daily=True)
    logger = logging.getLogger("appcore.test.device")
    logger.propagate = False
    logger.addHandler(observer)
    try:
        for n in range(5):
            logger.warning("line %d %s", n, "x" * 40)
    finally:
        logger.removeHandler(observer)
        observer.close()
    # Renaming a device node aside (as root: /dev/null itself) would be a disaster.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]
    assert stat.S_ISCHR(os.lstat(device).st_mode)
