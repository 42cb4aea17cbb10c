"""Programs started per connection (``nowait``) or handed the socket (``wait``).

The service binds its socket like any server (in the privileged start), then watches it
itself instead of handing it to an asyncio server: the program needs a real descriptor as
its stdin, stdout and stderr, not a transport.

* ``nowait`` (stream only): each connection is accepted by appcore's :class:`~appcore.Acceptor`
  (which pauses rather than spins when file descriptors run out) and the program runs with
  the accepted socket as fds 0, 1 and 2; up to ``max_children`` run at once (beyond that,
  new connections wait in the listen queue).
* ``wait``: when the socket becomes readable the program is started with the *listening*
  (stream) or *bound* (dgram) socket as fds 0, 1 and 2, and the socket is not watched again
  until it exits: the program accepts or reads for itself, as with the classic inetd.

The user field: when this process is root, programs run as that user (and its group, or the
one named); otherwise the user must be the one this process runs as, and a program of any
other user is refused (logged) rather than run with the wrong identity.

On uvloop a program's argv[0] is its path (uvloop cannot set it); the other arguments are
passed as written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any, ClassVar

from appcore import (
    Acceptor,
    ConnectionTracker,
    Listener,
    ListeningService,
    bind_datagram,
    bind_stream,
    parse_server_endpoint,
)

logger = logging.getLogger("appcore.inetd")

#: Seconds programs get to exit after SIGTERM when the service stops, before SIGKILL.
CHILD_GRACE = 2.0


class ProgramService(ListeningService):
    """Runs ``argv`` for connections on ``endpoint`` (see the module's description)."""

    __module__ = "appcore_inetd"  # persisted under its public name

    _transient: ClassVar[tuple[str, ...]] = (
        "_children",
        "_loop",
        "_watching",
        "_active",
        "_acceptor",
    )
    _children: set[asyncio.subprocess.Process] | None = None
    _acceptor: Acceptor | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _watching: bool = False
    _active: int = 0

    def __init__(
        self,
        endpoint: str,
        program: str,
        argv: tuple[str, ...],
        *,
        wait: bool,
        user: str,
        group: str | None = None,
        max_children: int = 256,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.endpoint = parse_server_endpoint(endpoint)
        self.datagram = self.endpoint.kind == "udp"
        self.program = program
        self.argv = list(argv)
        self.wait = wait or self.datagram
        self.user = user
        self.group = group
        self.max_children = max_children

    def _bind(self) -> Listener:
        return bind_datagram(self.endpoint) if self.datagram else bind_stream(self.endpoint)

    async def _open(self, listener: Listener, tracker: ConnectionTracker) -> Any:
        self._loop = asyncio.get_running_loop()
        self._children = set()
        self._active = 0
        if self.wait:
            listener.sock.setblocking(True)  # see _spawn: the program reads it, not us
            self._watch(listener.sock)
            return listener.sock
        # A program gets the socket as it was accepted: no TCP_NODELAY it did not ask for.
        self._acceptor = Acceptor(listener.sock, self._accepted, name=repr(self), nodelay=False)
        self._acceptor.start()
        return listener.sock

    def _watch(self, sock: socket.socket) -> None:
        if self._acceptor is not None and self._acceptor.sock is sock:
            if self.running:
                self._acceptor.resume_accepting()
        elif self._loop is not None and not self._watching and self.running:
            self._loop.add_reader(sock.fileno(), self._readable, sock)
            self._watching = True

    def _unwatch(self, sock: socket.socket) -> None:
        if self._loop is not None and self._watching:
            self._loop.remove_reader(sock.fileno())
            self._watching = False

    def _stop_accepting(self, handle: socket.socket) -> None:
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
        self._unwatch(handle)

    async def _closed(self, handle: socket.socket) -> None:
        children = list(self._children or ())
        for child in children:
            if child.returncode is None:
                try:
                    child.terminate()
                except ProcessLookupError:
                    pass
        if children:
            done, pending = await asyncio.wait(
                [asyncio.ensure_future(c.wait()) for c in children], timeout=CHILD_GRACE
            )
            for child in children:
                if child.returncode is None:
                    try:
                        child.kill()
                    except ProcessLookupError:
                        pass
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    def _readable(self, sock: socket.socket) -> None:
        # wait mode: the program accepts or reads for itself.
        self._unwatch(sock)
        self._active += 1
        asyncio.ensure_future(self._run(sock, sock))

    def _accepted(self, conn: socket.socket, address: Any) -> None:
        acceptor = self._acceptor
        assert acceptor is not None
        self._active += 1
        if self._active >= self.max_children:
            acceptor.pause_accepting()  # at the limit: further connections wait in the queue
        asyncio.ensure_future(self._run(acceptor.sock, conn))

    def _identity(self) -> dict[str, Any]:
        """Keyword arguments that make the program run as its entry's user."""
        import grp
        import pwd

        entry = pwd.getpwnam(self.user)
        if os.geteuid() != 0:
            if entry.pw_uid != os.geteuid():
                raise PermissionError(
                    f"program user {self.user!r} is not the user this server runs as, "
                    "and the server is not root"
                )
            return {}
        gid = grp.getgrnam(self.group).gr_gid if self.group else entry.pw_gid
        groups = os.getgrouplist(entry.pw_name, gid)
        loop = asyncio.get_running_loop()
        if not type(loop).__module__.startswith("uvloop"):
            return {"user": entry.pw_uid, "group": gid, "extra_groups": groups}
        # uvloop's subprocess_exec has no user/group arguments: switch in the child instead.
        uid = entry.pw_uid

        def become() -> None:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)

        return {"preexec_fn": become}

    async def _run(self, listening: socket.socket, conn: socket.socket) -> None:
        try:
            child = await self._spawn(conn)
            if child is not None and self._children is not None:
                self._children.add(child)
                try:
                    await child.wait()
                finally:
                    self._children.discard(child)
        finally:
            if conn is not listening:
                conn.close()
            self._active -= 1
            listener = self._listener
            same_run = listener is not None and listener.sock is listening
            if self.running and same_run and self._active < self.max_children:
                self._watch(listening)

    async def _spawn(self, conn: socket.socket) -> asyncio.subprocess.Process | None:
        try:
            identity = self._identity()
            # The program expects an ordinary blocking socket. A wait-mode socket is shared
            # with the program (one open file), and this process never reads it: it stays so.
            conn.setblocking(True)
            child = await asyncio.create_subprocess_exec(
                self.argv[0],
                *self.argv[1:],
                executable=self.program,
                stdin=conn.fileno(),
                stdout=conn.fileno(),
                stderr=conn.fileno(),
                start_new_session=True,
                **identity,
            )
        except (OSError, KeyError, ValueError) as err:
            logger.error("%r: cannot run %s: %s", self, self.program, err)
            return None
        if conn.type == socket.SOCK_STREAM and not self.wait:
            conn.close()  # the child has its own copy; ours must not keep the peer waiting
        return child
