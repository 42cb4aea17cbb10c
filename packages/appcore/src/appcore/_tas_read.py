"""Reading TAS files: a no-exec reader for generated statements, and trusted execution.

The reader never runs the file. It goes through it in chunks of whole lines, so memory stays
small however large the file is. In each chunk it matches every line against the statement
shapes the writer produces, creates the objects the chunk declares (``cls.__new__``), decodes
the values and applies them in file order, which the writer makes children-first as pickle
does. Values that are plain JSON once ``None``/``True``/``False`` and ``_N`` references are
spelled the JSON way go through the C JSON scanner, one line at a time; a chunk with any other
value (bytes, tuples, sets, enums, a comment added at the end of a line) is read line by line,
and those values are parsed with :mod:`ast` and evaluated by a small evaluator that accepts
literals, references and a few constructors, nothing else. Most runs of objects are restored
in bulk, with C calls only (see :meth:`_Builder.apply`).

A file the chunked reading cannot take (a statement spread over several lines, a reference
to an object defined further down, code a person added) is read again as a whole: the lines
are parsed (the whole file with :mod:`ast` when a statement spans lines), every declared
object is created up front, and only then are the values applied. That careful reading is
also the one that reports errors, so every error reads the same whichever path met it first.

Why not ``ast.parse`` every file: for 100,000 services it takes seconds and a gigabyte,
which is exactly the cost that made the incumbent's source format unusable at that size.

JSON and Python agree on the subset used here except in spots the reader checks for first
(``\\/`` escapes, surrogate escapes, JSON-only words, digits glued to a reference); a line
with any of them is decoded by the ``ast`` evaluator instead, so both paths always give what
Python itself would.
"""

from __future__ import annotations

import ast
import bisect
import codecs
import enum
import json
import re
import warnings
from collections import deque
from collections.abc import Sequence
from itertools import compress, repeat
from operator import attrgetter, itemgetter, not_
from typing import Any

from ._errors import AppcoreError, DataError
from ._graph import (
    enum_member,
    fill_container,
    new_instance,
    resolve_class,
    set_state,
)
from ._persistent import VERSION_KEY, Persistent
from ._tas import RUNTIME_NAMES

_ID = r"(0|[1-9][0-9]*)"
_NAME = r"([A-Za-z][A-Za-z0-9_]*)"
_CLS = rf"{_NAME} = cls\((\"[^\"\\]*\")(?:, version={_ID})?\)"  # alias, class path, version
_LINE = re.compile(
    rf"{_CLS}"  # 1 alias, 2 class path, 3 version
    rf"|_{_ID} = make\({_NAME}, (.+)\)"  # 4 id, 5 alias, 6 state
    rf"|_{_ID} = shell\({_NAME}\)"  # 7 id, 8 alias
    rf"|_{_ID} = (list|dict|set)\(\)"  # 9 id, 10 container kind
    rf"|fill\(_{_ID}, (.+)\)"  # 11 id, 12 value
    r"|application = (.+)"  # 13 root
)
# The chunked reading splits the same shapes in two: lines that carry a value to apply to an
# object (almost all of them), and the rest.
# 1 "fill(" or None, 2 id, 3 the make part, 4 alias, 5 value
_RECORD = re.compile(rf"(fill\()?_{_ID}(?(1)|( = make\({_NAME})), (.+)\)")
_OTHER = re.compile(
    r"[ \t]*(?:#.*)?"  # blank or comment: no group
    rf"|_{_ID} = (?:shell\({_NAME}\)|(list|dict|set)\(\))"  # 1 id, 2 alias or 3 kind
    rf"|{_CLS}"  # 4 alias, 5 class path, 6 version
    r"|application = (.+)"  # 7 root
)
_STRING = re.compile(r'("[^"\\\n]*(?:\\[^\n][^"\\\n]*)*")')
# Outside strings: what JSON would read differently from Python, or what would collide with
# the spelling references get (0eN): such lines take the ast path.
_BAD_UNDERSCORE = re.compile(r"_(?:(?<=\w_)|(?!\d)|\d++\w|0\d)")
_OUTER_CHECKS = [
    (needle, re.compile(pattern))
    for needle, pattern in (
        ("null", r"\bnull\b"),
        ("true", r"\btrue\b"),
        ("false", r"\bfalse\b"),
        ("NaN", r"\bNaN\b"),
        ("Infinity", r"\bInfinity\b"),
        ("0e", r"(?<![\w.])0e"),
        ("0E", r"(?<![\w.])0E"),
        ("-", r"-\s*_"),
    )
]
_STRING_BAD = re.compile(r"\\(?:/|u[dD][89abAB])")
_WORDS = (
    ("None", re.compile(r"\bNone\b"), "null"),
    ("True", re.compile(r"\bTrue\b"), "true"),
    ("False", re.compile(r"\bFalse\b"), "false"),
)
# Where a reference may stand in generated text: after these, or at the start of a value.
_BEFORE_REFERENCE = (" _", "[_", "(_", "{_", "\n_")
_CHUNK_BYTES = 1 << 18
_second = itemgetter(1)
_first = itemgetter(0)
_instance_dict = attrgetter("__dict__")


