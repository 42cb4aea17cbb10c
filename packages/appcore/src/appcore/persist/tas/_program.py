"""The statements of a TAS file: the shapes the writer produces, matched line by line or parsed.

:func:`by_lines` matches each line against the generated shapes (and parses a line that
matches none with :mod:`ast`); :func:`by_tree` parses the whole file, for statements spread
over several lines. Both give a :class:`Program`: what to create, and what to apply in order.
Anything else is :class:`NotGenerated`, code a person wrote.
"""

from __future__ import annotations

import ast
import json
import re
import warnings

from appcore._errors import DataError

ID = r"(0|[1-9][0-9]*)"
NAME = r"([A-Za-z][A-Za-z0-9_]*)"
CLS = rf"{NAME} = cls\((\"[^\"\\]*\")(?:, version={ID})?\)"  # alias, class path, version
_LINE = re.compile(
    rf"{CLS}"  # 1 alias, 2 class path, 3 version
    rf"|_{ID} = make\({NAME}, (.+)\)"  # 4 id, 5 alias, 6 state
    rf"|_{ID} = shell\({NAME}\)"  # 7 id, 8 alias
    rf"|_{ID} = (list|dict|set)\(\)"  # 9 id, 10 container kind
    rf"|fill\(_{ID}, (.+)\)"  # 11 id, 12 value
    r"|application = (.+)"  # 13 root
)

Alias = tuple[str, str, int | None]  # alias, class path, version


class NotGenerated(Exception):
    """A statement or value the writer never produces: the file holds hand-written code."""


class Program:
    """The statements of a file, split into what to create and what to apply, in order."""

    def __init__(self) -> None:
        self.aliases: list[Alias] = []  # in file order
        self.creates: list[tuple[int, str]] = []  # (id, alias or container kind)
        self.steps: list[tuple[int, int]] = []  # (MAKE / FILL / ROOT, id)
        self.payloads: list[str | ast.expr] = []  # one value per step: source text or node

    def add(self, node: ast.stmt) -> None:
        """Add a parsed statement; NotGenerated unless it has a generated shape."""
        if isinstance(node, ast.Expr):
            target, value = _call(node.value, "fill", 2)
            self.steps.append((FILL, ref_id(target)))
            self.payloads.append(value)
            return
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            raise NotGenerated
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            raise NotGenerated
        if target.id == "application":
            self.steps.append((ROOT, -1))
            self.payloads.append(node.value)
            return
        if not target.id.startswith("_"):
            (path,) = _call(node.value, "cls", 1, ("version",))
            if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
                raise NotGenerated
            version = None
            if isinstance(node.value, ast.Call) and node.value.keywords:
                given = node.value.keywords[0].value
                if not (isinstance(given, ast.Constant) and type(given.value) is int):
                    raise NotGenerated
                version = given.value
            self.aliases.append((alias_name(target), path.value, version))
            return
        number = ref_id(target)
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            if call.func.id == "make":
                alias, state = _call(call, "make", 2)
                self.creates.append((number, alias_name(alias)))
                self.steps.append((MAKE, number))
                self.payloads.append(state)
                return
            if call.func.id == "shell":
                (alias,) = _call(call, "shell", 1)
                self.creates.append((number, alias_name(alias)))
                return
            if call.func.id in CONTAINERS:
                _call(call, call.func.id, 0)
                self.creates.append((number, call.func.id))
                return
        raise NotGenerated


MAKE, FILL, ROOT = 0, 1, 2
CONTAINERS: dict[str, type] = {"list": list, "dict": dict, "set": set}


def by_lines(text: str) -> Program | None:
    """The program from a line-by-line match; None when some line needs the whole-file parse."""
    program = Program()
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
                tree = parse(line, "exec")
            except SyntaxError:
                return None  # maybe a statement spread over lines: parse the whole file
            if not isinstance(tree, ast.Module) or len(tree.body) != 1:
                return None
            try:
                program.add(tree.body[0])
            except NotGenerated:
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
            program.aliases.append((m[1], json.loads(m[2]), version_number(m[3])))
        elif last == 10:
            creates.append((int(m[9]), m[10]))
        else:
            steps.append((ROOT, -1))
            payloads.append(m[13])
    return program


def by_tree(text: str, filename: str) -> Program | None:
    """The program from a whole-file parse; None when the file holds other code."""
    try:
        tree = parse(text, "exec", filename)
    except SyntaxError as err:
        raise DataError(f"{filename}:{err.lineno}: syntax error: {err.msg}") from None
    program = Program()
    assert isinstance(tree, ast.Module)
    try:
        for statement in tree.body:
            program.add(statement)
    except NotGenerated:
        return None
    return program


def ref_id(node: ast.expr) -> int:
    if isinstance(node, ast.Name) and re.fullmatch(r"_" + ID, node.id):
        return int(node.id[1:])
    raise NotGenerated


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
    raise NotGenerated


def alias_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name) and re.fullmatch(NAME, node.id):
        return node.id
    raise NotGenerated


def version_number(text: str | None) -> int | None:
    return None if text is None else int(text)


def parse(text: str, mode: str, filename: str = "<tas>") -> ast.AST:
    # An invalid escape is a DeprecationWarning from the parser; Python would accept it, so
    # the reader does too, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename, mode)
