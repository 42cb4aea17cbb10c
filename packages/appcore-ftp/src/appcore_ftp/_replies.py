"""What the server says: aioftp's reply texts in plain English, and file-system errors as
replies with the right code.

aioftp words some replies oddly ("path does not exists", "use PASV firstly") and answers
every file-system error with ``451`` (a transient failure, so clients retry). Here a refusal
that will not change on retrying (permission denied, outside the served folder, no such
file, folder not empty) is a ``550``; only the unexpected stays ``451``.
"""

from __future__ import annotations

import errno
import logging
from typing import Final

from aioftp import errors

logger = logging.getLogger("appcore.ftp")

#: The reason given when a path leaves the served folder.
OUTSIDE: Final = "outside the served folder"

# aioftp's exact texts (aioftp 0.28) -> the reply sent instead; a text not listed passes as is.
_REWORDED: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("503", "bad sequence of commands (not logged in)"): ("530", "log in first"),
    ("503", "bad sequence of commands (no user (use USER firstly))"): ("503", "send USER first"),
    ("503", "bad sequence of commands (no listen socket created (use PASV firstly))"): (
        "425",
        "use PASV, EPSV, PORT or EPRT first",
    ),
    ("503", "bad sequence of commands (no filename (use RNFR firstly))"): (
        "503",
        "send RNFR first",
    ),
    ("425", "Can't open data connection"): ("425", "cannot open the data connection"),
    ("550", "path does not exists"): ("550", "no such file or folder"),
    ("550", "path already exists"): ("550", "already exists"),
    ("550", "path is not a directory"): ("550", "not a folder"),
    ("550", "path is not a file"): ("550", "not a plain file"),
    ("550", "path unreachable"): ("550", "no such folder"),
    ("230", "normal login"): ("230", "logged in"),
    ("530", "wrong password"): ("530", "login incorrect"),
    ("221", "bye"): ("221", "goodbye"),
    ("150", "list transfer started"): ("150", "sending the listing"),
    ("226", "list transfer done"): ("226", "listing sent"),
    ("150", "data transfer started"): ("150", "transfer starting"),
    ("226", "data transfer done"): ("226", "transfer complete"),
    ("451", "file system error"): ("451", "local error in processing"),
    ("421", "no free ports"): ("421", "no free port for a passive data connection"),
}
# Replies whose text goes on with an address: (code, aioftp's start, ours).
_REWORDED_START: Final = (
    ("227", "listen socket created ", "entering passive mode "),
    ("227", "listen socket already exists ", "entering passive mode "),
    ("229", "listen socket created ", "entering extended passive mode "),
    ("229", "listen socket already exists ", "entering extended passive mode "),
)


def reword(code: str, text: str) -> tuple[str, str]:
    """The reply to send for aioftp's ``code`` and ``text``."""
    found = _REWORDED.get((code, text))
    if found is not None:
        return found
    for known, start, ours in _REWORDED_START:
        if code == known and text.startswith(start):
            return code, ours + text[len(start) :]
    return code, text


# errno -> (code, text) of refusals that retrying will not change
_REFUSALS: Final[dict[int, tuple[str, str]]] = {
    errno.EACCES: ("550", "permission denied"),
    errno.EPERM: ("550", "permission denied"),
    errno.EROFS: ("550", "permission denied: read-only file system"),
    errno.ENOENT: ("550", "no such file or folder"),
    errno.EEXIST: ("550", "already exists"),
    errno.ENOTEMPTY: ("550", "folder not empty"),
    errno.ENOTDIR: ("550", "not a folder"),
    errno.EISDIR: ("550", "is a folder"),
    errno.EINVAL: ("550", "not possible on this path"),
    errno.ELOOP: ("550", "too many levels of symbolic links"),
    errno.EXDEV: ("550", "cannot move across file systems"),
    errno.ENAMETOOLONG: ("553", "file name too long"),
    errno.ENOSPC: ("452", "no space left on the server"),
    errno.EDQUOT: ("552", "disk quota exceeded"),
}


def refusal(error: errors.PathIOError) -> tuple[str, str]:
    """The reply for a file-system error met while running a command."""
    reason = error.reason[1] if error.reason is not None else None
    if isinstance(reason, OSError) and reason.errno is not None:
        if reason.strerror == OUTSIDE:
            return "550", f"permission denied: {OUTSIDE}"
        found = _REFUSALS.get(reason.errno)
        if found is not None:
            return found
    logger.warning("ftp: file system error: %r", reason)
    return "451", "local error in processing"
