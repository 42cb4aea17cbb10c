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
garbage. That check needs the key, so the header is checked on its own first
(:func:`check_header`), before any key is derived or a passphrase asked for: a file too
short to hold a header and a tag, or naming an unknown version or format, is damaged (a
:class:`DataError`), whatever passphrase comes with it.

KDF parameters are read from the header, so files written with stronger settings by a later
release still load, but only within bounds: at most twice what this release writes
(:data:`DEFAULT_COST`: 64 MiB, 3 passes, 4 lanes) in memory, passes and lanes, and at most
twice its work (memory times passes). A tampered header asking for more is refused at once;
one within the bounds costs at most about twice a normal load (under a second where a normal
load takes a quarter of one) before it fails as a wrong passphrase.
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


@dataclass(frozen=True)
class KdfCost:
    """Argon2id parameters; the default is RFC 9106's second recommended setting."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4


DEFAULT_COST = KdfCost()

# What a header may ask for: what this release writes, with room for a later release to
# write stronger settings (twice each, and twice the work), and no more: deriving the key is
# the one cost a reader pays before it can tell a tampered header from a wrong passphrase.
HEADROOM = 2
MAX_MEMORY_KIB = DEFAULT_COST.memory_kib * HEADROOM
MAX_ITERATIONS = DEFAULT_COST.iterations * HEADROOM
MAX_LANES = DEFAULT_COST.lanes * HEADROOM
MAX_WORK = DEFAULT_COST.memory_kib * DEFAULT_COST.iterations * HEADROOM  # KiB times passes
_TAG_SIZE = 16


@dataclass(frozen=True)
class Header:
    """The checked (not yet authenticated) header of an encrypted file."""

    format: str
    cost: KdfCost
    salt: bytes
    nonce: bytes


def check_header(data: bytes) -> Header:
    """The header of an encrypted file, checked without a key; :class:`DataError` when the
    file is too short, names an unknown version or format, or asks for out-of-range key
    derivation parameters."""
    if len(data) < HEADER_SIZE + _TAG_SIZE:
        raise DataError("the encrypted file is damaged: it is truncated")
    magic, version, fmt, memory, iterations, lanes, salt, nonce = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DataError("not an encrypted application file")
    if version != VERSION:
        raise DataError(f"the encrypted file is damaged or newer: unknown version {version}")
    name = _FORMAT_NAMES.get(fmt)
    if name is None:
        raise DataError("the encrypted file is damaged: it names an unknown inner format")
    if not (
        1 <= lanes <= MAX_LANES
        and 8 * lanes <= memory <= MAX_MEMORY_KIB
        and 1 <= iterations <= MAX_ITERATIONS
        and memory * iterations <= MAX_WORK
    ):
        raise DataError(
            "the encrypted file is damaged: out-of-range key derivation parameters "
            f"({memory} KiB, {iterations} passes, {lanes} lanes; this release reads at most "
            f"{MAX_MEMORY_KIB} KiB, {MAX_ITERATIONS} passes, {MAX_LANES} lanes)"
        )
    return Header(name, KdfCost(memory, iterations, lanes), salt, nonce)


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` starts with the encrypted-file magic."""
    return data[: len(MAGIC)] == MAGIC


def inner_format(data: bytes) -> str:
    """The format named in an encrypted file's header (checked, not yet authenticated)."""
    return check_header(data).format


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

    header = check_header(data)  # before the key: a damaged header costs no derivation
    key = _key(passphrase, header.salt, header.cost)
    try:
        plain = AESGCM(key).decrypt(header.nonce, data[HEADER_SIZE:], data[:HEADER_SIZE])
    except InvalidTag:
        raise DataError("wrong passphrase or corrupted file") from None
    return header.format, plain
