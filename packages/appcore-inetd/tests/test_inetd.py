"""The inetd server type: inetd.conf parsing, internal services, programs, wait/nowait, users.

Everything runs on 127.0.0.1 with real sockets and real programs (``/bin/cat``,
``/usr/bin/id`` and small Python scripts); the end-to-end test makes the application with
the ``mktap`` console script and runs it with ``twistd``.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import Application, DataError, NoInputError, dumps, load_application, loads
from appcore._runner import start_application, stop_application
from appcore.testing import free_port
from appcore_inetd._conf import parse_line, read_conf
from appcore_inetd._internal import EPOCH_1900, chargen_line
from appcore_inetd._maker import inetd

pytestmark = pytest.mark.timeout(60)

BIN = Path(sys.executable).parent
ME = getpass.getuser()


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def inetd_app(conf: Path, **options: Any) -> Application:
    app = Application("inetd-test")
    service = inetd.make_service({"file": str(conf), **options})
    service.name = "inetd"
    app.add_service(service)
    return app


async def exchange(port: int, data: bytes = b"") -> bytes:
    """Connect, send ``data``, half-close, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if data:
            writer.write(data)
        if writer.can_write_eof():
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def udp_exchange(port: int, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    received: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, payload: bytes, addr: Any) -> None:
            if not received.done():
                received.set_result(payload)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(data)
        return await asyncio.wait_for(received, 5)
    finally:
        transport.close()


# --- the file format


def test_conf_lines_resolve_names_and_fields() -> None:
    entry = parse_line(f"echo stream tcp nowait {ME} internal")
    assert (entry.port, entry.protocol, entry.internal, entry.wait) == (7, "tcp", "echo", False)
    entry = parse_line(f"daytime dgram udp wait {ME} internal")
    assert (entry.port, entry.protocol, entry.internal) == (13, "udp", "daytime")
    entry = parse_line(f"7001 stream tcp4 nowait.9 {ME}:{ME_GROUP()} /bin/cat cat -u")
    assert (entry.port, entry.max_children, entry.argv) == (7001, 9, ("cat", "-u"))
    assert entry.group == ME_GROUP()
    assert parse_line(f"7002 stream tcp wait {ME} /bin/cat").argv == ("/bin/cat",)


def ME_GROUP() -> str:  # noqa: N802 (reads like the constant it stands for)
    import grp

    return grp.getgrgid(os.getegid()).gr_name


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("echo stream tcp nowait", "expected: name"),
        (f"echo seqpacket tcp nowait {ME} internal", "socket type"),
        (f"echo stream sctp nowait {ME} internal", "protocol"),
        (f"echo dgram tcp nowait {ME} internal", "does not go with"),
        (f"echo stream tcp sometimes {ME} internal", "not wait or nowait"),
        (f"echo stream tcp nowait.0 {ME} internal", "positive number"),
        ("echo stream tcp nowait no-such-user-x internal", "no user named"),
        (f"no-such-service-x stream tcp nowait {ME} internal", "unknown service"),
        (f"70000 stream tcp nowait {ME} internal echo", "out of range"),
        (f"7003 stream tcp nowait {ME} internal", "no internal service '7003'"),
        (f"7003 stream tcp nowait {ME} internal finger", "no internal service 'finger'"),
        (f"7003 stream tcp nowait {ME} bin/cat cat", "absolute path"),
        (f"7003 dgram udp nowait {ME} /bin/cat cat", "must be 'wait'"),
    ],
)
def test_conf_errors_name_the_line(tmp_path: Path, line: str, reason: str) -> None:
    conf = tmp_path / "inetd.conf"
    conf.write_text(f"# comment\n\n{line}\n")
    with pytest.raises(DataError, match=rf"inetd.conf:3: .*{re.escape(reason)}"):
        read_conf(conf)


def test_conf_file_level_errors(tmp_path: Path) -> None:
    conf = tmp_path / "inetd.conf"
    with pytest.raises(NoInputError):
        read_conf(conf)
    conf.write_text("# nothing\n")
    with pytest.raises(DataError, match="defines no services"):
        read_conf(conf)
    conf.write_text(
        f"7004 stream tcp nowait {ME} internal echo\n7004 stream tcp nowait {ME} internal time\n"
    )
    with pytest.raises(DataError, match="inetd.conf:2: tcp port 7004 is already used on line 1"):
        read_conf(conf)


# --- internal services


