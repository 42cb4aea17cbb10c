"""Replacing a file atomically, and cleaning up after saves that were killed midway.

A save writes ``.NAME.XXXXXXXX.tmp`` in NAME's folder, syncs it and renames it over NAME, so
readers see the old file or the new one, never a part. The writer holds an ``flock`` on its
temporary file from creation until the rename is done. A save killed midway (SIGKILL, the
OOM killer, a power cut) leaves its temporary file behind, and the next save of NAME removes
every one of them it can lock: a free lock means the writer is gone, while a save still
running in another process holds its lock and keeps its file.

The target must be a regular file or not exist yet: a symbolic link, FIFO, device, socket or
folder at its path is refused (:class:`CantCreateError`) rather than silently replaced by a
regular file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from appcore._errors import AppcoreError, CantCreateError, IOFailure, PermissionDenied

log = logging.getLogger("appcore.persist")

# tempfile.mkstemp's names: the prefix, 8 of these characters, the suffix.
_RANDOM_PART = re.compile(r"[a-z0-9_]{8}")
_TEMP_SUFFIX = ".tmp"
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    private: bool = False,
    max_mode: int | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    An existing file keeps its permission bits; a new one gets the usual ones (``0600`` when
    ``private``). ``max_mode`` narrows either (``0o600`` keeps group and others out whatever
    the umask). Readers see the old file or the new one, never a part. A path that exists
    and is not a regular file (symbolic link, FIFO, device, folder) is refused.
    """
    with atomic_stream(path, private=private, max_mode=max_mode) as stream:
        stream.write(data)


@contextlib.contextmanager
def atomic_stream(
    path: str | os.PathLike[str], *, private: bool = False, max_mode: int | None = None
) -> Iterator[BinaryIO]:
    """A seekable binary stream whose content replaces ``path`` when the block ends cleanly.

    See :func:`write_atomic` for the modes. When the block raises, the temp file is removed
    and ``path`` is left as it was; an OS error becomes the matching :class:`AppcoreError`.
    """
    target = Path(path)
    folder = target.parent
    mode = _existing_mode(target)
    if mode is None:
        mask = os.umask(0o022)
        os.umask(mask)
        mode = 0o600 if private else 0o666 & ~mask
    if max_mode is not None:
        mode &= max_mode
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=folder)
    except OSError as err:
        raise _write_error(err, target) from None
    stream = os.fdopen(fd, "wb")
    try:
        with stream:
            try:
                # Held until the rename is done: it tells a later save this writer is alive.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pass  # a file system without flock: its stale files are never removed
            _remove_abandoned_temps(folder, target.name, keep=os.path.basename(temp))
            yield stream
            stream.flush()
            os.fchmod(fd, mode)
            os.fsync(fd)
            # Renamed before the close, so that the lock covers the file's whole life.
            os.replace(temp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise _write_error(err, target) from None
        raise
    _fsync_folder(folder)


def _existing_mode(target: Path) -> int | None:
    """The permission bits of the file at ``target``; None when there is none yet."""
    try:
        info = os.lstat(target)
    except OSError:
        return None  # missing, or not reachable: creating the temp file says which
    if stat.S_ISREG(info.st_mode):
        return info.st_mode & 0o777
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    raise CantCreateError(f"cannot write {target}: it is {kind}, not a regular file")


def _remove_abandoned_temps(folder: Path, name: str, *, keep: str) -> None:
    """Remove the temporary files of earlier saves of ``name`` whose writers are gone."""
    prefix = f".{name}."
    length = len(prefix) + 8 + len(_TEMP_SUFFIX)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        found = entry.name
        if (
            len(found) != length
            or not found.startswith(prefix)
            or not found.endswith(_TEMP_SUFFIX)
            or not _RANDOM_PART.fullmatch(found[len(prefix) : -len(_TEMP_SUFFIX)])
            or found == keep
        ):
            continue
        with contextlib.suppress(OSError):
            # Never opened unless it is a regular file: opening a device can have effects.
            if entry.is_file(follow_symlinks=False):
                _remove_if_abandoned(entry.path)


def _remove_if_abandoned(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # its writer is alive (or the file system cannot tell): leave it
        # The name must still be the file we locked before it goes.
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            return
        os.unlink(path)
        log.info("removed %s, left by a save that did not finish", path)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is done either way
    finally:
        os.close(fd)


def _write_error(err: OSError, target: Path) -> AppcoreError:
    message = f"cannot write {target}: {err.strerror or err}"
    if isinstance(err, PermissionError):
        return PermissionDenied(message)
    if isinstance(err, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        return CantCreateError(message)
    return IOFailure(message)
