"""The CLI boundary: one-line errors, exit codes, --debug tracebacks, --version."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer

from appcore import (
    DataError,
    ExitCode,
    NoInputError,
    UnavailableError,
    new_event_loop,
    run_cli,
    version_callback,
)


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    def main(
        what: Annotated[str, typer.Argument()] = "ok",
        count: Annotated[int, typer.Option("--count")] = 1,
        debug: Annotated[bool, typer.Option("--debug")] = False,
        version: Annotated[
            bool, typer.Option("--version", callback=version_callback("appcore"), is_eager=True)
        ] = False,
    ) -> None:
        if what == "data":
            raise DataError("file.tax: line 3: unknown class 'os:system'")
        if what == "missing":
            raise NoInputError("nothing.tap: No such file or directory")
        if what == "multi":
            raise UnavailableError("first line\nsecond line")
        if what == "bug":
            raise RuntimeError("boom")
        if what == "loop":
            new_event_loop("kqueue-on-linux")
        typer.echo(f"{what} x{count}")

    return app


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(make_app(), list(argv), prog_name="tool")
    out, err = capsys.readouterr()
    return code, out, err


def test_success_returns_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "hello", "--count", "3") == (0, "hello x3\n", "")


@pytest.mark.parametrize(
    ("what", "code", "text"),
    [
        ("data", ExitCode.DATAERR, "unknown class 'os:system'"),
        ("missing", ExitCode.NOINPUT, "No such file"),
        ("multi", ExitCode.UNAVAILABLE, "first line second line"),
        ("loop", ExitCode.UNAVAILABLE, "unknown event loop 'kqueue-on-linux'; available: asyncio"),
    ],
)
def test_domain_errors_are_one_line_with_their_code(
    capsys: pytest.CaptureFixture[str], what: str, code: int, text: str
) -> None:
    got, out, err = run(capsys, what)
    assert got == code
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("tool: error: ")
    assert text in err
    assert "Traceback" not in err


def test_usage_error_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "x", "--count", "many")
    assert code == ExitCode.USAGE
    assert err.startswith("tool: error: ")
    assert "--count" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_unknown_option_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--no-such-option")
    assert code == ExitCode.USAGE
    assert "--no-such-option" in err


def test_bug_is_one_line_without_debug(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bug")
    assert code == ExitCode.SOFTWARE
    assert err.count("\n") == 1
    assert "RuntimeError: boom" in err


def test_debug_flag_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bug", "--debug")
    assert code == ExitCode.SOFTWARE
    assert "Traceback (most recent call last)" in err


def test_version_prints_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out == f"appcore {version('appcore')}\n"
