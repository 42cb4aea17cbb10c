"""The census a text writer takes before it writes: sharing, cycles, states, and expansion.

TAX and TAS give every list, dict, set and instance reached more than once a name (or an id)
and write it once; tuples and frozensets are values, written in full wherever they appear.
A tree whose tuples share other tuples would therefore be written far larger than it is: a
TAP of 100 bytes can hold 40 tuples each holding the one below twice, which written out is
2**41 values. The census counts what the writer will write for every tuple or frozenset met
again (its *weight*, memoized, so the count costs time linear in the tree) and refuses, as
bad data, a tree whose text would exceed :data:`EXPANSION_FACTOR` times its own size (when
that is more than :data:`EXPANSION_FLOOR` values): such a tree stays in TAP, which keeps
its sharing. Writing then takes time and memory proportional to the tree itself.
"""

from __future__ import annotations

import enum
from typing import Any

from appcore._errors import DataError
from appcore.persist._graph import ATOMS, _checked, require_registered
from appcore.persist._persistent import (
    VERSION_KEY,
    Persistent,
    persistent_state,
    transient_names,
)
from appcore.persist._persistent import _getstate as standard_getstate

#: A text may hold this many times the values of its tree (tuples repeated) ...
EXPANSION_FACTOR = 16
#: ... once that is more than this many values: below it, any sharing is written out.
EXPANSION_FLOOR = 1 << 16

_VALUES = (tuple, frozenset)  # written in full at every mention

# On the walk's stack, marks the end of a node's children; the node's id lies under it.
_CLOSE = object()

# class -> the attribute names left out of its saved state, when that state is the instance's
# own ``__dict__`` minus those names; None when the class computes its state some other way.
_own_state: dict[type, frozenset[str] | None] = {}


def own_state_skip(cls: type) -> frozenset[str] | None:
    """What a writer leaves out of ``vars(obj)`` to get the state of a ``cls`` object, or None.

    For a :class:`Persistent` class with an int version that keeps the standard state (its
    ``__dict__`` minus its transient names, no slots), :func:`persistent_state` is a copy of
    ``__dict__`` without those names plus the version. Writers that put the version elsewhere
    read such an object's attributes in place (skipping the transient names and any stray
    ``__version__`` attribute, which the version would overwrite) instead of making that copy.
    """
    try:
        return _own_state[cls]
    except KeyError:
        pass
    skip: frozenset[str] | None = None
    if (
        issubclass(cls, Persistent)
        and type(cls.persistence_version) is int
        and cls.__getstate__ in (object.__getstate__, standard_getstate)
        and cls.__dictoffset__ != 0
        and not any("__slots__" in vars(klass) for klass in cls.__mro__)
    ):
        skip = transient_names(cls) | {VERSION_KEY}
    _own_state[cls] = skip
    return skip


