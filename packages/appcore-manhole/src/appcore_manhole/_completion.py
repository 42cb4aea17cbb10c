"""Tab completion of Python names over a session's namespace, for both manholes' editors.

The word before the cursor (letters, digits, ``_`` and dots) is completed as the
interactive interpreter's ``rlcompleter`` would: keywords, the namespace's names and the
builtins, or after a dot the attributes of what the name before it holds (``app.na`` gives
``app.name``). Callables get a ``(``, keywords the space or colon that follows them. One
candidate completes in place; several are completed to what they share, and listed when
they share no more than what is typed (as readline does on a second Tab). With nothing to
complete, Tab indents.

Reading an attribute runs code (a ``__getattr__``, or a property on the way to the last
dot), as it does in the interactive interpreter; properties at the last dot are not read.
This is offered only after login.
"""

from __future__ import annotations

import builtins
import keyword
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INDENT = "    "
_BARE_KEYWORDS = frozenset({"False", "None", "True", "break", "continue", "pass", "else"})


@dataclass(frozen=True)
class Completion:
    """What Tab makes of a line: the new line and cursor, and candidates to list (if any)."""

    line: str
    cursor: int
    choices: tuple[str, ...] = ()
    #: Nothing matched: the editor rings the bell.
    failed: bool = False


#: Given the line and the cursor position, what Tab makes of them.
Complete = Callable[[str, int], Completion]


class Completer:
    """Completes names and attributes over ``namespace`` (see the module)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def __call__(self, line: str, cursor: int) -> Completion:
        """What Tab at ``cursor`` makes of ``line``."""
        start = word_start(line, cursor)
        word = line[start:cursor]
        if not word:
            return Completion(line[:cursor] + INDENT + line[cursor:], cursor + len(INDENT))
        choices = self.candidates(word)
        if not choices:
            return Completion(line, cursor, failed=True)
        shared = choices[0] if len(choices) == 1 else os.path.commonprefix(choices)
        if len(shared) > len(word):
            return Completion(line[:start] + shared + line[cursor:], start + len(shared))
        return Completion(line, cursor, tuple(choices))

    def candidates(self, word: str) -> list[str]:
        """What ``word`` may become, sorted."""
        if "." in word:
            head, _, tail = word.rpartition(".")
            return sorted({f"{head}.{name}" for name in self._attributes(head, tail)})
        return sorted(set(self._names(word)))

    def _names(self, text: str) -> list[str]:
        found = []
        for word in keyword.kwlist:
            if word.startswith(text):
                if word in ("finally", "try"):
                    word += ":"
                elif word not in _BARE_KEYWORDS:
                    word += " "
                found.append(word)
        names = vars(builtins) | self.namespace  # the session's names hide the builtins
        for name, value in names.items():
            if name.startswith(text) and not keyword.iskeyword(name):
                found.append(name + ("(" if callable(value) else ""))
        return found

    def _attributes(self, head: str, text: str) -> list[str]:
        try:
            target = self._lookup(head)
            names = dir(target)
        except Exception:
            return []
        found = []
        for name in names:
            if not name.startswith(text):
                continue
            # Private names only when asked for, as rlcompleter does.
            if name.startswith("__") and not text.startswith("__"):
                continue
            if name.startswith("_") and not text.startswith("_"):
                continue
            found.append(name + _suffix(target, name))
        return found

    def _lookup(self, dotted: str) -> Any:
        first, *rest = dotted.split(".")
        if not first.isidentifier():
            raise LookupError(dotted)
        target = self.namespace[first] if first in self.namespace else getattr(builtins, first)
        for name in rest:
            target = getattr(target, name)
        return target


def word_start(line: str, cursor: int) -> int:
    """Where the dotted name ending at ``cursor`` starts."""
    start = cursor
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_."):
        start -= 1
    return start


def _suffix(target: Any, name: str) -> str:
    if isinstance(getattr(type(target), name, None), property):
        return ""  # not read: a property may do anything
    try:
        value = getattr(target, name)
    except Exception:
        return ""
    return "(" if callable(value) else ""


def columns(choices: tuple[str, ...], width: int = 80) -> str:
    """``choices`` in columns, down then across, as readline lists them; no final newline."""
    cell = max(len(choice) for choice in choices) + 2
    count = max(1, width // cell)
    rows = -(-len(choices) // count)
    lines = []
    for row in range(rows):
        cells = [choices[i] for i in range(row, len(choices), rows)]
        lines.append("".join(c.ljust(cell) for c in cells).rstrip())
    return "\n".join(lines)