_Alias = tuple[str, str, int | None]  # alias, class path, version


class _NotGenerated(Exception):
    """A statement or value the writer never produces: the file holds hand-written code."""


class _Unresolved(Exception):
    pass


class _Again(Exception):
    """The chunked reading cannot take this file: read it again as a whole."""


class _Program:
    """The statements of a file, split into what to create and what to apply, in order."""

    def __init__(self) -> None:
        self.aliases: list[_Alias] = []  # in file order
        self.creates: list[tuple[int, str]] = []  # (id, alias or container kind)
        self.steps: list[tuple[int, int]] = []  # (MAKE / FILL / ROOT, id)
        self.payloads: list[str | ast.expr] = []  # one value per step: source text or node

    def add(self, node: ast.stmt) -> None:
        """Add a parsed statement; _NotGenerated unless it has a generated shape."""
        if isinstance(node, ast.Expr):
            target, value = _call(node.value, "fill", 2)
            self.steps.append((FILL, _ref_id(target)))
            self.payloads.append(value)
            return
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            raise _NotGenerated
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            raise _NotGenerated
        if target.id == "application":
            self.steps.append((ROOT, -1))
            self.payloads.append(node.value)
            return
        if not target.id.startswith("_"):
            (path,) = _call(node.value, "cls", 1, ("version",))
            if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
                raise _NotGenerated
            version = None
            if isinstance(node.value, ast.Call) and node.value.keywords:
                given = node.value.keywords[0].value
                if not (isinstance(given, ast.Constant) and type(given.value) is int):
                    raise _NotGenerated
                version = given.value
            self.aliases.append((_alias_name(target), path.value, version))
            return
        number = _ref_id(target)
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            if call.func.id == "make":
                alias, state = _call(call, "make", 2)
                self.creates.append((number, _alias_name(alias)))
                self.steps.append((MAKE, number))
                self.payloads.append(state)
                return
            if call.func.id == "shell":
                (alias,) = _call(call, "shell", 1)
                self.creates.append((number, _alias_name(alias)))
                return
            if call.func.id in _CONTAINERS:
                _call(call, call.func.id, 0)
                self.creates.append((number, call.func.id))
                return
        raise _NotGenerated


MAKE, FILL, ROOT = 0, 1, 2
_CONTAINERS: dict[str, type] = {"list": list, "dict": dict, "set": set}


def read(data: bytes, *, trusted: bool, filename: str) -> object:
    try:
        return _read_chunks(data)
    except Exception:  # the whole-file reading below decides, and reports any error
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{filename} is not UTF-8 text: {err}") from None
    text = text.removeprefix("\ufeff")
    try:
        program = _by_lines(text)
        if program is None:
            program = _by_tree(text, filename)
        if program is not None:
            try:
                return _build(program, filename)
            except _NotGenerated:
                pass  # a value the writer never produces: hand-written code after all
        if not trusted:
            raise DataError(
                f"{filename} holds code that appcore did not generate; it runs only when "
                "trusted (pass --trust-source, or trusted=True)"
            )
        return _execute(text, filename)
    except AppcoreError:
        raise
    except RecursionError:
        raise DataError(f"{filename} is nested too deeply") from None
    except Exception as err:
        raise DataError(f"bad TAS content in {filename}: {type(err).__name__}: {err}") from None


