"""The contract every object saved in an Application file follows.

All three formats (TAP, TAX, TAS) go through the same two methods: ``__getstate__`` gives a
dict of the object's persistent attributes, ``__setstate__`` restores them on an instance made
with ``cls.__new__(cls)``. Runtime state (sockets, tasks, the ``running`` flag) is *transient*:
it is never written and comes back from class-level defaults or :meth:`Persistent._after_load`.

Each class carries a :attr:`~Persistent.persistence_version`. A file written when a class had
an older version is upgraded on load by calling ``upgrade_to_N`` for every ``N`` above the
stored version, in order, so an old TAP still loads after a class gained an attribute.
"""

from __future__ import annotations

from typing import Any, ClassVar

VERSION_KEY = "__version__"

_registry: dict[str, type[Persistent]] = {}


def class_path(cls: type) -> str:
    """The stable name a class is persisted under: ``module:QualName``."""
    return f"{cls.__module__}:{cls.__qualname__}"


class Persistent:
    """Mixin for objects that an Application file may hold.

    Subclasses are registered as persistable by name when they are defined, which is what
    lets the XML loader instantiate them and nothing else.
    """

    persistence_version: ClassVar[int] = 1
    #: Attribute names that are runtime state and never persisted.
    _transient: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _registry[class_path(cls)] = cls

    def __getstate__(self) -> dict[str, Any]:
        skip = _transient_names(type(self))
        state = {k: v for k, v in self.__dict__.items() if k not in skip}
        state[VERSION_KEY] = type(self).persistence_version
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        stored = state.pop(VERSION_KEY, 1)
        self.__dict__.update(state)
        current = type(self).persistence_version
        if not isinstance(stored, int) or stored > current:
            from ._errors import DataError

            raise DataError(
                f"{class_path(type(self))} was saved at version {stored!r}, "
                f"newer than this release knows ({current})"
            )
        for version in range(stored + 1, current + 1):
            step = getattr(self, f"upgrade_to_{version}", None)
            if step is not None:
                step()
        self._after_load()

    def _after_load(self) -> None:
        """Rebuild derived runtime state after loading. Subclasses extend this."""


def _transient_names(cls: type) -> frozenset[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "_transient", ()) if "_transient" in vars(klass) else ())
    return frozenset(names)


def register_persistable(cls: type) -> type:
    """Declare a class that does not derive from :class:`Persistent` as persistable.

    Plugins use this (or derive from ``Persistent``) for classes their services hold.
    """
    _registry[class_path(cls)] = cls
    return cls


def persistable_class(path: str) -> type | None:
    """The registered class named ``module:QualName``, or None when it is not registered."""
    return _registry.get(path)


def registered_classes() -> dict[str, type]:
    """A copy of the registry of persistable classes."""
    return dict(_registry)
