"""The typer side of an :class:`~appcore.Options` spec: one typer option per declaration.

:meth:`Options.typer_command <appcore.Options.typer_command>` builds the command here; typer
is imported only when a tool builds its command line, never when a spec is declared.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appcore._errors import UsageError
from appcore.plugins._options import Option

R = TypeVar("R")


def typer_command(
    options: tuple[Option, ...], callback: Callable[[dict[str, Any]], R], help: str | None
) -> Callable[..., R]:
    """A function for ``app.command(name)(...)`` taking ``options`` as typer options."""
    import typer

    params: list[inspect.Parameter] = []
    for option in options:
        annotation, info = _typer_option(option, typer)
        params.append(
            inspect.Parameter(
                option.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation
            )
        )

    def command(**values: Any) -> R:
        if any(o.multiple for o in options):
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return callback(values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = help
    return command


def _typer_option(option: Option, typer: types.ModuleType) -> tuple[Any, Any]:
    """The annotation and ``typer.Option`` for one declaration."""
    decls = [option.flag]
    if option.type is bool:
        decls = [f"{option.flag}/--no-{option.flag[2:]}"]
    if option.short:
        decls.append("-" + option.short)
    default: Any = ... if option.required else option.default
    if option.type is bool:
        return bool, typer.Option(default, *decls, help=option.help, show_default=True)

    def parse_one(raw: Any) -> Any:
        try:
            return option.convert(raw)
        except UsageError as err:
            raise typer.BadParameter(err.message) from None

    if option.multiple:
        annotation: Any = list[option.type]  # type: ignore[name-defined]
        default = ... if option.required else list(option.default)
    else:
        annotation = option.type if option.default is not None else option.type | None
    extra: dict[str, Any] = {}
    if option.type is Path:
        # Typer converts paths itself so that shells complete file names; the declared
        # checks then run on the converted value.
        def check(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, list | tuple):
                return [parse_one(item) for item in value]
            return parse_one(value)

        extra["callback"] = check
    else:
        extra["parser"] = parse_one
    if option.choices is not None:
        choices = option.choices

        def complete(incomplete: str) -> list[str]:
            return [choice for choice in choices if choice.startswith(incomplete)]

        extra["autocompletion"] = complete
    info = typer.Option(
        default,
        *decls,
        help=option.help,
        metavar=option.shown_metavar,
        show_default=not option.required,
        **extra,
    )
    return annotation, info
