"""The telnet and SSH manholes: logins, negotiation, line editing, live changes, persistence.

In-process tests run the service on a real loop and talk to it over 127.0.0.1 with real
clients (raw sockets speaking telnet, telnetlib3, asyncssh). The end-to-end test makes the
application with the ``mktap`` console script and runs it with ``twistd``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import Application, DataError, NoInputError, UsageError, dumps, load_application, loads
from appcore._passwords import (
    check_password,
    hash_password,
    password_line,
    read_password_file,
    verify_password,
)
from appcore._runner import start_application, stop_application
from appcore.testing import free_port as new_port
from appcore_manhole._editor import (
    DOWN,
    ENTER,
    LEFT,
    UP,
    KeyDecoder,
    LineEditor,
)
from appcore_manhole._maker import ssh_manhole, telnet

pytestmark = pytest.mark.timeout(60)

BIN = Path(sys.executable).parent
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SGA, NAWS, LINEMODE = 1, 3, 31, 34


@pytest.fixture
def passwords(tmp_path: Path) -> Path:
    path = tmp_path / "manhole.passwd"
    path.write_text(
        "# test users\n" + password_line("alice", "secret", log_n=10) + "\n", encoding="utf-8"
    )
    return path


def telnet_app(passwords: Path, listen: str = "tcp:0", **options: Any) -> Application:
    app = Application("manhole-test")
    service = telnet.make_service(
        {"passwords": str(passwords), "listen": listen, "failure_delay": 0.05, **options}
    )
    service.name = "telnet"
    app.add_service(service)
    return app


class RawTelnet:
    """A telnet client on a raw socket: records the server's commands, answers nothing
    unless told to."""

    def __init__(self, port: int) -> None:
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter
        self.port = port
        self.commands: list[tuple[int, int]] = []
        self.text = b""

    async def open(self) -> RawTelnet:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        """Read until ``marker`` appears in the text (telnet commands stripped); returns and
        forgets the text read so far."""
        deadline = time.monotonic() + timeout
        while marker not in self.text:
            remaining = deadline - time.monotonic()
            chunk = await asyncio.wait_for(self.reader.read(4096), max(remaining, 0.01))
            if not chunk:
                raise EOFError(f"connection closed before {marker!r}; got {self.text!r}")
            self._parse(chunk)
        text, self.text = self.text, b""
        return text

    async def closed(self, timeout: float = 5.0) -> bytes:
        """Read until the server hangs up."""
        while True:
            chunk = await asyncio.wait_for(self.reader.read(4096), timeout)
            if not chunk:
                return self.text
            self._parse(chunk)

    def _parse(self, chunk: bytes) -> None:
        data = iter(chunk)
        for byte in data:
            if byte != IAC:
                self.text += bytes([byte])
                continue
            command = next(data)
            if command in (DO, DONT, WILL, WONT):
                self.commands.append((command, next(data)))
            elif command == IAC:
                self.text += b"\xff"

    async def login(self, user: bytes = b"alice", password: bytes = b"secret") -> bytes:
        await self.until(b"Username: ")
        self.send(user + b"\r\n")
        await self.until(b"Password: ")
        self.send(password + b"\r\n")
        return await self.until(b">>> ")

    async def run(self, line: str) -> str:
        """Send one line, return what the server printed before the next prompt."""
        self.send(line.encode() + b"\r\n")
        text = await self.until(b">>> ")
        echoed, _, rest = text.partition(b"\r\n")
        assert echoed.decode().endswith(line.split("\n")[-1])
        return rest.removesuffix(b">>> ").decode().replace("\r\n", "\n")

    def close(self) -> None:
        self.writer.close()


# --- password files


def test_password_hash_round_trip() -> None:
    stored = hash_password("pa:ss wörd", log_n=10)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert verify_password(stored, "pa:ss wörd")
    assert not verify_password(stored, "pa:ss word")
    assert hash_password("x", log_n=10) != hash_password("x", log_n=10)  # salted


def test_password_file_rules(tmp_path: Path, passwords: Path) -> None:
    assert check_password(passwords, "alice", "secret")
    assert not check_password(passwords, "alice", "wrong")
    assert not check_password(passwords, "bob", "secret")
    plain = tmp_path / "plain"
    plain.write_text("alice:secret\n")
    with pytest.raises(DataError, match=r"plain:1: user 'alice'"):
        read_password_file(plain)
    weak = tmp_path / "weak"
    weak.write_text("alice:" + hash_password("x", log_n=10).replace("ln=10", "ln=4") + "\n")
    with pytest.raises(DataError, match="out of range"):
        read_password_file(weak)
    with pytest.raises(NoInputError):
        read_password_file(tmp_path / "missing")


# --- the line editor


def test_key_decoder_handles_split_escapes_and_line_ends() -> None:
    decoder = KeyDecoder()
    keys = decoder.feed("ab\x1b[") + decoder.feed("A\r") + decoder.feed("\ncd\r\0\n\x1bOD")
    assert keys == ["a", "b", UP, ENTER, "c", "d", ENTER, ENTER, LEFT]
    assert decoder.feed("\x1b[3~\x7f\x03") == ["<delete>", "<backspace>", "<interrupt>"]


def test_line_editor_edits_and_recalls_history(arun: Callable[..., Any]) -> None:
    async def scenario() -> tuple[list[str | None], str]:
        keys: asyncio.Queue[str] = asyncio.Queue()
        shown: list[str] = []
        editor = LineEditor(keys.get, shown.append)
        for key in [*"prnt(1)", LEFT, LEFT, LEFT, LEFT, LEFT, "i", ENTER]:
            keys.put_nowait(key)
        first = await editor.read_line(">>> ")
        # Up replaces the draft with the last line; down brings the draft back.
        for key in ["x", UP, ENTER, "x", UP, UP, DOWN, "y", "<backspace>", ENTER]:
            keys.put_nowait(key)
        second = await editor.read_line(">>> ")
        third = await editor.read_line(">>> ")
        return [first, second, third], "".join(shown)

    lines, shown = arun(scenario())
    assert lines == ["print(1)", "print(1)", "x"]
    assert "\x1b[K" in shown  # redrawn after the insertion in the middle


# --- the telnet manhole in process


def test_telnet_login_negotiation_and_console(arun: Callable[..., Any], passwords: Path) -> None:
    async def scenario() -> None:
        app = telnet_app(passwords)
        await start_application(app)
        service: Any = app.get_service_named("telnet")
        assert service.bound_address[0] == "127.0.0.1"
        client = await RawTelnet(service.port).open()
        try:
            await client.until(b"Username: ")
            # The server offers to echo and to suppress go-ahead, asks for the window size
            # and refuses line mode, so that editing happens on its side.
            assert {(WILL, ECHO), (WILL, SGA), (DO, NAWS), (DONT, LINEMODE)} <= set(client.commands)
            client.send(bytes([IAC, WILL, NAWS, IAC, SB, NAWS, 0, 132, 0, 43, IAC, SE]))
            client.send(bytes([IAC, DO, 99]))  # an option nobody knows: refused
            client.send(b"alice\r\n")
            password_prompt = await client.until(b"Password: ")
            assert password_prompt.startswith(b"alice")  # the name is echoed...
            client.send(b"secret\r\n")
            banner = await client.until(b">>> ")
            assert b"secret" not in banner  # ...the password is not
            assert (WONT, 99) in client.commands
            assert await client.run("session.window") == "(132, 43)\n"
            assert await client.run("21 * 2") == "42\n"
            assert await client.run("_ + 1") == "43\n"
            assert await client.run("print('out', 'put', sep='-')") == "out-put\n"
            assert "ZeroDivisionError" in await client.run("1 / 0")
            assert "SyntaxError" in await client.run("def (")
            client.send(b"for i in range(3):\r\n")
            await client.until(b"... ")
            client.send(b"  print(i)\r\n\r\n")
            assert (await client.until(b">>> ")).count(b"\r\n") >= 4
            assert await client.run("await asyncio.sleep(0, 'awaited')") == "'awaited'\n"
            # Editing: type, move left, insert, backspace; then recall it with the up arrow.
            client.send(b"6*8\x1b[D7\x7f9\r\n")  # 6*8, left, 7, backspace, 9: 6*98
            assert (await client.until(b">>> ")).split(b"\r\n")[1] == b"588"
            client.send(b"\x1b[A\r\n")  # the redraw shows the recalled line, then it runs
            assert b"\r>>> 6*98\x1b[K" in await client.until(b"\r\n588\r\n>>> ")
            assert "Return the absolute value" in await client.run("help(abs)")
            client.send(b"exit()\r\n")  # ends the session, not the server
            await client.closed()
            assert not sys.stdin or not sys.stdin.closed
            again = await RawTelnet(service.port).open()
            await again.login()
            again.send(b"\x04")  # Ctrl-D on an empty line logs out
            await again.closed()
        finally:
            client.close()
            await stop_application(app)

    arun(scenario(), timeout=20)


def test_telnet_rejects_wrong_passwords(arun: Callable[..., Any], passwords: Path) -> None:
    async def scenario() -> None:
        app = telnet_app(passwords, attempts=2)
        await start_application(app)
        port = app.get_service_named("telnet").port  # type: ignore[attr-defined]
        client = await RawTelnet(port).open()
        try:
            seen = await client.until(b"Username: ")
            for user, password in ((b"alice", b"Secret"), (b"mallory", b"secret")):
                client.send(user + b"\r\n")
                seen += await client.until(b"Password: ")
                client.send(password + b"\r\n")
                seen += await client.until(b"Login incorrect")
            seen += await client.closed()
            assert seen.count(b"Login incorrect") == 2
            assert b"Too many failed logins" in seen
            assert b">>>" not in seen
        finally:
            client.close()
            await stop_application(app)

    arun(scenario(), timeout=20)


def _other_local_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP connect
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_manhole_listens_on_loopback_only_by_default(
    arun: Callable[..., Any], passwords: Path, free_port: int
) -> None:
    async def scenario() -> None:
        app = telnet_app(passwords, listen=f"tcp:{free_port}")  # no interface given
        await start_application(app)
        try:
            service: Any = app.get_service_named("telnet")
            assert service.bound_address == ("127.0.0.1", free_port)
            other = _other_local_address()
            if other is not None:
                with pytest.raises(OSError):
                    await asyncio.wait_for(asyncio.open_connection(other, free_port), 3)
        finally:
            await stop_application(app)

    arun(scenario(), timeout=15)
    # Named explicitly, another interface is honoured.
    explicit = telnet.make_service(
        {"passwords": str(passwords), "listen": "tcp:4040:interface=0.0.0.0"}
    )
    assert explicit.endpoint.interface == "0.0.0.0"  # type: ignore[attr-defined]


def test_telnet_client_library_session(arun: Callable[..., Any], passwords: Path) -> None:
    import telnetlib3  # a test dependency: a missing one fails here rather than skipping

    async def scenario() -> None:
        app = telnet_app(passwords)
        await start_application(app)
        port = app.get_service_named("telnet").port  # type: ignore[attr-defined]
        reader, writer = await telnetlib3.open_connection(
            "127.0.0.1", port, cols=101, rows=31, connect_minwait=0.1
        )

        async def until(marker: str) -> str:
            text = ""
            while marker not in text:
                chunk = await asyncio.wait_for(reader.read(1024), 5)
                assert chunk, f"closed before {marker!r}: {text!r}"
                text += chunk
            return text

        try:
            await until("Username: ")
            writer.write("alice\r")
            await until("Password: ")
            writer.write("secret\r")
            await until(">>> ")
            writer.write("session.window, sorted(session.local), user\r")
            assert "((101, 31), [1, 3], 'alice')" in await until(">>> ")
        finally:
            writer.close()
            await stop_application(app)

    arun(scenario(), timeout=20)


def test_manhole_changes_the_live_tree(
    arun: Callable[..., Any], passwords: Path, free_port: int
) -> None:
    async def scenario() -> Application:
        app = telnet_app(passwords)
        await start_application(app)
        port = app.get_service_named("telnet").port  # type: ignore[attr-defined]
        client = await RawTelnet(port).open()
        try:
            await client.login()
            endpoint = f"tcp:{free_port}:interface=127.0.0.1"
            shown = await client.run(
                f"services.add(services.make('echo', '--listen', '{endpoint}'), name='live')"
            )
            assert "MultiService 'live'" in shown
            _, writer = await asyncio.open_connection("127.0.0.1", free_port)
            writer.close()
            assert "live" in await client.run("services.names()")
            assert "KeyError" in await client.run("services.get('nope')")
            # A failing start is reported in the session, not lost.
            failing = await client.run(
                f"await services.add(services.make('echo', listen=['{endpoint}']), name='dup')"
            )
            assert "in use" in failing or "Error" in failing
            await client.run("await services.remove('dup')")
            await client.run("await services.remove('live')")
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", free_port)
            await client.run("await services.add(services.make('echo'), name='kept')")
        finally:
            client.close()
            await stop_application(app)
        return app

    app = arun(scenario(), timeout=20)
    assert [s.name for s in app] == ["telnet", "kept"]


def test_telnet_manhole_persists_configuration_only(
    arun: Callable[..., Any], passwords: Path
) -> None:
    app = telnet_app(passwords)

    async def run_once(tree: Application) -> None:
        await start_application(tree)
        client = await RawTelnet(tree.get_service_named("telnet").port).open()  # type: ignore[attr-defined]
        try:
            await client.login()
            copies = [loads(dumps(tree, fmt), fmt) for fmt in ("pickle", "xml", "source")]
        finally:
            client.close()
            await stop_application(tree)
        for copy in copies:
            assert isinstance(copy, Application)
            service: Any = copy.get_service_named("telnet")
            assert service.factory.service is service  # the back-reference survives
            assert service.factory.password_file == str(passwords.resolve())
            assert service._listener is None
            assert not service.running

    arun(run_once(app), timeout=20)
    # A reloaded copy runs and logs in as well.
    copy = loads(dumps(app, "xml"), "xml")
    assert isinstance(copy, Application)
    arun(run_once(copy), timeout=20)


def test_telnet_maker_checks_its_options(tmp_path: Path, passwords: Path) -> None:
    with pytest.raises(NoInputError):
        telnet.make_service({"passwords": str(tmp_path / "none")})
    with pytest.raises(UsageError, match="--attempts"):
        telnet.make_service({"passwords": str(passwords), "attempts": "0"})
    with pytest.raises(UsageError):
        telnet.make_service({"passwords": str(passwords), "listen": "udp:4040"})
    with pytest.raises(UsageError, match="--passwords"):
        telnet.options.validate({})


# --- the SSH manhole


def test_ssh_manhole_keys_and_session(arun: Callable[..., Any], tmp_path: Path) -> None:
    import asyncssh

    allowed = asyncssh.generate_private_key("ssh-ed25519")
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    keys = tmp_path / "authorized_keys"
    keys.write_bytes(allowed.export_public_key())
    host_key = tmp_path / "host_key"
    app = Application("ssh-test")
    service: Any = ssh_manhole.make_service(
        {"authorized_keys": str(keys), "host_key": str(host_key), "listen": "tcp:0"}
    )
    service.name = "ssh"
    app.add_service(service)

    async def scenario() -> None:
        await start_application(app)
        port = service.port
        assert service.bound_address[0] == "127.0.0.1"
        try:
            async with asyncssh.connect(
                "127.0.0.1", port, username="ops", client_keys=[allowed], known_hosts=None
            ) as conn:
                done = await conn.run("sorted(services.names()), user", check=False)
                assert done.stdout == "(['ssh'], 'ops')\n"
                process = await conn.create_process(term_type="xterm")
                process.stdin.write("x = 6\nx * 7\n")
                text = ""
                while "42" not in text:
                    text += await asyncio.wait_for(process.stdout.read(1024), 5)
                process.stdin.write_eof()
                process.close()
            with pytest.raises(asyncssh.PermissionDenied):
                async with asyncssh.connect(
                    "127.0.0.1",
                    port,
                    username="ops",
                    client_keys=[stranger],
                    known_hosts=None,
                ):
                    pass
        finally:
            await stop_application(app)

    arun(scenario(), timeout=30)
    assert host_key.stat().st_mode & 0o777 == 0o600
    generated = host_key.read_bytes()
    service.load_host_key()  # an existing key is read, not replaced
    assert host_key.read_bytes() == generated
    for fmt in ("pickle", "xml", "source"):
        copy = loads(dumps(app, fmt), fmt)
        assert copy.get_service_named("ssh").authorized_keys == str(keys.resolve())  # type: ignore[union-attr,attr-defined]


# --- end to end: mktap, then twistd, then a telnet session adding a service


def _env(tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"twistd exited {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never answered: {log.read_text()}")


@pytest.mark.parametrize(
    ("fmt", "flag", "ext"), [("pickle", "-f", "tap"), ("xml", "-x", "tax"), ("source", "-s", "tas")]
)
def test_mktap_telnet_then_twistd_then_live_add(
    tmp_path: Path, passwords: Path, fmt: str, flag: str, ext: str
) -> None:
    if not (BIN / "mktap").exists() or not (BIN / "twistd").exists():
        pytest.fail("the mktap and twistd console scripts must be installed in this venv")
    env = _env(tmp_path)
    port, echo_port, added_port = new_port(), new_port(), new_port()
    made = subprocess.run(
        [
            str(BIN / "mktap"),
            "-t",
            fmt,
            "telnet",
            "--passwords",
            str(passwords),
            "--listen",
            f"tcp:{port}",
            "--failure-delay",
            "0.05",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert made.returncode == 0, made.stderr
    appended = subprocess.run(
        [
            str(BIN / "mktap"),
            "-a",
            f"telnet.{ext}",
            "echo",
            "-l",
            f"tcp:{echo_port}:interface=127.0.0.1",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert appended.returncode == 0, appended.stderr
    log = tmp_path / "twistd.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / "twistd"), "-n", flag, f"telnet.{ext}", "--pidfile", ""],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, daemon, log)
        with socket.create_connection(("127.0.0.1", echo_port), timeout=5) as echo:
            echo.sendall(b"ping")
            assert echo.recv(4) == b"ping"

        async def session() -> None:
            client = await RawTelnet(port).open()
            try:
                await client.login()
                endpoint = f"tcp:{added_port}:interface=127.0.0.1"
                shown = await client.run(
                    f"services.add(services.make('echo', listen=['{endpoint}']), name='added')"
                )
                assert "added" in shown
            finally:
                client.close()

        asyncio.run(asyncio.wait_for(session(), 20))
        with socket.create_connection(("127.0.0.1", added_port), timeout=5) as added:
            added.sendall(b"live")
            assert added.recv(4) == b"live"
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=20)
    assert code == 0, log.read_text()
    saved = load_application(tmp_path / f"telnet-shutdown.{ext}")
    assert [s.name for s in saved] == ["telnet", "echo", "added"]
    endpoint_of_added = saved.get_service_named("added").services[0].endpoint  # type: ignore[attr-defined]
    assert endpoint_of_added.port == added_port


def test_registered_as_entry_points() -> None:
    """Needs appcore's pyproject to list telnet and ssh-manhole under appcore.service_makers."""
    from appcore import discover_service_makers

    found = discover_service_makers(refresh=True)
    assert found.makers.get("telnet") is telnet
    assert found.makers.get("ssh-manhole") is ssh_manhole