def _read_chunks(data: bytes) -> object:
    """Read a file in chunks of whole lines; any exception means: read it as a whole."""
    builder = _Builder()
    view = memoryview(data)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    size = len(data)
    while start < size:
        end = data.find(b"\n", start + _CHUNK_BYTES)
        end = size if end < 0 else end + 1
        text = str(view[start:end], "utf-8")  # a newline never splits a UTF-8 sequence
        if not builder.chunk(text):
            program = _by_lines(text)
            if program is None:
                raise _Again
            builder.run(program, chunked=True)
        start = end
    if builder.root is _NO_ROOT:
        raise _Again
    return builder.root


def _by_lines(text: str) -> _Program | None:
    """The program from a line-by-line match; None when some line needs the whole-file parse."""
    program = _Program()
    creates = program.creates
    steps = program.steps
    payloads = program.payloads
    match = _LINE.fullmatch
    for line in text.split("\n"):
        m = match(line.removesuffix("\r"))
        if m is None:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                tree = _parse(line, "exec")
            except SyntaxError:
                return None  # maybe a statement spread over lines: parse the whole file
            if not isinstance(tree, ast.Module) or len(tree.body) != 1:
                return None
            try:
                program.add(tree.body[0])
            except _NotGenerated:
                return None
            continue
        last = m.lastindex
        if last == 6:
            number = int(m[4])
            creates.append((number, m[5]))
            steps.append((MAKE, number))
            payloads.append(m[6])
        elif last == 8:
            creates.append((int(m[7]), m[8]))
        elif last == 12:
            steps.append((FILL, int(m[11])))
            payloads.append(m[12])
        elif last == 2 or last == 3:
            program.aliases.append((m[1], json.loads(m[2]), _version(m[3])))
        elif last == 10:
            creates.append((int(m[9]), m[10]))
        else:
            steps.append((ROOT, -1))
            payloads.append(m[13])
    return program


def _by_tree(text: str, filename: str) -> _Program | None:
    """The program from a whole-file parse; None when the file holds other code."""
    try:
        tree = _parse(text, "exec", filename)
    except SyntaxError as err:
        raise DataError(f"{filename}:{err.lineno}: syntax error: {err.msg}") from None
    program = _Program()
    assert isinstance(tree, ast.Module)
    try:
        for statement in tree.body:
            program.add(statement)
    except _NotGenerated:
        return None
    return program


def _ref_id(node: ast.expr) -> int:
    if isinstance(node, ast.Name) and re.fullmatch(r"_" + _ID, node.id):
        return int(node.id[1:])
    raise _NotGenerated


def _call(node: ast.expr, name: str, arity: int, keywords: tuple[str, ...] = ()) -> list[ast.expr]:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
        and len(node.args) == arity
        and all(k.arg in keywords for k in node.keywords)
        and len(node.keywords) <= len(keywords)
        and not any(isinstance(a, ast.Starred) for a in node.args)
    ):
        return node.args
    raise _NotGenerated


def _alias_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name) and re.fullmatch(_NAME, node.id):
        return node.id
    raise _NotGenerated


class _References(dict[str, Any]):
    """Every object so far, by the JSON spelling of its reference (``_N`` -> ``0eN``).

    Its ``__getitem__`` is the JSON decoder's ``parse_float``: a reference gives its object,
    any other float text parses as a float.
    """

    def __missing__(self, text: str) -> Any:
        if text.startswith("0e"):
            raise _Unresolved(text[2:])
        return float(text)


_NO_ROOT: Any = object()
_MISSING: Any = object()


