"""TAP: an object tree as a pickle (the highest protocol), the fastest format to save and load.

Trust model: a pickle is a program for the unpickler, so TAP is trusted input, as it was for
the original tools. This loader narrows that anyway: it resolves globals only to registered
persistable classes (and enums), importing a plugin's module first when an installed plugin
declares it, so a hostile TAP naming ``os.system`` or ``builtins.eval`` fails as bad data
instead of running. Saving refuses any object whose class is not registered, so every TAP
this module writes loads again.

Memory: the C unpickler runs under a ceiling of 64 times the file's size plus 32 MiB (see
:mod:`._ceiling`), so a memo index that asks for gigabytes, or any other allocation out of
proportion to the file, is refused as bad data at once. Where no ceiling can be set (another
thread runs), the opcodes are scanned first and a memo index larger than the file is refused.

What remains trusted: the unpickler hashes dict keys and set members in C, and CPython's
tuple hash walks a tuple in full every time (no cache, no depth check), so a TAP holding a
set of tuples that share tuples takes time exponential in its size, and one holding a tuple
nested a million deep overflows the C stack. Refusing those needs every opcode simulated in
Python, which costs several times the load: a TAP from an unknown source is better converted
to TAX by someone who trusts it less than the service that runs it.
"""

from __future__ import annotations

import copyreg
import enum
import io
import operator
import pickle
import pickletools
from collections.abc import Iterator
from typing import Any

from appcore._errors import AppcoreError, DataError
from appcore.persist._aliases import current_path
from appcore.persist._ceiling import budget_for, memory_ceiling
from appcore.persist._graph import require_registered, resolve_class
from appcore.persist._persistent import Persistent, class_path, persistable_class, versions_table

PROTOCOL = pickle.HIGHEST_PROTOCOL
# A TAP pickles (TAG, versions, root): versions maps "module:Class" to its persistence
# version for every registered class past version 1 when the file was written.
TAG = "appcore-tap/1"

# Python's own reduction, called from C: the pickle of a registered object runs no Python
# code per object (unless its class has state hooks), which is what makes TAP fast.
_native_reduce = operator.methodcaller("__reduce_ex__", PROTOCOL)


class _DispatchTable(dict[type, Any]):
    """Registered classes reduce natively; a lookup miss means an unregistered class."""

    def __missing__(self, cls: type) -> Any:
        if issubclass(cls, type):  # a class with a metaclass (an enum class): save by name
            self[cls] = _class_by_name
            return _class_by_name
        if issubclass(cls, enum.Enum):
            require_registered(cls)
            self[cls] = _enum_by_value
            return _enum_by_value
        require_registered(cls)  # raises DataError naming the class
        self[cls] = _native_reduce
        return _native_reduce


def _enum_by_value(member: enum.Enum) -> tuple[type, tuple[Any]]:
    # Python's own reduction of a member changed within 3.11 (3.11.2, Debian 12's python3,
    # reduces to ``getattr(cls, name)``, which no TAP may name): one form on every release,
    # and one that loads anywhere, ``cls(value)``.
    return type(member), (member._value_,)


def _class_by_name(cls: type) -> str:
    require_registered(cls)
    return cls.__qualname__


def _pickler(buffer: io.BytesIO) -> pickle.Pickler:
    pickler = pickle.Pickler(buffer, protocol=PROTOCOL)
    # Atomic values and exact list/dict/set/tuple/frozenset never consult this table.
    pickler.dispatch_table = _DispatchTable()  # replaces copyreg's: nothing else is allowed
    return pickler


class _Unpickler(pickle.Unpickler):
    """An unpickler whose globals are registered persistable classes and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "copyreg" and name == "__newobj__":
            return copyreg.__newobj__  # type: ignore[attr-defined]  # "cls.__new__(cls)"
        return resolve_class(f"{module}:{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("the pickle uses persistent ids, which TAP never writes")


def dumps(root: object) -> bytes:
    """Pickle a tree; :class:`DataError` names the first unregistered class found."""
    buffer = io.BytesIO()
    try:
        _pickler(buffer).dump((TAG, versions_table(), root))
    except AppcoreError:
        raise
    except RecursionError:
        raise DataError("the object tree is nested too deeply to save") from None
    except Exception as err:
        raise DataError(f"cannot pickle the tree: {err}") from None
    return buffer.getvalue()


def loads(data: bytes) -> object:
    """Unpickle a TAP; corrupt, truncated or hostile data is a :class:`DataError`."""
    budget = budget_for(len(data))
    try:
        with memory_ceiling(budget) as capped:
            if not capped:
                check_memo_indices(data)
            payload = _Unpickler(io.BytesIO(data)).load()
    except AppcoreError:
        raise
    except RecursionError:
        raise DataError("the pickle is nested too deeply") from None
    except MemoryError:
        raise DataError(
            f"the pickle asks for more memory than a file of {len(data)} bytes may "
            f"(at most {budget >> 20} MiB): a hostile or damaged TAP"
        ) from None
    except Exception as err:  # UnpicklingError, EOFError, ValueError, TypeError, ...
        detail = str(err) or type(err).__name__
        raise DataError(f"not a valid TAP (corrupt or truncated pickle): {detail}") from None
    if not (
        type(payload) is tuple
        and len(payload) == 3
        and payload[0] == TAG
        and type(payload[1]) is dict
    ):
        raise DataError("not a TAP written by this toolchain (unexpected pickle content)")
    _, versions, root = payload
    # keyed by the class paths of the release that wrote the file: today's names
    _upgrade(root, {current_path(k) if isinstance(k, str) else k: v for k, v in versions.items()})
    return root


def check_memo_indices(data: bytes) -> None:
    """Refuse a pickle whose ``PUT`` opcodes name memo slots its size cannot justify.

    The C unpickler allocates a memo table as large as the highest index named; a pickle
    that fills its memo slot by slot needs at least one byte per slot. This walks every
    opcode in Python (about 0.6 microseconds each), so it runs only where
    :func:`memory_ceiling` cannot guard the load.
    """
    limit = len(data)
    try:
        for opcode, argument, position in pickletools.genops(data):
            if opcode.name in _MEMO_PUTS and isinstance(argument, int) and argument > limit:
                raise DataError(
                    f"not a valid TAP: memo index {argument} at byte {position} is larger "
                    f"than the file ({limit} bytes)"
                )
    except ValueError as err:  # an unknown opcode, a truncated argument
        raise DataError(f"not a valid TAP (corrupt or truncated pickle): {err}") from None


_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _upgrade(root: object, versions: dict[Any, Any]) -> None:
    """Run upgrade steps for classes whose saved version is older than this release's."""
    stale: dict[type, object] = {}
    for path, cls in _classes_past(versions):
        stored = versions.get(path, 1)
        if stored != getattr(cls, "persistence_version", 1):
            stale[cls] = stored
    if not stale:
        return  # the common case: no walk over the tree at all
    for obj in _instances(root):
        stored = stale.get(type(obj))
        if stored is not None and isinstance(obj, Persistent):
            obj.upgrade_from(stored)


def _classes_past(versions: dict[Any, Any]) -> Iterator[tuple[str, type]]:
    """Registered classes that are past version 1 now, or were when the file was written."""
    paths = set(versions_table()) | {p for p in versions if isinstance(p, str)}
    for path in paths:
        cls = persistable_class(path)
        if cls is not None:
            yield class_path(cls), cls


def _instances(root: object) -> Iterator[object]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind in (str, int, float, bool, bytes, type(None)) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif hasattr(value, "__dict__"):
            yield value
            stack.extend(vars(value).values())