class Census:
    """One walk over a tree: what a writer must know before it writes.

    :attr:`multiple` holds the ``id`` of every list, dict, set and instance reached more than
    once (it needs a name or an id in the file) and :attr:`states` the state of instances,
    computed once. Keeping the states (and so every object they hold) alive for the whole save
    means ``id()`` values stay unique while a writer uses them.

    A tuple or frozenset is walked the first time it is met; met again, what it holds is not
    walked again (see the module docstring): its weight is added to :attr:`expansion`, and
    what it holds directly is reached again, so it counts as such (in :attr:`multiple`, and in
    :attr:`cyclic` when a cycle goes through it). The walk ends with :class:`DataError` when
    the expansion is out of proportion to the tree.

    A full census (the default) holds every instance's state. A ``lean`` census keeps no copy
    of the tree, and walks it depth-first in the order the TAS writer does, so that statements
    can be streamed:

    * only the states of classes with their own ``__getstate__`` are held; an instance whose
      state is its own attributes (see :func:`own_state_skip`) is read in place when written;
    * :attr:`cyclic` holds what is reached again while its own content is still being walked
      (a cycle goes through it), and :attr:`classes` every class met, in the order first met
      (True when met as an instance rather than only as an enum member);
    * attribute names are not walked (they are strings in all but contrived trees): a writer
      meeting one that is not a string must take a full census and write again.
    """

    def __init__(self, root: object, *, lean: bool = False) -> None:
        self.lean = lean
        self.multiple: set[int] = set()
        self.cyclic: set[int] = set()
        self.classes: dict[type, bool] = {}
        self.states: dict[int, Any] = {}
        self.expansion = 0  # values written again for tuples and frozensets met again
        self._values: set[int] = set()  # tuples and frozensets met
        self._weights: dict[int, int] = {}  # tuple or frozenset -> values it writes
        self._repeated: set[int] = set()  # tuples and frozensets whose content counts twice
        self._walking: set[int] = set()  # nodes whose content is being walked (lean only)
        self._walk(root)
        if self.expansion > EXPANSION_FLOOR:
            self._check_expansion(root)

    def _walk(self, root: object) -> None:
        lean = self.lean
        seen: set[int] = set()
        multiple = self.multiple
        cyclic = self.cyclic
        classes = self.classes
        states = self.states
        values = self._values
        checked = _checked
        own = _own_state
        walking = self._walking
        stack: list[Any] = [root]
        pop = stack.pop
        push = stack.append
        extend = stack.extend
        # Children go on the stack last first, so they come off in the writers' order.
        while stack:
            value = pop()
            kind = type(value)
            if kind in ATOMS:
                continue
            if value is _CLOSE:
                walking.discard(pop())
                continue
            if kind is tuple or kind is frozenset:
                key = id(value)
                if key in values:
                    self._met_again(value)
                    continue
                values.add(key)
                extend(reversed(value) if kind is tuple else list(value)[::-1])
                continue
            key = id(value)
            if key in seen:
                multiple.add(key)
                if key in walking:
                    cyclic.add(key)
                continue
            if kind is list or kind is dict or kind is set:
                seen.add(key)
                if lean:
                    walking.add(key)
                    push(key)
                    push(_CLOSE)
                if kind is list:
                    extend(reversed(value))
                elif kind is dict:
                    extend(reversed(value.items()))
                else:
                    extend(list(value)[::-1])
            elif not checked.get(kind):
                require_registered(kind)
                checked[kind] = True
                push(value)  # now known to be registered: walk it on the next round
            elif isinstance(value, enum.Enum):
                seen.add(key)
                if kind not in classes:
                    classes[kind] = False
            elif lean:
                seen.add(key)
                if classes.get(kind) is not True:
                    classes[kind] = True
                walking.add(key)
                push(key)
                push(_CLOSE)
                skip = own[kind] if kind in own else own_state_skip(kind)
                if skip is None:
                    state = states[key] = persistent_state(value)
                    if type(state) is dict:
                        extend(reversed(state.items()))
                    else:
                        push(state)
                    continue
                attrs = value.__dict__
                if len(skip) == 1 and VERSION_KEY not in attrs:  # nothing to leave out
                    extend(reversed(attrs.values()))
                else:
                    extend([v for k, v in reversed(attrs.items()) if k not in skip])
            else:  # a full census counts: the order does not matter
                seen.add(key)
                state = states[key] = persistent_state(value)
                if type(state) is dict:
                    extend(state)
                    extend(state.values())
                else:
                    push(state)

    def _met_again(self, value: tuple[Any, ...] | frozenset[Any]) -> None:
        """A tuple or frozenset met again: count what writing it again costs, and what it
        holds as reached again (the first time only: the count is what grows after that)."""
        self.expansion += self.weight(value)
        repeated = self._repeated
        if id(value) in repeated:
            return
        multiple = self.multiple
        cyclic = self.cyclic
        walking = self._walking
        stack: list[Any] = [value]
        while stack:
            node = stack.pop()
            if id(node) in repeated:
                continue
            repeated.add(id(node))
            for item in node:
                kind = type(item)
                if kind in ATOMS or isinstance(item, enum.Enum):
                    continue
                if kind is tuple or kind is frozenset:
                    stack.append(item)
                    continue
                multiple.add(id(item))
                if id(item) in walking:
                    cyclic.add(id(item))

    def weight(self, value: tuple[Any, ...] | frozenset[Any]) -> int:
        """How many values writing ``value`` once writes: 1 for it, 1 for each item, and the
        weight of each tuple or frozenset item instead (memoized: linear in distinct tuples)."""
        weights = self._weights
        known = weights.get(id(value))
        if known is not None:
            return known
        stack: list[tuple[Any, bool]] = [(value, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                total = 1
                for item in node:
                    total += weights[id(item)] if type(item) in _VALUES else 1
                weights[id(node)] = total
            elif id(node) not in weights:
                stack.append((node, True))
                stack.extend(
                    (item, False)
                    for item in node
                    if type(item) in _VALUES and id(item) not in weights
                )
        return weights[id(value)]

    def _check_expansion(self, root: object) -> None:
        size = tree_size(root)
        if self.expansion > EXPANSION_FACTOR * size:
            raise DataError(
                "the tree shares tuples (or frozensets) so much that writing it as text would "
                f"take {size + self.expansion} values for {size} held (at most "
                f"{EXPANSION_FACTOR} times as many are written): keep it as TAP, which "
                "keeps the sharing"
            )

    def shared(self, value: object) -> bool:
        """Whether a container or instance is reached more than once (so it needs an id)."""
        return id(value) in self.multiple


def tree_size(root: object) -> int:
    """How many values a tree holds, counting what is shared once (attribute names too)."""
    seen: set[int] = set()
    states: list[Any] = []  # held, so that no id is reused while the walk runs
    stack: list[Any] = [root]
    size = 0
    while stack:
        value = stack.pop()
        size += 1
        kind = type(value)
        if kind in ATOMS or id(value) in seen:
            continue
        seen.add(id(value))
        if kind is dict:
            stack.extend(value)
            stack.extend(value.values())
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            stack.extend(value)
        elif not isinstance(value, enum.Enum):
            states.append(persistent_state(value))
            stack.append(states[-1])
    return size
