"""The log file: appended to, rotated by size or by day, re-opened after ``logrotate``.

See :mod:`appcore._log` for the other observers and :func:`~appcore._log.configure_logging`.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import stat
import weakref
from pathlib import Path
from typing import IO

from appcore._errors import CantCreateError, IOFailure, UsageError, describe_os_error
from appcore._log import TextFormatter

_file_observers: weakref.WeakSet[FileObserver] = weakref.WeakSet()


class FileObserver(logging.Handler):
    """Appends records to a file, with optional size and daily rotation.

    ``rotate_length``: before a record would take the file past this many bytes, the file
    is renamed to ``PATH.1`` (older ones shift to ``.2``, ``.3``...). ``daily``: on the first
    record of a new local day, the file is renamed to ``PATH.YYYY-MM-DD`` (the day it covers,
    taken from its modification time when the process starts). ``max_rotated_files`` keeps
    only that many old files of each kind. :meth:`reopen` opens the path afresh, for
    ``logrotate``'s rename-then-signal.

    The path is never opened through a symbolic link (:class:`CantCreateError`): a link
    planted where a root daemon logs would make it append to any file. ``max_mode`` caps
    the file's permission bits whatever the umask, on every open. A path that is not a
    regular file (``/dev/null``, a FIFO with a reader) is written but never rotated.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rotate_length: int | None = None,
        max_rotated_files: int | None = None,
        daily: bool = False,
        max_mode: int | None = None,
    ) -> None:
        super().__init__()
        if rotate_length is not None and rotate_length <= 0:
            raise UsageError(f"rotate length must be a positive number of bytes: {rotate_length}")
        if max_rotated_files is not None and max_rotated_files < 0:
            raise UsageError(f"max rotated files must not be negative: {max_rotated_files}")
        self.path = Path(path)
        self.rotate_length = rotate_length
        self.max_rotated_files = max_rotated_files
        self.daily = daily
        self.max_mode = max_mode
        self._file: IO[bytes] | None = None
        self._size = 0
        self._day = dt.date.today()
        self._rotatable = True
        self.setFormatter(TextFormatter())
        try:
            self._open()
        except OSError as err:
            raise CantCreateError(_open_error("cannot open", self.path, err)) from err
        _file_observers.add(self)

    def _open(self) -> None:
        # O_NONBLOCK only for the open itself: a FIFO nobody reads fails (ENXIO) instead of
        # hanging the start-up.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        fd = os.open(self.path, flags | os.O_CLOEXEC, 0o666)
        try:
            os.set_blocking(fd, True)
            info = os.fstat(fd)
            self._rotatable = stat.S_ISREG(info.st_mode)
            if self._rotatable and self.max_mode is not None:
                _narrow_mode(fd, info.st_mode, self.max_mode)
            self._file = os.fdopen(fd, "ab")
        except BaseException:
            os.close(fd)
            raise
        self._size = info.st_size
        self._day = dt.date.fromtimestamp(info.st_mtime) if info.st_size else dt.date.today()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None

    def reopen(self) -> None:
        """Close the file and open the path again (a fresh file if it was renamed away)."""
        self.acquire()
        try:
            self._close_file()
            self._open()
        except OSError as err:
            raise IOFailure(_open_error("cannot reopen", self.path, err)) from err
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            if self._rotatable:
                self._rotate_if_due(len(data))
            if self._file is None:
                self._open()
            assert self._file is not None
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
        except Exception:
            self.handleError(record)

    def _rotate_if_due(self, incoming: int) -> None:
        if self.daily and dt.date.today() != self._day:
            if self._size:
                self._rotate_daily()
            else:  # an empty file holds no earlier day worth setting aside
                self._day = dt.date.today()
        if self.rotate_length and self._size and self._size + incoming > self.rotate_length:
            self._rotate_size()

    def _rotate_size(self) -> None:
        self._close_file()
        keep = self.max_rotated_files
        if keep is None:
            keep = 1
            while self._numbered(keep).exists():
                keep += 1
        if keep == 0:
            self.path.unlink(missing_ok=True)
        else:
            self._numbered(keep).unlink(missing_ok=True)
            for n in range(keep - 1, 0, -1):
                if self._numbered(n).exists():
                    os.replace(self._numbered(n), self._numbered(n + 1))
            os.replace(self.path, self._numbered(1))
        self._open()

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def _rotate_daily(self) -> None:
        self._close_file()
        target = self.path.with_name(f"{self.path.name}.{self._day.isoformat()}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.{self._day.isoformat()}.{n}")
            n += 1
        os.replace(self.path, target)
        if self.max_rotated_files is not None:
            dated = sorted(self.path.parent.glob(f"{self.path.name}.[0-9][0-9][0-9][0-9]-*"))
            for old in dated[: max(0, len(dated) - self.max_rotated_files)]:
                old.unlink(missing_ok=True)
        self._open()

    def close(self) -> None:
        self.acquire()
        try:
            self._close_file()
        finally:
            self.release()
        _file_observers.discard(self)
        super().close()


def _open_error(action: str, path: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return (
            f"{action} log file {path}: it is a symbolic link (log files are not opened "
            "through links; give the real path)"
        )
    return f"{action} log file {describe_os_error(err)}"


def _narrow_mode(fd: int, mode: int, max_mode: int) -> None:
    """Take away the permission bits ``max_mode`` lacks from an open file."""
    narrowed = mode & 0o777 & max_mode
    if narrowed != mode & 0o777:
        try:
            os.fchmod(fd, narrowed)
        except PermissionError:
            pass  # someone else's file: it keeps its bits, as it would without the cap


def reopen_logs() -> None:
    """Re-open every log file (after ``logrotate`` renamed them); safe to call from a signal.

    Every file is tried; the first failure is raised afterwards as :class:`IOFailure`.
    """
    failure: IOFailure | None = None
    for observer in list(_file_observers):
        try:
            observer.reopen()
        except IOFailure as err:
            failure = failure or err
    if failure is not None:
        raise failure
