"""The object graph every persistence format walks: what may be saved, and how it comes back.

A saved tree holds plain values (None, bool, int, float, str, bytes), containers (list, tuple,
dict, set, frozenset), members of registered enums and instances of registered persistable
classes. Instances are saved through their state (:func:`persistent_state`: ``__getstate__``
plus the class version) and rebuilt with ``cls.__new__(cls)`` followed by the state
(``__setstate__`` where the class has one), after which :class:`~appcore.Persistent` runs
its upgrade steps. Lists, dicts, sets and instances keep their identity: a value reached twice
comes back as one object, cycles included. Tuples, frozensets and plain values are values:
sharing between them is not recorded by the text formats (TAP keeps it; how far a text
writer lets shared tuples expand is bounded in :mod:`._census`).

Loading only ever instantiates classes in the persistable registry. A name that is not
registered yet but lives in a module an installed plugin declares (or in appcore) is imported
first, which registers its classes; anything else is refused as bad data.
"""

from __future__ import annotations

import enum
import importlib
import math
from typing import Any

from appcore._errors import AppcoreError, DataError, UnavailableError
from appcore.persist._aliases import current_path
from appcore.persist._persistent import (
    VERSION_KEY,
    Persistent,
    class_path,
    persistable_class,
    persistent_state,
)

ATOMS: frozenset[type] = frozenset({type(None), bool, int, float, str, bytes})
MUTABLE: frozenset[type] = frozenset({list, dict, set})
IMMUTABLE_CONTAINERS: frozenset[type] = frozenset({tuple, frozenset})

# type -> True when instances of it may be saved (registered class or registered enum)
_checked: dict[type, bool] = {}


def is_registered(cls: type) -> bool:
    """Whether instances of ``cls`` may be saved: it is the class registered under its name."""
    known = _checked.get(cls)
    if known is None:
        known = persistable_class(class_path(cls)) is cls
        _checked[cls] = known
    return known


def require_registered(cls: type) -> None:
    """Raise :class:`DataError` unless ``cls`` is a registered persistable class."""
    if not is_registered(cls):
        raise DataError(
            f"cannot save a {class_path(cls)} object: its class is not registered as "
            "persistable (derive from appcore.Persistent or call register_persistable)"
        )


def allowed_modules() -> frozenset[str]:
    """Module prefixes whose classes a file may name before they are imported."""
    try:
        from appcore.plugins._discovery import allowed_persistable_modules
    except ImportError:
        return frozenset({"appcore"})
    try:
        return allowed_persistable_modules()
    except AppcoreError:
        return frozenset({"appcore"})


