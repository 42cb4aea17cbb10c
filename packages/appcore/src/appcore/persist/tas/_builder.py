"""Creating the objects a TAS file declares and applying their values in file order.

:class:`Builder` takes a chunk of generated lines whose values are all JSON (the fast path)
or a whole :class:`._tas_program.Program`; most runs of objects are restored in bulk, with
C calls only (see :meth:`Builder.apply`).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Sequence
from itertools import compress, repeat
from operator import attrgetter, itemgetter, not_
from typing import Any

from appcore._errors import DataError
from appcore.persist._graph import fill_container, new_instance, resolve_class, set_state
from appcore.persist._persistent import VERSION_KEY, Persistent
from appcore.persist.tas._grammar import RUNTIME_NAMES
from appcore.persist.tas._program import (
    CLS,
    CONTAINERS,
    FILL,
    ID,
    MAKE,
    NAME,
    ROOT,
    Alias,
    Program,
    version_number,
)
from appcore.persist.tas._values import (
    STRING_BAD,
    References,
    Unresolved,
    Values,
    json_between_strings,
    json_texts,
)

# The chunked reading splits the shapes of ``_tas_program._LINE`` in two: lines that carry a
# value to apply to an object (almost all of them), and the rest.
# 1 "fill(" or None, 2 id, 3 the make part, 4 alias, 5 value
_RECORD = re.compile(rf"(fill\()?_{ID}(?(1)|( = make\({NAME})), (.+)\)")
_OTHER = re.compile(
    r"[ \t]*(?:#.*)?"  # blank or comment: no group
    rf"|_{ID} = (?:shell\({NAME}\)|(list|dict|set)\(\))"  # 1 id, 2 alias or 3 kind
    rf"|{CLS}"  # 4 alias, 5 class path, 6 version
    r"|application = (.+)"  # 7 root
)
_second = itemgetter(1)
_first = itemgetter(0)
_instance_dict = attrgetter("__dict__")


class Again(Exception):
    """The chunked reading cannot take this file: read it again as a whole."""


NO_ROOT: Any = object()


class Builder:
    """Creates objects and applies their values, chunk by chunk or for a whole program."""

    def __init__(self, filename: str = "<tas>") -> None:
        self.filename = filename
        self.classes: dict[str, type] = {}
        self.table = References()
        self.shared: set[int] = set()  # ids of lists, dicts and sets declared by statements
        self.plain: dict[type, int] = {}  # class -> version when restored by __dict__ update
        self.versions: dict[type, int] = {}  # class -> version its cls line gives
        self.root: Any = NO_ROOT
        decoder: Any = json.JSONDecoder(parse_float=self.table.__getitem__, parse_constant=_refuse)
        self.scan: Any = decoder.scan_once  # the C scanner: one value at an index

    def chunk(self, text: str) -> bool:
        """Read a chunk of generated lines, all values JSON; False when it needs ``run``."""
        if "\r" in text or "\x00" in text:
            return False
        lines = text.split("\n")
        found = list(map(_RECORD.fullmatch, lines))
        declared: list[Alias] = []
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
                declared.append((m[4], json.loads(m[5]), version_number(m[6])))
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
        if "\\" in "".join(values) and any(map(STRING_BAD.search, values)):
            return False  # an escape JSON reads unlike Python
        keys, targets = self.declare(declared, shells, containers, numbers, aliases)
        results = self.decode(json_texts(values))
        if results is None:
            results = self.decode(json_between_strings(values))
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
        except (ValueError, Unresolved):
            return None
        if len(results) != len(texts) or list(map(_second, results)) != list(map(len, texts)):
            return None  # the scanner's StopIteration ends map early; trailing text
        return results

    def declare(
        self,
        declared: list[Alias],
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
                raise Again  # bound twice: the whole-file reading decides which binding holds
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
            container = CONTAINERS[kind]()
            self.shared.add(id(container))
            table["0e" + number] = container
            keys.append("0e" + number)
        if len(table) != before + len(keys):
            raise Again  # an object defined twice
        return keys, created[:made]

    def bind(self, alias: str, path: str, version: int | None) -> None:
        cls = self.classes[alias] = resolve_class(path)
        if version is not None and self.versions.setdefault(cls, version) != version:
            raise DataError(f"{self.filename}: {path} is given two versions")

    def undo(self, keys: list[str], declared: list[Alias]) -> None:
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

    def run(self, program: Program, *, chunked: bool) -> None:
        """Create a program's objects, decode its values, then apply them in file order."""
        classes = self.classes
        aliases = program.aliases
        if not chunked:  # as the reader always did: the last binding of an alias holds
            aliases = list({alias[0]: alias for alias in aliases}.values())
        for alias, path, version in aliases:
            if alias in RUNTIME_NAMES:
                raise DataError(f"{self.filename}: {alias} cannot name a class")
            if chunked and alias in classes:
                raise Again
            self.bind(alias, path, version)
        table = self.table
        for number, alias in program.creates:
            key = f"0e{number}"
            if key in table:
                raise DataError(f"{self.filename}: _{number} is defined twice")
            cls = classes.get(alias)
            if cls is None:
                container = CONTAINERS.get(alias)
                if container is None:
                    raise DataError(f"{self.filename}: {alias} is not bound by a cls(...) line")
                table[key] = container()
                self.shared.add(id(table[key]))
            else:
                table[key] = new_instance(cls)
        values = Values(table, classes, self.scan)
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


def _refuse(text: str) -> Any:
    raise ValueError(text)
