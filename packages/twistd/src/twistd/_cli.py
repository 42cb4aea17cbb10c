"""The ``twistd`` command line: a fast path for starting servers, typer for everything else.

A server start parses argv with :func:`twistd._config.parse_argv` and never imports typer:
typer (with click and rich) would cost about 50 ms of a start-up budget under 100 ms.
``--help``, ``--version``, ``--help-reactors`` and any command line the fast parser cannot
read go to the typer command, which is built from the same option table and reports
usage errors (exit 64) the way every tool of the project does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from appcore import AppcoreError, ExitCode, UsageError, error_line

from ._config import FLAGS, NeedsFullParser, RunConfig, build_config, parse_argv

if TYPE_CHECKING:
    import typer

PROG = "twistd"
DEBUG_FLAGS = ("-b", "--debug")

DESCRIPTION = """Run an application as a well-behaved Unix daemon.

The application comes from a file (-f TAP, -x TAX, -s TAS, -y Python) or from a server type
and its options (twistd web --path ./site; twistd NAME --help shows NAME's options).
"""


def _server_types_epilog() -> str:
    """The server types ``twistd NAME`` can run here, and the known ones not installed."""
    from appcore import discover_service_makers, missing_server_types

    found = discover_service_makers()
    lines = ["\b", "Server types (twistd NAME --help shows NAME's options):"]
    for name, maker in sorted(found.makers.items()):
        lines.append(f"  {name:<12} {maker.description}")
    for error in found.errors:
        if error.name not in found.makers:
            lines.append(f"  {error.name:<12} BROKEN: {error.message}")
    for name, install in sorted(missing_server_types().items()):
        lines.append(f"  {name:<12} not installed: {install}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run twistd with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        values, positional = parse_argv(args)
    except NeedsFullParser:
        from appcore import run_cli

        return run_cli(build_app(), args, prog_name=PROG, debug_flags=DEBUG_FLAGS)
    return _guarded(values, positional, debug=bool(values.get("debug")))


def _guarded(values: dict[str, Any], positional: Sequence[str], *, debug: bool) -> int:
    """The fast path's half of :func:`appcore.run_cli`: one-line errors and exit codes."""
    debug = debug or os.environ.get("APPCORE_DEBUG", "") not in ("", "0")
    try:
        return _start(build_config(values, positional))
    except AppcoreError as err:
        if debug:
            _print_traceback()
        error_line(PROG, err.message)
        return int(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as err:  # a bug: keep the one-line promise, traceback only on request
        if debug:
            _print_traceback()
        error_line(PROG, f"internal error: {type(err).__name__}: {err} (rerun with --debug)")
        return int(ExitCode.SOFTWARE)


def _print_traceback() -> None:
    import traceback

    traceback.print_exc()


def _start(config: RunConfig) -> int:
    from ._run import run

    return run(config)


def console_main() -> NoReturn:
    """The ``twistd`` console script.

    Exits with ``os._exit`` once output is flushed: tearing down an interpreter that holds
    a large application (100,000 services) costs more than the whole orderly shutdown.
    """
    code = main()
    _flush_and_exit(code)


def _flush_and_exit(code: int) -> NoReturn:
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _show_reactors(value: bool) -> None:
    if not value:
        return
    import typer

    from appcore import loop_kinds

    for kind in loop_kinds():
        mark = "" if kind.available else "  (not installed)"
        sys.stdout.write(f"  {kind.name:10} {kind.description}{mark}\n")
    raise typer.Exit(0)


def build_app() -> typer.Typer:
    """The typer application: the full parser, help and version."""
    import inspect

    import typer

    from appcore import version_callback

    app = typer.Typer(
        add_completion=False,
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "allow_interspersed_args": False,
            "help_option_names": ["-h", "--help"],
        },
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "plugin",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=typer.Argument(
                None,
                metavar="SERVER_TYPE [ARGS]...",
                show_default=False,
                help="A server type to run, followed by its own options.",
            ),
            annotation=str | None,
        ),
    ]
    for flag in FLAGS:
        decls = [flag.long] + ([f"-{flag.short}"] if flag.short else [])
        if flag.takes_value:
            info = typer.Option(
                flag.default,
                *decls,
                help=flag.help,
                metavar=flag.metavar,
                show_default=flag.default is not None,
            )
            annotation: Any = str | None
        else:
            info = typer.Option(False, *decls, help=flag.help)
            annotation = bool
        params.append(
            inspect.Parameter(
                flag.dest, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation
            )
        )
    params.append(
        inspect.Parameter(
            "help_reactors",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(
                False,
                "--help-reactors",
                is_eager=True,
                callback=_show_reactors,
                help="List the event loops and exit.",
            ),
        )
    )
    params.append(
        inspect.Parameter(
            "version",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(
                False,
                "--version",
                is_eager=True,
                callback=version_callback(PROG),
                help="Show the version and exit.",
            ),
        )
    )

    def twistd(ctx: typer.Context, plugin: str | None, **values: Any) -> int:
        values.pop("help_reactors", None)
        values.pop("version", None)
        values = {k: v for k, v in values.items() if v is not None and v is not False}
        if plugin is not None and plugin.startswith("-") and plugin != "-":
            raise UsageError(f"no such option: {plugin}")
        positional = [plugin, *ctx.args] if plugin is not None else list(ctx.args)
        return _start(build_config(values, positional))

    twistd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    # Real objects, not the strings ``from __future__ import annotations`` leaves behind.
    twistd.__annotations__ = {p.name: p.annotation for p in params}
    twistd.__doc__ = DESCRIPTION
    app.command(epilog=_server_types_epilog())(twistd)
    return app
