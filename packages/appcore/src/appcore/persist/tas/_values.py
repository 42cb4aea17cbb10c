"""Decoding TAS values: the JSON scanner where it reads as Python would, an ``ast`` evaluator else.

Values that are plain JSON once ``None``/``True``/``False`` and ``_N`` references are spelled
the JSON way (``_N`` -> ``0eN``, which the decoder's ``parse_float`` turns into the object)
go through the C JSON scanner; other values (bytes, tuples, sets, enums) are parsed with
:mod:`ast` and evaluated by a small evaluator that accepts literals, references and a few
constructors, nothing else.

JSON and Python agree on the subset used here except in spots the reader checks for first
(``\\/`` escapes, surrogate escapes, JSON-only words, digits glued to a reference); a line
with any of them is decoded by the ``ast`` evaluator instead, so both paths always give what
Python itself would.
"""

from __future__ import annotations

import ast
import bisect
import enum
import re
from typing import Any

from appcore._errors import DataError
from appcore.persist._graph import enum_member
from appcore.persist.tas._program import NotGenerated, alias_name, parse, ref_id

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
STRING_BAD = re.compile(r"\\(?:/|u[dD][89abAB])")
_WORDS = (
    ("None", re.compile(r"\bNone\b"), "null"),
    ("True", re.compile(r"\bTrue\b"), "true"),
    ("False", re.compile(r"\bFalse\b"), "false"),
)
# Where a reference may stand in generated text: after these, or at the start of a value.
_BEFORE_REFERENCE = (" _", "[_", "(_", "{_", "\n_")


class Unresolved(Exception):
    pass


class References(dict[str, Any]):
    """Every object so far, by the JSON spelling of its reference (``_N`` -> ``0eN``).

    Its ``__getitem__`` is the JSON decoder's ``parse_float``: a reference gives its object,
    any other float text parses as a float.
    """

    def __missing__(self, text: str) -> Any:
        if text.startswith("0e"):
            raise Unresolved(text[2:])
        return float(text)


_MISSING: Any = object()


def json_texts(texts: list[str]) -> list[str] | None:
    """The values as JSON text, one per line, changed as a whole; None when it cannot be.

    ``_N`` becomes ``0eN`` and ``None``, ``True`` and ``False`` become JSON's words, each with
    a tab in front. Outside strings the tab is mere whitespace; inside a string JSON refuses a
    raw tab, so a change that landed in a string makes its line fail to decode (and the chunk
    is decoded again by :func:`json_between_strings`). What this cannot tell apart: JSON-only
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


def json_between_strings(texts: list[str]) -> list[str] | None:
    """:func:`json_texts` changing only the text between strings (split out first)."""
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


class Values:
    """Decodes value payloads (source text or ast nodes) against the declared objects."""

    def __init__(self, table: References, classes: dict[str, type], scan: Any) -> None:
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
            return self.ref(ref_id(node))
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
        raise NotGenerated

    def enum(self, node: ast.expr) -> Any:
        cls = self.classes.get(alias_name(node))
        if cls is None or not issubclass(cls, enum.Enum):
            raise NotGenerated
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
                raise NotGenerated
            try:
                result[self.node(key)] = self.node(value)
            except TypeError as err:
                raise DataError(f"bad dict key: {err}") from None
        return result

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise NotGenerated
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
        raise NotGenerated

    def texts(self, texts: list[str]) -> list[Any]:
        """Decode source texts, most through the JSON scanner; see the module docstring."""
        if not texts:
            return []
        joined = "\n".join(texts)
        if "\x00" in joined:
            raise NotGenerated
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
                except Unresolved as missing:
                    raise DataError(
                        f"the file refers to _{missing}, which it never defines"
                    ) from None
                except (ValueError, StopIteration):
                    pass
            try:
                expression = parse(texts[index].strip(), "eval").body  # type: ignore[attr-defined]
            except SyntaxError:
                raise NotGenerated from None
            append(self.node(expression))
        return values


def _slow_lines(outer: str, joined: str) -> set[int]:
    """Lines the JSON scanner must not read (JSON would read them unlike Python).

    Cheap substring tests come first, so a generated file pays for one regex scan only.
    """
    positions = [m.start() for m in _BAD_UNDERSCORE.finditer(outer)]
    for needle, pattern in _OUTER_CHECKS:
        if needle in outer:
            positions += [m.start() for m in pattern.finditer(outer)]
    strings = [m.start() for m in STRING_BAD.finditer(joined)] if "\\" in joined else []
    if not positions and not strings:
        return set()
    slow = {bisect.bisect_right(_newlines(outer), p) for p in positions}
    slow.update(bisect.bisect_right(_newlines(joined), p) for p in strings)
    return slow


def _newlines(text: str) -> list[int]:
    return [m.start() for m in re.finditer("\n", text)]
