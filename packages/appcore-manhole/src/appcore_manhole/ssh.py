"""The ``ssh-manhole`` server type: the manhole over SSH (asyncssh), public keys only.

Any user name may log in with a key listed in the authorized_keys file, which is read again
at each login. The host key is read from its file at start, and generated there (Ed25519,
mode 0600, written atomically) when the file does not exist yet. With a terminal the session
gets asyncssh's line editor (arrows, history) with Tab completing Python names (see
:mod:`._completion`); ``ssh HOST 'CODE'`` runs CODE and exits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from appcore import (
    LOGIN_TIMEOUT,
    Acceptor,
    ConnectionTracker,
    DataError,
    Listener,
    ListeningService,
    LoginThrottle,
    NoInputError,
    bind_stream,
)
from appcore_manhole._completion import Complete, Completer, columns
from appcore_manhole._console import Console
from appcore_manhole._editor import Interrupted
from appcore_manhole._endpoint import loopback_by_default
from appcore_manhole._maker import ssh_manhole as ssh_maker
from appcore_manhole._namespace import make_namespace
from appcore_manhole._session import interact

if TYPE_CHECKING:
    import asyncssh

logger = logging.getLogger("appcore.manhole")


class SSHManholeService(ListeningService):
    """An SSH manhole listening on ``endpoint``."""

    __module__ = "appcore_manhole"  # persisted under its public name

    _transient: ClassVar[tuple[str, ...]] = ("_connections", "_throttle", "_starting_up")
    _connections: set[Any] | None = None
    _throttle: LoginThrottle | None = None
    _starting_up: set[asyncio.Task[Any]] | None = None

    #: Seconds a client has to log in (files saved before it existed get this too).
    login_timeout: float = LOGIN_TIMEOUT

    def __init__(
        self,
        endpoint: str,
        authorized_keys: str,
        host_key: str,
        name: str | None = None,
        *,
        login_timeout: float = LOGIN_TIMEOUT,
    ) -> None:
        super().__init__(name)
        self.endpoint = loopback_by_default(endpoint)
        self.authorized_keys = authorized_keys
        self.host_key = host_key
        self.login_timeout = login_timeout

    def _validate(self) -> None:
        ssh_maker.options.check_loaded(self, "login_timeout")

    def _bind(self) -> Listener:
        return bind_stream(self.endpoint)

    def load_host_key(self) -> asyncssh.SSHKey:
        """The host key, generated (and saved) first if its file does not exist."""
        import asyncssh

        from appcore import write_atomic

        path = Path(self.host_key)
        if not path.exists():
            key = asyncssh.generate_private_key("ssh-ed25519")
            write_atomic(path, key.export_private_key(), private=True)
            logger.info("generated the manhole host key %s", path)
            return key
        try:
            return asyncssh.read_private_key(path)
        except OSError as err:
            raise NoInputError(f"cannot read host key {path}: {err.strerror or err}") from None
        except (ValueError, asyncssh.KeyImportError) as err:
            raise DataError(f"host key {path} is not a private key: {err}") from None

    async def _open(self, listener: Listener, tracker: ConnectionTracker) -> Acceptor:
        import asyncssh

        host_key = self.load_host_key()
        self._connections = connections = set()
        self._throttle = throttle = LoginThrottle()
        self._starting_up = starting_up = set()
        service = self

        class Server(asyncssh.SSHServer):
            conn: asyncssh.SSHServerConnection | None = None

            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self.conn = conn
                connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                connections.discard(self.conn)

            def begin_auth(self, username: str) -> bool:
                assert self.conn is not None
                try:
                    keys = asyncssh.read_authorized_keys(service.authorized_keys)
                except (OSError, ValueError) as err:
                    logger.error("manhole: cannot read %s: %s", service.authorized_keys, err)
                    keys = asyncssh.import_authorized_keys("")
                self.conn.set_authorized_keys(keys)
                return True

            def public_key_auth_supported(self) -> bool:
                return True

            async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                # asyncssh asks here only about a key authorized_keys does not list: a failed
                # attempt. Failures count per address across connections (LoginThrottle).
                assert self.conn is not None
                peer = self.conn.get_extra_info("peername")
                logger.warning("manhole: refused SSH key for %r from %s", username, peer)
                if not await throttle.admit(peer):
                    logger.warning("manhole: too many failed logins from %s: hanging up", peer)
                    self.conn.close()
                return False

            def password_auth_supported(self) -> bool:
                return False

        # appcore's accept loop (it survives running out of file descriptors); asyncssh
        # runs each accepted connection.
        options = await asyncssh.SSHServerConnectionOptions.construct(
            server_factory=Server,
            server_host_keys=[host_key],
            process_factory=self._session,
            encoding="utf-8",
            line_editor=True,
            keepalive_interval=60,
            login_timeout=self.login_timeout,
        )

        def accepted(conn: Any, address: Any) -> None:
            task = asyncio.ensure_future(asyncssh.run_server(conn, options=options))
            starting_up.add(task)
            task.add_done_callback(_settled)

        def _settled(task: asyncio.Task[Any]) -> None:
            starting_up.discard(task)
            if not task.cancelled() and task.exception() is not None:
                logger.debug("manhole: SSH connection ended before login: %s", task.exception())

        acceptor = Acceptor(listener.sock, accepted, name=repr(self))
        acceptor.start()
        return acceptor

    def _stop_accepting(self, handle: Acceptor) -> None:
        handle.close()
        for task in list(self._starting_up or ()):
            task.cancel()
        for conn in list(self._connections or ()):
            conn.close()

    async def _closed(self, handle: Acceptor) -> None:
        pending = list(self._starting_up or ())
        if pending:
            await asyncio.wait(pending, timeout=self.close_grace + 1.0)

    async def _session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        import asyncssh

        user = process.get_extra_info("username") or "?"
        namespace = make_namespace(self, [("user", user)])

        def write(text: str) -> None:
            if not process.is_closing():
                process.stdout.write(text.replace("\r\n", "\n"))

        shown = [""]  # the last prompt, drawn again under a list of completions

        async def read_line(prompt: str, echo: bool = True) -> str | None:
            shown[0] = prompt
            write(prompt)
            while True:
                try:
                    line = await process.stdin.readline()
                except asyncssh.TerminalSizeChanged:
                    continue
                except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                    write("\n")
                    raise Interrupted from None
                if not line:
                    return None
                return line.rstrip("\r\n")

        if process.get_terminal_type() is not None:  # asyncssh's line editor is on
            key = tab_key(Completer(namespace), write, lambda: shown[0])
            # (the editor is a wrapper around the channel asyncssh's stubs do not describe)
            process.channel.register_key("\t", key)  # type: ignore[attr-defined]
        try:
            if process.command:
                console = Console(namespace, write)
                await console.run_source(process.command)
            else:
                await interact(read_line, write, namespace, user)
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            pass
        except SystemExit:
            pass
        except Exception:
            logger.exception("manhole: SSH session of %s failed", user)
        finally:
            process.exit(0)


def tab_key(
    complete: Complete, write: Callable[[str], None], prompt: Callable[[], str]
) -> Callable[[str, int], tuple[str, int] | bool]:
    """A Tab handler for asyncssh's line editor: the new line and cursor, or False (bell)."""

    def on_tab(line: str, cursor: int) -> tuple[str, int] | bool:
        done = complete(line, cursor)
        if done.failed:
            return False
        if done.choices:
            # The editor takes output in the middle of a line: it redraws the line after it.
            write("\n" + columns(done.choices) + "\n" + prompt())
        return done.line, done.cursor

    return on_tab


def make_service(options: Mapping[str, Any]) -> SSHManholeService:
    """The service for ``mktap ssh-manhole`` / ``twistd ssh-manhole``."""
    try:
        import asyncssh
    except ImportError:
        from appcore import UnavailableError

        raise UnavailableError(
            "the ssh-manhole type needs asyncssh (pip install asyncssh)"
        ) from None
    keys = Path(options["authorized_keys"]).resolve()
    try:
        asyncssh.read_authorized_keys(str(keys))
    except OSError as err:
        raise NoInputError(f"cannot read {keys}: {err.strerror or err}") from None
    except ValueError as err:
        raise DataError(f"{keys} is not an authorized_keys file: {err}") from None
    host_key = Path(options["host_key"]).resolve()
    login_timeout = options.get("login_timeout") or LOGIN_TIMEOUT
    return SSHManholeService(
        options["listen"], str(keys), str(host_key), login_timeout=login_timeout
    )
