"""twistd's options, declared once, and the argv parser of the fast path.

Every option is one :class:`Flag` in :data:`FLAGS`. Both parsers are derived from that
table: :func:`parse_argv` (a few dozen lines, used when twistd starts a server, because
importing typer alone costs about 50 ms of start-up) and the typer command in
:mod:`twistd._cli` (used for ``--help``, ``--version``, ``--help-reactors`` and for reporting
a malformed command line). Both hand the same string values to :func:`build_config`, so
they convert and check values identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from appcore import UsageError

InputKind = Literal["file", "xml", "source", "python", "plugin"]
LOG_FORMATS = ("text", "json")
PROFILERS = ("cprofile", "profile")


class Flag(NamedTuple):
    """One command-line option: its spellings, its key, and whether it takes a value."""

    dest: str
    long: str
    short: str | None = None
    takes_value: bool = True
    help: str = ""
    metavar: str = "TEXT"
    default: str | None = None


FLAGS: tuple[Flag, ...] = (
    Flag(
        "file", "--file", "f", help="Read the application from a TAP (pickle) file.", metavar="FILE"
    ),
    Flag("xml", "--xml", "x", help="Read the application from a TAX (XML) file.", metavar="FILE"),
    Flag(
        "source",
        "--source",
        "s",
        help="Read the application from a TAS (source) file.",
        metavar="FILE",
    ),
    Flag(
        "python",
        "--python",
        "y",
        help="Run a Python file that defines a variable named 'application'.",
        metavar="FILE",
    ),
    Flag(
        "encrypted",
        "--encrypted",
        "e",
        takes_value=False,
        help="The application file is encrypted: ask for its passphrase.",
    ),
    Flag(
        "passphrase_file",
        "--passphrase-file",
        help="Read the passphrase of an encrypted file from FILE (first line).",
        metavar="FILE",
    ),
    Flag(
        "reactor",
        "--reactor",
        "r",
        default="asyncio",
        help="The event loop to run on (see --help-reactors).",
        metavar="NAME",
    ),
    Flag(
        "nodaemon",
        "--nodaemon",
        "n",
        takes_value=False,
        help="Stay in the foreground (what systemd Type=notify wants).",
    ),
    Flag(
        "rundir",
        "--rundir",
        "d",
        default=".",
        help="Change to this directory before running.",
        metavar="DIR",
    ),
    Flag(
        "umask",
        "--umask",
        help="File creation mask, in octal [default: 077 as a daemon].",
        metavar="OCTAL",
    ),
    Flag(
        "pidfile",
        "--pidfile",
        default="twistd.pid",
        help="Pid file, relative to the run directory; empty disables it.",
        metavar="FILE",
    ),
    Flag(
        "logfile",
        "--logfile",
        "l",
        help="Log file ('-' for stdout) [default: twistd.log in the run directory as a daemon, "
        "stdout with -n].",
        metavar="FILE",
    ),
    Flag(
        "log_rotate_length",
        "--log-rotate-length",
        help="Rotate the log file when it reaches this many bytes.",
        metavar="BYTES",
    ),
    Flag(
        "log_rotate_daily",
        "--log-rotate-daily",
        takes_value=False,
        help="Rotate the log file at midnight.",
    ),
    Flag(
        "log_format",
        "--log-format",
        help="Log line format: text or json (one JSON object a line). Text on stdout takes "
        "the journal's format when systemd connects stdout to the journal.",
        metavar="[text|json]",
    ),
    Flag("syslog", "--syslog", takes_value=False, help="Log to syslog instead of a file."),
    Flag("prefix", "--prefix", default="twistd", help="The syslog identifier.", metavar="NAME"),
    Flag(
        "syslog_socket",
        "--syslog-socket",
        default="/dev/log",
        help="The syslog socket to send to.",
        metavar="PATH",
    ),
    Flag(
        "uid",
        "--uid",
        "u",
        help="Run as this user (name or number) after binding ports.",
        metavar="USER",
    ),
    Flag(
        "gid",
        "--gid",
        "g",
        help="Run as this group (name or number) after binding ports.",
        metavar="GROUP",
    ),
    Flag("chroot", "--chroot", help="Chroot to this directory before starting.", metavar="DIR"),
    Flag("euid", "--euid", takes_value=False, help="Change only the effective user and group ids."),
    Flag(
        "no_save",
        "--no_save",
        "o",
        takes_value=False,
        help="Do not save the application on shutdown.",
    ),
    Flag(
        "debug",
        "--debug",
        "b",
        takes_value=False,
        help="Debug mode: full tracebacks and debug-level logging.",
    ),
    Flag(
        "profile",
        "--profile",
        "p",
        help="Profile the run and write the statistics to FILE.",
        metavar="FILE",
    ),
    Flag(
        "profiler",
        "--profiler",
        default="cprofile",
        help="The profiler: cprofile or profile.",
        metavar="[cprofile|profile]",
    ),
)

_BY_SPELLING: dict[str, Flag] = {
    **{f.long: f for f in FLAGS},
    **{"-" + f.short: f for f in FLAGS if f.short},
}
# Spellings only the typer command answers; the fast parser hands such a command line over.
TYPER_ONLY = frozenset({"--help", "-h", "--version", "--help-reactors"})


class NeedsFullParser(Exception):
    """The command line asks for help or is malformed: let the typer command handle it."""


class RunConfig:
    """Everything one twistd run was asked to do.

    A plain class rather than a dataclass: generating a dataclass's methods at import
    costs about a millisecond, and this module is on every server start's path.
    """

    encrypted: bool = False
    passphrase_file: str | None = None
    reactor: str = "asyncio"
    nodaemon: bool = False
    rundir: str = "."
    umask: int | None = None
    pidfile: str = "twistd.pid"
    logfile: str | None = None
    log_rotate_length: int | None = None
    log_rotate_daily: bool = False
    log_format: str | None = None
    syslog: bool = False
    prefix: str = "twistd"
    syslog_socket: str = "/dev/log"
    uid: str | None = None
    gid: str | None = None
    chroot: str | None = None
    euid: bool = False
    no_save: bool = False
    debug: bool = False
    profile: str | None = None
    profiler: str = "cprofile"

    def __init__(self, input_kind: InputKind, input: str, plugin_args: Sequence[str] = ()) -> None:
        self.input_kind = input_kind
        self.input = input  # a path, or a server type's name
        self.plugin_args = list(plugin_args)

    def __repr__(self) -> str:
        return f"RunConfig({vars(self)!r})"

    @property
    def saves_on_shutdown(self) -> bool:
        """Only a loaded application file is saved back (never -y or a plugin)."""
        return not self.no_save and self.input_kind in ("file", "xml", "source")


def parse_argv(argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Split argv into option values (strings and True) and the plugin name plus its args.

    Options stop at the first positional argument: what follows belongs to the plugin,
    exactly like ``twistd web --port 8080``. Short flags cluster as with getopt
    (``-ny app.py``). Raises :class:`NeedsFullParser` for help requests and bad input.
    """
    values: dict[str, Any] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return values, args[i + 1 :]
        if not arg.startswith("-") or arg == "-":
            return values, args[i:]
        i += 1
        if arg in TYPER_ONLY:
            raise NeedsFullParser(arg)
        if arg.startswith("--"):
            spelling, eq, inline = arg.partition("=")
            flag = _BY_SPELLING.get(spelling)
            if flag is None or (eq and not flag.takes_value):
                raise NeedsFullParser(arg)
            if not flag.takes_value:
                values[flag.dest] = True
                continue
            if not eq:
                if i >= len(args):
                    raise NeedsFullParser(arg)
                inline = args[i]
                i += 1
            values[flag.dest] = inline
            continue
        for pos in range(1, len(arg)):  # a cluster of short options: -no, -ny FILE, -lFILE
            flag = _BY_SPELLING.get("-" + arg[pos])
            if flag is None:
                raise NeedsFullParser(arg)
            if not flag.takes_value:
                values[flag.dest] = True
                continue
            rest = arg[pos + 1 :]
            if not rest:
                if i >= len(args):
                    raise NeedsFullParser(arg)
                rest = args[i]
                i += 1
            values[flag.dest] = rest
            break
    return values, []