class _Builder:
    """Creates objects and applies their values, chunk by chunk or for a whole program."""

    def __init__(self, filename: str = "<tas>") -> None:
        self.filename = filename
        self.classes: dict[str, type] = {}
        self.table = _References()
        self.shared: set[int] = set()  # ids of lists, dicts and sets declared by statements
        self.plain: dict[type, int] = {}  # class -> version when restored by __dict__ update
        self.versions: dict[type, int] = {}  # class -> version its cls line gives
        self.root: Any = _NO_ROOT
        decoder: Any = json.JSONDecoder(parse_float=self.table.__getitem__, parse_constant=_refuse)
        self.scan: Any = decoder.scan_once  # the C scanner: one value at an index

    def chunk(self, text: str) -> bool:
        """Read a chunk of generated lines, all values JSON; False when it needs ``run``."""
        if "\r" in text or "\x00" in text:
            return False
        lines = text.split("\n")
        found = list(map(_RECORD.fullmatch, lines))
        declared: list[_Alias] = []
        shells: list[tuple[str, str]] = []
        containers: list[tuple[str, str]] = []
        roots: list[str] = []
        other = _OTHER.fullmatch
        for line, m in zip(lines, found, strict=True):
            if m is not None:
                continue
            m = other(line)
            if m is None:
                return False
            last = m.lastindex
            if last == 2:
                shells.append((m[1], m[2]))
            elif last == 3:
                containers.append((m[1], m[3]))
            elif last == 5 or last == 6:
                declared.append((m[4], json.loads(m[5]), _version(m[6])))
            elif last == 7:
                roots.append(m[7])
        records = list(map(re.Match.groups, filter(None, found)))
        fills: tuple[str | None, ...] = ()
        numbers: tuple[str, ...] = ()
        aliases: tuple[str | None, ...] = ()
        payloads: tuple[str, ...] = ()
        if records:
            fills, numbers, _, aliases, payloads = zip(*records, strict=True)
        values = [*payloads, *roots]
        if "\\" in "".join(values) and any(map(_STRING_BAD.search, values)):
            return False  # an escape JSON reads unlike Python
        keys, targets = self.declare(declared, shells, containers, numbers, aliases)
        results = self.decode(_json_texts(values))
        if results is None:
            results = self.decode(_json_between_strings(values))
        if results is None:
            self.undo(keys, declared)
            return False
        if roots:
            self.root = results[-1][0]
        if any(fills):  # the objects filled were made earlier: put them in their places
            for index in compress(range(len(fills)), fills):
                targets.insert(index, self.table["0e" + numbers[index]])
        self.apply(targets, list(map(_first, results[: len(numbers)])), fills)
        return True

    def decode(self, texts: list[str] | None) -> list[tuple[Any, int]] | None:
        """Each text's value (and where it ends); None unless every text is exactly one."""
        if texts is None:
            return None
        try:
            results = list(map(self.scan, texts, repeat(0)))
        except (ValueError, _Unresolved):
            return None
        if len(results) != len(texts) or list(map(_second, results)) != list(map(len, texts)):
            return None  # the scanner's StopIteration ends map early; trailing text
        return results

    def declare(
        self,
        declared: list[_Alias],
        shells: list[tuple[str, str]],
        containers: list[tuple[str, str]],
        numbers: tuple[str, ...],
        aliases: tuple[str | None, ...],
    ) -> tuple[list[str], list[Any]]:
        """Bind a chunk's class aliases and create its objects.

        Returns the keys of every object created (what to undo if the chunk fails) and the
        objects the chunk's ``make`` lines build, in order.
        """
        classes = self.classes
        table = self.table
        for alias, path, version in declared:
            if alias in classes or alias in RUNTIME_NAMES:
                raise _Again  # bound twice: the whole-file reading decides which binding holds
            self.bind(alias, path, version)
        keys = [*map("0e".__add__, compress(numbers, aliases))]
        kinds = [*map(classes.__getitem__, filter(None, aliases))]
        for number, alias in shells:
            keys.append("0e" + number)
            kinds.append(classes[alias])
        made = len(kinds) - len(shells)
        if all(_plain_new(cls) for cls in set(kinds)):
            created = list(map(object.__new__, kinds))
        else:
            created = list(map(new_instance, kinds))
        before = len(table)
        table.update(zip(keys, created, strict=True))
        for number, kind in containers:
            container = _CONTAINERS[kind]()
            self.shared.add(id(container))
            table["0e" + number] = container
            keys.append("0e" + number)
        if len(table) != before + len(keys):
            raise _Again  # an object defined twice
        return keys, created[:made]

    def bind(self, alias: str, path: str, version: int | None) -> None:
        cls = self.classes[alias] = resolve_class(path)
        if version is not None and self.versions.setdefault(cls, version) != version:
            raise DataError(f"{self.filename}: {path} is given two versions")

    def undo(self, keys: list[str], declared: list[_Alias]) -> None:
        for key in keys:
            obj = self.table.pop(key)
            self.shared.discard(id(obj))
        for alias, _, version in declared:
            cls = self.classes.pop(alias)
            if version is not None:
                self.versions.pop(cls, None)

    def apply(
        self, targets: Sequence[Any], values: Sequence[Any], fills: Sequence[str | None]
    ) -> None:
        """Give each object its state, in file order (``make`` or ``fill``).

        Most objects are of a class whose state ``set_state`` would just put in ``__dict__``
        (no ``__setstate__``, no upgrade due). Runs of those are restored in bulk with C
        calls only; the others, one by one, with ``set_state`` or ``fill_container``.
        """
        plain = self.plain
        kinds = list(map(type, targets))
        for kind in set(kinds).difference(plain):
            plain[kind] = _plain_version(kind)
        versions = list(map(plain.__getitem__, kinds))
        saved = list(map(self.versions.get, kinds, repeat(1)))
        shared = self.shared
        singles = list(compress(range(len(kinds)), map(not_, versions)))
        if set(map(type, values)) != {dict} or not shared.isdisjoint(map(id, values)):
            singles = [
                i
                for i, (version, value) in enumerate(zip(versions, values, strict=True))
                if not version or type(value) is not dict or id(value) in shared
            ]
        start = 0
        for stop in [*singles, len(kinds)]:
            if start < stop:
                states = values[start:stop]
                self.restore(targets[start:stop], states, versions[start:stop], saved[start:stop])
            if stop < len(kinds):
                obj, value = targets[stop], values[stop]
                if isinstance(obj, Persistent) and type(value) is dict and VERSION_KEY not in value:
                    value = {**value, VERSION_KEY: saved[stop]}
                if fills[stop]:
                    fill_container(obj, value)
                else:
                    set_state(obj, value)
            start = stop + 1

    @staticmethod
    def restore(
        targets: Sequence[Any], states: Sequence[Any], versions: list[int], saved: list[int]
    ) -> None:
        """What ``set_state`` does for plain classes, without copying the states first."""
        stored = list(map(dict.pop, states, repeat(VERSION_KEY), saved))
        if stored == versions:
            deque(map(dict.update, map(_instance_dict, targets), states), maxlen=0)
            return
        for obj, state, version in zip(targets, states, stored, strict=True):
            obj.__dict__.update(state)
            obj.upgrade_from(version)

    def run(self, program: _Program, *, chunked: bool) -> None:
        """Create a program's objects, decode its values, then apply them in file order."""
        classes = self.classes
        aliases = program.aliases
        if not chunked:  # as the reader always did: the last binding of an alias holds
            aliases = list({alias[0]: alias for alias in aliases}.values())
        for alias, path, version in aliases:
            if alias in RUNTIME_NAMES:
                raise DataError(f"{self.filename}: {alias} cannot name a class")
            if chunked and alias in classes:
                raise _Again
            self.bind(alias, path, version)
        table = self.table
        for number, alias in program.creates:
            key = f"0e{number}"
            if key in table:
                raise DataError(f"{self.filename}: _{number} is defined twice")
            cls = classes.get(alias)
            if cls is None:
                container = _CONTAINERS.get(alias)
                if container is None:
                    raise DataError(f"{self.filename}: {alias} is not bound by a cls(...) line")
                table[key] = container()
                self.shared.add(id(table[key]))
            else:
                table[key] = new_instance(cls)
        values = _Values(table, classes, self.scan)
        payloads = program.payloads
        texts = [p for p in payloads if type(p) is str]
        if len(texts) == len(payloads):
            decoded = values.texts(texts)
        else:
            from_text = iter(values.texts(texts) if texts else ())
            decoded = [next(from_text) if type(p) is str else values.node(p) for p in payloads]  # type: ignore[arg-type]
        targets: list[Any] = []
        states: list[Any] = []
        fills: list[str | None] = []
        for (kind, number), value in zip(program.steps, decoded, strict=True):
            if kind == ROOT:
                self.root = value
                continue
            targets.append(table[f"0e{number}"] if kind == MAKE else values.ref(number))
            states.append(value)
            fills.append("fill" if kind == FILL else None)
        self.apply(targets, states, fills)


