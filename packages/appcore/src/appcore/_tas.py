"""TAS: an object tree as Python source, one statement per object.

A generated file looks like this (the header comment says the same)::

    # appcore TAS 1: ...
    Application = cls("appcore._service:Application")
    Service = cls("appcore._service:Service")
    _0 = shell(Application)
    _1 = make(Service, {"name": "web", "parent": _0, "__version__": 1})
    fill(_0, {"name": "app", "services": [_1], "__version__": 1})
    application = _0

``cls`` names a registered class, ``make`` builds an object from its saved state, ``shell``
declares an object that is referred to before its state is complete (a cycle: a service and
its parent) and ``fill`` gives it that state. Shared lists, dicts and sets are declared the
same way (``_7 = list()`` then ``fill(_7, [...])``). Values are Python literals; strings
are written in the JSON-compatible subset of Python string syntax.

Trust model:

* A file holding only such statements is read **without running it** (:mod:`._tas_read`):
  a line-based reader decodes the values (most lines with the C JSON decoder), resolves
  ``_N`` references, and instantiates only registered persistable classes. Editing values
  (a port, a path, a name) keeps a file on this path.
* A file holding anything else (code a person added: a loop, an import, a function call) is
  ordinary Python, as trusted as a ``.tac`` file. It runs only when the caller passes
  ``trusted=True`` (``--trust-source`` on the command line); otherwise loading stops with a
  :class:`DataError` saying how to allow it.
"""

from __future__ import annotations

import enum
import keyword
import re
from json.encoder import encode_basestring
from typing import Any

from ._errors import DataError
from ._graph import Census, float_text
from ._persistent import class_path

HEADER = (
    "# appcore TAS 1: an application saved as Python source, one statement per object.\n"
    "# cls() names a registered class, make() builds an object from its saved state,\n"
    "# shell() declares an object used before its state is complete and fill() completes it.\n"
    "# appcore reads these statements without running them; a file with any other code is\n"
    "# trusted Python (like a .tac file) and loads only with --trust-source / trusted=True.\n"
)
MAGIC = "# appcore TAS "
RUNTIME_NAMES = frozenset({"cls", "make", "shell", "fill", "application", "list", "dict", "set"})
_RESERVED = RUNTIME_NAMES | {"frozenset", "float", "None", "True", "False"}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: str) -> str:
    if _SURROGATE.search(value) is not None:
        return repr(value)  # lone surrogates: Python escapes them, JSON would pair them
    result: str = encode_basestring(value)
    return result


class _Writer:
    def __init__(self, root: object) -> None:
        self.census = Census(root)
        self.ids: dict[int, int] = {}
        self.open: set[int] = set()  # ids whose statement is not written yet
        self.shelled: set[int] = set()
        self.lines: list[str | None] = []
        self.aliases: dict[type, str] = {}
        self.alias_names: set[str] = set()
        root_text = self.expr(root)
        head = [HEADER]
        head += [f'{name} = cls("{class_path(c)}")\n' for c, name in self.aliases.items()]
        body = [line for line in self.lines if line is not None]
        self.text = "".join(head + body) + f"application = {root_text}\n"

    def alias(self, cls: type) -> str:
        name = self.aliases.get(cls)
        if name is None:
            base = cls.__qualname__.replace(".", "_").replace("<", "").replace(">", "")
            if not base.isidentifier() or base.startswith("_") or keyword.iskeyword(base):
                base = "C" + base.lstrip("_")
            if base in _RESERVED or not base.isidentifier():
                base = f"{base}_" if base.isidentifier() else "Class"
            name, n = base, 1
            while name in self.alias_names:
                n += 1
                name = f"{base}_{n}"
            self.alias_names.add(name)
            self.aliases[cls] = name
        return name

    def expr(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            return _string(value)
        if kind is int:
            return str(value)
        if value is None or kind is bool:
            return str(value)
        if kind is float:
            text = float_text(value)
            if text is None:
                return f'float("{value}")'
            return text
        if kind is bytes:
            return repr(value)
        if kind is tuple:
            inner = ", ".join([self.expr(v) for v in value])
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if kind is frozenset:
            if not value:
                return "frozenset()"
            return f"frozenset({{{self.members(value)}}})"
        if isinstance(value, enum.Enum):
            alias = self.alias(kind)
            name = value.name
            if name.isidentifier() and not keyword.iskeyword(name):
                return f"{alias}.{name}"
            return f"{alias}[{_string(name)}]"
        return self.node(value, kind)

    def members(self, items: Any) -> str:
        return ", ".join(sorted([self.expr(v) for v in items]))

    def literal(self, value: Any, kind: type) -> str:
        if kind is list:
            return "[" + ", ".join([self.expr(v) for v in value]) + "]"
        if kind is dict:
            return (
                "{" + ", ".join([f"{self.expr(k)}: {self.expr(v)}" for k, v in value.items()]) + "}"
            )
        if not value:
            return "set()"
        return "{" + self.members(value) + "}"

    def node(self, value: Any, kind: type) -> str:
        key = id(value)
        number = self.ids.get(key)
        if number is not None:
            if number in self.open:
                self.shelled.add(number)
            return f"_{number}"
        container = kind is list or kind is dict or kind is set
        if container and not self.census.shared(value):
            return self.literal(value, kind)
        number = self.ids[key] = len(self.ids)
        slot = len(self.lines)
        self.lines.append(None)  # where a shell goes if this node turns out to be in a cycle
        self.open.add(number)
        name = f"_{number}"
        if container:
            body = self.literal(value, kind)
            self.lines[slot] = f"{name} = {kind.__name__}()\n"
            self.lines.append(f"fill({name}, {body})\n")
        else:
            alias = self.alias(kind)
            body = self.expr(self.census.states[key])
            if number in self.shelled:
                self.lines[slot] = f"{name} = shell({alias})\n"
                self.lines.append(f"fill({name}, {body})\n")
            else:
                self.lines.append(f"{name} = make({alias}, {body})\n")
        self.open.discard(number)
        return name


def dumps(root: object) -> bytes:
    """The TAS (Python source, UTF-8) of a tree."""
    try:
        return _Writer(root).text.encode("utf-8")
    except RecursionError:
        raise DataError("the object tree is nested too deeply to save") from None


def loads(data: bytes, *, trusted: bool = False, filename: str = "<tas>") -> object:
    """Rebuild a tree from TAS bytes; see the module docstring for what runs and when."""
    from ._tas_read import read

    return read(data, trusted=trusted, filename=filename)
