"""``--workers N``: N processes serve the same ports; this one binds and supervises.

The parent binds every socket during the privileged start (so ports below 1024 work and
children never need root): for a TCP or TLS endpoint one socket per worker, all bound to
the same port with ``SO_REUSEPORT`` so the kernel spreads connections over the workers;
for a UNIX or systemd endpoint one socket that all workers accept from. Each worker is a
fresh interpreter (``python -m appcore_web._worker_main``) that receives the pickled site
and its socket numbers on stdin. The parent keeps the sockets, so connections that arrive
while a crashed worker is being replaced wait in the backlog instead of being refused.
A worker notices its parent's death by its stdin closing and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, ClassVar

from appcore import (
    Listener,
    Service,
    SSLServerEndpoint,
    TCPServerEndpoint,
    UnavailableError,
    bind_error,
    bind_stream,
    check_number,
    parse_server_endpoint,
)

if TYPE_CHECKING:
    from appcore import ServerEndpoint
    from appcore_web._site import Site

logger = logging.getLogger("appcore.web.workers")

_RESTART_DELAY = 0.1
_RESTART_DELAY_MAX = 5.0
_QUICK_EXIT = 2.0  # a worker dying sooner than this after its start counts as crashing


class WorkerPool(Service):
    """Runs ``count`` worker processes serving ``site`` on ``endpoints``."""

    __module__ = "appcore_web"  # persisted under its public name

    persistence_version: ClassVar[int] = 1
    _transient: ClassVar[tuple[str, ...]] = ("_listeners", "_procs", "_watchers", "_stopping")
    _listeners: list[list[Listener]] | None = None
    _procs: dict[int, asyncio.subprocess.Process] | None = None
    _watchers: list[asyncio.Task[None]] | None = None
    _stopping: bool = False

    def __init__(self, site: Site, endpoints: list[str], count: int) -> None:
        super().__init__("workers")
        self.site = site
        self.endpoints = list(endpoints)
        self.count = count
        for text in self.endpoints:
            parse_server_endpoint(text)  # a bad endpoint is a usage error now, not at start

    def _validate(self) -> None:
        check_number(self, "count", integer=True, at_least=1)

    def __repr__(self) -> str:
        return f"<WorkerPool {self.count} x {', '.join(self.endpoints)}>"

    # -- binding

    def privileged_start_service(self) -> None:
        super().privileged_start_service()
        self._ensure_bound()

    def _ensure_bound(self) -> list[list[Listener]]:
        if self._listeners is None:
            bound: list[list[Listener]] = []
            try:
                for text in self.endpoints:
                    bound.append(self._bind(parse_server_endpoint(text)))
            except BaseException:
                for group in bound:
                    for listener in group:
                        listener.close()
                raise
            self._listeners = bound
        return self._listeners

    def _bind(self, endpoint: ServerEndpoint) -> list[Listener]:
        if not isinstance(endpoint, TCPServerEndpoint | SSLServerEndpoint):
            return [bind_stream(endpoint)]
        if not hasattr(socket, "SO_REUSEPORT"):
            raise UnavailableError(f"{endpoint.description}: --workers needs SO_REUSEPORT")
        ipv6 = getattr(endpoint, "ipv6", False)
        family = socket.AF_INET6 if ipv6 or ":" in endpoint.interface else socket.AF_INET
        host = endpoint.interface or ("::" if family == socket.AF_INET6 else "0.0.0.0")
        port = endpoint.port
        listeners: list[Listener] = []
        try:
            for _ in range(self.count):
                sock = socket.socket(family, socket.SOCK_STREAM)
                listeners.append(Listener(sock))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                address = socket.getaddrinfo(
                    host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
                )[0][4]
                sock.bind(address)
                sock.listen(endpoint.backlog)
                listeners[-1] = Listener(sock)
                port = sock.getsockname()[1]  # port 0: the others join the one picked
        except OSError as err:
            for listener in listeners:
                listener.close()
            raise bind_error(endpoint, err) from None
        return listeners

    @property
    def ports(self) -> list[int | None]:
        """The bound port of each endpoint (None for a UNIX socket), once bound."""
        if self._listeners is None:
            return [None] * len(self.endpoints)
        result: list[int | None] = []
        for group in self._listeners:
            address = group[0].address()
            result.append(address[1] if isinstance(address, tuple) else None)
        return result

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers."""
        procs = self._procs or {}
        return [p.pid for p in procs.values() if p.returncode is None]

    # -- running

    def start_service(self) -> Awaitable[None]:
        super().start_service()
        self._ensure_bound()
        self._stopping = False
        self._procs = {}
        return asyncio.ensure_future(self._start_all())

    async def _start_all(self) -> None:
        self._watchers = [asyncio.ensure_future(self._supervise(i)) for i in range(self.count)]
        # Started once every worker process exists (not necessarily serving yet).
        while self._procs is not None and len(self._procs) < self.count:
            if any(w.done() for w in self._watchers):
                for watcher in self._watchers:
                    if watcher.done():
                        watcher.result()
            await asyncio.sleep(0.01)

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        assert self._listeners is not None
        loop = asyncio.get_running_loop()
        chosen = [group[index % len(group)] for group in self._listeners]
        fds = [listener.sock.fileno() for listener in chosen]
        payload = pickle.dumps(
            {
                "site": self.site,
                "sockets": list(zip(self.endpoints, fds, strict=True)),
                "loop": "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio",
                "index": index,
            }
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "appcore_web._worker_main",
            stdin=asyncio.subprocess.PIPE,
            pass_fds=fds,
        )
        assert proc.stdin is not None
        # Length-prefixed so the worker can keep reading stdin to learn of our death.
        proc.stdin.write(struct.pack("!I", len(payload)) + payload)
        await proc.stdin.drain()
        return proc

    async def _supervise(self, index: int) -> None:
        delay = _RESTART_DELAY
        loop = asyncio.get_running_loop()
        while not self._stopped():
            started = loop.time()
            proc = await self._spawn(index)
            if self._procs is None:  # stopped while spawning
                proc.kill()
                await proc.wait()
                return
            self._procs[index] = proc
            code = await proc.wait()
            if self._stopped():
                return
            logger.warning(
                "web worker %d (pid %d) exited with %s; restarting", index, proc.pid, code
            )
            delay = delay * 2 if loop.time() - started < _QUICK_EXIT else _RESTART_DELAY
            delay = min(delay, _RESTART_DELAY_MAX)
            await asyncio.sleep(delay)

    def _stopped(self) -> bool:
        return self._stopping

    def stop_service(self) -> Awaitable[None] | None:
        super().stop_service()
        self._stopping = True
        return asyncio.ensure_future(self._stop_all())

    async def _stop_all(self) -> None:
        procs = list((self._procs or {}).values())
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        grace = self.site.limits.shutdown_timeout + 2.0
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        for watcher in self._watchers or []:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
        self._watchers = None
        self._procs = None
        for group in self._listeners or []:
            for listener in group:
                listener.close()
        self._listeners = None
