"""The daemon's parts in process: pid file locking, notify addresses, users and groups."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from appcore import PermissionDenied, UnavailableError, UsageError
from twistd._notify import Notifier, notify_address
from twistd._pidfile import PidFile
from twistd._privileges import Identity, drop_privileges, resolve_identity

pytestmark = pytest.mark.timeout(30)


def test_pidfile_is_exclusive_and_locked(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    first = PidFile(path)
    first.acquire(pid=4242)
    assert path.read_text() == "4242\n"
    # flock locks belong to an open file: a second open, even in this process, is refused.
    with pytest.raises(UnavailableError, match=r"another twistd \(pid 4242\) is running"):
        PidFile(path).acquire(pid=99)
    assert path.read_text() == "4242\n"
    assert first.release()
    assert not path.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left behind


def test_stale_pidfile_is_reused_in_place(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    path.write_text("999999\n")
    holder = PidFile(path)
    holder.acquire(pid=77)
    assert path.read_text() == "77\n"
    holder.release()
    assert not path.exists()


def test_pidfile_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="pid file"):
        PidFile(tmp_path / "nope" / "x.pid").acquire()


def test_notify_addresses() -> None:
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("@abstract") == "\0abstract"


def test_notifier_without_a_manager_is_silent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert Notifier({"NOTIFY_SOCKET": "/nonexistent/socket"}).notify("READY=1") is False


def test_notifier_sends_datagrams(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "n.sock"))
    server.settimeout(5)
    with server:
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "n.sock")})
        assert notifier.ready("serving x")
        assert server.recv(1024).decode().splitlines() == [
            "READY=1",
            f"MAINPID={os.getpid()}",
            "STATUS=serving x",
        ]
        assert notifier.stopping()
        assert server.recv(1024) == b"STOPPING=1"
        notifier.close()


def test_resolve_identity() -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    assert repr(resolve_identity("nobody", None)) == repr(
        Identity(nobody.pw_uid, nobody.pw_gid, "nobody")
    )
    numeric = resolve_identity(str(nobody.pw_uid), "0")
    assert (numeric.uid, numeric.gid) == (nobody.pw_uid, 0)
    assert resolve_identity(None, None, default_uid=None).changes_anything is False
    unknown_number = resolve_identity("54321", None)
    assert (unknown_number.uid, unknown_number.gid) == (54321, None)
    with pytest.raises(UsageError):
        resolve_identity("no such user", None)


def test_dropping_to_oneself_is_a_no_op() -> None:
    drop_privileges(Identity(os.getuid(), os.getgid()))
    assert (os.getuid(), os.getgid()) == (os.getuid(), os.getgid())


def test_switching_user_needs_root() -> None:
    def attempt() -> int:
        try:
            drop_privileges(Identity(0, 0))
        except PermissionDenied as err:
            return 0 if "only root can change its user or group" in err.message else 2
        return 1

    if os.geteuid() != 0:
        assert attempt() == 0
        return
    pid = os.fork()  # as root: become nobody in a child first, then try to get root back
    if pid == 0:
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            code = attempt()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
