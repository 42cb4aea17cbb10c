"""The contract every object saved in an Application file follows.

An object's saved state is its ``__dict__`` minus its *transient* attributes: runtime state
(sockets, tasks, caches) named in ``_transient`` that is never written and comes back from
class-level defaults or :meth:`Persistent._after_load`. Objects are rebuilt as pickle does:
``cls.__new__(cls)``, then the state.

Speed matters at 100,000 services, so a class with nothing transient and no ``_after_load``
keeps Python's own (C) ``__getstate__`` and has no ``__setstate__``: pickle saves and loads
it without calling any Python code. Only classes that need it get the two hooks, installed
when the class is defined.

Each class carries a :attr:`~Persistent.persistence_version`. A file written when a class had
an older version is upgraded on load by calling ``upgrade_to_N`` for every ``N`` above the
stored version, in order, so an old TAP still loads after a class gained an attribute.
Upgrade steps may rely on the object's own state only: other objects may not be complete yet.
"""

from __future__ import annotations

from typing import Any, ClassVar

VERSION_KEY = "__version__"

_registry: dict[str, type] = {}
_transient_cache: dict[type, frozenset[str]] = {}


def class_path(cls: type) -> str:
    """The stable name a class is persisted under: ``module:QualName``."""
    return f"{cls.__module__}:{cls.__qualname__}"


class Persistent:
    """Mixin for objects that an Application file may hold.

    Subclasses are registered as persistable by name when they are defined, which is what
    lets the loaders instantiate them and nothing else.
    """

    persistence_version: ClassVar[int] = 1
    #: Attribute names that are runtime state and never persisted.
    _transient: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _registry[class_path(cls)] = cls
        needs_hooks = (
            bool(transient_names(cls))
            or cls._after_load is not Persistent._after_load
            or cls._validate is not Persistent._validate
        )
        if needs_hooks and "__getstate__" not in vars(cls):
            cls.__getstate__ = _getstate  # type: ignore[method-assign,assignment]
        if needs_hooks and "__setstate__" not in vars(cls):
            cls.__setstate__ = _setstate  # type: ignore[attr-defined]

    def _validate(self) -> None:
        """Check the state just loaded; raise :class:`~appcore.DataError` when it is not one
        this class could have saved (a negative timeout, ``nan`` for a limit).

        Called by every format (TAP, TAX, TAS) when an object's state is restored, before
        :meth:`_after_load` and before any upgrade step (a class past version 1 must accept
        the states its older versions saved). Other objects may not be complete yet: check
        this object's own values (see :func:`appcore.check_number`). Subclasses extend this.
        """

    def _after_load(self) -> None:
        """Rebuild derived runtime state after loading. Subclasses extend this."""

    def upgrade_from(self, stored: object) -> None:
        """Run the ``upgrade_to_N`` steps from a stored version up to the current one."""
        current = type(self).persistence_version
        if stored == current:
            return
        if not isinstance(stored, int) or isinstance(stored, bool) or not 1 <= stored <= current:
            from appcore._errors import DataError

            why = "newer than" if isinstance(stored, int) and stored > current else "unknown to"
            raise DataError(
                f"{class_path(type(self))} was saved at version {stored!r}, "
                f"{why} this release (version {current})"
            )
        for version in range(stored + 1, current + 1):
            step = getattr(self, f"upgrade_to_{version}", None)
            if step is not None:
                step()


def _getstate(self: Persistent) -> dict[str, Any]:
    skip = transient_names(type(self))
    return {k: v for k, v in self.__dict__.items() if k not in skip}


def _setstate(self: Persistent, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    self._validate()
    self._after_load()


def transient_names(cls: type) -> frozenset[str]:
    """Every transient attribute name of ``cls`` and its bases (computed once per class)."""
    names = _transient_cache.get(cls)
    if names is None:
        collected: set[str] = set()
        for klass in cls.__mro__:
            collected.update(vars(klass).get("_transient", ()))
        names = _transient_cache[cls] = frozenset(collected)
    return names


def persistent_state(obj: object) -> Any:
    """What a text format writes for ``obj``: its state, with its class version for Persistent."""
    state: Any = obj.__getstate__()
    if not isinstance(obj, Persistent):
        return state
    saved: dict[str, Any] = dict(state) if state else {}
    saved[VERSION_KEY] = type(obj).persistence_version
    return saved


def versions_table() -> dict[str, int]:
    """The version of every registered class that is past version 1 (saved in TAP headers)."""
    return {
        path: version
        for path, cls in _registry.items()
        if (version := getattr(cls, "persistence_version", 1)) != 1
    }


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