_INPUTS: tuple[InputKind, ...] = ("file", "xml", "source", "python")


def build_config(values: Mapping[str, Any], positional: Sequence[str]) -> RunConfig:
    """Check the parsed values and turn them into a :class:`RunConfig`."""
    settings: dict[str, Any] = {}
    for flag in FLAGS:  # options first: their errors are more specific than "no input"
        raw = values.get(flag.dest)
        if flag.dest in _INPUTS or raw is None or raw is False:
            continue
        convert = _CONVERTERS.get(flag.dest)
        settings[flag.dest] = convert(str(raw)) if convert is not None else raw
    given = [kind for kind in _INPUTS if values.get(kind) is not None]
    plugin = positional[0] if positional else None
    choices = [f"-{_flag(kind).short} {values[kind]}" for kind in given]
    if plugin is not None:
        choices.append(f"server type {plugin!r}")
    if len(choices) > 1:
        raise UsageError(f"give one application, not several: {', '.join(choices)}")
    if not choices:
        raise UsageError(
            "no application given: use -f/-x/-s FILE, -y FILE.py, or a server type name "
            "(twistd echo --listen tcp:8000)"
        )
    kind: InputKind = given[0] if given else "plugin"
    source = str(values[kind]) if given else str(plugin)
    if settings.get("encrypted") and kind in ("python", "plugin"):
        raise UsageError("-e/--encrypted applies to -f, -x and -s files only")
    if (
        settings.get("logfile") == "-"
        and not settings.get("nodaemon")
        and not settings.get("syslog")
    ):
        # A daemon's stdout is gone: its log would be thrown away while it exits 0.
        raise UsageError("-l - logs to stdout, which a daemon does not have: add -n")
    config = RunConfig(kind, source, positional[1:])
    for name, value in settings.items():
        setattr(config, name, value)
    return config


def _flag(dest: str) -> Flag:
    return next(f for f in FLAGS if f.dest == dest)


def _umask(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise UsageError(f"invalid value for --umask: {text!r} is not an octal number") from None
    if not 0 <= value <= 0o777:
        raise UsageError(f"invalid value for --umask: {text!r} is out of range 000-777")
    return value


def _rotate_length(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise UsageError(f"invalid value for --log-rotate-length: {text!r} is not a positive size")
    return value


def _choice(option: str, choices: tuple[str, ...]) -> Any:
    def convert(text: str) -> str:
        if text not in choices:
            raise UsageError(
                f"invalid value for {option}: {text!r} is not one of {', '.join(choices)}"
            )
        return text

    return convert


_CONVERTERS: dict[str, Any] = {
    "umask": _umask,
    "log_rotate_length": _rotate_length,
    "log_format": _choice("--log-format", LOG_FORMATS),
    "profiler": _choice("--profiler", PROFILERS),
}
