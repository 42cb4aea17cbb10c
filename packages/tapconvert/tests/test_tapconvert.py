"""tapconvert, run as the installed console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appcore import (
    Application,
    EchoFactory,
    MultiService,
    StreamServerService,
    dumps,
    load_file,
    structurally_equal,
)

SCRIPT = shutil.which("tapconvert", path=str(Path(sys.executable).parent)) or "tapconvert"
EXT = {"pickle": "tap", "xml": "tax", "source": "tas"}


def run(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if k != "TAPCONVERT_PASSPHRASE"}
    environ.update(env or {})
    return subprocess.run(
        [SCRIPT, *args], input=stdin, capture_output=True, timeout=60, env=environ, check=False
    )


def build() -> Application:
    app = Application("conv")
    group = MultiService("group")
    group.set_service_parent(app)
    shared = EchoFactory()
    StreamServerService("tcp:8080", shared, name="a").set_service_parent(group)
    StreamServerService("tcp:8081", shared, name="b").set_service_parent(group)
    return app


@pytest.fixture
def tap(tmp_path: Path) -> Path:
    path = tmp_path / "conv.tap"
    path.write_bytes(dumps(build(), "pickle"))
    return path


@pytest.mark.parametrize("first", list(EXT))
@pytest.mark.parametrize("second", list(EXT))
def test_every_pair(tmp_path: Path, first: str, second: str) -> None:
    src = tmp_path / f"in.{EXT[first]}"
    src.write_bytes(dumps(build(), first))  # type: ignore[arg-type]
    out = tmp_path / f"out.{EXT[second]}"
    done = run("-i", str(src), "-o", str(out), "-t", second)
    assert done.returncode == 0, done.stderr
    assert structurally_equal(build(), load_file(out))


def test_default_output_name_and_type(tap: Path) -> None:
    done = run("-i", str(tap))
    assert done.returncode == 0, done.stderr
    assert structurally_equal(build(), load_file(tap.with_suffix(".tas")))


def test_stdin_to_stdout(tap: Path) -> None:
    done = run("-i", "-", "-o", "-", "-t", "xml", stdin=tap.read_bytes())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"<?xml")
    assert done.stderr == b""


def test_encrypt_then_decrypt(tap: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("s3cret\n")
    done = run("-i", str(tap), "-e", "-t", "xml", "--passphrase-file", str(secret))
    assert done.returncode == 0, done.stderr
    etax = tap.with_suffix(".etax")
    assert etax.exists()
    assert oct(etax.stat().st_mode & 0o777) == "0o600"
    done = run(
        "-i",
        str(etax),
        "-d",
        "-o",
        str(tmp_path / "back.tap"),
        "-t",
        "pickle",
        env={"TAPCONVERT_PASSPHRASE": "s3cret"},
    )
    assert done.returncode == 0, done.stderr
    assert structurally_equal(build(), load_file(tmp_path / "back.tap"))
    wrong = run("-i", str(etax), "-o", str(tmp_path / "x.tas"), env={"TAPCONVERT_PASSPHRASE": "no"})
    assert wrong.returncode == 65
    assert b"wrong passphrase" in wrong.stderr
    assert not (tmp_path / "x.tas").exists()
    missing = run("-i", str(etax), "-o", str(tmp_path / "y.tas"), stdin=b"")
    assert missing.returncode == 64
    assert not (tmp_path / "y.tas").exists()


BAD_INPUTS = {
    "truncated.tap": None,
    "bomb.tax": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
    b'<tax version="1"><str>&b;</str></tax>',
    "external.tax": b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY s SYSTEM "file:///etc/passwd">]>'
    b'<tax version="1"><str>&s;</str></tax>',
    "system.tax": b'<tax version="1"><object class="os:system" id="0"/></tax>',
    "syntax.tas": b"# appcore TAS 1\n_0 = make(\n",
    "code.tas": b"# appcore TAS 1\nimport os\napplication = os.getcwd()\n",
    "empty.tap": b"",
    "junk.tap": os.urandom(64),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_exit_65_and_writes_nothing(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    data = BAD_INPUTS[name]
    path.write_bytes(dumps(build(), "pickle")[:40] if data is None else data)
    out = tmp_path / "out.tax"
    done = run("-i", str(path), "-o", str(out), "-t", "xml")
    assert done.returncode == 65, done.stderr
    assert done.stderr.count(b"\n") == 1
    assert done.stderr.startswith(b"tapconvert: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_missing_input_is_66(tmp_path: Path) -> None:
    done = run("-i", str(tmp_path / "nope.tap"))
    assert done.returncode == 66
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_64(tap: Path) -> None:
    assert run().returncode in (0, 64)  # no arguments: help
    assert run("-i", str(tap), "-t", "yaml").returncode == 64
    assert run("--bogus").returncode == 64


def test_trust_source_runs_hand_written_code(tmp_path: Path) -> None:
    path = tmp_path / "hand.tas"
    text = dumps(build(), "source").decode() + "application.note = 'added by hand'\n"
    path.write_text(text)
    assert run("-i", str(path), "-t", "xml", "-o", str(tmp_path / "x.tax")).returncode == 65
    done = run("-i", str(path), "-t", "xml", "-o", str(tmp_path / "x.tax"), "--trust-source")
    assert done.returncode == 0, done.stderr
    assert load_file(tmp_path / "x.tax").note == "added by hand"  # type: ignore[attr-defined]


def test_python_dash_m_and_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tapconvert", "--version"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith(b"tapconvert ")
