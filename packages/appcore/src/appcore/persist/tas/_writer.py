"""TAS: an object tree as Python source, one statement per object.

A generated file looks like this (the header comment says the same)::

    # appcore TAS 1: ...
    Application = cls("appcore:Application", version=1)
    Service = cls("appcore:Service", version=1)
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

* A file holding only such statements is read **without running it** (:mod:`._reader`):
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
import io
import keyword
import re
from json.encoder import encode_basestring
from typing import Any, BinaryIO

from appcore._errors import DataError, InternalError
from appcore.persist._census import Census, own_state_skip
from appcore.persist._graph import float_text, int_text
from appcore.persist._persistent import VERSION_KEY, Persistent, class_path
from appcore.persist.tas._grammar import HEADER, RESERVED

_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: str) -> str:
    if not value.isascii() and _SURROGATE.search(value) is not None:
        return repr(value)  # lone surrogates: Python escapes them, JSON would pair them
    result: str = encode_basestring(value)
    return result


class _Writer:
    """Writes a tree children-first, one statement per object, in a single recursive walk.

    The census taken first says which objects sit on a cycle (their statement is split into
    ``shell`` and ``fill``) and which classes the file names, so statements go to the stream
    as they are made instead of being held until the end. The writer checks the census
    foresaw its walk (:meth:`foreseen`); :func:`dump` writes again in the rare case it did not.

    The walk is the hot path of saving 100,000 services, so plain values (strings, ints,
    None) are written inline where they are met rather than through :meth:`expr`, and an
    instance's attributes are read in place rather than copied into a state dict.
    """

    def __init__(self, census: Census, stream: BinaryIO) -> None:
        self.census = census
        self.multiple = census.multiple
        self.cyclic = census.cyclic
        self.write = stream.write
        self.out: list[str] = []  # statements not yet encoded and written
        self.names: dict[int, str] = {}  # id -> "_N" for objects reached more than once
        self.count = 0  # how many "_N" names are given so far
        self.open: set[int] = set()  # objects whose statement is not written yet
        self.reentered: set[int] = set()  # objects referred to while open: on a cycle
        self.met: dict[type, bool] = {}  # classes in the order met; True when as an instance
        self.aliases: dict[type, str] = {}
        self.alias_names: set[str] = set()
        self.keys: dict[str, str] = {}  # dict key -> its text, for str keys
        self.unforeseen = False  # an attribute name the lean census did not walk
        for cls in census.classes:
            self.alias(cls)

    def run(self, root: object) -> None:
        out = self.out
        out.append(HEADER)
        out += [
            self.declaration(cls, self.aliases[cls], as_instance)
            for cls, as_instance in self.census.classes.items()
        ]
        root_text = self.expr(root)
        out.append(f"application = {root_text}\n")
        self.flush()

    def flush(self) -> None:
        self.write("".join(self.out).encode("utf-8"))
        self.out.clear()

    def foreseen(self) -> bool:
        """Whether the census predicted this walk, so the statements written are right."""
        census = self.census
        return (
            not self.unforeseen
            and self.reentered == census.cyclic
            and list(self.met.items()) == list(census.classes.items())
        )

    @staticmethod
    def declaration(cls: type, alias: str, as_instance: bool) -> str:
        if as_instance and _versioned(cls):
            version = cls.persistence_version  # type: ignore[attr-defined]
            return f'{alias} = cls("{class_path(cls)}", version={version})\n'
        return f'{alias} = cls("{class_path(cls)}")\n'

    def alias(self, cls: type) -> str:
        name = self.aliases.get(cls)
        if name is None:
            base = cls.__qualname__.replace(".", "_").replace("<", "").replace(">", "")
            if not base.isidentifier() or base.startswith("_") or keyword.iskeyword(base):
                base = "C" + base.lstrip("_")
            if base in RESERVED or not base.isidentifier():
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
            return int_text(value)
        if value is None or kind is bool:
            return str(value)
        key = id(value)
        name = self.names.get(key)
        if name is not None:  # an instance or shared container met before
            if key in self.open:
                self.reentered.add(key)
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
            if kind not in self.met:
                self.met[kind] = False
            alias = self.alias(kind)
            member = value.name
            if member.isidentifier() and not keyword.iskeyword(member):
                return f"{alias}.{member}"
            return f"{alias}[{_string(member)}]"
        return self.node(value, kind, key)

    def members(self, items: Any) -> str:
        return ", ".join(sorted([self.expr(v) for v in items]))

    def mapping(
        self, value: dict[Any, Any], skip: frozenset[str] = frozenset(), in_place: bool = False
    ) -> str:
        """A dict's text without the str keys in ``skip``; ``in_place`` when it is an
        instance's own ``__dict__``, which a lean census walked without its keys."""
        keys = self.keys
        expr = self.expr
        parts = []
        for k, v in value.items():
            if type(k) is str:
                if k in skip:
                    continue
                key = keys.get(k)
                if key is None:
                    key = keys[k] = _string(k)
            else:
                if in_place:
                    self.unforeseen = True
                key = expr(k)
            kind = type(v)
            if kind is str:
                parts.append(f"{key}: {_string(v)}")
            elif kind is int:
                parts.append(f"{key}: {int_text(v)}")
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

    def node(self, value: Any, kind: type, key: int) -> str:
        container = kind is list or kind is dict or kind is set
        if container and key not in self.multiple:
            return self.literal(value, kind)  # reached once: written in place
        out = self.out
        name = f"_{self.count}"
        self.count += 1
        if key in self.multiple:
            self.names[key] = name
        self.open.add(key)
        if container:
            out.append(f"{name} = {kind.__name__}()\n")
            out.append(f"fill({name}, {self.literal(value, kind)})\n")
        else:
            if self.met.get(kind) is not True:
                self.met[kind] = True
            alias = self.aliases.get(kind) or self.alias(kind)
            cyclic = key in self.cyclic
            if cyclic:  # referred to before its state is complete: declared first
                out.append(f"{name} = shell({alias})\n")
            body = self.state(value, kind)
            if cyclic:
                out.append(f"fill({name}, {body})\n")
            else:
                out.append(f"{name} = make({alias}, {body})\n")
            if len(out) >= _CHUNK:
                self.flush()
        self.open.discard(key)
        return name

    def state(self, value: Any, kind: type) -> str:
        """The text of an instance's state (its version is on the ``cls`` line)."""
        census = self.census
        if census.lean:
            skip = own_state_skip(kind)
            if skip is not None:
                return self.mapping(value.__dict__, skip, in_place=True)
        state = census.states[id(value)]
        if type(state) is dict and id(state) not in self.multiple:  # the usual: a fresh copy
            return self.mapping(state, _VERSION_ONLY if _versioned(kind) else frozenset())
        return self.expr(state)


