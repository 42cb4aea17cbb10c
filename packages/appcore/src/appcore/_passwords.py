"""Password files with hashed passwords, shared by the server types that log people in.

A password file holds one user a line, ``NAME:HASH``; blank lines and lines starting with
``#`` are ignored. ``HASH`` is an scrypt hash in modular-crypt style::

    # appcore password file
    alice:$scrypt$ln=15,r=8,p=1$<salt, base64>$<key, base64>

``ln`` is log2 of the scrypt cost ``N``. Make a line with :func:`password_line` (or
``python -c "from appcore._passwords import password_line; print(password_line('alice'))"``,
which asks for the password). The file is read again at every login, so users can be added
or removed while the server runs. Plain-text passwords are never accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from appcore._errors import DataError, NoInputError, UsageError, describe_os_error

SCHEME = "scrypt"
#: Default cost: 2**15 * 8 * 128 bytes = 32 MiB of memory and some tens of milliseconds.
DEFAULT_LOG_N = 15
_R = 8
_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
# Costs outside these bounds are refused when reading: a hostile file must not make a login
# burn gigabytes or minutes, and a weak one must not pass for a hash.
_MIN_LOG_N, _MAX_LOG_N = 10, 20


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int, length: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=length,
        maxmem=n * r * 128 * 2 + 1024 * 1024,
    )


def hash_password(password: str, *, log_n: int = DEFAULT_LOG_N) -> str:
    """The scrypt hash of ``password`` with a fresh salt, as stored in a password file."""
    if not _MIN_LOG_N <= log_n <= _MAX_LOG_N:
        raise UsageError(f"scrypt cost ln={log_n} is outside {_MIN_LOG_N}..{_MAX_LOG_N}")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, log_n, _R, _P, _KEY_BYTES)
    return f"${SCHEME}$ln={log_n},r={_R},p={_P}${_b64(salt)}${_b64(key)}"


@dataclass(frozen=True)
class _Hash:
    log_n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _parse_hash(text: str) -> _Hash:
    parts = text.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != SCHEME:
        raise ValueError(f"not a ${SCHEME}$ hash")
    try:
        params = dict(item.split("=", 1) for item in parts[2].split(","))
        log_n, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, key = _unb64(parts[3]), _unb64(parts[4])
    except (ValueError, KeyError, binascii.Error):
        raise ValueError("malformed scrypt parameters") from None
    if not (_MIN_LOG_N <= log_n <= _MAX_LOG_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt cost out of range")
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        raise ValueError("scrypt salt or key too short")
    return _Hash(log_n, r, p, salt, key)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches a stored hash (constant-time comparison)."""
    try:
        parsed = _parse_hash(stored)
    except ValueError:
        return False
    key = _scrypt(password, parsed.salt, parsed.log_n, parsed.r, parsed.p, len(parsed.key))
    return hmac.compare_digest(key, parsed.key)


def password_line(user: str, password: str | None = None, *, log_n: int = DEFAULT_LOG_N) -> str:
    """One ``NAME:HASH`` line; asks for the password (twice, without echo) when not given."""
    if not user or ":" in user or any(c.isspace() for c in user):
        raise UsageError(f"invalid user name {user!r}")
    if password is None:
        import getpass

        password = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")
    return f"{user}:{hash_password(password, log_n=log_n)}"


def read_password_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{user: hash}`` from a password file.

    Raises :class:`NoInputError` when it cannot be read and :class:`DataError` naming the
    line for a malformed entry (a plain-text password included).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise NoInputError(f"cannot read password file {describe_os_error(err)}") from None
    except UnicodeDecodeError:
        raise DataError(f"password file {path} is not UTF-8 text") from None
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user:
            raise DataError(f"{path}:{number}: expected NAME:HASH")
        try:
            _parse_hash(stored)
        except ValueError as err:
            raise DataError(f"{path}:{number}: user {user!r}: {err}") from None
        if user in users:
            raise DataError(f"{path}:{number}: user {user!r} appears twice")
        users[user] = stored
    return users


# A valid hash checked for unknown users, so a login takes as long whether the name exists.
_DUMMY = f"${SCHEME}$ln={DEFAULT_LOG_N},r={_R},p={_P}${_b64(b'appcore-dummy-sa')}${_b64(bytes(32))}"


def check_password(path: str | os.PathLike[str], user: str, password: str) -> bool:
    """Whether ``user`` may log in with ``password`` per the password file at ``path``.

    The file is read on every call. An unreadable or malformed file refuses everyone (and
    raises, so the caller can log why).
    """
    users = read_password_file(path)
    stored = users.get(user)
    ok = verify_password(stored if stored is not None else _DUMMY, password)
    return ok and stored is not None
