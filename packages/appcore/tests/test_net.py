"""Server services on real sockets: every endpoint kind, privileged start, errors, pickling."""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import (
    Application,
    DatagramServerService,
    EchoDatagramFactory,
    EchoFactory,
    NoInputError,
    StreamServerService,
    UnavailableError,
    UsageError,
    start_application,
    stop_application,
)

pytestmark = pytest.mark.timeout(30)

Run = Callable[..., Any]


async def echo(
    host: str, port: int, data: bytes = b"hello\n", ssl_context: ssl.SSLContext | None = None
) -> bytes:
    """Send ``data`` to an echo server and read as many bytes back."""
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ssl_context, server_hostname="localhost" if ssl_context else None
    )
    try:
        writer.write(data)
        await writer.drain()
        return await reader.readexactly(len(data))
    finally:
        writer.close()


async def unix_echo(path: str, data: bytes = b"hello\n") -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(data)
        return await reader.readexactly(len(data))
    finally:
        writer.close()


def test_tcp_echo_and_stop(arun: Run) -> None:
    async def main() -> None:
        app = Application("echo")
        service = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory())
        service.set_service_parent(app)
        await start_application(app)
        port = service.port
        assert port is not None
        assert port > 0
        assert service.bound_address == ("127.0.0.1", port)
        assert await echo("127.0.0.1", port) == b"hello\n"
        await stop_application(app)
        assert service.bound_address is None
        with pytest.raises(ConnectionRefusedError):
            await echo("127.0.0.1", port)

    arun(main())


def test_tcp6_on_ipv6_loopback(arun: Run) -> None:
    # This machine has an IPv6 loopback; a real bind proves it rather than assuming it.
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))

    async def main() -> None:
        service = StreamServerService(r"tcp6:0:interface=\:\:1", EchoFactory())
        await start_application(service)
        assert service.bound_address[0] == "::1"
        assert service.port is not None
        assert await echo("::1", service.port, b"six") == b"six"
        await stop_application(service)

    arun(main())


def test_stop_closes_open_connections(arun: Run) -> None:
    async def main() -> None:
        service = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory())
        await start_application(service)
        assert service.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        await stop_application(service)
        # The server closed our connection as part of the awaited stop.
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()

    arun(main())


def test_restart_on_the_same_port(arun: Run, free_port: int) -> None:
    async def main() -> None:
        service = StreamServerService(f"tcp:{free_port}:interface=127.0.0.1", EchoFactory())
        for _ in range(2):
            await start_application(service)
            assert await echo("127.0.0.1", free_port) == b"hello\n"
            await stop_application(service)

    arun(main())


def test_stop_during_start_and_quick_restart(arun: Run, free_port: int) -> None:
    async def main() -> None:
        service = StreamServerService(f"tcp:{free_port}:interface=127.0.0.1", EchoFactory())
        service.privileged_start_service()
        starting = service.start_service()
        stopping = service.stop_service()  # before the start had a chance to finish
        assert stopping is not None
        await starting
        await stopping
        assert service.bound_address is None
        # Stop and start again without waiting in between: the new run owns the port.
        await start_application(service)
        stopping = service.stop_service()
        restarted = service.start_service()
        await stopping
        await restarted
        assert await echo("127.0.0.1", free_port) == b"hello\n"
        await stop_application(service)

    arun(main())


def test_unix_socket_mode_and_cleanup(arun: Run, tmp_path: Path) -> None:
    path = tmp_path / "echo.sock"
    # A socket file left behind by a dead server is stale and gets replaced.
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))

    async def main() -> None:
        service = StreamServerService(f"unix:{path}:mode=660", EchoFactory())
        await start_application(service)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert service.bound_address == str(path)
        assert service.port is None
        assert await unix_echo(str(path)) == b"hello\n"
        # A second server on a live socket is refused instead of stealing it.
        with pytest.raises(UnavailableError, match="already in use"):
            StreamServerService(f"unix:{path}", EchoFactory()).privileged_start_service()
        await stop_application(service)
        assert not path.exists()

    arun(main())


def test_unix_lockfile_guards_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "locked.sock"
    first = StreamServerService(f"unix:{path}:lockfile=1", EchoFactory())
    first.privileged_start_service()
    assert (tmp_path / "locked.sock.lock").exists()
    with pytest.raises(UnavailableError, match=r"locked\.sock\.lock"):
        StreamServerService(f"unix:{path}:lockfile=1", EchoFactory()).privileged_start_service()
    first.stop_service()  # no loop: only bound, so it closes synchronously
    again = StreamServerService(f"unix:{path}:lockfile=1", EchoFactory())
    again.privileged_start_service()
    again.stop_service()


def test_unix_path_that_is_a_regular_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    with pytest.raises(UnavailableError, match="not a socket"):
        StreamServerService(f"unix:{path}", EchoFactory()).privileged_start_service()
    assert path.read_text() == "keep me"


