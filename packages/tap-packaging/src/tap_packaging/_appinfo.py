"""What packagers need to know about an application file, and the names they must validate.

tap2deb and tap2rpm share this: the application's name, format, uid/gid and the modules its
objects come from (to pick the distributions to bundle), plus the Debian and RPM rules for
package names, versions and the ``Name <email>`` maintainer field. A Python application file
(``-y``) is never run here: twistd runs it on the target; its imports are read with ``ast``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from appcore import AppcoreError, DataError, Format, NoInputError, UsageError, describe_os_error

FileType = Literal["tap", "xml", "source", "python"]
FILE_TYPES: tuple[FileType, ...] = ("tap", "xml", "source", "python")

# packager file type -> appcore persistence format (Python files are not persisted data)
_PERSIST_FORMAT: dict[str, Format] = {"tap": "pickle", "xml": "xml", "source": "source"}
_EXTENSIONS: dict[str, FileType] = {".tap": "tap", ".tax": "xml", ".tas": "source", ".py": "python"}
# twistd option that loads each file type
TWISTD_FLAGS: dict[FileType, str] = {"tap": "-f", "xml": "-x", "source": "-s", "python": "-y"}


@dataclass(frozen=True)
class ApplicationInfo:
    """The facts a packager reads from an application file.

    ``name`` is the Application's name (for a Python file: the file's stem, since the file is
    not run). ``modules`` are the top-level modules the application's objects or imports come
    from; the packager maps them to the distributions to bundle.
    """

    path: Path
    file_type: FileType
    name: str
    uid: int | None
    gid: int | None
    modules: frozenset[str]

    @property
    def twistd_flag(self) -> str:
        """The twistd option that loads this file: ``-f``, ``-x``, ``-s`` or ``-y``."""
        return TWISTD_FLAGS[self.file_type]


def guess_file_type(path: Path, file_type: str | None = None) -> FileType:
    """The file type given (validated), or the one its extension names."""
    if file_type is not None:
        if file_type not in FILE_TYPES:
            raise UsageError(f"unknown type {file_type!r}; choose one of {', '.join(FILE_TYPES)}")
        return file_type
    suffix = path.suffix.lower()
    if suffix in (".etap", ".etax", ".etas"):
        raise UsageError(
            f"{path} is encrypted: a service cannot be asked for its passphrase at boot; "
            "decrypt it first (tapconvert)"
        )
    guessed = _EXTENSIONS.get(suffix)
    if guessed is None:
        known = ", ".join(sorted(_EXTENSIONS))
        raise UsageError(f"{path}: cannot guess the type from the extension ({known}); use --type")
    return guessed


def read_application_info(
    path: Path, file_type: str | None = None, *, passphrase: str | None = None
) -> ApplicationInfo:
    """Read an application file's name, uid, gid and modules (Python files are not run)."""
    kind = guess_file_type(path, file_type)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise NoInputError(f"cannot read application file: {describe_os_error(err)}") from err
    if kind == "python":
        return ApplicationInfo(path, kind, path.stem, None, None, _python_imports(path, data))
    return _persisted_info(path, kind, passphrase)


def _python_imports(path: Path, data: bytes) -> frozenset[str]:
    try:
        tree = ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError) as err:
        raise DataError(f"{path}: not a valid Python application file: {err}") from err
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    if "application" not in {t.id for n in ast.walk(tree) for t in _targets(n)}:
        raise DataError(f"{path}: a Python application file must assign 'application'")
    return frozenset(names - set(sys.stdlib_module_names) - {"__future__"})


def _targets(node: ast.AST) -> Iterator[ast.Name]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                yield target
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        yield node.target