def test_internal_services_over_tcp_and_udp(arun: Callable[..., Any], tmp_path: Path) -> None:
    tcp = {name: free_port() for name in ("echo", "discard", "daytime", "time", "chargen")}
    udp = {name: free_port(socket.SOCK_DGRAM) for name in ("echo", "daytime", "time", "chargen")}
    lines = [f"{port} stream tcp nowait {ME} internal {name}" for name, port in tcp.items()]
    lines += [f"{port} dgram udp wait {ME} internal {name}" for name, port in udp.items()]
    conf = tmp_path / "inetd.conf"
    conf.write_text("\n".join(lines) + "\n")
    app = inetd_app(conf)

    async def scenario() -> None:
        await start_application(app)
        try:
            assert await exchange(tcp["echo"], b"hello") == b"hello"
            assert await exchange(tcp["discard"], b"into the void") == b""
            daytime = (await exchange(tcp["daytime"])).decode()
            assert re.fullmatch(r"\w+day, \w+ \d\d, \d{4} \d\d:\d\d:\d\d-UTC\r\n", daytime)
            (stamp,) = struct.unpack("!I", await exchange(tcp["time"]))
            assert abs(stamp - EPOCH_1900 - time.time()) < 5
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp["chargen"])
            received = await asyncio.wait_for(reader.readexactly(74 * 200), 5)
            writer.close()
            assert received == b"".join(chargen_line(i) for i in range(200))
            assert await udp_exchange(udp["echo"], b"dgram") == b"dgram"
            assert (await udp_exchange(udp["daytime"], b"?")).endswith(b"-UTC\r\n")
            assert len(await udp_exchange(udp["time"], b"?")) == 4
            assert (await udp_exchange(udp["chargen"], b"x")).startswith(chargen_line(0)[:72])
        finally:
            await stop_application(app)

    arun(scenario(), timeout=20)


def test_chargen_stops_writing_when_the_client_stops_reading(
    arun: Callable[..., Any], tmp_path: Path
) -> None:
    port = free_port()
    conf = tmp_path / "inetd.conf"
    conf.write_text(f"{port} stream tcp nowait {ME} internal chargen\n")
    app = inetd_app(conf)

    async def scenario() -> None:
        await start_application(app)
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                await asyncio.sleep(0.5)  # not reading: the server must pause, not buffer
                chargen: Any = app.get_service_named("inetd").services[0]
                transports = list(chargen._tracker.transports)
                assert transports
                assert all(t.get_write_buffer_size() < 1024 * 1024 for t in transports)
        finally:
            await stop_application(app)

    arun(scenario(), timeout=20)


# --- programs


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_nowait_program_gets_the_connection_as_stdin_and_stdout(
    arun: Callable[..., Any], tmp_path: Path, loop: str
) -> None:
    cat_port, argv_port = free_port(), free_port()
    show_argv = script(
        tmp_path, "argv.py", "import sys\nprint(repr(sys.orig_argv[0]), sys.argv[1:], flush=True)\n"
    )
    conf = tmp_path / "inetd.conf"
    conf.write_text(
        f"{cat_port} stream tcp nowait {ME} /bin/cat cat\n"
        # argv[0] is the conf file's, not the program's path (Python keeps it in orig_argv).
        f"{argv_port} stream tcp nowait {ME} {sys.executable} shown-name {show_argv} one two\n"
    )
    app = inetd_app(conf)

    async def scenario() -> None:
        await start_application(app)
        try:
            # Two at once: each connection has its own program.
            first, second = await asyncio.gather(
                exchange(cat_port, b"first\n"), exchange(cat_port, b"second\n")
            )
            assert (first, second) == (b"first\n", b"second\n")
            shown = await exchange(argv_port)
            assert shown.endswith(b" ['one', 'two']\n")
            if loop == "asyncio":  # uvloop cannot set argv[0]: its programs see their path
                assert shown.startswith(b"'shown-name' ")
        finally:
            await stop_application(app)

    arun(scenario(), timeout=20, loop=loop)


