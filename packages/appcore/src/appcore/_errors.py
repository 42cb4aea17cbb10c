"""One exception family for domain errors, mapped once to sysexits-style exit codes.

Every tool maps an :class:`AppcoreError` to its :attr:`~AppcoreError.exit_code` and prints
its message as one line on stderr. Anything else escaping a tool is a bug (exit 70).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes from BSD ``sysexits.h``; the numbers every Unix operator knows."""

    OK = 0
    USAGE = 64  # the command was used incorrectly
    DATAERR = 65  # input data was incorrect in some way
    NOINPUT = 66  # an input file did not exist or was not readable
    UNAVAILABLE = 69  # a service or resource is unavailable (port in use, missing plugin)
    SOFTWARE = 70  # internal software error
    CANTCREAT = 73  # an output file cannot be created
    IOERR = 74  # an error occurred while doing I/O
    NOPERM = 77  # insufficient permission


class AppcoreError(Exception):
    """Base of every domain error: carries a one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.SOFTWARE

    def __init__(self, message: str) -> None:
        # A message is shown on one line: fold any newline a caller let through.
        super().__init__(" ".join(message.split()) if "\n" in message else message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class UsageError(AppcoreError):
    """Wrong options or arguments (exit 64)."""

    exit_code = ExitCode.USAGE


class DataError(AppcoreError):
    """Corrupt, hostile or otherwise invalid input data (exit 65)."""

    exit_code = ExitCode.DATAERR


class NoInputError(AppcoreError):
    """An input file is missing or unreadable (exit 66)."""

    exit_code = ExitCode.NOINPUT


class UnavailableError(AppcoreError):
    """A needed resource is unavailable: port in use, plugin missing, loop not installed (69)."""

    exit_code = ExitCode.UNAVAILABLE


class InternalError(AppcoreError):
    """A failure that is our fault rather than the user's (exit 70)."""

    exit_code = ExitCode.SOFTWARE


class CantCreateError(AppcoreError):
    """An output file or folder cannot be created (exit 73)."""

    exit_code = ExitCode.CANTCREAT


class IOFailure(AppcoreError):
    """An I/O operation failed midway (exit 74)."""

    exit_code = ExitCode.IOERR


class PermissionDenied(AppcoreError):
    """Insufficient permission: privileged port, uid switch, unreadable file (exit 77)."""

    exit_code = ExitCode.NOPERM


def describe_os_error(err: OSError) -> str:
    """A short human description of an ``OSError``, including the file name when known."""
    reason = err.strerror or str(err)
    if err.filename is not None:
        return f"{err.filename}: {reason}"
    return reason
