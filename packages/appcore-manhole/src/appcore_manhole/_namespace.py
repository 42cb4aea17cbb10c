"""What a manhole session finds at hand: ``app``, ``services`` and friends.

``services`` changes the live service tree the way the runner would: a service added to a
running parent is started (its ports bound) and one removed is stopped, and each call
waits for that to finish so a failure (a port in use) is shown at once. What is changed
is the application itself, so the shutdown save records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appcore import MultiService, Service, iter_services, settle


def find_root(service: Service) -> Service:
    """The root of the tree ``service`` belongs to (the Application when attached)."""
    while service.parent is not None:
        service = service.parent
    return service


class Services:
    """Inspect and change the running service tree.

    Paths name services by their names from the root: ``"echo"`` or ``"web/http"``.
    """

    def __init__(self, root: Service) -> None:
        self._root = root

    def __repr__(self) -> str:
        return self.tree()

    def tree(self) -> str:
        """The tree, one service a line, indented by depth, with the running state."""
        lines: list[str] = []

        def walk(service: Service, depth: int) -> None:
            state = "running" if service.running else "stopped"
            lines.append(f"{'  ' * depth}{service.name or '(unnamed)'}: {service!r} [{state}]")
            if isinstance(service, MultiService):
                for child in service:
                    walk(child, depth + 1)

        walk(self._root, 0)
        return "\n".join(lines)

    def names(self) -> list[str]:
        """Paths of every named service below the root."""
        found: list[str] = []

        def walk(service: MultiService, prefix: str) -> None:
            for child in service:
                if child.name is None:
                    continue
                path = f"{prefix}{child.name}"
                found.append(path)
                if isinstance(child, MultiService):
                    walk(child, path + "/")

        if isinstance(self._root, MultiService):
            walk(self._root, "")
        return found

    def all(self) -> list[Service]:
        """Every service of the tree, depth first, the root included."""
        return list(iter_services(self._root))

    def get(self, path: str | Service) -> Service:
        """The service at ``path`` (``"web/http"``); ``KeyError`` naming what is missing."""
        if isinstance(path, Service):
            return path
        service = self._root
        for part in path.strip("/").split("/"):
            if not isinstance(service, MultiService):
                raise KeyError(f"{service!r} has no children (looking for {path!r})")
            try:
                service = service.get_service_named(part)
            except KeyError:
                raise KeyError(f"no service named {part!r} in {service!r}") from None
        return service

    def make(self, tapname: str, *argv: str, **options: Any) -> Service:
        """A new, unattached service of a server type, from argv strings or keyword options.

        ``services.make("echo", "--listen", "tcp:9000:interface=127.0.0.1")`` or
        ``services.make("echo", listen=["tcp:9000:interface=127.0.0.1"])``.
        """
        from appcore import get_service_maker

        maker = get_service_maker(tapname)
        values: dict[str, Any] = dict(maker.options.parse(argv)) if argv else {}
        values.update(options)
        return maker.make_service(values)

    async def add(
        self, service: Service, parent: str | Service | None = None, *, name: str | None = None
    ) -> Service:
        """Attach ``service`` (to the root, or ``parent``) and wait until it has started."""
        target = self._root if parent is None else self.get(parent)
        if not isinstance(target, MultiService):
            raise TypeError(f"{target!r} cannot hold services")
        if name is not None:
            service.name = name
        await settle(target.add_service(service))
        return service

    async def remove(self, path: str | Service) -> Service:
        """Detach the service at ``path`` and wait until it has stopped."""
        service = self.get(path)
        await settle(service.disown_service_parent())
        return service

    async def restart(self, path: str | Service) -> Service:
        """Stop and start a service again (after changing its configuration, say)."""
        service = self.get(path)
        if service.running:
            await settle(service.stop_service())
        service.privileged_start_service()
        await settle(service.start_service())
        return service


def make_namespace(manhole: Service, extra: Sequence[tuple[str, Any]] = ()) -> dict[str, Any]:
    """A fresh namespace for one session."""
    import asyncio

    import appcore

    root = find_root(manhole)
    namespace: dict[str, Any] = {
        "app": root,
        "services": Services(root),
        "manhole": manhole,
        "appcore": appcore,
        "asyncio": asyncio,
    }
    namespace.update(extra)
    return namespace
