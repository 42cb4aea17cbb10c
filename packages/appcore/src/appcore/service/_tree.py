"""The service tree: Service, MultiService and the Application at its root.

Start-up happens in two phases. ``privileged_start_service`` runs first, while the process may
still hold root: servers bind their ports there. Then privileges are dropped and
``start_service`` runs. ``start_service`` and ``stop_service`` may return an awaitable; the
runner awaits it, so a stop that flushes or closes connections is complete before the process
saves its state and exits.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Awaitable, Iterator
from itertools import compress, repeat
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from appcore._errors import DataError, UsageError
from appcore.persist._persistent import Persistent

Format = Literal["pickle", "xml", "source"]
FORMATS: tuple[Format, ...] = ("pickle", "xml", "source")


@runtime_checkable
class IService(Protocol):
    """What the runner and a parent need from any service."""

    name: str | None
    parent: MultiService | None
    running: bool

    def set_service_parent(self, parent: MultiService) -> None: ...
    def disown_service_parent(self) -> Awaitable[None] | None: ...
    def privileged_start_service(self) -> None: ...
    def start_service(self) -> Awaitable[None] | None: ...
    def stop_service(self) -> Awaitable[None] | None: ...


_NAME_OF = operator.attrgetter("name")

# Which services run is runtime state: it lives here, outside every object's __dict__, so a
# plain Service saves and loads without any Python code per object (see _persistent).
_running: weakref.WeakSet[Service] = weakref.WeakSet()


class Service(Persistent):
    """A named piece of a running server, started and stopped with its parent."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    @property
    def running(self) -> bool:
        """Whether the service has been started and not stopped since (never saved)."""
        return self in _running

    @running.setter
    def running(self, value: bool) -> None:
        if value:
            _running.add(self)
        else:
            _running.discard(self)

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.parent: MultiService | None = None

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name is not None else ""
        return f"<{type(self).__name__}{label}>"

    def set_service_parent(self, parent: MultiService) -> None:
        """Attach this service to ``parent``; if the parent runs, this service starts."""
        if self.parent is not None:
            self.disown_service_parent()
        parent.add_service(self)

    def disown_service_parent(self) -> Awaitable[None] | None:
        """Detach from the parent; if this service runs, it stops and the stop is returned."""
        parent = self.parent
        if parent is None:
            return None
        return parent.remove_service(self)

    def privileged_start_service(self) -> None:
        """Do what needs privileges (bind a low port) before the process drops them."""

    def start_service(self) -> Awaitable[None] | None:
        """Start serving. May return an awaitable that completes once started."""
        self.running = True
        return None

    def stop_service(self) -> Awaitable[None] | None:
        """Stop serving. May return an awaitable that completes once fully stopped."""
        self.running = False
        return None


class MultiService(Service):
    """A service holding ordered children: they start in order and stop in reverse."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    _transient: ClassVar[tuple[str, ...]] = ("named_services",)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.services: list[Service] = []
        self.named_services: dict[str, Service] = {}

    def _after_load(self) -> None:
        super()._after_load()
        # Built by C-level iteration: a loaded tree may hold 100,000 children.
        try:
            named = dict(zip(map(_NAME_OF, self.services), self.services, strict=True))
        except (AttributeError, TypeError):
            raise DataError(f"the services of {self!r} are not a list of services") from None
        named.pop(None, None)
        self.named_services = named

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self.services))

    def __len__(self) -> int:
        return len(self.services)

    def get_service_named(self, name: str) -> Service:
        """The child called ``name``; ``KeyError`` when there is none."""
        return self.named_services[name]

    def privileged_start_service(self) -> None:
        super().privileged_start_service()
        for service in self:
            service.privileged_start_service()

    def start_service(self) -> Awaitable[None] | None:
        super().start_service()
        pending = [p for p in (s.start_service() for s in self) if p is not None]
        if not pending:
            return None
        return _await_in_order(pending)

    def stop_service(self) -> Awaitable[None] | None:
        super().stop_service()
        # Every child gets its stop call even if an earlier one fails to complete.
        pending = [p for p in (s.stop_service() for s in reversed(self.services)) if p is not None]
        if not pending:
            return None
        return _await_all(pending)

    def add_service(self, service: Service) -> Awaitable[None] | None:
        """Add a child. If this service is running, the child is started at once."""
        if service.name is not None:
            if service.name in self.named_services:
                raise UsageError(f"a service named {service.name!r} already exists here")
            self.named_services[service.name] = service
        self.services.append(service)
        service.parent = self
        if not self.running:
            return None
        service.privileged_start_service()
        return _schedule(service.start_service())

    def remove_service(self, service: Service) -> Awaitable[None] | None:
        """Remove a child. If this service is running, the child is stopped."""
        if service.name is not None:
            self.named_services.pop(service.name, None)
        self.services.remove(service)
        service.parent = None
        if not self.running:
            return None
        return _schedule(service.stop_service())


class Application(MultiService):
    """The root of a service tree, with the process settings and persistence settings.

    ``name`` names the saved file (``NAME.tap``, ``NAME-shutdown.tap``) and the process;
    ``uid``/``gid`` are what the runner switches to after the privileged start.
    """

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def __init__(
        self,
        name: str,
        uid: int | None = None,
        gid: int | None = None,
        *,
        process_name: str | None = None,
        persist_format: Format = "pickle",
    ) -> None:
        super().__init__(name)
        if persist_format not in FORMATS:
            raise UsageError(f"unknown format {persist_format!r}; choose one of {FORMATS}")
        self.uid = uid
        self.gid = gid
        self.process_name = process_name
        self.persist_format: Format = persist_format

    @property
    def app_name(self) -> str:
        """The application's name, never None (an Application always has one)."""
        return self.name or "application"


_MISSING: Any = object()


