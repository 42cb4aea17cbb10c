"""The tapconvert command line: read one Application file, write it in another format."""

from __future__ import annotations

import enum
import os
import select
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from appcore import (
    EXTENSIONS,
    DataError,
    IOFailure,
    NoInputError,
    UsageError,
    run_cli,
    version_callback,
)

from ._progress import Progress

PASSPHRASE_ENV = "TAPCONVERT_PASSPHRASE"
_STDOUT_CHUNK = 1 << 20


class TypeIn(enum.StrEnum):
    guess = "guess"
    pickle = "pickle"
    xml = "xml"
    source = "source"


class TypeOut(enum.StrEnum):
    pickle = "pickle"
    xml = "xml"
    source = "source"


app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None)


@app.command()
def convert(
    infile: Annotated[
        str, typer.Option("-i", "--in", help="The file to read ('-' for stdin).", metavar="FILE")
    ],
    outfile: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--out",
            help="The file to write ('-' for stdout). Default: the input name with the new "
            "extension.",
            metavar="FILE",
        ),
    ] = None,
    typein: Annotated[
        TypeIn, typer.Option("-f", "--typein", help="The input format.")
    ] = TypeIn.guess,
    typeout: Annotated[
        TypeOut, typer.Option("-t", "--typeout", help="The output format.")
    ] = TypeOut.source,
    decrypt: Annotated[
        bool, typer.Option("-d", "--decrypt", help="The input is encrypted.")
    ] = False,
    encrypt: Annotated[
        bool, typer.Option("-e", "--encrypt", help="Encrypt the output with a passphrase.")
    ] = False,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            help=f"Read the passphrase from the first line of FILE (else ${PASSPHRASE_ENV}, "
            "else a prompt).",
            metavar="FILE",
        ),
    ] = None,
    trust_source: Annotated[
        bool,
        typer.Option("--trust-source", help="Run hand-written code in a TAS input (it is Python)."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version",
            callback=version_callback("tapconvert"),
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = None,
) -> int:
    """Convert an Application file between TAP (pickle), TAX (XML) and TAS (Python source).

    The output is replaced atomically; nothing is written when reading or converting fails.
    An output path that exists must be a regular file: a symbolic link, FIFO or device is
    refused (exit 73); use '-o -' for stdout.
    """
    import appcore

    progress = Progress()
    data = _read(infile, progress)
    encrypted = decrypt or appcore.sniff_format(data) in (
        ("pickle", True),
        ("xml", True),
        ("source", True),
    )
    passphrase_in = _passphrase(passphrase_file, confirm=False) if encrypted else None
    progress.phase("decoding")
    fmt = typein.value
    if fmt == "guess" and infile != "-":
        named = appcore.format_from_path(infile)
        if named is not None:
            found = appcore.sniff_format(data)
            if found is not None and found[0] != named[0]:
                raise DataError(f"{infile} holds {found[0]} data, not {named[0]} as named")
            fmt = named[0]
    name = "<stdin>" if infile == "-" else infile
    root = appcore.loads(
        data,
        fmt,  # type: ignore[arg-type]
        passphrase=passphrase_in,
        trusted=trust_source,
        filename=name,
    )
    del data
    appcore.validate_tree(root, name)  # what twistd would refuse to run is refused here too
    passphrase_out = None
    if encrypt:
        passphrase_out = passphrase_in or _passphrase(passphrase_file, confirm=True)
    progress.phase("encoding")
    out = appcore.dumps(root, typeout.value, passphrase=passphrase_out)
    target = outfile if outfile is not None else _default_output(infile, typeout.value, encrypt)
    progress.phase("writing")
    if target == "-":
        _write_stdout(out)
    else:
        appcore.write_atomic(target, out, private=encrypt)
    progress.done()
    return 0


def _write_stdout(data: bytes) -> None:
    """All of ``data`` to stdout, or :class:`IOFailure` (exit 74).

    Written with ``os.write`` in a loop: a buffered write into a pipe whose reader left
    midway may report success for the part the pipe took and lose the rest.
    """
    sys.stdout.flush()
    fd = sys.stdout.fileno()
    view = memoryview(data)
    try:
        while view:
            try:
                written = os.write(fd, view[:_STDOUT_CHUNK])
            except BlockingIOError:  # stdout was left non-blocking by whoever gave it to us
                select.select([], [fd], [])
                continue
            view = view[written:]
    except OSError as err:
        # Nothing more can reach stdout; the interpreter's last flush must not complain.
        _stdout_to_devnull()
        if isinstance(err, BrokenPipeError):
            raise IOFailure("cannot write to stdout: its reader closed the pipe") from None
        raise IOFailure(f"cannot write to stdout: {err.strerror or err}") from None


def _stdout_to_devnull() -> None:
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, sys.stdout.fileno())
    except OSError:
        pass
    finally:
        os.close(null)


def _read(infile: str, progress: Progress) -> bytes:
    from appcore import read_input, read_stream

    if infile == "-":
        progress.phase("reading stdin")
        return read_stream(sys.stdin.buffer, "<stdin>")
    path = Path(infile)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    progress.start(size)
    progress.phase("reading")
    return read_input(path)


def _default_output(infile: str, fmt: str, encrypted: bool) -> str:
    if infile == "-":
        return "-"
    extensions: dict[str, str] = {str(k): v for k, v in EXTENSIONS.items()}
    extension = ("e" if encrypted else "") + extensions[fmt]
    return str(Path(infile).with_suffix(f".{extension}"))


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    if passphrase_file is not None:
        try:
            lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise NoInputError(
                f"cannot read the passphrase file {passphrase_file}: {err}"
            ) from None
        if not lines or not lines[0]:
            raise UsageError(f"the passphrase file {passphrase_file} is empty")
        return lines[0]
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not _has_terminal():
        raise UsageError(
            f"a passphrase is needed: use --passphrase-file or ${PASSPHRASE_ENV} "
            "(no terminal to ask on)"
        )
    import getpass

    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise UsageError("the passphrases do not match")
    if not first:
        raise UsageError("the passphrase is empty")
    return first


def _has_terminal() -> bool:
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run tapconvert with ``argv`` (default: the process arguments); return the exit code."""
    return run_cli(app, argv, prog_name="tapconvert", debug_flags=("--debug",))


def console_main() -> NoReturn:
    """The console script entry point."""
    sys.exit(main())
