"""The manholes behave like Python's REPL: every expression statement of a line shows its
value (``x = 5; x``), and Tab completes names, in the telnet manhole (a raw-socket telnet
client) and in the SSH one (asyncssh's client with a terminal)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import Application
from appcore._passwords import password_line
from appcore._runner import start_application, stop_application
from appcore_manhole._maker import ssh_manhole, telnet

pytestmark = pytest.mark.timeout(60)

IAC = 255
TAB = b"\t"


@pytest.fixture
def passwords(tmp_path: Path) -> Path:
    path = tmp_path / "manhole.passwd"
    path.write_text(password_line("alice", "secret", log_n=10) + "\n", encoding="utf-8")
    return path


class Telnet:
    """A telnet client on a raw socket that leaves negotiation alone (the server echoes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.text = b""

    @classmethod
    async def open(cls, port: int) -> Telnet:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        """The text up to and including ``marker`` (telnet commands dropped)."""
        deadline = time.monotonic() + timeout
        while marker not in self.text:
            remaining = max(deadline - time.monotonic(), 0.01)
            chunk = await asyncio.wait_for(self.reader.read(4096), remaining)
            if not chunk:
                raise EOFError(f"closed before {marker!r}; got {self.text!r}")
            self.text += _without_commands(chunk)
        end = self.text.index(marker) + len(marker)
        text, self.text = self.text[:end], self.text[end:]
        return text

    async def run(self, line: str) -> str:
        """Send a line; what it printed before the next prompt."""
        self.send(line.encode() + b"\r\n")
        shown = await self.until(b"\r\n>>> ")
        return shown.split(b"\r\n", 1)[1].removesuffix(b">>> ").decode().replace("\r\n", "\n")


def _without_commands(chunk: bytes) -> bytes:
    out = bytearray()
    data = iter(chunk)
    for byte in data:
        if byte != IAC:
            out.append(byte)
            continue
        command = next(data, None)
        if command is not None and 251 <= command <= 254:
            next(data, None)  # the option of DO, DONT, WILL, WONT
        elif command == IAC:
            out.append(IAC)
    return bytes(out)


def run_telnet(arun: Callable[..., Any], passwords: Path, session: Callable[[Telnet], Any]) -> None:
    app = Application("manhole-test")
    service: Any = telnet.make_service(
        {"passwords": str(passwords), "listen": "tcp:0", "failure_delay": 0.05}
    )
    service.name = "telnet"
    app.add_service(service)

    async def scenario() -> None:
        await start_application(app)
        client = await Telnet.open(service.port)
        try:
            await session(client)
        finally:
            client.writer.close()
            await stop_application(app)

    arun(scenario(), timeout=30)


async def telnet_login(client: Telnet) -> None:
    await client.until(b"Username: ")
    client.send(b"alice\r\n")
    await client.until(b"Password: ")
    client.send(b"secret\r\n")
    await client.until(b">>> ")


def test_telnet_shows_every_expression_statement(arun: Callable[..., Any], passwords: Path) -> None:
    async def session(client: Telnet) -> None:
        await telnet_login(client)
        assert await client.run("x = 5; x") == "5\n"
        assert await client.run("1; None; 'two'") == "1\n'two'\n"
        assert await client.run("y = 6") == ""
        assert await client.run("_") == "'two'\n"
        client.send(b"for i in range(3): i * y\r\n")
        await client.until(b"... ")
        assert await client.run("") == "0\n6\n12\n"
        # What functions and classes hold is not shown when they are defined or run.
        client.send(b"def f():\r\n")
        await client.until(b"... ")
        client.send(b"    7\r\n")
        await client.until(b"... ")
        assert await client.run("") == ""
        assert await client.run("f(); x") == "5\n"
        assert await client.run("await asyncio.sleep(0, 'awaited'); x + 1") == "'awaited'\n6\n"

    run_telnet(arun, passwords, session)


def test_telnet_tab_completes(arun: Callable[..., Any], passwords: Path) -> None:
    async def session(client: Telnet) -> None:
        # Before login Tab completes nothing (it would tell what the namespace holds).
        await client.until(b"Username: ")
        client.send(b"app.na" + TAB)
        assert b"app.name" not in await client.until(b"app.na    ")
        client.send(b"\r\n")
        await client.until(b"Password: ")
        client.send(b"x\r\n")
        await telnet_login(client)
        # One candidate: completed in place.
        client.send(b"app.na" + TAB)
        await client.until(b">>> app.name\x1b[K")
        assert await client.run("") == "'manhole-test'\n"
        client.send(b"servi" + TAB + b".tr" + TAB)
        await client.until(b">>> services.tree(\x1b[K")
        assert "telnet: <TelnetManholeService" in await client.run(")")
        # Several candidates sharing no more than what is typed: listed, then the line again.
        client.send(b"se" + TAB)
        listing = await client.until(b">>> se\x1b[K")
        assert b"services" in listing
        assert b"session" in listing
        assert b"setattr(" in listing
        client.send(b"ssion.win" + TAB)
        await client.until(b">>> session.window\x1b[K")
        assert await client.run("") == "(80, 24)\n"
        # Nothing matches: the bell; nothing to complete: an indent.
        client.send(b"nothing_like_this" + TAB)
        await client.until(b"\a")
        client.send(b"\x15")  # Ctrl-U
        client.send(b"for i in 'ab':\r\n")
        await client.until(b"... ")
        client.send(TAB + b"i\r\n")
        assert b"...     " in await client.until(b"i\r\n... ")
        assert await client.run("") == "'a'\n'b'\n"

    run_telnet(arun, passwords, session)


def test_ssh_shows_expressions_and_tab_completes(arun: Callable[..., Any], tmp_path: Path) -> None:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    keys = tmp_path / "authorized_keys"
    keys.write_bytes(key.export_public_key())
    app = Application("ssh-test")
    service: Any = ssh_manhole.make_service(
        {"authorized_keys": str(keys), "host_key": str(tmp_path / "host_key"), "listen": "tcp:0"}
    )
    service.name = "ssh"
    app.add_service(service)

    async def scenario() -> None:
        await start_application(app)
        try:
            async with asyncssh.connect(
                "127.0.0.1", service.port, username="ops", client_keys=[key], known_hosts=None
            ) as conn:
                command = await conn.run("x = 5; x", check=False)
                assert command.stdout == "5\n"
                process = await conn.create_process(term_type="xterm")
                shown = ""

                async def until(marker: str) -> str:
                    nonlocal shown
                    while marker not in shown:
                        shown += await asyncio.wait_for(process.stdout.read(1024), 5)
                    text, _, shown = shown.partition(marker)
                    return text + marker

                await until(">>> ")
                process.stdin.write("y = 6; y * 7\n")
                assert "42" in await until(">>> ")
                process.stdin.write("app.na\t\n")
                assert "'ssh-test'" in await until(">>> ")
                process.stdin.write("se\t")
                listing = await until("setattr(")
                assert "services" in listing
                await until(">>> ")  # the prompt, drawn again under the list (with "se")
                process.stdin.write("rvices.na\t)\n")
                assert "['ssh']" in await until(">>> ")
                process.stdin.write_eof()
                process.close()
        finally:
            await stop_application(app)

    arun(scenario(), timeout=30)
