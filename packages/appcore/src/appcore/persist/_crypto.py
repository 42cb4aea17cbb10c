"""Encrypted application files (``.etap``, ``.etax``, ``.etas``): Argon2id and AES-256-GCM.

Layout (all integers big-endian)::

    magic      10 bytes  b"\\x89APPCORE\\r\\n"  (binary, so no text format is ever misread)
    version     1 byte   1
    format      1 byte   b"p" pickle, b"x" xml, b"s" source: the format inside
    memory      4 bytes  Argon2id memory cost in KiB
    iterations  4 bytes  Argon2id passes
    lanes       1 byte   Argon2id parallelism
    salt       16 bytes
    nonce      12 bytes
    ciphertext  the rest: AES-256-GCM of the inner file, tag included

The whole header is authenticated (it is the GCM associated data), so a changed parameter,
format byte or ciphertext fails exactly like a wrong passphrase: one clear error, never
garbage. KDF parameters are read from the header, within bounds, so stronger settings later
still load; a hostile header cannot ask for unbounded memory or time.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appcore._errors import DataError, UnavailableError, UsageError

if TYPE_CHECKING:
    from types import ModuleType

MAGIC = b"\x89APPCORE\r\n"
VERSION = 1
_HEADER = struct.Struct(">10sBcIIB16s12s")
HEADER_SIZE = _HEADER.size
_FORMAT_BYTES = {"pickle": b"p", "xml": b"x", "source": b"s"}
_FORMAT_NAMES = {v: k for k, v in _FORMAT_BYTES.items()}

# Upper bounds a header may ask for: 1 GiB, 64 passes, 64 lanes.
_MAX_MEMORY_KIB = 1 << 20
_MAX_ITERATIONS = 64
_MAX_LANES = 64


@dataclass(frozen=True)
class KdfCost:
    """Argon2id parameters; the default is RFC 9106's second recommended setting."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4


DEFAULT_COST = KdfCost()


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` starts with the encrypted-file magic."""
    return data[: len(MAGIC)] == MAGIC


def inner_format(data: bytes) -> str:
    """The format named in an encrypted file's header (not yet authenticated)."""
    if len(data) < HEADER_SIZE:
        raise DataError("the encrypted file is truncated")
    name = _FORMAT_NAMES.get(data[len(MAGIC) + 1 : len(MAGIC) + 2])
    if name is None:
        raise DataError("the encrypted file names an unknown inner format")
    return name


# The cryptography library is appcore's "encryption" extra: only encrypted files need it, and
# a bundled service runtime or a tapconvert venv should not carry its own OpenSSL otherwise.
INSTALL_HINT = "pip install 'appcore[encryption]'"


def _library(module: str) -> ModuleType:
    """A module of the cryptography library; :class:`UnavailableError` when not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnavailableError(
            f"encrypted application files need the cryptography library: {INSTALL_HINT}"
        ) from None


def available() -> bool:
    """Whether this environment can read and write encrypted files."""
    try:
        _library("cryptography.hazmat.primitives.ciphers.aead")
    except UnavailableError:
        return False
    return True


def _key(passphrase: str, salt: bytes, cost: KdfCost) -> bytes:
    Argon2id = _library("cryptography.hazmat.primitives.kdf.argon2").Argon2id  # noqa: N806

    if not passphrase:
        raise UsageError("the passphrase is empty")
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=cost.iterations,
        lanes=cost.lanes,
        memory_cost=cost.memory_kib,
    )
    key: bytes = kdf.derive(passphrase.encode("utf-8"))
    return key


def encrypt(data: bytes, format: str, passphrase: str, cost: KdfCost = DEFAULT_COST) -> bytes:
    """Encrypt a serialized file of ``format`` with a key derived from ``passphrase``."""
    AESGCM = _library("cryptography.hazmat.primitives.ciphers.aead").AESGCM  # noqa: N806

    salt = os.urandom(16)
    nonce = os.urandom(12)
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        _FORMAT_BYTES[format],
        cost.memory_kib,
        cost.iterations,
        cost.lanes,
        salt,
        nonce,
    )
    key = _key(passphrase, salt, cost)
    sealed: bytes = AESGCM(key).encrypt(nonce, data, header)
    return header + sealed


def decrypt(data: bytes, passphrase: str) -> tuple[str, bytes]:
    """The inner format and plaintext; :class:`DataError` on a wrong passphrase or damage."""
    InvalidTag = _library("cryptography.exceptions").InvalidTag  # noqa: N806
    AESGCM = _library("cryptography.hazmat.primitives.ciphers.aead").AESGCM  # noqa: N806

    if len(data) < HEADER_SIZE + 16:
        raise DataError("the encrypted file is truncated")
    magic, version, fmt, memory, iterations, lanes, salt, nonce = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DataError("not an encrypted application file")
    if version != VERSION:
        raise DataError(f"unknown encrypted file version {version}")
    name = _FORMAT_NAMES.get(fmt)
    if name is None:
        raise DataError("the encrypted file names an unknown inner format")
    if not (
        1 <= lanes <= _MAX_LANES
        and 8 * lanes <= memory <= _MAX_MEMORY_KIB
        and 1 <= iterations <= _MAX_ITERATIONS
    ):
        raise DataError("the encrypted file has out-of-range key derivation parameters")
    key = _key(passphrase, salt, KdfCost(memory, iterations, lanes))
    try:
        plain = AESGCM(key).decrypt(nonce, data[HEADER_SIZE:], data[:HEADER_SIZE])
    except InvalidTag:
        raise DataError("wrong passphrase or corrupted file") from None
    return name, plain
