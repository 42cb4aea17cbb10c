"""The command line: help, version, usage errors, and the two parsers agreeing."""

from __future__ import annotations

from pathlib import Path

import pytest

from twistd._cli import build_app
from twistd._config import FLAGS, NeedsFullParser, RunConfig, build_config, parse_argv
from twistd_test_support import run_twistd

pytestmark = pytest.mark.timeout(60)


def test_help_lists_every_option(tmp_path: Path) -> None:
    result = run_twistd(["--help"], tmp_path)
    assert result.returncode == 0
    for flag in FLAGS:
        assert flag.long in result.stdout
    assert "--help-reactors" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = run_twistd(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout == "twistd 0.1.0.dev0\n"


def test_help_reactors_marks_installed(tmp_path: Path) -> None:
    from appcore import loop_kinds

    result = run_twistd(["--help-reactors"], tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for kind in loop_kinds():
        (line,) = [line for line in lines if line.split()[0] == kind.name]
        assert ("(not installed)" in line) is (not kind.available)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "no such option: --bogus"),
        (["-n", "--umask", "9"], "invalid value for --umask: '9' is not an octal number"),
        ([], "no application given"),
        (["-y", "a.py", "-f", "b.tap"], "give one application, not several"),
        (["-e", "-y", "a.py"], "-e/--encrypted applies to -f, -x and -s files only"),
        (["--log-format", "xml", "-y", "a.py"], "invalid value for --log-format"),
        (["--profiler", "hotshot", "-y", "a.py"], "invalid value for --profiler"),
        (["--log-rotate-length", "0", "-y", "a.py"], "--log-rotate-length: '0'"),
        (["-y"], "-y"),
    ],
)
def test_usage_errors_are_one_line_exit_64(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_twistd(args, tmp_path)
    assert result.returncode == 64, result.stderr
    first, *rest = result.stderr.splitlines()
    assert first.startswith("twistd: error: ")
    assert message in first
    assert all(line.startswith("Try ") for line in rest)
    assert "Traceback" not in result.stderr


def test_unknown_server_type(tmp_path: Path) -> None:
    result = run_twistd(["-n", "no-such-type"], tmp_path)
    assert result.returncode == 69
    assert result.stderr.startswith("twistd: error: unknown server type 'no-such-type'")
    assert result.stderr.count("\n") == 1


def test_server_type_help(tmp_path: Path) -> None:
    result = run_twistd(["twistd-fixture", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--listen" in result.stdout
    assert "--stop-delay" in result.stdout


def test_bad_server_type_option(tmp_path: Path) -> None:
    result = run_twistd(["-n", "twistd-fixture", "--stop-delay", "soon"], tmp_path)
    assert result.returncode == 64
    assert result.stderr == (
        "twistd: error: twistd-fixture: invalid value for --stop-delay: "
        "expected a number, got 'soon'\n"
    )


def test_debug_shows_a_traceback(tmp_path: Path, port: int) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    quiet = run_twistd(["-n", "-y", str(bad)], tmp_path)
    loud = run_twistd(["-n", "-b", "-y", str(bad)], tmp_path)
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr
    assert loud.stderr.splitlines()[-1] == quiet.stderr.strip()
    del port


def test_python_module_entry(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "twistd", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == "twistd 0.1.0.dev0\n"


# --- the fast parser, in process


def test_short_flags_cluster_like_getopt() -> None:
    values, positional = parse_argv(["-noy", "app.py", "-lfoo.log"])
    assert values == {"nodaemon": True, "no_save": True, "python": "app.py", "logfile": "foo.log"}
    assert positional == []


def test_options_stop_at_the_server_type() -> None:
    values, positional = parse_argv(["-n", "--reactor=uvloop", "web", "--path", "./site", "-n"])
    assert values == {"nodaemon": True, "reactor": "uvloop"}
    assert positional == ["web", "--path", "./site", "-n"]
    config = build_config(values, positional)
    assert config.input_kind == "plugin"
    assert config.input == "web"
    assert config.plugin_args == ["--path", "./site", "-n"]
    assert not config.saves_on_shutdown


@pytest.mark.parametrize("args", [["--help"], ["-n", "--bogus"], ["-l"], ["--nodaemon=1"]])
def test_fast_parser_hands_over(args: list[str]) -> None:
    with pytest.raises(NeedsFullParser):
        parse_argv(args)


def test_config_defaults_and_conversions() -> None:
    config = build_config({"file": "a.tap", "umask": "022", "pidfile": ""}, [])
    assert isinstance(config, RunConfig)
    assert config.umask == 0o022
    assert config.pidfile == ""
    assert config.saves_on_shutdown
    assert config.reactor == "asyncio"
    assert build_config({"file": "a.tap", "no_save": True}, []).saves_on_shutdown is False


def test_typer_command_declares_exactly_the_table() -> None:
    import typer.main

    command = typer.main.get_command(build_app())
    declared = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    table = {flag.long for flag in FLAGS} | {f"-{flag.short}" for flag in FLAGS if flag.short}
    extras = {"--version", "--help-reactors"}  # --help/-h is the command's own, not a param
    assert declared - {"plugin"} == table | extras


def test_both_parsers_build_the_same_config(tmp_path: Path) -> None:
    """The typer path (taken for a malformed line) converts values exactly like the fast path."""
    import typer.main

    from twistd import _cli

    seen: list[RunConfig] = []
    original = _cli._start
    _cli._start = lambda config: seen.append(config) or 0  # type: ignore[func-returns-value]
    try:
        argv = ["-n", "-o", "--umask", "022", "-l", "-", "twistd-fixture", "--listen", "tcp:1"]
        values, positional = parse_argv(argv)
        fast = build_config(values, positional)
        command = typer.main.get_command(build_app())
        command.main(args=argv, prog_name="twistd", standalone_mode=False)
    finally:
        _cli._start = original
    (slow,) = seen
    assert _settings(slow) == _settings(fast)
    assert _settings(fast)["umask"] == 0o022


def _settings(config: RunConfig) -> dict[str, object]:
    names = ["input_kind", "input", "plugin_args", *(f.dest for f in FLAGS)]
    return {name: getattr(config, name) for name in names if hasattr(config, name)}


def test_a_server_start_never_imports_typer(tmp_path: Path, port: int) -> None:
    """The fast path's promise: typer (about 50 ms) loads only for help and bad input."""
    import signal
    import subprocess

    from twistd_test_support import TWISTD, twistd_env, wait_for_echo, write_echo_app

    app = write_echo_app(tmp_path, port)
    proc = subprocess.Popen(
        [str(TWISTD), "-n", "--pidfile", "", "-y", str(app)],
        cwd=tmp_path,
        env=twistd_env(PYTHONPROFILEIMPORTTIME="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_echo(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    imported = {line.split("|")[-1].strip() for line in err.splitlines() if "|" in line}
    assert "twistd._run" in imported
    assert not {name for name in imported if name.split(".")[0] in ("typer", "click", "rich")}
    assert "importlib.metadata" not in imported