def _version(text: str | None) -> int | None:
    return None if text is None else int(text)


def _plain_new(cls: type) -> bool:
    new: Any = cls.__new__
    return new is object.__new__


def _plain_version(cls: type) -> int:
    """The class version when ``set_state`` would just update ``__dict__``; else 0."""
    if not issubclass(cls, Persistent) or issubclass(cls, list | dict | set):
        return 0
    if getattr(cls, "__setstate__", None) is not None or hasattr(cls, "__getattr__"):
        return 0
    if cls.upgrade_from is not Persistent.upgrade_from:
        return 0
    if cls.__getattribute__ is not object.__getattribute__:
        return 0
    version = cls.persistence_version
    return version if type(version) is int and version >= 1 else 0


def _json_texts(texts: list[str]) -> list[str] | None:
    """The values as JSON text, one per line, changed as a whole; None when it cannot be.

    ``_N`` becomes ``0eN`` and ``None``, ``True`` and ``False`` become JSON's words, each with
    a tab in front. Outside strings the tab is mere whitespace; inside a string JSON refuses a
    raw tab, so a change that landed in a string makes its line fail to decode (and the chunk
    is decoded again by :func:`_json_between_strings`). What this cannot tell apart: JSON-only
    words and numbers spelled like a reference (``0e5``) outside strings or inside.
    """
    if not texts:
        return []
    joined = "\n".join(texts)
    if any(word in joined for word in ("null", "true", "false", "0e")):
        return None
    for word, _, spelling in _WORDS:
        if word in joined:
            joined = joined.replace(word, "\t" + spelling)
    # The scanner reads no whitespace before a value: a line starting with a change loses its tab.
    joined = joined.replace("_", "\t0e").replace("\n\t", "\n").removeprefix("\t")
    return joined.split("\n")


