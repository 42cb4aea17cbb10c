"""Server-type options, declared once.

A server type lists its options as :class:`Option` declarations collected in an
:class:`Options` spec. Every other form is derived from that one declaration, so they cannot
drift apart:

* :meth:`Options.parse` turns an argv list (``["--port", "8080"]``) into a validated dict;
  this is what ``twistd web --port 8080`` and ``mktap web --port 8080`` run;
* :meth:`Options.validate` checks a mapping of values (strings or already typed values),
  filling in defaults;
* :meth:`Options.typer_command` builds a typer command (help, shell completion) whose values
  go through the same conversion;
* :meth:`Options.help_text` is the plain ``--help NAME`` text with every default.

Option ``name`` is the key in the values dict (``max_clients``); its flag is ``--max-clients``.
A ``bool`` option is a flag: ``--name`` sets it, ``--no-name`` clears it.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from appcore._errors import AppcoreError, UsageError
from appcore._numbers import check_number, number_problem

R = TypeVar("R")

# What each supported type shows as its metavar in help text.
_METAVARS: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Option:
    """One option of a server type.

    ``type`` is ``str``, ``int``, ``float``, ``bool``, ``Path`` or ``list[T]`` of one of
    these (the same as ``type=T, multiple=True``). ``validate`` receives the converted value
    (each item, for a multiple option) and returns it, possibly normalized, or raises
    ``ValueError`` (or a :class:`UsageError`) with a short reason.

    A number option may bound its values with ``at_least`` (inclusive) and ``more_than``
    (exclusive); a ``float`` option refuses ``nan`` and infinities whatever its bounds. A
    persistent object keeping the value checks it again when loaded with
    :meth:`Options.check_loaded`, so a file cannot hold what the command line refuses.
    """

    name: str
    type: Any = str
    default: Any = None
    help: str = ""
    short: str | None = None
    multiple: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    validate: Callable[[Any], Any] | None = None
    required: bool = False
    at_least: float | None = None
    more_than: float | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name.startswith("_"):
            raise ValueError(f"option name must be a public identifier: {self.name!r}")
        if typing.get_origin(self.type) is list:
            (item,) = typing.get_args(self.type)
            object.__setattr__(self, "type", item)
            object.__setattr__(self, "multiple", True)
        if self.type not in (str, int, float, bool, Path):
            raise ValueError(f"option {self.name!r}: unsupported type {self.type!r}")
        if self.type is bool and self.multiple:
            raise ValueError(f"option {self.name!r}: a flag cannot be multiple")
        bounded = self.at_least is not None or self.more_than is not None
        if bounded and self.type not in (int, float):
            raise ValueError(f"option {self.name!r}: only a number option has bounds")
        if self.short is not None and (len(self.short) != 1 or not self.short.isalnum()):
            raise ValueError(f"option {self.name!r}: short must be one letter: {self.short!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.multiple:
            default = () if self.default is None else self.default
            object.__setattr__(self, "default", tuple(default))
        elif self.type is bool and self.default is None:
            object.__setattr__(self, "default", False)

    @property
    def flag(self) -> str:
        """The long flag: ``--max-clients`` for ``max_clients``."""
        return "--" + self.name.replace("_", "-")

    @property
    def shown_metavar(self) -> str:
        """The placeholder shown in help for this option's value."""
        if self.metavar:
            return self.metavar
        if self.choices:
            return "[" + "|".join(self.choices) + "]"
        return _METAVARS.get(self.type, "")

    def convert(self, raw: Any) -> Any:
        """One value (a string from argv, or an already typed value) converted and checked.

        Raises :class:`UsageError` with a short reason (without the flag name).
        """
        try:
            value = self._coerce(raw)
            if self.choices is not None and str(value) not in self.choices:
                raise ValueError(f"{value!r} is not one of {', '.join(self.choices)}")
            problem = self.number_problem(value)
            if problem is not None:
                raise ValueError(problem)
            if self.validate is not None:
                value = self.validate(value)
        except AppcoreError as err:
            raise UsageError(err.message) from None
        except (ValueError, TypeError, ArithmeticError) as err:
            raise UsageError(str(err) or type(err).__name__) from None
        return value

    def number_problem(self, value: object) -> str | None:
        """Why ``value`` is not a number this option takes, or None (always None for an
        option that is not a number)."""
        if self.type is not int and self.type is not float:
            return None
        return number_problem(
            value, integer=self.type is int, at_least=self.at_least, more_than=self.more_than
        )

    def _coerce(self, raw: Any) -> Any:
        kind = self.type
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"expected yes or no, got {raw!r}")
        if kind is Path:
            if isinstance(raw, Path):
                return raw
            if not isinstance(raw, str) or not raw:
                raise ValueError(f"expected a path, got {raw!r}")
            return Path(raw)
        if kind is int:
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            try:
                return int(str(raw).strip(), 10)
            except ValueError:
                raise ValueError(f"expected an integer, got {raw!r}") from None
        if kind is float:
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
            try:
                return float(str(raw).strip())  # "nan" and "inf" parse: number_problem refuses
            except ValueError:
                raise ValueError(f"expected a number, got {raw!r}") from None
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        return raw


