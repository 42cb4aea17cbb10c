"""Hostile input before any decoding: files past the size limit, damaged encrypted headers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from appcore import Application, DataError, dumps, loads, read_input
from appcore.persist._crypto import HEADER_SIZE, KdfCost, encrypt

pytestmark = pytest.mark.timeout(60)

CHEAP = KdfCost(memory_kib=1024, iterations=1, lanes=1)


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("APPCORE_MAX_INPUT", "1M")
    return 1 << 20


def test_a_file_past_the_limit_is_refused_from_its_size(small_limit: int, tmp_path: Path) -> None:
    path = tmp_path / "huge.tap"
    with path.open("wb") as handle:
        handle.truncate(small_limit + 1)  # sparse: refused without being read
    with pytest.raises(DataError, match="larger than the 1 MiB input limit"):
        read_input(path)
    path.write_bytes(b"x" * small_limit)
    assert len(read_input(path)) == small_limit


@pytest.mark.usefixtures("small_limit")
def test_an_endless_device_is_refused_at_the_limit() -> None:
    with pytest.raises(DataError, match="/dev/zero is larger than the 1 MiB input limit"):
        read_input("/dev/zero")


@pytest.mark.usefixtures("small_limit")
def test_a_stream_past_the_limit_is_refused() -> None:
    from appcore import read_stream

    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as pipe:
            try:
                pipe.write(b"\0" * (3 << 20))
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with open(read_fd, "rb") as stream, pytest.raises(DataError, match="<stdin> is larger"):
        read_stream(stream, "<stdin>")
    writer.join(5)


def test_a_bad_limit_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from appcore import UsageError, input_limit

    monkeypatch.setenv("APPCORE_MAX_INPUT", "lots")
    with pytest.raises(UsageError, match="APPCORE_MAX_INPUT"):
        input_limit()
    monkeypatch.setenv("APPCORE_MAX_INPUT", "2GiB")
    assert input_limit() == 2 << 30


# --- encrypted headers -------------------------------------------------------------------


def tampered(memory_kib: int, iterations: int, lanes: int = 4) -> bytes:
    data = bytearray(encrypt(dumps(Application("secret")), "pickle", "pw", CHEAP))
    data[12:16] = memory_kib.to_bytes(4, "big")
    data[16:20] = iterations.to_bytes(4, "big")
    data[20] = lanes
    return bytes(data)


def test_kdf_parameters_past_what_the_tool_writes_are_refused_before_deriving() -> None:
    start = time.monotonic()
    with pytest.raises(DataError, match="damaged: out-of-range key derivation"):
        loads(tampered(1 << 20, 64, 64), passphrase="pw")  # the old bounds: 101 s, 1 GiB
    with pytest.raises(DataError, match="out-of-range"):
        loads(tampered(128 * 1024, 6), passphrase="pw")  # each within bounds, 4x the work
    assert time.monotonic() - start < 0.5


def test_a_damaged_header_is_bad_data_even_without_a_passphrase() -> None:
    data = encrypt(b"payload", "xml", "pw", CHEAP)
    for damaged in (data[: HEADER_SIZE - 5], data[:HEADER_SIZE], tampered(1 << 20, 64)):
        with pytest.raises(DataError, match="damaged"):
            loads(damaged)  # not "a passphrase is needed"
