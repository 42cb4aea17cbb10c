"""The CLI boundary every tool shares: one-line errors, exit codes, ``--version``, ``--debug``.

A tool builds a typer app and exposes ``main(argv) -> int`` as::

    def main(argv: Sequence[str] | None = None) -> int:
        return run_cli(app, argv, prog_name="mktap", debug_flags=("-d", "--debug"))
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from appcore._errors import AppcoreError, ExitCode

if TYPE_CHECKING:
    import typer

DEBUG_ENV = "APPCORE_DEBUG"


def error_line(prog_name: str, message: str) -> None:
    """Write ``prog: error: message`` as one line on stderr."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{prog_name}: error: {one_line}\n")
    sys.stderr.flush()


def _wants_debug(argv: Sequence[str], debug_flags: Sequence[str]) -> bool:
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        return True
    args = list(argv)
    if "--" in args:
        args = args[: args.index("--")]
    return any(flag in args for flag in debug_flags)


def run_cli(
    app: typer.Typer,
    argv: Sequence[str] | None = None,
    *,
    prog_name: str,
    debug_flags: Sequence[str] = ("--debug",),
) -> int:
    """Run a typer app and map every outcome to an exit code.

    Domain errors print one line; usage errors exit 64; Ctrl-C exits 130; any other
    exception is a bug: one line naming it (exit 70), with the traceback under ``--debug``.
    """
    import typer
    import typer.main
    from click.exceptions import ClickException

    args = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args, debug_flags)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except AppcoreError as err:
        if debug:
            traceback.print_exc()
        error_line(prog_name, err.message)
        return int(err.exit_code)
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except ClickException as err:  # usage errors: bad option, missing argument, bad value
        if debug:
            traceback.print_exc()
        error_line(prog_name, f"{err.format_message()} (see '{prog_name} --help')")
        return int(ExitCode.USAGE)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write(f"{prog_name}: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (``| head``): not an error worth a traceback.
        _silence_stdout()
        return int(ExitCode.IOERR)
    except Exception as err:  # a bug: keep the one-line promise, traceback only on request
        if debug:
            traceback.print_exc()
        error_line(prog_name, f"internal error: {type(err).__name__}: {err} (rerun with --debug)")
        return int(ExitCode.SOFTWARE)
    if isinstance(result, int):
        return result
    return 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def version_callback(dist_name: str) -> Callable[[bool], None]:
    """A typer option callback printing ``dist_name X.Y.Z`` and exiting, for ``--version``."""

    def show(value: bool) -> None:
        if value:
            import typer

            sys.stdout.write(f"{dist_name} {distribution_version(dist_name)}\n")
            raise typer.Exit(0)

    return show


def distribution_version(dist_name: str) -> str:
    """The installed version of a distribution, or ``unknown`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist_name)
    except PackageNotFoundError:
        return "unknown"


def fail(error: AppcoreError) -> NoReturn:
    """Raise a domain error (a readable spelling inside typer commands)."""
    raise error