class Options:
    """The option spec of one server type: an ordered tuple of :class:`Option`."""

    __slots__ = ("_by_flag", "options")

    def __init__(self, *options: Option) -> None:
        self.options: tuple[Option, ...] = tuple(options)
        by_flag: dict[str, Option] = {}
        for option in options:
            spellings = [option.flag]
            if option.short:
                spellings.append("-" + option.short)
            if option.type is bool:
                spellings.append("--no-" + option.flag[2:])
            for spelling in spellings:
                if spelling in by_flag or spelling in ("--help", "-h"):
                    raise ValueError(f"option {spelling} declared twice")
                by_flag[spelling] = option
        self._by_flag = by_flag

    def __repr__(self) -> str:
        return f"Options({', '.join(o.name for o in self.options)})"

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)

    def defaults(self) -> dict[str, Any]:
        """Every option's default value (required options are absent)."""
        return {o.name: o.default for o in self.options if not o.required}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check a mapping of values: unknown names refused, defaults filled in.

        Values may be strings (as typed on a command line) or already typed; either way they
        pass through the same conversion as :meth:`parse`.
        """
        known = {o.name: o for o in self.options}
        for name in values:
            if name not in known:
                raise UsageError(f"unknown option {name!r}")
        result: dict[str, Any] = {}
        for option in self.options:
            if option.name not in values:
                if option.required:
                    raise UsageError(f"missing required option {option.flag}")
                result[option.name] = option.default
                continue
            raw = values[option.name]
            try:
                if option.multiple:
                    items = [raw] if isinstance(raw, str | Path) else list(raw)
                    result[option.name] = tuple(option.convert(item) for item in items)
                elif raw is None and not option.required:
                    result[option.name] = None
                else:
                    result[option.name] = option.convert(raw)
            except UsageError as err:
                raise UsageError(f"invalid value for {option.flag}: {err.message}") from None
        return result

    def check_loaded(self, obj: object, *names: str) -> None:
        """Raise :class:`DataError` unless ``obj``'s attributes called ``names`` hold numbers
        the options of those names accept (for a loaded object's ``_validate`` step).

        A loaded value is not converted: it must already be an int for an ``int`` option
        (an int or a float for a ``float`` option), finite and within the bounds.
        """
        known = {o.name: o for o in self.options}
        for name in names:
            option = known[name]
            if option.type is not int and option.type is not float:
                raise ValueError(f"option {name!r} is not a number option")
            check_number(
                obj,
                name,
                integer=option.type is int,
                at_least=option.at_least,
                more_than=option.more_than,
            )

    def parse(self, argv: Sequence[str]) -> dict[str, Any]:
        """Parse ``--name value``, ``--name=value``, ``-n value``, ``-nvalue`` and flags.

        Returns the validated values with defaults filled in; raises :class:`UsageError`
        with a one-line message for unknown options, missing or bad values.
        """
        raw: dict[str, Any] = {}
        args = list(argv)
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                if i < len(args):
                    raise UsageError(f"unexpected argument {args[i]!r}")
                break
            inline: str | None = None
            if arg.startswith("--"):
                spelling, eq, rest = arg.partition("=")
                inline = rest if eq else None
            elif arg.startswith("-") and len(arg) > 1:
                spelling, rest = arg[:2], arg[2:]
                inline = rest or None
            else:
                raise UsageError(f"unexpected argument {arg!r}")
            option = self._by_flag.get(spelling)
            if option is None:
                raise UsageError(self._unknown(spelling))
            if option.type is bool:
                if inline is not None:
                    raise UsageError(f"option {spelling} takes no value")
                raw[option.name] = not spelling.startswith("--no-")
                continue
            if inline is None:
                if i >= len(args):
                    raise UsageError(f"option {spelling} needs a value")
                inline = args[i]
                i += 1
            if option.multiple:
                raw.setdefault(option.name, []).append(inline)
            else:
                raw[option.name] = inline
        return self.validate(raw)

    def _unknown(self, spelling: str) -> str:
        import difflib

        close = difflib.get_close_matches(spelling, list(self._by_flag), n=3, cutoff=0.75)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"unknown option {spelling}{hint}"

    def help_text(self, title: str | None = None) -> str:
        """Plain help text: one entry per option with its default (for ``--help NAME``)."""
        lines = [title] if title else []
        rows: list[tuple[str, str]] = []
        for option in self.options:
            spell = f"-{option.short}, {option.flag}" if option.short else f"    {option.flag}"
            if option.type is bool:
                spell += f" / --no-{option.flag[2:]}"
            else:
                spell += f" {option.shown_metavar}"
            rows.append((spell, _describe(option)))
        if not rows:
            lines.append("  (no options)")
        width = min(max((len(s) for s, _ in rows), default=0), 36)
        for spell, text in rows:
            if len(spell) > width:
                lines.append(f"  {spell}")
                lines.append(f"  {'':{width}}  {text}")
            else:
                lines.append(f"  {spell:{width}}  {text}")
        return "\n".join(lines) + "\n"

    def typer_command(
        self, callback: Callable[[dict[str, Any]], R], *, help: str | None = None
    ) -> Callable[..., R]:
        """A function for ``app.command(name)(...)`` taking these options as typer options.

        Typer renders help and completes values (choices, paths); each value goes through
        :meth:`Option.convert`, so a bad value is the same error as in :meth:`parse`
        (typer reports it as a usage error, exit 64). ``callback`` receives the values dict.
        """
        from appcore.plugins._commands import typer_command

        return typer_command(self.options, callback, help)


def _describe(option: Option) -> str:
    text = option.help or ""
    if option.required:
        return f"{text} [required]".strip()
    default = option.default
    if option.type is bool:
        shown = "on" if default else "off"
    elif option.multiple:
        shown = ", ".join(str(v) for v in default) if default else "none"
    elif default is None:
        shown = "none"
    else:
        shown = str(default)
    return f"{text} [default: {shown}]".strip()
