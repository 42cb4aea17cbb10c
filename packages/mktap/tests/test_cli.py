"""The ``mktap`` console script, run as a subprocess exactly as a user runs it.

Server types come from appcore's entry points plus, through ``PYTHONPATH``, dropped-in
plugin modules: a working ``fixture`` type, a module that raises on import (a broken
plugin), and the admin types of appcore (telnet, inetd) for as long as they are not entry
points yet.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from appcore import Application, load_application

pytestmark = pytest.mark.timeout(60)

MKTAP = Path(sys.executable).parent / "mktap"

FIXTURE_PLUGIN = """\
from appcore import Option, Options, ServiceMaker

fixture = ServiceMaker(
    tapname="fixture",
    description="A fixture server type for mktap's tests.",
    options=Options(
        Option("port", int, default=7070, help="the port", short="P"),
        Option("mode", str, default="fast", choices=("fast", "slow"), help="how"),
    ),
    module="appcore_plugins.fixture_server",
    persistable_modules=("appcore",),
)
"""

FIXTURE_SERVER = """\
from appcore import EchoFactory, StreamServerService


def make_service(options):
    return StreamServerService(f"tcp:{options['port']}:interface=127.0.0.1", EchoFactory())
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    plugins = tmp_path / "plugins" / "appcore_plugins"
    plugins.mkdir(parents=True)
    (plugins / "fixture.py").write_text(FIXTURE_PLUGIN)
    (plugins / "fixture_server.py").write_text(FIXTURE_SERVER)
    (plugins / "kaputt.py").write_text("raise RuntimeError('this plugin is broken on purpose')\n")
    values = {k: v for k, v in os.environ.items() if k not in ("MKTAP_PASSPHRASE", "APPCORE_DEBUG")}
    values["PYTHONPATH"] = str(plugins.parent)
    values["COLUMNS"] = "200"
    return values


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def mktap(
    work: Path, env: dict[str, str], *args: str, input: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKTAP), *args],
        cwd=work,
        env={**env, **extra},
        capture_output=True,
        text=True,
        input=input,
        timeout=30,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mktap: error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --- help and discovery


def test_help_lists_every_type_with_its_description(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "--help")
    assert done.returncode == 0, done.stderr
    listing = done.stdout
    assert "echo" in listing
    assert "An echo server (RFC 862)" in listing
    assert "fixture" in listing
    assert "A fixture server type for mktap's tests." in listing
    # known server types whose distributions are not installed here are listed with the fix
    assert re.search(r"telnet\s+NOT INSTALLED: pip install appcore-manhole", listing)
    assert re.search(r"web\s+NOT INSTALLED: pip install appcore-web", listing)
    assert "kaputt" in listing
    assert "BROKEN" in listing
    assert "broken on purpose" in listing
    assert "--append" in listing
    assert "--encrypted" in listing
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("order", ["type-first", "help-first", "help-first-with-generic"])
def test_help_for_one_type_shows_options_and_defaults(
    work: Path, env: dict[str, str], order: str
) -> None:
    args = {
        "type-first": ["fixture", "--help"],
        "help-first": ["--help", "fixture"],
        "help-first-with-generic": ["-t", "xml", "--help", "fixture"],
    }[order]
    done = mktap(work, env, *args)
    assert done.returncode == 0, done.stderr
    assert "A fixture server type" in done.stdout
    assert "--port" in done.stdout
    assert "7070" in done.stdout
    assert "fast|slow" in done.stdout or "[default: fast]" in done.stdout
    assert list(work.iterdir()) == []


