"""An exclusive, locked pid file.

The file is written in full under a temporary name, locked, and then hard-linked into place,
so the pid file appears atomically, already locked and already holding the pid: no other
instance can ever see it empty. The lock (``flock``) is what says "a twistd owns this": it
dies with the process, so a pid file whose lock is free is stale and is taken over, even when
its pid has since been reused by an unrelated process.

The path is never followed: a symbolic link (or a FIFO, a device...) at the pid file's path
is refused, whoever runs twistd. Following it would let whoever can write in the run
directory make a root twistd overwrite any file with its pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path

from appcore import CantCreateError, UnavailableError

# Readable by all (tools read pid files), unless the input file is more private.
_MODE = 0o644


class PidFile:
    """A pid file held (locked) for as long as this process runs."""

    def __init__(self, path: Path, *, max_mode: int | None = None) -> None:
        self.path = path
        self.max_mode = max_mode  # caps the file's permission bits, whatever the umask
        self._fd: int | None = None
        self._dir_fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the pid file."""
        return self._fd is not None

    def acquire(self, pid: int | None = None) -> None:
        """Create and lock the pid file; refuse when a live instance holds it."""
        pid = os.getpid() if pid is None else pid
        content = f"{pid}\n".encode()
        try:
            # The directory stays open so the file can be removed even after a chroot.
            self._dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise CantCreateError(f"pid file {self.path}: {err.strerror}") from None
        for _ in range(10):  # bounded: each pass loses only to a concurrent twistd
            if self._create(content) or self._take_over(content):
                return
        raise CantCreateError(f"pid file {self.path}: it keeps changing under us")

    def _create(self, content: bytes) -> bool:
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _MODE)
        except OSError as err:
            raise CantCreateError(f"pid file {self.path}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._cap_mode(fd)
            os.write(fd, content)
            os.link(temp, self.path)
        except FileExistsError:
            os.close(fd)
            return False
        except OSError as err:
            os.close(fd)
            raise CantCreateError(f"pid file {self.path}: {err.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._fd = fd
        return True

    def _take_over(self, content: bytes) -> bool:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return False  # removed since we looked: try creating it again
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise self._refusal("a symbolic link") from None
            raise CantCreateError(f"pid file {self.path}: {err.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._refusal("not a regular file")
        os.set_blocking(fd, True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_pid(fd)
            os.close(fd)
            who = f"pid {owner}" if owner else "another process"
            raise UnavailableError(
                f"another twistd ({who}) is running with pid file {self.path}"
            ) from None
        # The owner may have removed the file between our open and our lock: then we
        # locked an orphan, and must start over on whatever the path names now.
        try:
            same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return False
        self._cap_mode(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, content, 0)
        self._fd = fd
        return True

    def _refusal(self, what: str) -> CantCreateError:
        return CantCreateError(
            f"pid file {self.path} is {what}: refusing to write through it "
            "(remove it, or choose another --pidfile)"
        )

    def _cap_mode(self, fd: int) -> None:
        if self.max_mode is None:
            return
        mode = os.fstat(fd).st_mode & 0o777
        if mode & ~self.max_mode:
            with contextlib.suppress(PermissionError):  # a stale file of another user's
                os.fchmod(fd, mode & self.max_mode)

    def release(self) -> bool:
        """Remove the pid file and drop the lock; False when removal was not permitted."""
        if self._fd is None:
            return True
        removed = True
        try:
            if self._dir_fd is not None:
                os.unlink(self.path.name, dir_fd=self._dir_fd)
            else:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError:
            removed = False  # e.g. after dropping root in a root-owned folder
        os.close(self._fd)
        self._fd = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        return removed


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
