"""The service tree: start/stop order of nested MultiServices, awaited stops, live changes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from appcore import (
    Application,
    EchoFactory,
    MultiService,
    Service,
    StreamServerService,
    start_application,
    stop_application,
)

pytestmark = pytest.mark.timeout(30)

Run = Callable[..., Any]


class Noting(Service):
    """Notes its privileged start, start and stop; its stop takes a while to complete."""

    def __init__(self, name: str, log: list[str], stop_delay: float = 0.0) -> None:
        super().__init__(name)
        self.log = log
        self.stop_delay = stop_delay

    def privileged_start_service(self) -> None:
        super().privileged_start_service()
        self.log.append(f"privileged {self.name}")

    def start_service(self) -> None:
        super().start_service()
        self.log.append(f"start {self.name}")

    def stop_service(self) -> Awaitable[None]:
        super().stop_service()
        self.log.append(f"stop {self.name}")
        return self._finish()

    async def _finish(self) -> None:
        await asyncio.sleep(self.stop_delay)
        self.log.append(f"stopped {self.name}")


def _tree(log: list[str]) -> Application:
    app = Application("tree")
    Noting("a", log).set_service_parent(app)
    inner = MultiService("inner")
    inner.set_service_parent(app)
    Noting("b", log, stop_delay=0.05).set_service_parent(inner)
    Noting("c", log).set_service_parent(inner)
    Noting("d", log, stop_delay=0.02).set_service_parent(app)
    return app


def test_nested_start_in_order_and_stop_in_reverse_awaited(arun: Run) -> None:
    log: list[str] = []
    app = _tree(log)

    async def main() -> None:
        await start_application(app)
        assert all(s.running for s in [app, *app, *app.get_service_named("inner")])  # type: ignore[misc]
        log.append("-- running")
        await stop_application(app)
        log.append("-- returned")

    arun(main())
    started, _, stopping = "|".join(log).partition("|-- running|")
    assert started == (
        "privileged a|privileged b|privileged c|privileged d|start a|start b|start c|start d"
    )
    calls = [entry for entry in stopping.split("|") if entry.startswith("stop ")]
    assert calls == ["stop d", "stop c", "stop b", "stop a"]
    # The stop returned only after every child's stop completed, the slow ones included.
    assert log[-1] == "-- returned"
    assert {"stopped a", "stopped b", "stopped c", "stopped d"} <= set(log)
    assert not any(s.running for s in app)


def test_adding_a_child_to_a_running_parent_starts_it(arun: Run) -> None:
    log: list[str] = []

    async def main() -> None:
        app = Application("live")
        await start_application(app)
        late = Noting("late", log)
        late.set_service_parent(app)
        assert log == ["privileged late", "start late"]
        assert late.running

        server = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory())
        started = app.add_service(server)
        if started is not None:
            await started
        assert server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"live")
        assert await reader.readexactly(4) == b"live"
        writer.close()

        # Removing a child from a running parent stops it, and the stop can be awaited.
        port = server.port
        stopped = server.disown_service_parent()
        assert stopped is not None
        await stopped
        assert not server.running
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))

        await stop_application(app)
        assert log[-1] == "stopped late"

    arun(main())


def test_adding_to_a_stopped_parent_does_not_start() -> None:
    log: list[str] = []
    app = Application("idle")
    Noting("x", log).set_service_parent(app)
    assert log == []
    assert not app.get_service_named("x").running