def test_version_and_python_m(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("mktap 0.")
    module = subprocess.run(
        [sys.executable, "-m", "mktap", "--help"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert module.returncode == 0
    assert "fixture" in module.stdout


def test_shell_completion_of_types(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, _MKTAP_COMPLETE="complete_bash", COMP_WORDS="mktap fix", COMP_CWORD="1")
    assert done.returncode == 0, done.stderr
    assert "fixture" in done.stdout


# --- making files


@pytest.mark.parametrize(("fmt", "ext"), [("pickle", "tap"), ("xml", "tax"), ("source", "tas")])
def test_each_format_writes_type_named_file(
    work: Path, env: dict[str, str], fmt: str, ext: str
) -> None:
    done = mktap(work, env, "-t", fmt, "-n", "proc-name", "fixture", "--port", "7171")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in work.iterdir()) == [f"fixture.{ext}"]
    app = load_application(work / f"fixture.{ext}")
    assert isinstance(app, Application)
    assert (app.name, app.process_name, app.persist_format) == ("fixture", "proc-name", fmt)
    (child,) = list(app)
    assert child.name == "fixture"
    assert child.endpoint.port == 7171  # type: ignore[attr-defined]


def test_output_uid_gid_and_default_format(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "-o", "custom.tax", "-u", "root", "-g", "0", "echo")
    assert done.returncode == 0, done.stderr
    app = load_application(work / "custom.tax")
    assert (app.uid, app.gid, app.persist_format) == (0, 0, "xml")
    done = mktap(work, env, "-u", "12345", "-o", "numbers.bin", "echo")
    assert done.returncode == 0, done.stderr
    assert load_application(work / "numbers.bin", format="pickle").uid == 12345


def test_encrypted_files_get_e_extensions(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "-e", "-t", "xml", "echo", MKTAP_PASSPHRASE="sesame")
    assert done.returncode == 0, done.stderr
    assert (work / "echo.etax").exists()
    assert b"sesame" not in (work / "echo.etax").read_bytes()
    assert load_application(work / "echo.etax", passphrase="sesame").name == "echo"
    secret = work.parent / "passphrase.txt"
    secret.write_text("from a file\n")
    done = mktap(work, env, "--passphrase-file", str(secret), "-t", "source", "echo")
    assert done.returncode == 0, done.stderr
    assert load_application(work / "echo.etas", passphrase="from a file").name == "echo"
    # No terminal and no passphrase source: refused, nothing written.
    done = mktap(work, env, "-e", "fixture", input="")
    one_line_error(done, 64, "passphrase")
    assert not (work / "fixture.etap").exists()


def test_progress_goes_to_stderr(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "-p", "echo")
    assert done.returncode == 0
    assert done.stdout == ""
    assert "making a echo service" in done.stderr or "making" in done.stderr
    assert "saving" in done.stderr


# --- appending


@pytest.mark.parametrize(("fmt", "ext"), [("pickle", "tap"), ("xml", "tax"), ("source", "tas")])
def test_append_keeps_everything_and_the_format(
    work: Path, env: dict[str, str], fmt: str, ext: str
) -> None:
    assert mktap(work, env, "-t", fmt, "-u", "0", "fixture", "-P", "7001").returncode == 0
    done = mktap(work, env, "-a", f"fixture.{ext}", "fixture", "-P", "7002")
    assert done.returncode == 0, done.stderr
    done = mktap(work, env, "--append", f"fixture.{ext}", "echo")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in work.iterdir()) == [f"fixture.{ext}"]
    app = load_application(work / f"fixture.{ext}")
    assert (app.name, app.uid, app.persist_format) == ("fixture", 0, fmt)
    assert [s.name for s in app] == ["fixture", "fixture-2", "echo"]
    ports = [s.endpoint.port for s in list(app)[:2]]  # type: ignore[attr-defined]
    assert ports == [7001, 7002]


def test_append_to_encrypted_file_and_to_another_output(work: Path, env: dict[str, str]) -> None:
    assert mktap(work, env, "-e", "echo", MKTAP_PASSPHRASE="pw").returncode == 0
    done = mktap(work, env, "-a", "echo.etap", "-o", "both.etap", "fixture", MKTAP_PASSPHRASE="pw")
    assert done.returncode == 0, done.stderr
    assert [s.name for s in load_application(work / "echo.etap", passphrase="pw")] == ["echo"]
    both = load_application(work / "both.etap", passphrase="pw")
    assert [s.name for s in both] == ["echo", "fixture"]
    done = mktap(work, env, "-a", "echo.etap", "fixture", MKTAP_PASSPHRASE="wrong")
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1


# --- bad input: one line, the right code, nothing written


def test_unknown_type_suggests_close_names(work: Path, env: dict[str, str]) -> None:
    one_line_error(mktap(work, env, "fixtur"), 69, "unknown server type 'fixtur'", "'fixture'")
    one_line_error(mktap(work, env, "-t", "xml", "ecoh"), 69, "'echo'")
    assert list(work.iterdir()) == []


def test_broken_plugin_reports_its_reason(work: Path, env: dict[str, str]) -> None:
    one_line_error(mktap(work, env, "kaputt"), 69, "broken", "broken on purpose")
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["fixture", "--port", "seven"],
        ["fixture", "--mode", "medium"],
        ["fixture", "--no-such-option"],
        ["fixture", "stray"],
        ["-t", "yaml", "fixture"],
        ["-u", "no-such-user-here", "fixture"],
        ["-g", "no-such-group-here", "fixture"],
        ["echo", "--listen", "carrier-pigeon:1"],
        ["-o", "out.tax", "-t", "pickle", "fixture"],
        ["-t"],
        [],
    ],
)
def test_invalid_usage_exits_64(work: Path, env: dict[str, str], args: list[str]) -> None:
    one_line_error(mktap(work, env, *args), 64)
    assert list(work.iterdir()) == []


