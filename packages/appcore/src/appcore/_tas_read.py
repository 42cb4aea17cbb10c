"""Reading TAS files: a no-exec reader for generated statements, and trusted execution.

The fast path never runs the file. It matches each line against the statement shapes the
writer produces, creates every declared object up front (``cls.__new__``), then decodes the
values. Values that are plain JSON once ``None``/``True``/``False`` and ``_N`` references are
spelled the JSON way go through the C JSON scanner; every other value line (bytes, tuples,
sets, enums, a comment added by hand) is parsed with :mod:`ast` and evaluated by a small
evaluator that accepts literals, references and a few constructors, nothing else. Finally the
states are applied in file order, which the writer makes children-first as pickle does.

Why not ``ast.parse`` the whole file: for 100,000 services it takes seconds and a gigabyte,
which is exactly the cost that made the incumbent's source format unusable at that size.

JSON and Python agree on the subset used here except in spots the reader checks for first
(``\\/`` escapes, surrogate escapes, JSON-only words); a line with any of them is decoded by
the ``ast`` evaluator instead, so both paths always give what Python itself would.
"""

from __future__ import annotations

import ast
import bisect
import enum
import json
import re
import warnings
from typing import Any

from ._errors import AppcoreError, DataError
from ._graph import (
    enum_member,
    fill_container,
    new_instance,
    resolve_class,
    set_state,
)
from ._tas import RUNTIME_NAMES

_ID = r"(0|[1-9][0-9]*)"
_NAME = r"([A-Za-z][A-Za-z0-9_]*)"
_LINE = re.compile(
    rf"{_NAME} = cls\((\"[^\"\\]*\")\)"  # 1 alias, 2 class path
    rf"|_{_ID} = make\({_NAME}, (.+)\)"  # 3 id, 4 alias, 5 state
    rf"|_{_ID} = shell\({_NAME}\)"  # 6 id, 7 alias
    rf"|_{_ID} = (list|dict|set)\(\)"  # 8 id, 9 container kind
    rf"|fill\(_{_ID}, (.+)\)"  # 10 id, 11 value
    r"|application = (.+)"  # 12 root
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


class _NotGenerated(Exception):
    """A statement or value the writer never produces: the file holds hand-written code."""


class _Unresolved(Exception):
    pass


class _Program:
    """The statements of a file, split into what to create and what to apply, in order."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # alias -> class path
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
            (path,) = _call(node.value, "cls", 1)
            if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
                raise _NotGenerated
            self.aliases[_alias_name(target)] = path.value
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
        if last == 5:
            number = int(m[3])
            creates.append((number, m[4]))
            steps.append((MAKE, number))
            payloads.append(m[5])
        elif last == 7:
            creates.append((int(m[6]), m[7]))
        elif last == 11:
            steps.append((FILL, int(m[10])))
            payloads.append(m[11])
        elif last == 2:
            program.aliases[m[1]] = json.loads(m[2])
        elif last == 9:
            creates.append((int(m[8]), m[9]))
        else:
            steps.append((ROOT, -1))
            payloads.append(m[12])
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


def _call(node: ast.expr, name: str, arity: int) -> list[ast.expr]:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
        and len(node.args) == arity
        and not node.keywords
        and not any(isinstance(a, ast.Starred) for a in node.args)
    ):
        return node.args
    raise _NotGenerated


def _alias_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name) and re.fullmatch(_NAME, node.id):
        return node.id
    raise _NotGenerated


class _Values:
    """Decodes value payloads (source text or ast nodes) against the declared objects."""

    def __init__(self, objects: dict[int, Any], classes: dict[str, type]) -> None:
        self.objects = objects
        self.classes = classes

    def ref(self, number: int) -> Any:
        try:
            return self.objects[number]
        except KeyError:
            raise DataError(f"the file refers to _{number}, which it never defines") from None

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
        table = _References({f"0e{n}": obj for n, obj in self.objects.items()})
        decoder: Any = json.JSONDecoder(parse_float=table.__getitem__, parse_constant=_refuse)
        scan = decoder.scan_once  # the C scanner: one value at an index, no whitespace skip
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


class _References(dict[str, Any]):
    """Marker spelling of a reference (``0eN``) -> object; other floats parse as floats."""

    def __missing__(self, text: str) -> Any:
        if text.startswith("0e"):
            raise _Unresolved(text[2:])
        return float(text)


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
    classes: dict[str, type] = {}
    for alias, path in program.aliases.items():
        if alias in RUNTIME_NAMES:
            raise DataError(f"{filename}: {alias} cannot name a class")
        classes[alias] = resolve_class(path)
    objects: dict[int, Any] = {}
    for number, alias in program.creates:
        if number in objects:
            raise DataError(f"{filename}: _{number} is defined twice")
        cls = classes.get(alias)
        if cls is None:
            container = _CONTAINERS.get(alias)
            if container is None:
                raise DataError(f"{filename}: {alias} is not bound by a cls(...) line")
            objects[number] = container()
        else:
            objects[number] = new_instance(cls)
    values = _Values(objects, classes)
    payloads = program.payloads
    texts = [p for p in payloads if type(p) is str]
    if len(texts) == len(payloads):
        decoded = values.texts(texts)
    else:
        from_text = iter(values.texts(texts) if texts else ())
        decoded = [next(from_text) if type(p) is str else values.node(p) for p in payloads]  # type: ignore[arg-type]
    root: Any = None
    found_root = False
    for (kind, number), value in zip(program.steps, decoded, strict=True):
        if kind == MAKE:
            set_state(objects[number], value)
        elif kind == FILL:
            fill_container(values.ref(number), value)
        else:
            root, found_root = value, True
    if not found_root:
        raise DataError(f"{filename} has no 'application = ...' line naming the root")
    return root


def _execute(text: str, filename: str) -> object:
    """Run a trusted TAS file as Python, with the statement functions in its namespace."""

    def make(cls: type, state: Any) -> Any:
        obj = new_instance(cls)
        set_state(obj, state)
        return obj

    namespace: dict[str, Any] = {
        "__name__": "__tas__",
        "__file__": filename,
        "cls": resolve_class,
        "make": make,
        "shell": new_instance,
        "fill": fill_container,
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
