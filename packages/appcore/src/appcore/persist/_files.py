"""Saving and loading applications: TAP (pickle), TAX (XML) and TAS (Python source).

Every format may be encrypted with a passphrase; its extension then gets an ``e`` prefix
(``.etap``, ``.etax``, ``.etas``). An application saves as ``NAME.tap`` by default and as
``NAME-TAG.tap`` with a tag (the shutdown save uses the tag ``shutdown``). Files are written
atomically (see :mod:`._atomic`): a crash mid-write leaves the previous file as it was.

Reading a file picks the format by extension and checks the content agrees; without a known
extension it sniffs the content (pickle header, XML prolog, the TAS header comment, the
encryption magic). Each format's header is distinct, so ``guess`` never reads one format as
another. See :mod:`._tap`, :mod:`._tax` and :mod:`._tas` for each format's trust model.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from appcore._errors import (
    AppcoreError,
    DataError,
    UsageError,
)
from appcore.persist._atomic import atomic_stream, write_atomic
from appcore.persist._input import read_input
from appcore.service._tree import FORMATS, Format

if TYPE_CHECKING:
    from appcore.service._tree import Application, Service

FormatChoice = Literal["guess", "pickle", "xml", "source"]
EXTENSIONS: dict[Format, str] = {"pickle": "tap", "xml": "tax", "source": "tas"}
_BY_EXTENSION: dict[str, tuple[Format, bool]] = {
    **{f".{ext}": (fmt, False) for fmt, ext in EXTENSIONS.items()},
    **{f".e{ext}": (fmt, True) for fmt, ext in EXTENSIONS.items()},
}
SHUTDOWN_TAG = "shutdown"


def format_from_path(path: str | os.PathLike[str]) -> tuple[Format, bool] | None:
    """``(format, encrypted)`` named by a file's extension, or None (``.tac``, ``.py``, ...)."""
    return _BY_EXTENSION.get(Path(path).suffix.lower())


def sniff_format(data: bytes) -> tuple[Format, bool] | None:
    """``(format, encrypted)`` recognised from content, or None when it is none of ours."""
    from appcore.persist._crypto import inner_format, is_encrypted

    if is_encrypted(data):
        try:
            return _checked_format(inner_format(data)), True
        except DataError:
            return None
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "pickle", False
    head = data[:64].removeprefix(b"\xef\xbb\xbf")
    if head.startswith(b"# appcore TAS "):
        return "source", False
    if head.lstrip(b" \t\r\n").startswith(b"<"):
        return "xml", False
    return None