def test_ssl_echo_with_a_real_tls_client(arun: Run, tls_files: tuple[str, str]) -> None:
    cert, key = tls_files

    async def main() -> None:
        service = StreamServerService(
            f"ssl:0:privateKey={key}:certKey={cert}:interface=127.0.0.1", EchoFactory()
        )
        await start_application(service)
        assert service.port is not None
        client = ssl.create_default_context(cafile=cert)
        assert await echo("127.0.0.1", service.port, b"secret", client) == b"secret"
        # A client that does not trust the certificate fails the handshake.
        with pytest.raises(ssl.SSLError):
            await echo("127.0.0.1", service.port, b"x", ssl.create_default_context())
        await stop_application(service)

    arun(main())


def test_ssl_missing_key_file_is_no_input(tmp_path: Path, tls_files: tuple[str, str]) -> None:
    missing = tmp_path / "nope.pem"
    service = StreamServerService(
        f"ssl:0:privateKey={missing}:certKey={tls_files[0]}", EchoFactory()
    )
    with pytest.raises(NoInputError, match="nope.pem") as caught:
        service.privileged_start_service()
    assert caught.value.exit_code == 66
    assert service.bound_address is None  # nothing left bound


def test_ssl_garbage_certificate_is_bad_data(tmp_path: Path, tls_files: tuple[str, str]) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    service = StreamServerService(
        f"ssl:0:privateKey={tls_files[1]}:certKey={garbage}", EchoFactory()
    )
    with pytest.raises(Exception, match="not usable") as caught:
        service.privileged_start_service()
    assert caught.value.exit_code == 65  # type: ignore[attr-defined]


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait(data)


def test_udp_echo(arun: Run) -> None:
    async def main() -> None:
        service = DatagramServerService("udp:0:interface=127.0.0.1", EchoDatagramFactory())
        await start_application(service)
        assert service.port is not None
        loop = asyncio.get_running_loop()
        transport, collector = await loop.create_datagram_endpoint(
            _Collector, remote_addr=("127.0.0.1", service.port)
        )
        transport.sendto(b"ping")
        assert await asyncio.wait_for(collector.received.get(), 5) == b"ping"
        transport.close()
        await stop_application(service)

    arun(main())


def test_stream_and_datagram_kinds_are_not_mixed() -> None:
    with pytest.raises(UsageError, match="DatagramServerService"):
        StreamServerService("udp:9999", EchoFactory())
    with pytest.raises(UsageError, match="StreamServerService"):
        DatagramServerService("tcp:9999", EchoDatagramFactory())


def test_port_in_use_is_unavailable(free_port: int) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        service = StreamServerService(f"tcp:{free_port}:interface=127.0.0.1", EchoFactory())
        with pytest.raises(UnavailableError) as caught:
            service.privileged_start_service()
    assert caught.value.message == f"tcp:{free_port}:interface=127.0.0.1: address already in use"
    assert caught.value.exit_code == 69


def test_privileged_start_binds_before_start(arun: Run) -> None:
    app = Application("early")
    service = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory())
    service.set_service_parent(app)
    app.privileged_start_service()  # no event loop yet, as before privileges drop
    assert service.port is not None
    early = socket.create_connection(("127.0.0.1", service.port), timeout=5)
    early.sendall(b"queued")  # the kernel accepts it into the backlog already

    async def main() -> bytes:
        await _settle(app)
        data = await asyncio.get_running_loop().run_in_executor(None, early.recv, 6)
        await stop_application(app)
        return data

    try:
        assert arun(main()) == b"queued"
    finally:
        early.close()


async def _settle(app: Application) -> None:
    result = app.start_service()
    if result is not None:
        await result


def test_pickling_a_running_tree_leaves_runtime_state_out(arun: Run) -> None:
    async def main() -> bytes:
        app = Application("saved")
        shared = EchoFactory()
        tcp = StreamServerService("tcp:0:interface=127.0.0.1", shared, name="tcp")
        tcp.set_service_parent(app)
        StreamServerService("tcp:0:interface=127.0.0.1", shared, name="other").set_service_parent(
            app
        )
        await start_application(app)
        assert tcp.running
        assert tcp.port is not None
        data = pickle.dumps(app)
        await stop_application(app)
        return data

    loaded = pickle.loads(arun(main()))
    tcp = loaded.get_service_named("tcp")
    other = loaded.get_service_named("other")
    assert isinstance(tcp, StreamServerService)
    assert not tcp.running
    assert tcp.bound_address is None
    assert "_listener" not in vars(tcp)
    assert "_server" not in vars(tcp)
    assert tcp.endpoint.description == "tcp:0:interface=127.0.0.1"
    assert tcp.factory is other.factory  # one shared factory stays one object

    async def again() -> None:
        await start_application(loaded)
        assert tcp.port is not None
        assert await echo("127.0.0.1", tcp.port) == b"hello\n"
        await stop_application(loaded)

    arun(again())


# --- systemd socket activation


