"""Fixtures for twistd's tests; the helpers live in ``twistd_test_support``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# --import-mode=importlib does not put the test folder on sys.path; the helpers need it.
sys.path.insert(0, str(Path(__file__).parent))

from twistd_test_support import free_port, process_gone


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    """A temporary folder every user can reach (pytest's own sit in a 0700 folder of root's),
    for tests that drop privileges and must still find their files."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="twistd-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def daemons() -> Iterator[list[int]]:
    """Pids of daemons a test started; any still alive at the end are killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if not process_gone(pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


@pytest.fixture
def foreground() -> Iterator[list[subprocess.Popen[str]]]:
    """Foreground twistd processes a test started; any still running are killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
