"""Encrypted files: passphrases, tampering, header sniffing."""

from __future__ import annotations

import pytest

from appcore import Application, DataError, UsageError, dumps, loads, sniff_format
from appcore.persist._crypto import HEADER_SIZE, KdfCost, decrypt, encrypt

CHEAP = KdfCost(memory_kib=1024, iterations=1, lanes=1)


def test_wrong_passphrase_is_a_clear_error() -> None:
    data = dumps(Application("secret"), "xml", passphrase="right")
    with pytest.raises(DataError, match="wrong passphrase or corrupted file"):
        loads(data, passphrase="wrong")


def test_missing_passphrase_is_a_usage_error() -> None:
    data = encrypt(b"x", "pickle", "pw", CHEAP)
    with pytest.raises(UsageError, match="encrypted"):
        loads(data)


@pytest.mark.parametrize("offset", [11, 12, 20, HEADER_SIZE - 1, HEADER_SIZE + 3, -1])
def test_any_changed_byte_is_detected(offset: int) -> None:
    data = bytearray(encrypt(b"payload", "source", "pw", CHEAP))
    data[offset] ^= 0x01
    with pytest.raises(DataError):
        decrypt(bytes(data), "pw")


def test_hostile_kdf_parameters_are_refused() -> None:
    data = bytearray(encrypt(b"payload", "source", "pw", CHEAP))
    data[12:16] = (0xFFFFFFFF).to_bytes(4, "big")
    with pytest.raises(DataError, match="out-of-range"):
        decrypt(bytes(data), "pw")


def test_sniffing_sees_the_inner_format() -> None:
    for fmt in ("pickle", "xml", "source"):
        assert sniff_format(encrypt(b"x", fmt, "pw", CHEAP)) == (fmt, True)


def test_truncated_encrypted_file() -> None:
    data = encrypt(b"payload", "xml", "pw", CHEAP)
    with pytest.raises(DataError, match="truncated"):
        loads(data[:30], passphrase="pw")