_CHUNK = 2048  # statements held before they are encoded and written
_VERSION_ONLY = frozenset({VERSION_KEY})


def _versioned(cls: type) -> bool:
    """Whether the states of ``cls`` carry an int version that the ``cls`` line can hold."""
    return issubclass(cls, Persistent) and type(cls.persistence_version) is int


def dump(root: object, stream: BinaryIO) -> None:
    """Write the TAS (Python source, UTF-8) of a tree to a binary stream as it is made.

    The stream must be seekable: when the census did not foresee the walk (attribute names
    that are not strings, a state dict also reached elsewhere) what was written is truncated
    and the tree written again with what the walk found. That costs time, never bytes.
    """
    start = stream.tell()
    try:
        census = Census(root, lean=True)
        for _ in range(3):
            writer = _Writer(census, stream)
            writer.run(root)
            if writer.foreseen():
                return
            stream.seek(start)
            stream.truncate()
            if writer.unforeseen:  # a full census counts right but foresees no order:
                census = Census(root)  # the next walk finds the order, the last one writes
            else:  # the census counted right, so the writer's walk is the one to foresee
                census.cyclic = writer.reentered
                census.classes = writer.met
    except RecursionError:
        raise DataError("the object tree is nested too deeply to save") from None
    raise InternalError("the TAS writer could not foresee its own walk")


def dumps(root: object) -> bytes:
    """The TAS (Python source, UTF-8) of a tree."""
    buffer = io.BytesIO()
    dump(root, buffer)
    return buffer.getvalue()