def _persisted_info(path: Path, kind: FileType, passphrase: str | None) -> ApplicationInfo:
    from appcore import load_application

    # trusted=False: only registered persistable classes are created, nothing else runs
    try:
        app = load_application(
            path, format=_PERSIST_FORMAT[kind], passphrase=passphrase, trusted=False
        )
    except AppcoreError as err:
        if str(path) in err.message:
            raise
        raise type(err)(f"{path}: {err.message}") from err
    name = app.name
    if not name:
        raise DataError(f"{path}: the application has no name")
    return ApplicationInfo(path, kind, name, app.uid, app.gid, _modules_of(app))


def _modules_of(root: object, limit: int = 100_000) -> frozenset[str]:
    """Top-level modules of every object's class reachable from ``root`` (bounded walk)."""
    seen: set[int] = set()
    modules: set[str] = set()
    stack: list[Any] = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        modules.add(type(obj).__module__.partition(".")[0])
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        else:
            stack.extend(getattr(obj, "__dict__", {}).values())
    return frozenset(modules - set(sys.stdlib_module_names) - {"builtins"})


# --- names and versions -------------------------------------------------------------------

_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_RPM_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*")
_DEB_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
_DEB_REVISION = re.compile(r"[A-Za-z0-9+.~]+")
_RPM_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~^]*")
_MAINTAINER = re.compile(r"([^<>,\n]*[^<>,\s])\s*<([^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)>")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def name_from_file(path: Path) -> str:
    """A package name derived from a file name: ``My_App.tap`` gives ``my-app``."""
    return re.sub(r"[^a-z0-9+.-]+", "-", path.stem.lower()).strip("-.+")


def validate_deb_name(name: str) -> str:
    """A Debian package name (policy 5.6.1): lower case, digits, ``+ - .``; 2+ characters."""
    if not _DEB_NAME.fullmatch(name):
        raise UsageError(
            f"invalid package name {name!r}: use lower-case letters, digits, '+', '-' and '.', "
            "at least two characters, starting with a letter or digit"
        )
    return name


def validate_rpm_name(name: str) -> str:
    """An RPM package name: letters, digits and ``. _ + -``, not starting with ``-`` or ``.``."""
    if not _RPM_NAME.fullmatch(name):
        raise UsageError(
            f"invalid package name {name!r}: use letters, digits, '.', '_', '+' and '-'"
        )
    return name


def validate_user_name(name: str) -> str:
    """A system user name adduser and useradd both accept."""
    if not _USER.fullmatch(name):
        raise UsageError(
            f"invalid user name {name!r}: use lower-case letters, digits, '_' and '-', "
            "starting with a letter or '_', at most 32 characters (see --user)"
        )
    return name


def validate_deb_version(version: str) -> str:
    """A Debian version ``[epoch:]upstream[-revision]`` (policy 5.6.12)."""
    epoch, colon, rest = version.rpartition(":") if ":" in version else ("", "", version)
    upstream, dash, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    ok = (not colon or epoch.isdigit()) and bool(_DEB_UPSTREAM.fullmatch(upstream))
    ok = ok and (not dash or bool(_DEB_REVISION.fullmatch(revision)))
    if not ok:
        raise UsageError(
            f"invalid version {version!r}: expected [epoch:]upstream[-revision], the upstream "
            "part starting with a digit (letters, digits, '.', '+', '~')"
        )
    return version


def validate_rpm_version(version: str) -> str:
    """An RPM version: letters, digits and ``. _ + ~ ^``, starting with a letter or digit."""
    if not _RPM_VERSION.fullmatch(version):
        raise UsageError(
            f"invalid version {version!r}: use letters, digits, '.', '_', '+', '~' and '^' "
            "(no '-'), starting with a letter or digit"
        )
    return version


def parse_maintainer(text: str) -> tuple[str, str]:
    """Split ``Name <email>`` into its name and address, or raise a one-line usage error."""
    match = _MAINTAINER.fullmatch(text.strip())
    if match is None or not match.group(1).strip():
        raise UsageError(f"invalid maintainer {text!r}: expected 'Full Name <user@example.org>'")
    return match.group(1).strip(), match.group(2)
