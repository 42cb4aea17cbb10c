"""The ``mktap`` command line: generic options, then one command per server type.

The typer app is built from plugin discovery: every server type becomes a command whose
options come from its :class:`appcore.Options` declaration (so ``mktap TYPE --help`` shows
them with their defaults, and shells complete them); a broken plugin becomes a command that
only reports why it is broken. ``mktap --help TYPE`` is rewritten to ``mktap TYPE --help``.
"""

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from appcore import UnavailableError, UsageError, run_cli, version_callback

if TYPE_CHECKING:
    from appcore import ServiceMaker
    from appcore.service._tree import Format

PROG = "mktap"
DEBUG_FLAGS = ("-d", "--debug")
PASSPHRASE_ENV = "MKTAP_PASSPHRASE"
# Generic options that take a value: their value is not the server type's name.
_VALUED = frozenset(
    {"-t", "--type", "-a", "--append", "-u", "--uid", "-g", "--gid", "-n", "--appname"}
    | {"-o", "--output", "--passphrase-file"}
)

DESCRIPTION = """Make an Application file for a server type and its options.

Writes TYPE.tap (TYPE.tax with -t xml, TYPE.tas with -t source; .etap, .etax, .etas when
encrypted) in the current folder, or the file named by -o. Run it with twistd -f/-x/-s.
'mktap TYPE --help' (or 'mktap --help TYPE') shows a server type's options.
"""

EPILOG = (
    "Exit codes: 0 written; 64 bad usage or option value; 65 corrupt --append file; "
    "66 missing input file; 69 unknown or broken server type; 73/74/77 cannot write."
)


@dataclass
class _Generic:
    """The generic options, filled in by the group callback for the type's command."""

    format: "Format | None" = None
    append: Path | None = None
    uid: int | None = None
    gid: int | None = None
    appname: str | None = None
    encrypted: bool = False
    passphrase_file: Path | None = None
    progress: bool = False
    output: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _progress_line(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def read_passphrase(generic: _Generic, *, confirm: bool) -> str:
    """The passphrase from --passphrase-file, $MKTAP_PASSPHRASE or the terminal (no echo)."""
    if generic.passphrase_file is not None:
        from appcore import read_input

        text = read_input(generic.passphrase_file).decode("utf-8", "replace")
        passphrase = text.rstrip("\r\n")
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        import getpass

        passphrase = getpass.getpass("Passphrase: ")
        if confirm and getpass.getpass("Passphrase again: ") != passphrase:
            raise UsageError("the passphrases differ")
    else:
        raise UsageError(
            "--encrypted needs a passphrase: use --passphrase-file, "
            f"${PASSPHRASE_ENV} or a terminal"
        )
    if not passphrase:
        raise UsageError("the passphrase is empty")
    return passphrase


def _make(maker: "ServiceMaker", generic: _Generic, values: dict[str, Any]) -> None:
    from ._build import inspect_append_target, make_application

    append = inspect_append_target(generic.append) if generic.append is not None else None
    wants_passphrase = generic.encrypted or (append is not None and append.encrypted)
    passphrase = read_passphrase(generic, confirm=append is None) if wants_passphrase else None
    make_application(
        maker,
        values,
        format=generic.format,
        output=generic.output,
        append=append,
        uid=generic.uid,
        gid=generic.gid,
        process_name=generic.appname,
        passphrase=passphrase,
        progress=_progress_line if generic.progress else None,
    )


def _group_class() -> type[Any]:
    from typer.core import TyperGroup

    class ServerTypes(TyperGroup):
        """Unknown server types get appcore's error: closest names, exit 69."""

        def resolve_command(self, ctx: Any, args: list[str]) -> Any:
            if args and not args[0].startswith("-") and args[0] not in self.commands:
                from appcore import get_service_maker

                get_service_maker(args[0])  # raises, naming the closest types
            return super().resolve_command(ctx, args)

    return ServerTypes


def build_app() -> typer.Typer:
    """The typer app: generic options on the group, one command per server type."""
    from appcore import FORMATS, discover_service_makers, missing_server_types

    generic = _Generic()
    app = typer.Typer(
        name=PROG,
        help=DESCRIPTION,
        epilog=EPILOG,
        cls=_group_class(),
        no_args_is_help=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def complete_format(incomplete: str) -> list[str]:
        return [name for name in FORMATS if name.startswith(incomplete)]

    def parse_format(value: str) -> str:
        if value not in FORMATS:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(FORMATS)}")
        return value

    @app.callback()
    def generic_options(
        type_: Annotated[
            str | None,
            typer.Option(
                "--type",
                "-t",
                help="File format: pickle (.tap), xml (.tax) or source (.tas) [default: "
                "pickle, or the -o/-a file's]",
                metavar="[pickle|xml|source]",
                parser=parse_format,
                autocompletion=complete_format,
            ),
        ] = None,
        append: Annotated[
            Path | None,
            typer.Option(
                "--append",
                "-a",
                help="Add this server to an existing application file (kept in its format).",
                metavar="FILE",
            ),
        ] = None,
        uid: Annotated[
            str | None,
            typer.Option("--uid", "-u", help="User (name or number) to run as.", metavar="USER"),
        ] = None,
        gid: Annotated[
            str | None,
            typer.Option("--gid", "-g", help="Group (name or number) to run as.", metavar="GROUP"),
        ] = None,
        appname: Annotated[
            str | None,
            typer.Option("--appname", "-n", help="Process name to run under.", metavar="NAME"),
        ] = None,
        encrypted: Annotated[
            bool,
            typer.Option(
                "--encrypted",
                "-e",
                help=f"Encrypt the file with a passphrase (asked on the terminal, or "
                f"--passphrase-file, or ${PASSPHRASE_ENV}).",
            ),
        ] = False,
        passphrase_file: Annotated[
            Path | None,
            typer.Option(
                "--passphrase-file", help="Read the passphrase from FILE.", metavar="FILE"
            ),
        ] = None,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output", "-o", help="Write to FILE instead of TYPE.tap.", metavar="FILE"
            ),
        ] = None,
        progress: Annotated[
            bool, typer.Option("--progress", "-p", help="Report each step on stderr.")
        ] = False,
        debug: Annotated[
            bool, typer.Option("--debug", "-d", help="Show tracebacks on errors.")
        ] = False,
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                help="Show the version and exit.",
                callback=version_callback("mktap"),
                is_eager=True,
            ),
        ] = False,
    ) -> None:
        from ._build import resolve_gid, resolve_uid

        generic.format = type_  # type: ignore[assignment]  # checked by parse_format
        generic.append = append
        generic.uid = resolve_uid(uid) if uid is not None else None
        generic.gid = resolve_gid(gid) if gid is not None else None
        generic.appname = appname
        generic.encrypted = encrypted or passphrase_file is not None
        generic.passphrase_file = passphrase_file
        generic.output = output
        generic.progress = progress

    found = discover_service_makers()
    for _tapname, maker in sorted(found.makers.items()):
        _add_type(app, maker, generic)
    for error in found.errors:
        if error.name not in found.makers:
            _add_broken(app, error.name, error.message)
    for name, install in sorted(missing_server_types().items()):
        _add_missing(app, name, install)
    return app


