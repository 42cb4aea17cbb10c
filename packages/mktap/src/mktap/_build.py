"""What mktap does once the command line is read: make the service, wrap or append, save.

Everything that can fail (the options, the file to append to, the output name) is checked
before the one atomic write, so a failed mktap leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appcore import DataError, UsageError

if TYPE_CHECKING:
    from appcore import Application, Service, ServiceMaker
    from appcore.service._tree import Format

#: Called with a short description of each stage when progress is wanted.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class AppendTarget:
    """An existing application file to add the new server to, and how it was written."""

    path: Path
    format: Format
    encrypted: bool


def inspect_append_target(path: Path) -> AppendTarget:
    """The format of an existing application file; one-line errors for a missing or foreign
    file (exit 66, 65)."""
    from appcore import format_from_path, read_input, sniff_format

    data = read_input(path)
    found = sniff_format(data)
    if found is None:
        raise DataError(f"{path} is not a TAP, TAX or TAS file (format not recognised)")
    named = format_from_path(path)
    if named is not None and named != found:
        raise DataError(
            f"{path} holds {'encrypted ' if found[1] else ''}{found[0]} data, "
            f"not {'encrypted ' if named[1] else ''}{named[0]} as its name says"
        )
    return AppendTarget(path, found[0], found[1])


def _unique_child_name(app: Application, base: str) -> str:
    taken = {service.name for service in app}
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def default_output(tapname: str, format: Format, encrypted: bool) -> Path:
    """``TAPNAME.tap`` (``.tax``, ``.tas``, ``e``-prefixed when encrypted) in the cwd."""
    from appcore import EXTENSIONS

    if "/" in tapname or tapname in (".", ".."):
        raise UsageError(f"{tapname!r} cannot be a file name; give one with -o")
    return Path.cwd() / f"{tapname}.{'e' if encrypted else ''}{EXTENSIONS[format]}"


def make_application(
    maker: ServiceMaker,
    options: Mapping[str, Any],
    *,
    format: Format | None = None,
    output: str | os.PathLike[str] | None = None,
    append: AppendTarget | None = None,
    uid: int | None = None,
    gid: int | None = None,
    process_name: str | None = None,
    passphrase: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Make ``maker``'s service from ``options``, put it in an Application and save it.

    Without ``append`` the Application is new, named after the tapname. With ``append`` the
    file's application is loaded (``passphrase`` reads an encrypted one), the service is
    added under a name not yet taken (``web``, then ``web-2``) and the result is written in
    that file's own format, to ``output`` or back over the file. Returns the path written.
    """
    from appcore import Application, format_from_path, load_application, save_application

    def step(text: str) -> None:
        if progress is not None:
            progress(text)

    if append is not None:
        if format is not None and format != append.format:
            raise UsageError(
                f"{append.path} is a {append.format} file; --type {format} would change "
                "its format (convert it with tapconvert instead)"
            )
        if append.encrypted and passphrase is None:
            raise UsageError(f"{append.path} is encrypted: a passphrase is needed to append")
        if not append.encrypted and passphrase is not None:
            raise UsageError(f"{append.path} is not encrypted; drop --encrypted to append to it")
        format = append.format
    elif format is None:
        named = format_from_path(output) if output is not None else None
        format = named[0] if named is not None else "pickle"

    step(f"making a {maker.tapname} service")
    service: Service = maker.make_service(options)

    if append is not None:
        step(f"loading {append.path}")
        try:
            app = load_application(append.path, format=append.format, passphrase=passphrase)
        except DataError as err:
            message = err.message
            if str(append.path) not in message:
                message = f"cannot append to {append.path}: {message}"
            raise DataError(message) from None
    else:
        app = Application(maker.tapname, persist_format=format)
    if uid is not None:
        app.uid = uid
    if gid is not None:
        app.gid = gid
    if process_name is not None:
        app.process_name = process_name
    app.persist_format = format
    service.name = _unique_child_name(app, maker.tapname)
    app.add_service(service)

    if output is not None:
        target = Path(output)
    elif append is not None:
        target = append.path
    else:
        target = default_output(maker.tapname, format, passphrase is not None)
    step(f"saving {target} ({format}{', encrypted' if passphrase is not None else ''})")
    return save_application(app, target, format=format, passphrase=passphrase)


def resolve_uid(value: str) -> int:
    """A user name or number as a uid; :class:`UsageError` for an unknown name."""
    import pwd

    if value.isdigit():
        return int(value)
    try:
        return pwd.getpwnam(value).pw_uid
    except KeyError:
        raise UsageError(f"invalid value for --uid: no user named {value!r}") from None


def resolve_gid(value: str) -> int:
    """A group name or number as a gid; :class:`UsageError` for an unknown name."""
    import grp

    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise UsageError(f"invalid value for --gid: no group named {value!r}") from None