def validate_tree(root: object, where: str = "the file") -> Service:
    """``root``, checked to be a sound service tree; :class:`DataError` says what is not.

    A loader only checks that each object's state could be restored; this checks what the
    runner and the tools rely on afterwards: the root is a service with no parent, every
    ``MultiService`` holds a list of services, each child names that MultiService as its
    parent, no service appears twice (a cycle or a shared child), names are text and
    unique among siblings, and an Application's settings have their types (uid and gid
    non-negative ints, process name text, a known persist format). One walk over the
    services, none over their other objects.
    """
    if not isinstance(root, Service):
        raise DataError(f"{where} holds a {type(root).__name__}, not an application or a service")
    parent = getattr(root, "parent", _MISSING)
    if parent is root:
        raise DataError(f"{where}: service {_label(root)} is its own parent")
    if parent is not None:
        raise DataError(f"{where}: the root service {_label(root)} has a parent")
    if isinstance(root, Application):
        _check_settings(root, where)
    name = getattr(root, "name", _MISSING)
    if name is not None and type(name) is not str:
        raise DataError(f"{where}: the name of a {type(root).__name__} is not text: {name!r}")
    # Each MultiService's children are checked with C-level loops (map, set, compress): a
    # loaded tree may hold 100,000 services and this runs on every load. Only when one of
    # those checks fails does the slow walk in _explain find the child to name.
    #
    # No set of every service seen is needed: each child must name the MultiService that
    # holds it as its parent, so a service can sit in one list only (its parent's), once
    # (checked per list), and following parents from any service leads to the root, whose
    # parent is None: a cycle would need a service whose parent chain never reaches it.
    stack: list[Service] = [root] if isinstance(root, MultiService) else []
    while stack:
        service = stack.pop()
        children = getattr(service, "services", _MISSING)
        if type(children) is not list:
            raise DataError(f"{where}: the services of {_label(service)} are not a list")
        kinds = set(map(type, children))  # a handful of classes, however many children
        try:
            sound = (
                all(issubclass(kind, Service) for kind in kinds)
                and all(map(operator.is_, map(_PARENT_OF, children), repeat(service)))
                and _names_sound(children, list(map(_NAME_OF, children)))
            )
        except AttributeError:
            sound = False
        if not sound:
            _explain(service, children, where)
        if any(issubclass(kind, MultiService) for kind in kinds):
            stack.extend(compress(children, map(isinstance, children, repeat(MultiService))))
    return root


_PARENT_OF = operator.attrgetter("parent")
_NAME_TYPES = frozenset({str, type(None)})


def _names_sound(children: list[Any], names: list[Any]) -> bool:
    """Every name is text or None, and no child is listed twice (two children with one
    name, or one unnamed child twice)."""
    if not _NAME_TYPES.issuperset(map(type, names)):
        return False
    distinct = set(names)
    unnamed = names.count(None)
    if len(distinct) - (None in distinct) != len(names) - unnamed:
        return False
    if unnamed:
        nameless = list(compress(children, map(operator.is_, names, repeat(None))))
        return len(set(map(id, nameless))) == unnamed
    return True


def _explain(service: Service, children: list[Any], where: str) -> None:
    """Find what is wrong among ``service``'s children, one by one, and raise it."""
    names: set[str] = set()
    listed: set[int] = set()
    for child in children:
        if not isinstance(child, Service):
            raise DataError(
                f"{where}: {_label(service)} holds a {type(child).__name__} among its services"
            )
        if getattr(child, "parent", _MISSING) is not service:
            raise DataError(
                f"{where}: {_label(service)} holds service {_label(child)}, whose parent is "
                "another (a service in two places, or a cycle)"
            )
        if id(child) in listed:
            raise DataError(f"{where}: {_label(service)} holds service {_label(child)} twice")
        listed.add(id(child))
        name = getattr(child, "name", _MISSING)
        if name is not None and type(name) is not str:
            raise DataError(f"{where}: the name of a {type(child).__name__} is not text: {name!r}")
        if name is not None:
            if name in names:
                raise DataError(f"{where}: {_label(service)} holds two services named {name!r}")
            names.add(name)
    raise DataError(f"{where}: the services of {_label(service)} are not sound")  # not reached


def _label(service: object) -> str:
    name = getattr(service, "name", None)
    return repr(name) if type(name) is str else f"<{type(service).__name__}>"


def _check_settings(app: Application, where: str) -> None:
    for field in ("uid", "gid"):
        value = getattr(app, field, _MISSING)
        if value is not None and not (type(value) is int and value >= 0):
            raise DataError(f"{where}: the application's {field} is not a user or group number")
    process_name = getattr(app, "process_name", _MISSING)
    if process_name is not None and type(process_name) is not str:
        raise DataError(f"{where}: the application's process name is not text")
    if getattr(app, "persist_format", _MISSING) not in FORMATS:
        raise DataError(f"{where}: the application's persist format is not one of {FORMATS}")


def iter_services(root: Service) -> Iterator[Service]:
    """Every service of a tree, depth first, the root included."""
    stack: list[Service] = [root]
    while stack:
        service = stack.pop()
        yield service
        if isinstance(service, MultiService):
            stack.extend(reversed(service.services))


async def _await_in_order(pending: list[Awaitable[None]]) -> None:
    for item in pending:
        await item


async def _await_all(pending: list[Awaitable[None]]) -> None:
    import asyncio

    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _schedule(result: Awaitable[None] | None) -> Awaitable[None] | None:
    """Run a start or stop even if the caller (a manhole line, say) never awaits it."""
    if result is None:
        return None
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return result
    return asyncio.ensure_future(result)


async def settle(result: Awaitable[Any] | None) -> None:
    """Await what a start or stop call returned, if anything."""
    if result is not None:
        await result