def test_wait_programs_are_handed_the_socket(arun: Callable[..., Any], tmp_path: Path) -> None:
    stream_port, dgram_port = free_port(), free_port(socket.SOCK_DGRAM)
    acceptor = script(
        tmp_path,
        "accept_one.py",
        "import os, socket\n"
        "listening = socket.socket(fileno=0)\n"
        "conn, _ = listening.accept()\n"
        "conn.sendall(f'served by {os.getpid()}\\n'.encode())\n"
        "conn.close()\n",
    )
    replier = script(
        tmp_path,
        "reply_one.py",
        "import socket\n"
        "sock = socket.socket(fileno=0)\n"
        "data, peer = sock.recvfrom(512)\n"
        "sock.sendto(b'got ' + data, peer)\n",
    )
    conf = tmp_path / "inetd.conf"
    conf.write_text(
        f"{stream_port} stream tcp wait {ME} {acceptor} accept_one\n"
        f"{dgram_port} dgram udp wait {ME} {replier} reply_one\n"
    )
    app = inetd_app(conf)

    async def scenario() -> None:
        await start_application(app)
        try:
            first = await exchange(stream_port)
            second = await exchange(stream_port)
            assert first.startswith(b"served by ")
            assert second.startswith(b"served by ")
            assert first != second  # the program ran again once the first one exited
            assert await udp_exchange(dgram_port, b"one") == b"got one"
            assert await udp_exchange(dgram_port, b"two") == b"got two"
        finally:
            await stop_application(app)

    arun(scenario(), timeout=20)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_user_field(arun: Callable[..., Any], tmp_path: Path, loop: str) -> None:
    port = free_port()
    conf = tmp_path / "inetd.conf"
    other = "nobody" if ME != "nobody" else "root"
    conf.write_text(f"{port} stream tcp nowait {other} /usr/bin/id id -u\n")
    app = inetd_app(conf)

    async def scenario() -> bytes:
        await start_application(app)
        try:
            return await exchange(port)
        finally:
            await stop_application(app)

    answer = arun(scenario(), timeout=20, loop=loop)
    if os.geteuid() == 0:
        # Root runs the program as the named user.
        assert answer == f"{pwd.getpwnam(other).pw_uid}\n".encode()
    else:
        # Anyone else refuses to run another user's program (the connection just closes).
        assert answer == b""


def test_inetd_service_round_trips_in_every_format(tmp_path: Path) -> None:
    conf = tmp_path / "inetd.conf"
    conf.write_text(
        f"{free_port()} stream tcp nowait {ME} internal echo\n"
        f"{free_port()} stream tcp nowait {ME} /bin/cat cat\n"
    )
    app = inetd_app(conf, interface="127.0.0.1")
    for fmt in ("pickle", "xml", "source"):
        copy = loads(dumps(app, fmt), fmt)  # type: ignore[arg-type]
        assert isinstance(copy, Application)
        root: Any = copy.get_service_named("inetd")
        assert root.conf_file == str(conf.resolve())
        program = root.services[1]
        assert (program.program, program.argv, program.wait) == ("/bin/cat", ["cat"], False)


# --- end to end: mktap (three formats, --append), then twistd


def _env(tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}


def _mktap(tmp_path: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "mktap"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def _answers(port: int, data: bytes = b"") -> bytes:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if data:
                    sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := sock.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("fmt", "flag", "ext"), [("pickle", "-f", "tap"), ("xml", "-x", "tax"), ("source", "-s", "tas")]
)
def test_mktap_inetd_appended_then_twistd(tmp_path: Path, fmt: str, flag: str, ext: str) -> None:
    if not (BIN / "mktap").exists() or not (BIN / "twistd").exists():
        pytest.fail("the mktap and twistd console scripts must be installed in this venv")
    env = _env(tmp_path)
    echo_port, daytime_port, cat_port, plain_echo = (free_port() for _ in range(4))
    first = tmp_path / "first.conf"
    first.write_text(
        f"{echo_port} stream tcp nowait {ME} internal echo\n"
        f"{daytime_port} stream tcp nowait {ME} internal daytime\n"
    )
    second = tmp_path / "second.conf"
    second.write_text(f"{cat_port} stream tcp nowait {ME} /bin/cat cat\n")
    _mktap(tmp_path, env, "-t", fmt, "inetd", "--file", str(first))
    _mktap(tmp_path, env, "-a", f"inetd.{ext}", "inetd", "-f", str(second))
    _mktap(
        tmp_path, env, "-a", f"inetd.{ext}", "echo", "-l", f"tcp:{plain_echo}:interface=127.0.0.1"
    )
    made = load_application(tmp_path / f"inetd.{ext}")
    assert [s.name for s in made] == ["inetd", "inetd-2", "echo"]
    log = tmp_path / "twistd.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / "twistd"), "-n", flag, f"inetd.{ext}", "--pidfile", ""],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _answers(echo_port, b"inetd echo") == b"inetd echo", log.read_text()
        assert _answers(daytime_port).endswith(b"-UTC\r\n")
        assert _answers(cat_port, b"through cat") == b"through cat"
        assert _answers(plain_echo, b"plain") == b"plain"
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=20)
    assert code == 0, log.read_text()


def test_registered_as_entry_point() -> None:
    """Needs appcore's pyproject to list inetd under appcore.service_makers."""
    from appcore import discover_service_makers

    assert discover_service_makers(refresh=True).makers.get("inetd") is inetd