def _add_type(app: typer.Typer, maker: "ServiceMaker", generic: _Generic) -> None:
    def made(values: dict[str, Any]) -> None:
        _make(maker, generic, values)

    command = maker.options.typer_command(made, help=maker.description)
    app.command(name=maker.tapname, help=maker.description, short_help=maker.description)(command)


def _add_broken(app: typer.Typer, name: str, message: str) -> None:
    def broken() -> None:
        raise UnavailableError(f"server type {name!r} is broken: {message}")

    reason = message if len(message) <= 100 else message[:97] + "..."
    app.command(
        name=name,
        help=f"BROKEN: {reason}",
        short_help=f"BROKEN: {reason}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(broken)


def _add_missing(app: typer.Typer, name: str, install: str) -> None:
    """A known server type whose distribution is not installed: listed, and named on use."""

    def missing() -> None:
        from appcore import get_service_maker

        get_service_maker(name)  # raises UnavailableError naming what to install

    app.command(
        name=name,
        help=f"NOT INSTALLED: {install}",
        short_help=f"NOT INSTALLED: {install}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(missing)


def _type_help_first(args: list[str]) -> list[str]:
    """``mktap [generic] --help TYPE ...`` becomes ``mktap [generic] TYPE --help``."""
    i = 0
    help_at: int | None = None
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args
        if arg in ("--help", "-h"):
            help_at = help_at if help_at is not None else i
        elif arg in _VALUED:
            i += 1
        elif not arg.startswith("-"):
            if help_at is None:
                return args
            rest = args[:help_at] + args[help_at + 1 :]
            position = i - 1
            return [*rest[: position + 1], "--help"]
        i += 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run mktap with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = _type_help_first(list(sys.argv[1:] if argv is None else argv))
    if not args and f"_{PROG.upper()}_COMPLETE" not in os.environ:
        from appcore import error_line

        error_line(PROG, f"no server type given (see '{PROG} --help')")
        return 64
    return run_cli(build_app(), args, prog_name=PROG, debug_flags=DEBUG_FLAGS)


def console_main() -> NoReturn:
    """The ``mktap`` console script."""
    sys.exit(main())