@contextlib.contextmanager
def _gc_paused(*, promote: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while a tree is built or walked.

    Loading 100,000 objects otherwise triggers hundreds of collections that each scan the
    growing tree (pickle load is 3 to 5 times faster without them); nothing loaded is garbage.
    With ``promote``, what was just built moves straight to the oldest generation
    (``freeze`` then ``unfreeze`` does that without a scan): a loaded tree is long-lived, and
    left in the youngest generation the next minor collection would walk all of it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _checked_format(name: str) -> Format:
    for fmt in FORMATS:
        if fmt == name:
            return fmt
    raise UsageError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")


def dumps(obj: object, format: Format = "pickle", *, passphrase: str | None = None) -> bytes:
    """Serialize a tree to bytes in ``format``, encrypted when a passphrase is given."""
    fmt = _checked_format(format)
    if fmt == "pickle":
        from appcore.persist._tap import dumps as encode
    elif fmt == "xml":
        from appcore.persist._tax import dumps as encode
    else:
        from appcore.persist.tas._writer import dumps as encode
    with _gc_paused():
        data = encode(obj)
    if passphrase is not None:
        from appcore.persist._crypto import encrypt

        data = encrypt(data, fmt, passphrase)
    return data


def loads(
    data: bytes,
    format: FormatChoice = "guess",
    *,
    passphrase: str | None = None,
    trusted: bool = False,
    filename: str = "<data>",
) -> object:
    """Rebuild a tree from bytes; bad, hostile or mislabelled data is a :class:`DataError`.

    ``trusted`` lets a TAS file holding hand-written code run (see :mod:`._tas`).
    """
    from appcore.persist._crypto import check_header, decrypt, is_encrypted

    if not data or (len(data) < 65536 and not data.strip()):
        raise DataError(f"{filename} is empty")
    if format != "guess":
        _checked_format(format)
    if is_encrypted(data):
        try:
            check_header(data)  # a damaged file says so, passphrase or not
        except DataError as err:
            raise DataError(f"{filename}: {err.message}") from None
        if passphrase is None:
            raise UsageError(f"{filename} is encrypted: a passphrase is needed to read it")
        inner, data = decrypt(data, passphrase)
        if format not in ("guess", inner):
            raise DataError(f"{filename} holds {inner} data, not {format}")
        fmt: str = inner
    elif format == "guess":
        found = sniff_format(data)
        if found is None:
            raise DataError(f"{filename} is not a TAP, TAX or TAS file (format not recognised)")
        fmt = found[0]
    else:
        fmt = format
    try:
        with _gc_paused(promote=True):
            if fmt == "pickle":
                from appcore.persist._tap import loads as decode_tap

                return decode_tap(data)
            if fmt == "xml":
                from appcore.persist._tax import loads as decode_tax

                return decode_tax(data)
            from appcore.persist.tas._reader import read as decode_tas

            return decode_tas(data, trusted=trusted, filename=filename)
    except AppcoreError:
        raise
    except RecursionError:
        raise DataError(f"{filename} is nested too deeply") from None
    except Exception as err:  # a loader bug must still keep the one-line promise
        raise DataError(f"cannot load {filename}: {type(err).__name__}: {err}") from None


def load_file(
    path: str | os.PathLike[str],
    *,
    format: FormatChoice = "guess",
    passphrase: str | None = None,
    trusted: bool = False,
) -> object:
    """Load whatever tree a TAP/TAX/TAS file holds (an Application, a Service, ...)."""
    data = read_input(path)
    name = str(path)
    if format == "guess":
        by_name = format_from_path(path)
        if by_name is not None:
            found = sniff_format(data)
            if found is not None and found[0] != by_name[0]:
                raise DataError(f"{name} holds {found[0]} data, not {by_name[0]} as named")
            format = by_name[0]
    return loads(data, format, passphrase=passphrase, trusted=trusted, filename=name)


def load_application(
    path: str | os.PathLike[str],
    *,
    format: FormatChoice = "guess",
    passphrase: str | None = None,
    trusted: bool = False,
) -> Application:
    """Load an application file. A file holding a bare service gets an Application around it,
    named after the file; anything else is a :class:`DataError`."""
    from appcore.service._tree import Application, validate_tree

    loaded = load_file(path, format=format, passphrase=passphrase, trusted=trusted)
    root = validate_tree(loaded, str(path))
    if isinstance(root, Application):
        return root
    app = Application(Path(path).stem)
    app.add_service(root)
    return app


def application_filename(
    app: Service, format: Format = "pickle", *, tag: str | None = None, encrypted: bool = False
) -> str:
    """``NAME.tap``, ``NAME-TAG.tax``, ``NAME.etas``: the file an application saves to."""
    name = getattr(app, "app_name", None) or app.name or "application"
    if tag:
        name = f"{name}-{tag}"
    if "/" in name or name in (".", ".."):
        raise UsageError(f"{name!r} cannot be a file name")
    return f"{name}.{'e' if encrypted else ''}{EXTENSIONS[_checked_format(format)]}"


def save_application(
    app: Service,
    path: str | os.PathLike[str] | None = None,
    *,
    format: Format | None = None,
    tag: str | None = None,
    passphrase: str | None = None,
    directory: str | os.PathLike[str] | None = None,
    max_mode: int | None = None,
) -> Path:
    """Save an application (or any service tree) atomically and return the path written.

    Without ``path`` the file is ``NAME[-TAG].[e]tap|tax|tas`` in ``directory`` (default: the
    current folder). The format comes from ``format``, else the path's extension, else the
    application's ``persist_format``, else pickle. ``max_mode`` caps the file's permission
    bits whatever the umask (see :func:`write_atomic`), as twistd does to keep a shutdown
    file no more readable than its input.
    """
    encrypted = passphrase is not None
    named = format_from_path(path) if path is not None else None
    if named is not None:
        if format is not None and format != named[0]:
            raise UsageError(f"{path} names {named[0]} data but format {format!r} was asked")
        if named[1] != encrypted:
            need = "needs a passphrase" if named[1] else "is not an encrypted file name"
            raise UsageError(f"{path} {need} (encrypted files end in .etap, .etax or .etas)")
    fmt = _checked_format(
        format or (named[0] if named else getattr(app, "persist_format", None) or "pickle")
    )
    if path is None:
        folder = Path(directory) if directory is not None else Path.cwd()
        target = folder / application_filename(app, fmt, tag=tag, encrypted=encrypted)
    else:
        target = Path(path)
    if fmt == "source" and not encrypted:
        # Streamed: the statements go to the file as they are made, never held whole.
        from appcore.persist.tas._writer import dump

        with atomic_stream(target, max_mode=max_mode) as stream, _gc_paused():
            dump(app, stream)
    else:
        data = dumps(app, fmt, passphrase=passphrase)
        write_atomic(target, data, private=encrypted, max_mode=max_mode)
    return target