def _inherit_at(sock: socket.socket, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ``sock``'s real descriptor look passed by systemd to this process; the endpoint."""
    index = sock.fileno() - 3
    monkeypatch.setenv("LISTEN_FDS", str(index + 1))
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    return f"systemd:domain=INET:index={index}"


def test_systemd_in_process_stream_and_datagram(arun: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        stream_endpoint = _inherit_at(listening, monkeypatch)
        service = StreamServerService(stream_endpoint, EchoFactory())

        async def main() -> None:
            await start_application(service)
            assert service.port == listening.getsockname()[1]
            assert await echo("127.0.0.1", listening.getsockname()[1]) == b"hello\n"
            await stop_application(service)

        arun(main())
        # The service used a duplicate: the passed descriptor stays open for a restart.
        assert listening.fileno() != -1
        datagram_endpoint = _inherit_at(udp, monkeypatch)
        with pytest.raises(UnavailableError, match="not a stream socket"):
            StreamServerService(datagram_endpoint, EchoFactory()).privileged_start_service()
        DatagramServerService(datagram_endpoint, EchoDatagramFactory()).privileged_start_service()
    finally:
        listening.close()
        udp.close()


def test_systemd_refuses_what_was_not_passed_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LISTEN_FDS", raising=False)
    service = StreamServerService("systemd:domain=INET:index=0", EchoFactory())
    with pytest.raises(UnavailableError, match="LISTEN_FDS is not set"):
        service.privileged_start_service()
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_PID", "1")
    with pytest.raises(UnavailableError, match="passed to process 1"):
        service.privileged_start_service()
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    with pytest.raises(UnavailableError, match="index 1 but only 1"):
        StreamServerService("systemd:domain=INET:index=1", EchoFactory()).privileged_start_service()
    with socket.socket(socket.AF_INET6) as six:
        six.bind(("::1", 0))
        six.listen()
        endpoint = _inherit_at(six, monkeypatch)
        with pytest.raises(UnavailableError, match="AF_INET6 socket, not INET"):
            StreamServerService(endpoint, EchoFactory()).privileged_start_service()


_SYSTEMD_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from appcore import Application, EchoFactory, StreamServerService
    from appcore import start_application, stop_application

    async def main():
        app = Application("activated")
        service = StreamServerService("systemd:domain=INET:index=0", EchoFactory())
        service.set_service_parent(app)
        await start_application(app)
        print("ready", service.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await stop_application(app)
        print("stopped", flush=True)

    asyncio.run(main())
    """
)

# Plays systemd's part: puts the passed socket at fd 3, sets LISTEN_PID to its own pid and
# execs the service, which therefore runs under that very pid.
_LAUNCHER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); "
    "os.environ['LISTEN_PID'] = str(os.getpid()); os.environ['LISTEN_FDS'] = '1'; "
    "os.execv(sys.executable, [sys.executable, '-c', sys.argv[2]])"
)


def test_systemd_socket_inherited_by_a_real_child_process() -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    child = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(listening.fileno()), _SYSTEMD_CHILD],
        pass_fds=(listening.fileno(),),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    listening.close()  # from now on only the child holds the listening socket
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().split() == ["ready", str(port)]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"activated")
            assert conn.recv(64) == b"activated"
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "stopped"
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)


# --- privileges: bind a low port as root, then drop to nobody

_PRIVILEGED_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    import concurrent.futures.thread  # imported before setuid: the stdlib may be unreadable then
    from appcore import Application, EchoFactory, PermissionDenied, StreamServerService
    from appcore import start_application, stop_application

    low, other = sys.argv[1], sys.argv[2]
    app = Application("low", uid=65534, gid=65534)
    StreamServerService(f"tcp:{low}:interface=127.0.0.1", EchoFactory()).set_service_parent(app)
    late = StreamServerService(f"tcp:{other}:interface=127.0.0.1", EchoFactory())

    def drop():
        os.setgid(app.gid)
        os.setuid(app.uid)

    async def main():
        await start_application(app, drop_privileges=drop)
        try:
            late.privileged_start_service()  # too late: privileges are gone
        except PermissionDenied as err:
            print("denied", err.exit_code, err.message, flush=True)
        print("ready", os.getuid(), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await stop_application(app)

    asyncio.run(main())
    """
)


def _free_low_ports(count: int) -> list[int]:
    ports: list[int] = []
    for port in range(1023, 900, -1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    pytest.fail("no free port below 1024 on 127.0.0.1")


@pytest.mark.root
def test_low_port_bound_as_root_keeps_serving_after_dropping_privileges() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to bind a port below 1024 and drop privileges")
    if int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 900:
        pytest.skip("ports below 1024 are not privileged on this machine")
    low, other = _free_low_ports(2)
    child = subprocess.Popen(
        [sys.executable, "-c", _PRIVILEGED_CHILD, str(low), str(other)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        denied = child.stdout.readline().split(" ", 2)
        assert denied[:2] == ["denied", "77"]
        assert denied[2].strip() == (
            f"tcp:{other}:interface=127.0.0.1: permission denied (ports below 1024 need root)"
        )
        assert child.stdout.readline().split() == ["ready", "65534"]
        with socket.create_connection(("127.0.0.1", low), timeout=5) as conn:
            conn.sendall(b"low")
            assert conn.recv(16) == b"low"
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)
