"""TAS: an object tree as Python source, one statement per object.

A generated file looks like this (the header comment says the same)::

    # appcore TAS 1: ...
    Application = cls("appcore._service:Application", version=1)
    Service = cls("appcore._service:Service", version=1)
    _0 = shell(Application)
    _1 = make(Service, {"name": "web", "parent": _0})
    fill(_0, {"name": "app", "services": [_1]})
    application = _0

``cls`` names a registered class, ``make`` builds an object from its saved state, ``shell``
declares an object that is referred to before its state is complete (a cycle: a service and
its parent) and ``fill`` gives it that state. Shared lists, dicts and sets are declared the
same way (``_7 = list()`` then ``fill(_7, [...])``). Values are Python literals; strings
are written in the JSON-compatible subset of Python string syntax.

The ``version=`` on a ``cls`` line is the ``persistence_version`` every object of that
:class:`~appcore.Persistent` class was saved at (loading runs the upgrade steps from it). A
state holding its own ``"__version__"`` key overrides it, and without either the version is
1, which is how files written before the version moved to the ``cls`` line read.

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
from ._persistent import VERSION_KEY, Persistent, class_path

HEADER = (
    "# appcore TAS 1: an application saved as Python source, one statement per object.\n"
    "# cls() names a registered class (and the version its objects were saved at), make()\n"
    "# builds an object from its saved state, shell() declares an object used before its\n"
    "# state is complete and fill() completes it.\n"
    "# appcore reads these statements without running them; a file with any other code is\n"
    "# trusted Python (like a .tac file) and loads only with --trust-source / trusted=True.\n"
)
MAGIC = "# appcore TAS "
RUNTIME_NAMES = frozenset({"cls", "make", "shell", "fill", "application", "list", "dict", "set"})
_RESERVED = RUNTIME_NAMES | {"frozenset", "float", "None", "True", "False"}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: str) -> str:
    if not value.isascii() and _SURROGATE.search(value) is not None:
        return repr(value)  # lone surrogates: Python escapes them, JSON would pair them
    result: str = encode_basestring(value)
    return result


class _Writer:
    """Writes a tree children-first, one statement per object, in a single recursive walk.

    The walk is the hot path of saving 100,000 services, so plain values (strings, ints,
    None) are written inline where they are met rather than through :meth:`expr`.
    """

    def __init__(self, root: object) -> None:
        self.census = Census(root)
        self.counts = self.census.counts
        self.states = self.census.states
        self.names: dict[int, str] = {}  # id -> "_N" for instances and shared containers
        self.open: set[str] = set()  # names whose statement is not written yet
        self.shelled: set[str] = set()
        self.lines: list[str | None] = []
        self.aliases: dict[type, str] = {}
        self.alias_names: set[str] = set()
        self.keys: dict[str, str] = {}  # dict key -> its text, for str keys
        self.versioned: dict[type, bool] = {}  # class -> its version goes on the cls line
        root_text = self.expr(root)
        body = [HEADER]
        body += [self.declaration(c, name) for c, name in self.aliases.items()]
        body += filter(None, self.lines)
        del self.lines, self.census, self.states, self.counts, self.names  # before the join
        body.append(f"application = {root_text}\n")
        self.text = "".join(body)

    def declaration(self, cls: type, alias: str) -> str:
        if self.versioned.get(cls):
            version = cls.persistence_version  # type: ignore[attr-defined]
            return f'{alias} = cls("{class_path(cls)}", version={version})\n'
        return f'{alias} = cls("{class_path(cls)}")\n'

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
            return int.__repr__(value)
        if value is None or kind is bool:
            return str(value)
        name = self.names.get(id(value))
        if name is not None:  # an instance or shared container met before
            if name in self.open:
                self.shelled.add(name)
            return name
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
            member = value.name
            if member.isidentifier() and not keyword.iskeyword(member):
                return f"{alias}.{member}"
            return f"{alias}[{_string(member)}]"
        return self.node(value, kind)

    def members(self, items: Any) -> str:
        return ", ".join(sorted([self.expr(v) for v in items]))

    def mapping(self, value: dict[Any, Any]) -> str:
        keys = self.keys
        expr = self.expr
        parts = []
        for k, v in value.items():
            if type(k) is str:
                key = keys.get(k)
                if key is None:
                    key = keys[k] = _string(k)
            else:
                key = expr(k)
            kind = type(v)
            if kind is str:
                parts.append(f"{key}: {_string(v)}")
            elif kind is int:
                parts.append(f"{key}: {int.__repr__(v)}")
            elif v is None:
                parts.append(f"{key}: None")
            else:
                parts.append(f"{key}: {expr(v)}")
        return "{" + ", ".join(parts) + "}"

    def literal(self, value: Any, kind: type) -> str:
        if kind is dict:
            return self.mapping(value)
        if kind is list:
            return "[" + ", ".join([self.expr(v) for v in value]) + "]"
        if not value:
            return "set()"
        return "{" + self.members(value) + "}"

    def node(self, value: Any, kind: type) -> str:
        key = id(value)
        container = kind is list or kind is dict or kind is set
        if container and self.counts.get(key, 0) < 2:
            return self.literal(value, kind)  # reached once: written in place
        lines = self.lines
        name = self.names[key] = f"_{len(self.names)}"
        slot = len(lines)
        lines.append(None)  # where a shell goes if this node turns out to be in a cycle
        self.open.add(name)
        if container:
            body = self.literal(value, kind)
            lines[slot] = f"{name} = {kind.__name__}()\n"
            lines.append(f"fill({name}, {body})\n")
        else:
            alias = self.aliases.get(kind) or self.alias(kind)
            state = self.states.pop(key)  # written once: its memory goes as the walk goes
            versioned = self.versioned.get(kind)
            if versioned is None:
                versioned = self.versioned[kind] = _versioned(kind)
            if versioned:
                del state[VERSION_KEY]  # a copy made for this save: it is on the cls line
            if type(state) is dict and id(state) not in self.counts:  # the usual: a fresh copy
                body = self.mapping(state)
            else:
                body = self.expr(state)
            if name in self.shelled:
                lines[slot] = f"{name} = shell({alias})\n"
                lines.append(f"fill({name}, {body})\n")
            else:
                lines.append(f"{name} = make({alias}, {body})\n")
        self.open.discard(name)
        return name


def _versioned(cls: type) -> bool:
    """Whether the states of ``cls`` carry an int version that the ``cls`` line can hold."""
    return issubclass(cls, Persistent) and type(cls.persistence_version) is int


def dumps(root: object) -> bytes:
    """The TAS (Python source, UTF-8) of a tree."""
    try:
        text = _Writer(root).text  # the writer and its census are gone before encoding
    except RecursionError:
        raise DataError("the object tree is nested too deeply to save") from None
    return text.encode("utf-8")


def loads(data: bytes, *, trusted: bool = False, filename: str = "<tas>") -> object:
    """Rebuild a tree from TAS bytes; see the module docstring for what runs and when."""
    from ._tas_read import read

    return read(data, trusted=trusted, filename=filename)
