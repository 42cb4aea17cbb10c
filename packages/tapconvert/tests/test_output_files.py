"""Hostile and odd outputs: links, FIFOs and devices at -o, killed saves, a closed stdout."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appcore import Application, MultiService, Service, dumps, load_file

SCRIPT = shutil.which("tapconvert", path=str(Path(sys.executable).parent)) or "tapconvert"

pytestmark = pytest.mark.timeout(60)

# A save that stops midway and waits: a TAS save streams into its temporary file, and one
# object's state is asked for only once a line arrives on stdin.
_PAUSED_SAVE = """
import sys
from appcore import Application, Persistent, save_application

class Pause(Persistent):
    def __getstate__(self):
        print("writing", flush=True)
        sys.stdin.readline()
        return {}

app = Application("paused")
app.pause = Pause()
save_application(app, sys.argv[1], format="source")
"""


def convert(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SCRIPT, *args], capture_output=True, timeout=60, check=False)


@pytest.fixture
def tap(tmp_path: Path) -> Path:
    app = Application("conv")
    Service("one").set_service_parent(app)
    path = tmp_path / "conv.tap"
    path.write_bytes(dumps(app, "pickle"))
    return path


@pytest.fixture
def big_tap(tmp_path: Path) -> Path:
    """An application whose XML is far larger than a pipe's buffer (64 KiB)."""
    app = Application("big")
    group = MultiService("group")
    for i in range(3000):
        Service(f"service-{i}").set_service_parent(group)
    group.set_service_parent(app)
    path = tmp_path / "big.tap"
    path.write_bytes(dumps(app, "pickle"))
    return path


def _refused(done: subprocess.CompletedProcess[bytes], out: Path, kind: str) -> None:
    assert done.returncode == 73, done.stderr
    assert done.stderr == (
        f"tapconvert: error: cannot write {out}: it is {kind}, not a regular file\n".encode()
    )
    # Nothing was left behind either: no temporary file next to it.
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_output_onto_a_symbolic_link_is_refused(tap: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out.tas"
    out.symlink_to(victim)
    _refused(convert("-i", str(tap), "-o", str(out)), out, "a symbolic link")
    assert out.is_symlink()
    assert victim.read_text() == "precious\n"


def test_output_onto_a_fifo_is_refused(tap: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tas"
    os.mkfifo(out)
    _refused(convert("-i", str(tap), "-o", str(out)), out, "a FIFO")
    assert stat.S_ISFIFO(os.lstat(out).st_mode)


def test_output_onto_a_device_node_is_refused(tap: Path, tmp_path: Path) -> None:
    out = tmp_path / "null"
    try:
        os.mknod(out, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    _refused(convert("-i", str(tap), "-o", str(out)), out, "a character device")
    assert stat.S_ISCHR(os.lstat(out).st_mode)


def test_output_onto_a_directory_is_refused(tap: Path, tmp_path: Path) -> None:
    out = tmp_path / "folder.tas"
    out.mkdir()
    _refused(convert("-i", str(tap), "-o", str(out)), out, "a directory")


@pytest.fixture
def paused_saves() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _start_paused_save(procs: list[subprocess.Popen[str]], out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_SAVE, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "writing\n"
    return proc


def _temps(folder: Path, out: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{out.name}."))


def test_next_save_removes_what_a_killed_save_left(
    tap: Path, tmp_path: Path, paused_saves: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "out.tas"
    left: list[str] = []
    for _ in range(2):  # saves killed midway, as SIGKILL or the OOM killer would
        proc = _start_paused_save(paused_saves, out)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        left.append(next(n for n in _temps(tmp_path, out) if n not in left))
    # The second save already removed what the first left.
    assert _temps(tmp_path, out) == [left[1]]
    done = convert("-i", str(tap), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert _temps(tmp_path, out) == []
    assert load_file(out).name == "conv"


def test_next_save_keeps_the_file_of_a_save_still_running(
    tap: Path, tmp_path: Path, paused_saves: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "out.tas"
    alive = _start_paused_save(paused_saves, out)
    (running,) = _temps(tmp_path, out)
    done = convert("-i", str(tap), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert _temps(tmp_path, out) == [running]
    # The slower save still completes, over the faster one's file.
    assert alive.stdin is not None
    alive.stdin.write("go on\n")
    alive.stdin.flush()
    assert alive.wait(10) == 0
    assert _temps(tmp_path, out) == []
    assert b"paused" in out.read_bytes()


def _into_pipe(args: list[str], *, read_first: int) -> subprocess.CompletedProcess[bytes]:
    """Run tapconvert with stdout into a pipe whose reader closes after ``read_first`` bytes."""
    read_end, write_end = os.pipe()
    try:
        if read_first == 0:
            os.close(read_end)
            read_end = -1
        proc = subprocess.Popen([SCRIPT, *args], stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
        write_end = -1
        if read_end >= 0:
            got = b""
            deadline = time.monotonic() + 30
            while len(got) < read_first and time.monotonic() < deadline:
                got += os.read(read_end, read_first - len(got))
            assert got.startswith(b"<?xml")
            os.close(read_end)
            read_end = -1
        _, stderr = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode, b"", stderr)
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)


@pytest.mark.parametrize("read_first", [0, 10], ids=["closed-before", "closed-midway"])
def test_stdout_whose_reader_left_is_exit_74(big_tap: Path, read_first: int) -> None:
    done = _into_pipe(["-i", str(big_tap), "-o", "-", "-t", "xml"], read_first=read_first)
    assert done.returncode == 74, done.stderr
    assert done.stderr == b"tapconvert: error: cannot write to stdout: its reader closed the pipe\n"