def _json_between_strings(texts: list[str]) -> list[str] | None:
    """:func:`_json_texts` changing only the text between strings (split out first)."""
    if not texts:
        return []
    joined = "\n".join(texts)
    count = len(texts)
    if "\\" in joined:
        pieces = _STRING.split(joined)  # strings at odd places, with their quotes
        separator, joiner = "\x00", ""
    else:
        pieces = joined.split('"')  # without escapes every quote opens or closes a string
        separator, joiner = '"', '"'
    outer = separator.join(pieces[0::2])
    if outer.count("\n") != count - 1:
        return None  # a string left open at the end of a line
    for word in ("null", "true", "false", "NaN", "Infinity", "0e", "0E"):
        if word in outer:
            return None
    # Every underscore must open a reference; "1_0" or "-_1" would read as JSON numbers.
    if outer.count("_") != sum(map(outer.count, _BEFORE_REFERENCE)) + outer.startswith("_"):
        return None
    for word, _, spelling in _WORDS:
        if word in outer:
            outer = outer.replace(word, spelling)  # inside a name it stays invalid JSON
    pieces[0::2] = outer.replace("_", "0e").split(separator)
    return joiner.join(pieces).split("\n")


class _Values:
    """Decodes value payloads (source text or ast nodes) against the declared objects."""

    def __init__(self, table: _References, classes: dict[str, type], scan: Any) -> None:
        self.table = table
        self.classes = classes
        self.scan = scan

    def ref(self, number: int) -> Any:
        found = self.table.get(f"0e{number}", _MISSING)
        if found is _MISSING:
            raise DataError(f"the file refers to _{number}, which it never defines")
        return found

    def node(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if type(node.value) in (str, bytes, int, float, bool) or node.value is None:
                return node.value
        elif isinstance(node, ast.Name):
            return self.ref(_ref_id(node))
        elif isinstance(node, ast.List):
            return [self.node(n) for n in node.elts]
        elif isinstance(node, ast.Tuple):
            return tuple(self.node(n) for n in node.elts)
        elif isinstance(node, ast.Set):
            return self.hashed(set, node.elts)
        elif isinstance(node, ast.Dict):
            return self.mapping(node)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = node.operand
            if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
                number: Any = operand.value
                return -number if isinstance(node.op, ast.USub) else number
        elif isinstance(node, ast.Call):
            return self.call(node)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            return enum_member(self.enum(node.value), node.attr)
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return enum_member(self.enum(node.value), key.value)
        raise _NotGenerated

    def enum(self, node: ast.expr) -> Any:
        cls = self.classes.get(_alias_name(node))
        if cls is None or not issubclass(cls, enum.Enum):
            raise _NotGenerated
        return cls

    def hashed(self, kind: type, elts: list[ast.expr]) -> Any:
        try:
            return kind(self.node(n) for n in elts)
        except TypeError as err:
            raise DataError(f"bad set member: {err}") from None

    def mapping(self, node: ast.Dict) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise _NotGenerated
            try:
                result[self.node(key)] = self.node(value)
            except TypeError as err:
                raise DataError(f"bad dict key: {err}") from None
        return result

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise _NotGenerated
        name, args = node.func.id, node.args
        if name == "set" and not args:
            return set()
        if name == "frozenset" and not args:
            return frozenset()
        if name == "frozenset" and len(args) == 1 and isinstance(args[0], ast.Set):
            return self.hashed(frozenset, args[0].elts)
        if (
            name == "float"
            and len(args) == 1
            and isinstance(args[0], ast.Constant)
            and args[0].value in ("inf", "-inf", "nan")
        ):
            return float(args[0].value)
        raise _NotGenerated

    def texts(self, texts: list[str]) -> list[Any]:
        """Decode source texts, most through the JSON scanner; see the module docstring."""
        if not texts:
            return []
        joined = "\n".join(texts)
        if "\x00" in joined:
            raise _NotGenerated
        pieces = _STRING.split(joined)
        outer = "\x00".join(pieces[0::2])
        slow = _slow_lines(outer, joined)
        for word, pattern, spelling in _WORDS:
            if word in outer:
                outer = pattern.sub(spelling, outer)
        pieces[0::2] = outer.replace("_", "0e").split("\x00")
        scan = self.scan
        values: list[Any] = []
        append = values.append
        for index, line in enumerate("".join(pieces).split("\n")):
            if index not in slow:
                try:
                    value, end = scan(line, 0)
                    if end == len(line):
                        append(value)
                        continue
                except _Unresolved as missing:
                    raise DataError(
                        f"the file refers to _{missing}, which it never defines"
                    ) from None
                except (ValueError, StopIteration):
                    pass
            try:
                expression = _parse(texts[index].strip(), "eval").body  # type: ignore[attr-defined]
            except SyntaxError:
                raise _NotGenerated from None
            append(self.node(expression))
        return values


def _parse(text: str, mode: str, filename: str = "<tas>") -> ast.AST:
    # An invalid escape is a DeprecationWarning from the parser; Python would accept it, so
    # the reader does too, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename, mode)


def _refuse(text: str) -> Any:
    raise ValueError(text)


def _slow_lines(outer: str, joined: str) -> set[int]:
    """Lines the JSON scanner must not read (JSON would read them unlike Python).

    Cheap substring tests come first, so a generated file pays for one regex scan only.
    """
    positions = [m.start() for m in _BAD_UNDERSCORE.finditer(outer)]
    for needle, pattern in _OUTER_CHECKS:
        if needle in outer:
            positions += [m.start() for m in pattern.finditer(outer)]
    strings = [m.start() for m in _STRING_BAD.finditer(joined)] if "\\" in joined else []
    if not positions and not strings:
        return set()
    slow = {bisect.bisect_right(_newlines(outer), p) for p in positions}
    slow.update(bisect.bisect_right(_newlines(joined), p) for p in strings)
    return slow


def _newlines(text: str) -> list[int]:
    return [m.start() for m in re.finditer("\n", text)]


def _build(program: _Program, filename: str) -> object:
    builder = _Builder(filename)
    builder.run(program, chunked=False)
    if builder.root is _NO_ROOT:
        raise DataError(f"{filename} has no 'application = ...' line naming the root")
    return builder.root


def _execute(text: str, filename: str) -> object:
    """Run a trusted TAS file as Python, with the statement functions in its namespace."""

    versions: dict[type, int] = {}

    def cls(path: str, version: int | None = None) -> type:
        found = resolve_class(path)
        if version is not None:
            versions[found] = version
        return found

    def versioned(obj: Any, state: Any) -> Any:
        version = versions.get(type(obj))
        if version is None or not isinstance(obj, Persistent) or type(state) is not dict:
            return state
        return state if VERSION_KEY in state else {**state, VERSION_KEY: version}

    def make(klass: type, state: Any) -> Any:
        obj = new_instance(klass)
        set_state(obj, versioned(obj, state))
        return obj

    def fill(obj: Any, state: Any) -> None:
        fill_container(obj, versioned(obj, state))

    namespace: dict[str, Any] = {
        "__name__": "__tas__",
        "__file__": filename,
        "cls": cls,
        "make": make,
        "shell": new_instance,
        "fill": fill,
    }
    try:
        code = compile(text, filename, "exec")
    except SyntaxError as err:
        raise DataError(f"{filename}:{err.lineno}: syntax error: {err.msg}") from None
    try:
        exec(code, namespace)
    except AppcoreError:
        raise
    except Exception as err:
        raise DataError(f"running {filename} failed: {type(err).__name__}: {err}") from None
    if "application" not in namespace:
        raise DataError(f"{filename} does not set 'application'")
    return namespace["application"]
