"""Hostile input files, through the installed ``tapconvert`` in a subprocess.

Each case must end with exit 65 and one line on stderr, within a bounded time and memory,
and leave nothing behind. The files are built here: pickle opcodes for the TAP bombs, a
real encrypted file with its header changed for the ``.etap`` cases.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from appcore import Application, Service, dumps
from appcore.persist._crypto import HEADER_SIZE, KdfCost, encrypt

pytestmark = pytest.mark.timeout(120)

SCRIPT = shutil.which("tapconvert", path=str(Path(sys.executable).parent)) or "tapconvert"
TAG = b"appcore-tap/1"
CHEAP = KdfCost(memory_kib=1024, iterations=1, lanes=1)

# Runs tapconvert and reports its exit code, stderr, wall time and peak RSS: the peak of the
# waited children of this small wrapper is tapconvert's alone.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
done = subprocess.run(sys.argv[1:], stdin=sys.stdin, capture_output=True, timeout=100)
print(json.dumps({
    "code": done.returncode,
    "stderr": done.stderr.decode("utf-8", "replace"),
    "seconds": time.monotonic() - start,
    "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def measure(
    *args: str, env: dict[str, str] | None = None, stdin: int | None = None
) -> dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TAPCONVERT_", "APPCORE_"))}
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, SCRIPT, *args],
        stdin=stdin,
        capture_output=True,
        timeout=110,
        env=environ,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def refused(result: dict[str, Any]) -> bool:
    """Exit 65 with exactly one line, a tapconvert error."""
    stderr: str = result["stderr"]
    return (
        result["code"] == 65 and stderr.count("\n") == 1 and stderr.startswith("tapconvert: error:")
    )


def tap_of(root: bytes) -> bytes:
    head = pickle.PROTO + b"\x04" + pickle.SHORT_BINUNICODE + bytes([len(TAG)]) + TAG
    return head + pickle.EMPTY_DICT + root + pickle.TUPLE3 + pickle.STOP


def shared_tuples(depth: int) -> bytes:
    """Tuples nested ``depth`` deep, each holding the one below twice (DUP, TUPLE2)."""
    return tap_of(pickle.NONE + (pickle.DUP + pickle.TUPLE2) * depth)


def application_bomb(depth: int) -> bytes:
    """An Application holding the same tuples, pickled by the TAP writer (sharing kept)."""
    shared: object = None
    for _ in range(depth):
        shared = (shared, shared)
    app = Application("bomb")
    app.settings = shared  # type: ignore[attr-defined]
    return dumps(app, "pickle")


@pytest.mark.parametrize("target", ["source", "xml"])
@pytest.mark.parametrize("depth", [21, 40])
@pytest.mark.parametrize("holder", ["bare", "application"])
def test_shared_structure_bombs_are_refused(
    tmp_path: Path, holder: str, depth: int, target: str
) -> None:
    bomb = tmp_path / "bomb.tap"
    bomb.write_bytes(shared_tuples(depth) if holder == "bare" else application_bomb(depth))
    assert len(bomb.read_bytes()) < 400
    result = measure("-i", str(bomb), "-o", str(tmp_path / "out"), "-t", target)
    assert refused(result), result
    if holder == "application":
        assert "shares tuples" in result["stderr"]
    else:  # a bare tuple is no application: refused before anything is written out
        assert "holds a tuple, not an application" in result["stderr"]
    assert result["seconds"] < 10
    assert result["peak_mib"] < 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tap"]


def test_an_application_bomb_still_converts_to_tap(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tap"
    bomb.write_bytes(application_bomb(40))
    result = measure("-i", str(bomb), "-o", str(tmp_path / "copy.tap"), "-t", "pickle")
    assert result["code"] == 0, result  # TAP keeps the sharing: nothing to expand
    assert result["seconds"] < 10
    assert (tmp_path / "copy.tap").stat().st_size < 400


def test_a_memo_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "memo.tap"
    bomb.write_bytes(tap_of(pickle.NONE + pickle.LONG_BINPUT + (1 << 26).to_bytes(4, "little")))
    assert len(bomb.read_bytes()) == 26
    result = measure("-i", str(bomb), "-o", str(tmp_path / "out.tas"))
    assert refused(result), result
    assert "more memory than a file of 26 bytes" in result["stderr"]  # the ceiling, not a scan
    assert result["peak_mib"] < 100  # 1 GiB of memo table before
    assert result["seconds"] < 10


def tampered_etap(memory_kib: int, iterations: int, lanes: int) -> bytes:
    data = bytearray(encrypt(dumps(Application("secret")), "pickle", "pw", CHEAP))
    data[12:16] = memory_kib.to_bytes(4, "big")
    data[16:20] = iterations.to_bytes(4, "big")
    data[20] = lanes
    return bytes(data)


def test_tampered_kdf_parameters_are_refused_within_a_second(tmp_path: Path) -> None:
    etap = tmp_path / "app.etap"
    etap.write_bytes(tampered_etap(1 << 20, 64, 64))  # the old maximum: 101 s and 1 GiB
    secret = tmp_path / "pass.txt"
    secret.write_text("pw\n")
    result = measure("-i", str(etap), "-o", str(tmp_path / "out.tas"), "--passphrase-file",
                     str(secret))  # fmt: skip
    assert refused(result), result
    assert "damaged: out-of-range key derivation parameters" in result["stderr"]
    assert result["seconds"] < 1
    assert result["peak_mib"] < 100


def test_a_tampered_header_is_damaged_before_any_passphrase_is_asked_for(tmp_path: Path) -> None:
    etap = tmp_path / "app.etap"
    etap.write_bytes(tampered_etap(1 << 20, 64, 64))
    result = measure("-i", str(etap), "-o", str(tmp_path / "out.tas"))  # no passphrase source
    assert refused(result), result
    assert "damaged: out-of-range key derivation parameters" in result["stderr"]


def test_a_truncated_header_is_damaged_not_a_missing_passphrase(tmp_path: Path) -> None:
    whole = encrypt(dumps(Application("secret")), "pickle", "pw", CHEAP)
    secret = tmp_path / "pass.txt"
    secret.write_text("pw\n")
    for cut in (HEADER_SIZE - 9, HEADER_SIZE + 3):
        etap = tmp_path / "app.etap"
        etap.write_bytes(whole[:cut])
        result = measure("-i", str(etap), "-o", str(tmp_path / "o.tas"), "--passphrase-file",
                         str(secret))  # fmt: skip
        assert refused(result), result
        assert "damaged: it is truncated" in result["stderr"]


def broken_tree(case: str) -> object:
    app = Application("app")
    leaf = Service("leaf")
    leaf.set_service_parent(app)
    if case == "own parent":
        leaf.parent = leaf
    elif case == "in its own services":
        app.services.append(app)
    elif case == "wrong type":
        app.uid = "root"  # type: ignore[assignment]
    elif case == "long integer":
        leaf.port = 10**5000  # type: ignore[attr-defined]
    return app


@pytest.mark.parametrize(
    "case", ["own parent", "in its own services", "wrong type", "long integer"]
)
@pytest.mark.parametrize("target", ["source", "xml"])
def test_structurally_broken_files_are_bad_data(tmp_path: Path, case: str, target: str) -> None:
    path = tmp_path / "app.tap"
    path.write_bytes(dumps(broken_tree(case)))
    result = measure("-i", str(path), "-o", str(tmp_path / "out"), "-t", target)
    assert refused(result), result
    assert "internal error" not in result["stderr"]


def test_an_endless_device_is_refused_at_the_input_limit(tmp_path: Path) -> None:
    result = measure("-i", "/dev/zero", "-o", str(tmp_path / "o.tas"),
                     env={"APPCORE_MAX_INPUT": "4M"})  # fmt: skip
    assert refused(result), result
    assert "/dev/zero is larger than the 4 MiB input limit" in result["stderr"]
    assert result["peak_mib"] < 100


def test_stdin_past_the_limit_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "zeros"
    source.write_bytes(b"\0" * (6 << 20))
    with source.open("rb") as stdin:
        result = measure(
            "-i", "-", "-o", "-", env={"APPCORE_MAX_INPUT": "4M"}, stdin=stdin.fileno()
        )
    assert refused(result), result
    assert "<stdin> is larger than the 4 MiB input limit" in result["stderr"]


def test_a_file_past_the_default_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.tap"
    with huge.open("wb") as handle:
        handle.truncate((1 << 30) + 1)  # sparse: one byte past 1 GiB, nothing on disk
    start = time.monotonic()
    result = measure("-i", str(huge), "-o", str(tmp_path / "o.tas"))
    assert refused(result), result
    assert "larger than the 1 GiB input limit (set $APPCORE_MAX_INPUT" in result["stderr"]
    assert time.monotonic() - start < 10
    assert result["peak_mib"] < 100