def test_append_target_problems(work: Path, env: dict[str, str]) -> None:
    one_line_error(mktap(work, env, "-a", "missing.tap", "fixture"), 66, "missing.tap")
    (work / "corrupt.tap").write_bytes(b"\x80\x05 definitely not a pickle")
    one_line_error(mktap(work, env, "-a", "corrupt.tap", "fixture"), 65, "corrupt.tap")
    (work / "junk.tap").write_text("hello\n")
    one_line_error(mktap(work, env, "-a", "junk.tap", "fixture"), 65, "not a TAP")
    assert mktap(work, env, "-t", "xml", "-o", "real.tax", "echo").returncode == 0
    (work / "renamed.tap").write_bytes((work / "real.tax").read_bytes())
    one_line_error(mktap(work, env, "-a", "renamed.tap", "fixture"), 65, "xml")
    one_line_error(mktap(work, env, "-a", "real.tax", "-t", "pickle", "fixture"), 64, "xml")
    snapshot = {p.name: p.read_bytes() for p in work.iterdir()}
    one_line_error(mktap(work, env, "-a", "real.tax", "fixture", "--port", "x"), 64)
    assert {p.name: p.read_bytes() for p in work.iterdir()} == snapshot


def test_server_type_errors_keep_their_codes(work: Path, env: dict[str, str]) -> None:
    one_line_error(mktap(work, env, "fixture", "--port", "x"), 64, "--port")
    one_line_error(mktap(work, env, "echo", "--listen", "tcp:host=a:port=1"), 64, "host=a")
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    ("tapname", "install"),
    [("ftp", "pip install appcore-ftp"), ("ssh-manhole", "pip install 'appcore-manhole[ssh]'")],
)
def test_a_known_type_not_installed_names_its_distribution(
    work: Path, env: dict[str, str], tapname: str, install: str
) -> None:
    one_line_error(mktap(work, env, tapname, "--listen", "tcp:2121"), 69, install)
    assert list(work.iterdir()) == []


def test_unwritable_output_exits_73_or_77(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "-o", str(work / "no" / "such" / "folder.tap"), "echo")
    assert done.returncode in (73, 77), done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_debug_shows_a_traceback(work: Path, env: dict[str, str]) -> None:
    done = mktap(work, env, "-d", "-a", "missing.tap", "echo")
    assert done.returncode == 66
    assert "Traceback" in done.stderr