def _module_allowed(module: str, prefixes: frozenset[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def resolve_class(path: str) -> type:
    """The registered class named ``module:QualName``; :class:`DataError` when not allowed.

    A path an earlier release wrote is first mapped to today's (``_aliases``). An unregistered
    name whose module an installed plugin declares (or appcore) is imported first, and the
    name looked up in it (a public name may be exported lazily): that registers its classes.
    Nothing else is imported, so a file naming ``os:system`` fails.
    """
    cls = persistable_class(path)
    if cls is not None:
        return cls
    path = current_path(path)
    cls = persistable_class(path)
    if cls is not None:
        return cls
    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise DataError(f"bad class name {path!r}: expected 'module:QualName'")
    if _module_allowed(module, allowed_modules()):
        try:
            imported = importlib.import_module(module)
            getattr(imported, qualname.partition(".")[0], None)
        except Exception as err:  # a broken plugin module: the file cannot be loaded
            raise DataError(f"cannot import {module} for class {path}: {err}") from None
        cls = persistable_class(path)
        if cls is not None:
            return cls
    else:
        from appcore.plugins._discovery import install_hint, known_distribution

        distribution = known_distribution(module)
        if distribution is not None:
            raise UnavailableError(
                f"the file holds {path} from the {distribution} distribution, which is not "
                f"installed: {install_hint(distribution)}"
            )
        if not _importable(module):
            # a third party's server type that is not installed here (a module that exists
            # but no installed plugin declares stays bad data: a file naming os:system)
            raise UnavailableError(
                f"the file holds {path}, but no installed distribution provides the module "
                f"{module.partition('.')[0]}: install the server type it comes from"
            )
    raise DataError(f"the file names class {path}, which is not a registered persistable class")


def _importable(module: str) -> bool:
    """Whether the top-level package of ``module`` exists here (found, not imported)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module.partition(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def resolve_enum(path: str) -> type[enum.Enum]:
    """A registered enum class, as :func:`resolve_class` finds it."""
    cls = resolve_class(path)
    if not issubclass(cls, enum.Enum):
        raise DataError(f"{path} is not an enum")
    return cls


def enum_member(cls: type[enum.Enum], name: str) -> enum.Enum:
    """The member called ``name``; :class:`DataError` when there is none."""
    try:
        return cls[name]
    except KeyError:
        raise DataError(f"{class_path(cls)} has no member {name!r}") from None


def get_state(obj: object) -> Any:
    """The state saved for a registered instance (with its class version for Persistent)."""
    return persistent_state(obj)


def new_instance(cls: type) -> Any:
    """An empty instance, as unpickling makes one (``cls.__new__(cls)``)."""
    try:
        make: Any = cls.__new__  # a class may define its own __new__; pickle calls it too
        return make(cls)
    except Exception as err:
        raise DataError(f"cannot create a {class_path(cls)} object: {err}") from None


def set_state(obj: Any, state: Any) -> None:
    """Restore ``obj`` from ``state`` as pickle does; any failure is bad data."""
    if state is None:
        return
    version: object = 1
    if isinstance(obj, Persistent) and isinstance(state, dict) and VERSION_KEY in state:
        state = dict(state)
        version = state.pop(VERSION_KEY)
    try:
        setstate = getattr(obj, "__setstate__", None)
        if setstate is not None:
            setstate(state)
        elif isinstance(state, dict):
            obj.__dict__.update(state)
        elif isinstance(state, tuple) and len(state) == 2:
            inst, slots = state
            if inst:
                obj.__dict__.update(inst)
            if slots:
                for key, value in slots.items():
                    setattr(obj, key, value)
        else:
            raise TypeError(f"unexpected state of type {type(state).__name__}")
        if isinstance(obj, Persistent):
            obj.upgrade_from(version)
    except AppcoreError:
        raise
    except Exception as err:
        raise DataError(f"cannot restore a {class_path(type(obj))} object: {err}") from None


def fill_container(container: Any, items: Any) -> None:
    """Give a container declared empty (to break a cycle) its content."""
    try:
        if isinstance(container, list):
            container.extend(items)
        elif isinstance(container, dict | set):
            container.update(items)
        else:
            set_state(container, items)
    except AppcoreError:
        raise
    except Exception as err:
        raise DataError(f"cannot fill a {type(container).__name__}: {err}") from None


def int_text(value: int) -> str:
    """The decimal text of an int; :class:`DataError` past Python's limit on int digits.

    Python refuses to turn an int of more than ``sys.get_int_max_str_digits()`` digits (4300
    by default) into text, so no text format can hold one; a TAP may, and stays a TAP.
    """
    try:
        return int.__repr__(value)
    except ValueError:
        import sys

        digits = int(value.bit_length() * 0.30103) + 1
        raise DataError(
            f"an integer of about {digits} digits is too long to write as text (Python's limit "
            f"is {sys.get_int_max_str_digits()} digits): keep this tree as TAP"
        ) from None


def float_text(value: float) -> str | None:
    """``repr`` of a finite float; None for inf and nan (each format spells those itself)."""
    if math.isfinite(value):
        return repr(value)
    return None


def structurally_equal(a: object, b: object) -> bool:
    """Whether two trees are equal: same classes, same saved state, same sharing and cycles.

    Instances compare by class and by their ``__getstate__`` recursively; lists, dicts, sets
    and instances must be shared in the same places on both sides (a bijection); floats
    compare by ``repr`` so ``nan`` equals ``nan`` and ``0.0`` differs from ``-0.0``.
    """
    return _Comparison().equal(a, b)


class _Comparison:
    def __init__(self) -> None:
        self.pairs: dict[int, int] = {}
        self.reverse: dict[int, int] = {}
        self._keep: list[object] = []
        self._done: set[int] = set()

    def equal(self, a: object, b: object) -> bool:
        kind = type(a)
        if kind is not type(b):
            return False
        if kind is float:
            return repr(a) == repr(b)
        if kind in ATOMS:
            return a == b
        if kind is tuple:
            return len(a) == len(b) and all(  # type: ignore[arg-type]
                self.equal(x, y)
                for x, y in zip(a, b, strict=True)  # type: ignore[call-overload]
            )
        if kind is frozenset or kind is set:
            if kind is set and not self._pair(a, b):
                return False
            return self._equal_sets(a, b)  # type: ignore[arg-type]
        if isinstance(a, enum.Enum):
            return a is b
        if not self._pair(a, b):
            return False
        if id(a) in self._done:  # compared already, or being compared up the stack (a cycle)
            return True
        self._done.add(id(a))
        if kind is list:
            return len(a) == len(b) and all(  # type: ignore[arg-type]
                self.equal(x, y)
                for x, y in zip(a, b, strict=True)  # type: ignore[call-overload]
            )
        if kind is dict:
            items_a = list(a.items())  # type: ignore[attr-defined]
            items_b = list(b.items())  # type: ignore[attr-defined]
            return len(items_a) == len(items_b) and all(
                self.equal(ka, kb) and self.equal(va, vb)
                for (ka, va), (kb, vb) in zip(items_a, items_b, strict=True)
            )
        state_a, state_b = get_state(a), get_state(b)
        self._keep += [state_a, state_b]
        return self.equal(state_a, state_b)

    def _pair(self, a: object, b: object) -> bool:
        """Record that ``a`` stands for ``b``; False when either already stands for another."""
        ia, ib = id(a), id(b)
        known = self.pairs.get(ia)
        if known is None:
            if ib in self.reverse:
                return False
            self.pairs[ia] = ib
            self.reverse[ib] = ia
            self._keep += [a, b]
            return True
        return known == ib

    def _equal_sets(self, a: set[Any] | frozenset[Any], b: set[Any] | frozenset[Any]) -> bool:
        if len(a) != len(b):
            return False
        plain_a = {x for x in a if type(x) in ATOMS and type(x) is not float}
        plain_b = {x for x in b if type(x) in ATOMS and type(x) is not float}
        if plain_a != plain_b:
            return False
        rest_b = [x for x in b if x not in plain_b or type(x) is float]
        for x in (x for x in a if x not in plain_a or type(x) is float):
            for i, y in enumerate(rest_b):
                if self.equal(x, y):
                    del rest_b[i]
                    break
            else:
                return False
        return True
