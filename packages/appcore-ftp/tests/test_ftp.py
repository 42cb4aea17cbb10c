"""The ``ftp`` server type, driven by the standard library's ftplib client."""

from __future__ import annotations

import asyncio
import ftplib
import gc
import io
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appcore import (
    DataError,
    NoInputError,
    Service,
    UsageError,
    get_service_maker,
    start_application,
    stop_application,
)
from appcore._passwords import password_line
from appcore_ftp._maker import ftp
from appcore_ftp._server import UserDirectory
from appcore_ftp._service import FTPFactory, FTPServerService

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
LOCAL = "tcp:0:interface=127.0.0.1"
BIG = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A served folder ``root`` beside a ``secret.txt`` that must stay out of reach."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello world\n")
    (root / "big.bin").write_bytes(BIG)
    (root / "sub" / "inner.txt").write_bytes(b"inner\n")
    (tmp_path / "secret.txt").write_bytes(b"top secret\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_bytes(b"x\n")
    return root


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    """A password file with alice (password "wonderland"), hashed cheaply for speed."""
    path = tmp_path / "ftp.passwd"
    path.write_text(
        "# test users\n" + password_line("alice", "wonderland", log_n=10) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def quick_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(UserDirectory, "failure_delay", 0.05)


def serve(arun: Callable[..., Any], options: dict[str, Any], client: Callable[[int], T]) -> T:
    """Run an ftp service made from ``options`` and ``client(port)`` in a thread against it."""
    service = ftp.make_service({"listen": LOCAL, **options})
    assert isinstance(service, FTPServerService)

    errors: list[dict[str, Any]] = []

    async def scenario() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        await start_application(service)
        try:
            assert service.port is not None
            return await asyncio.to_thread(client, service.port)
        finally:
            await stop_application(service)

    result: T = arun(scenario(), timeout=40)
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    assert not errors, errors  # the server left nothing unhandled behind
    return result


def connect(port: int, user: str = "anonymous", password: str = "guest@") -> ftplib.FTP:
    client = ftplib.FTP()
    client.connect("127.0.0.1", port, timeout=10)
    try:
        client.login(user, password)
    except BaseException:
        client.close()
        raise
    return client


def fetch(client: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    out = io.BytesIO()
    client.retrbinary(f"RETR {name}", out.write, rest=rest)
    return out.getvalue()


def refused(action: Callable[[], Any]) -> str:
    """The reply of a command that must fail with a permanent (5xx) error."""
    with pytest.raises(ftplib.error_perm) as caught:
        action()
    return str(caught.value)


def test_anonymous_lists_and_downloads(arun: Callable[..., Any], site: Path) -> None:
    def client(port: int) -> tuple[Any, ...]:
        with connect(port) as session:
            names = sorted(session.nlst())
            lines: list[str] = []
            session.dir(lines.append)
            hello = fetch(session, "hello.txt")
            big = fetch(session, "big.bin")
            session.cwd("sub")
            where = session.pwd()
            inner = fetch(session, "inner.txt")
            size = session.size("/big.bin")
            session.voidcmd("NOOP")
            return names, lines, hello, big, where, inner, size

    names, lines, hello, big, where, inner, size = serve(arun, {"root": site}, client)
    assert names == ["big.bin", "hello.txt", "sub"]
    assert len(lines) == 3
    assert any(line.endswith(" hello.txt") for line in lines)
    assert hello == b"hello world\n"
    assert big == BIG
    assert where == "/sub"
    assert inner == b"inner\n"
    assert size == len(BIG)


def test_anonymous_is_read_only(arun: Callable[..., Any], site: Path) -> None:
    def client(port: int) -> list[str]:
        with connect(port, "ftp", "") as session:
            return [
                refused(lambda: session.storbinary("STOR new.txt", io.BytesIO(b"no"))),
                refused(lambda: session.mkd("newdir")),
                refused(lambda: session.delete("hello.txt")),
                refused(lambda: session.rename("hello.txt", "moved.txt")),
            ]

    replies = serve(arun, {"root": site}, client)
    assert all(reply.startswith("550") for reply in replies), replies
    assert sorted(p.name for p in site.iterdir()) == ["big.bin", "hello.txt", "sub"]


def test_named_users_from_the_password_file(
    arun: Callable[..., Any], site: Path, passwd: Path
) -> None:
    def client(port: int) -> list[str]:
        replies = []
        with connect(port, "alice", "wonderland") as session:
            replies.append(fetch(session, "hello.txt").decode())
            # Not --writable: named users read only.
            replies.append(refused(lambda: session.storbinary("STOR a.txt", io.BytesIO(b"x"))))
        replies.append(refused(lambda: connect(port, "alice", "wrong")))
        replies.append(refused(lambda: connect(port, "mallory", "wonderland")))
        return replies

    replies = serve(arun, {"root": site, "passwd": passwd}, client)
    assert replies[0] == "hello world\n"
    assert replies[1].startswith("550")
    assert replies[2].startswith("530")
    assert replies[3].startswith("530")


def test_no_anonymous(arun: Callable[..., Any], site: Path, passwd: Path) -> None:
    def client(port: int) -> str:
        return refused(lambda: connect(port))

    options = {"root": site, "passwd": passwd, "anonymous": False}
    assert serve(arun, options, client).startswith("530")


def test_writable_named_user_uploads_renames_deletes(
    arun: Callable[..., Any], site: Path, passwd: Path
) -> None:
    def client(port: int) -> None:
        with connect(port, "alice", "wonderland") as session:
            session.storbinary("STOR up.bin", io.BytesIO(BIG))
            session.mkd("made")
            session.rename("up.bin", "made/up.bin")
            session.delete("hello.txt")
            # Anonymous users stay read-only even on a writable server.
            with connect(port) as guest:
                refused(lambda: guest.storbinary("STOR g.txt", io.BytesIO(b"g")))

    serve(arun, {"root": site, "passwd": passwd, "writable": True}, client)
    assert (site / "made" / "up.bin").read_bytes() == BIG
    assert not (site / "hello.txt").exists()
    assert not (site / "g.txt").exists()


def test_resume_download_and_upload(arun: Callable[..., Any], site: Path, passwd: Path) -> None:
    (site / "partial.bin").write_bytes(BIG[:300_000])

    def client(port: int) -> bytes:
        with connect(port, "alice", "wonderland") as session:
            tail = fetch(session, "big.bin", rest=123_456)
            # Resume an interrupted upload where the file on the server ends.
            have = session.size("partial.bin")
            assert have == 300_000
            session.storbinary("STOR partial.bin", io.BytesIO(BIG[have:]), rest=have)
            return tail

    tail = serve(arun, {"root": site, "passwd": passwd, "writable": True}, client)
    assert tail == BIG[123_456:]
    assert (site / "partial.bin").read_bytes() == BIG


def test_active_mode(arun: Callable[..., Any], site: Path, passwd: Path) -> None:
    def client(port: int) -> tuple[Any, ...]:
        with connect(port, "alice", "wonderland") as session:
            session.set_pasv(False)
            names = sorted(session.nlst())
            big = fetch(session, "big.bin")
            tail = fetch(session, "hello.txt", rest=6)
            session.storbinary("STOR active.txt", io.BytesIO(b"sent actively"))
            # Back to passive on the same session, then active again.
            session.set_pasv(True)
            hello = fetch(session, "hello.txt")
            session.set_pasv(False)
            again = fetch(session, "hello.txt")
            return names, big, tail, hello, again

    names, big, tail, hello, again = serve(
        arun, {"root": site, "passwd": passwd, "writable": True}, client
    )
    assert names == ["big.bin", "hello.txt", "sub"]
    assert big == BIG
    assert tail == b"world\n"
    assert hello == again == b"hello world\n"
    assert (site / "active.txt").read_bytes() == b"sent actively"


def test_active_mode_refuses_bounces(arun: Callable[..., Any], site: Path) -> None:
    def client(port: int) -> list[str]:
        with connect(port) as session:
            return [
                # Another host (never contacted: refused before any connection attempt).
                refused(lambda: session.sendcmd("PORT 192,0,2,1,39,16")),
                # A privileged port on the client's own address.
                refused(lambda: session.sendcmd("PORT 127,0,0,1,0,25")),
                refused(lambda: session.sendcmd("EPRT |1|192.0.2.1|10000|")),
                refused(lambda: session.sendcmd("PORT junk")),
            ]

    replies = serve(arun, {"root": site}, client)
    assert all(reply.startswith("501") for reply in replies), replies


def test_epsv_and_passive_port_range_and_masquerade(arun: Callable[..., Any], site: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        data_port = probe.getsockname()[1]

    def client(port: int) -> tuple[str, str, bytes]:
        with connect(port) as session:
            pasv = session.sendcmd("PASV")
            epsv = session.sendcmd("EPSV")
            # ftplib connects to the control address, not the announced (masqueraded) one.
            return pasv, epsv, fetch(session, "hello.txt")

    options = {"root": site, "passive_ports": f"{data_port}-{data_port}", "masquerade": "192.0.2.7"}
    pasv, epsv, hello = serve(arun, options, client)
    assert pasv.startswith("227")
    assert f"192,0,2,7,{data_port >> 8},{data_port & 0xFF}" in pasv
    assert f"(|||{data_port}|)" in epsv
    assert hello == b"hello world\n"


@pytest.fixture
def escapes(site: Path) -> Path:
    """Symbolic links in the served folder pointing out of it (and one pointing inside)."""
    (site / "leak.txt").symlink_to(site.parent / "secret.txt")
    (site / "door").symlink_to(site.parent / "outside")
    (site / "alias.txt").symlink_to(site / "hello.txt")
    return site


def test_paths_stay_inside_the_root(arun: Callable[..., Any], escapes: Path, passwd: Path) -> None:
    site = escapes

    def client(port: int) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with connect(port, "alice", "wonderland") as session:
            seen["names"] = sorted(session.nlst())
            seen["alias"] = fetch(session, "alias.txt")
            seen["refused"] = [
                refused(lambda: fetch(session, "leak.txt")),
                refused(lambda: fetch(session, "door/x.txt")),
                refused(lambda: session.cwd("door")),
                refused(lambda: session.size("leak.txt")),
                refused(lambda: session.storbinary("STOR door/new.txt", io.BytesIO(b"x"))),
                refused(lambda: session.rename("hello.txt", "door/moved.txt")),
                refused(lambda: session.delete("door/x.txt")),
                refused(lambda: session.mkd("door/made")),
                refused(lambda: session.dir("door")),
            ]
            # ".." and absolute paths are taken inside the served folder.
            missing = [
                refused(lambda: fetch(session, "../secret.txt")),
                refused(lambda: fetch(session, "/../secret.txt")),
                refused(lambda: fetch(session, "sub/../../secret.txt")),
                refused(lambda: fetch(session, str(site.parent / "secret.txt"))),
                refused(lambda: fetch(session, "/etc/passwd")),
            ]
            seen["missing"] = missing
            session.cwd("..")
            session.cwd("/../..")
            seen["pwd"] = session.pwd()
            seen["root_names"] = sorted(session.nlst())
        return seen

    seen = serve(arun, {"root": site, "passwd": passwd, "writable": True}, client)
    # Links leading out are not listed; the one pointing inside works.
    assert seen["names"] == ["alias.txt", "big.bin", "hello.txt", "sub"]
    assert seen["alias"] == b"hello world\n"
    assert all(r.startswith("550") for r in seen["refused"]), seen["refused"]
    assert all(r.startswith("550") for r in seen["missing"]), seen["missing"]
    assert seen["pwd"] == "/"
    assert "secret.txt" not in seen["root_names"]
    outside = site.parent / "outside"
    assert sorted(p.name for p in outside.iterdir()) == ["x.txt"]
    assert (site / "hello.txt").exists()


def test_stop_ends_open_sessions(arun: Callable[..., Any], site: Path) -> None:
    service = ftp.make_service({"listen": LOCAL, "root": site})

    async def scenario() -> bool:
        await start_application(service)
        assert service.port is not None
        session = await asyncio.to_thread(connect, service.port)
        await asyncio.to_thread(session.sendcmd, "PASV")  # a passive listener is open too
        await asyncio.wait_for(stop_application(service), 10)
        try:
            await asyncio.to_thread(session.voidcmd, "NOOP")
        except (EOFError, OSError, ftplib.Error):
            return True
        finally:
            session.close()
        return False

    assert arun(scenario(), timeout=20)


def test_tree_saves_while_serving(
    arun: Callable[..., Any], site: Path, passwd: Path, round_trip: Callable[[Service], Any]
) -> None:
    service = ftp.make_service(
        {"listen": LOCAL, "root": site, "passwd": passwd, "passive_ports": "40000-40010"}
    )

    async def scenario() -> list[Any]:
        await start_application(service)
        try:
            assert service.port is not None
            session = await asyncio.to_thread(connect, service.port)
            copies = round_trip(service)
            await asyncio.to_thread(session.quit)
            return copies  # type: ignore[no-any-return]
        finally:
            await stop_application(service)

    for app in arun(scenario()):
        (copy,) = list(app)
        assert isinstance(copy, FTPServerService)
        factory = copy.factory
        assert isinstance(factory, FTPFactory)
        assert factory.root == str(site)
        assert factory.passwd == str(passwd)
        assert factory.passive_ports == "40000-40010"
        assert factory._server is None


def test_option_errors(tmp_path: Path, site: Path) -> None:
    with pytest.raises(UsageError, match="--root"):
        ftp.make_service({})
    with pytest.raises(NoInputError, match="not a folder"):
        ftp.make_service({"root": tmp_path / "nope"})
    with pytest.raises(NoInputError):
        ftp.make_service({"root": site, "passwd": tmp_path / "missing.passwd"})
    bad = tmp_path / "bad.passwd"
    bad.write_text("alice:plaintext\n", encoding="utf-8")
    with pytest.raises(DataError, match="bad.passwd:1"):
        ftp.make_service({"root": site, "passwd": bad})
    with pytest.raises(UsageError, match="--no-anonymous"):
        ftp.make_service({"root": site, "anonymous": False})
    with pytest.raises(UsageError, match="--passive-ports"):
        ftp.options.parse(["--root", str(site), "--passive-ports", "9-2"])
    with pytest.raises(UsageError, match="--masquerade"):
        ftp.options.parse(["--root", str(site), "--masquerade", "example.org"])
    parsed = ftp.options.parse(["--root", str(site), "--no-anonymous", "--writable"])
    assert parsed["anonymous"] is False
    assert parsed["writable"] is True
    assert "--passive-ports" in ftp.options.help_text("ftp")


def test_relative_root_is_stored_absolute(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(site.parent)
    service = ftp.make_service({"root": "root"})
    assert isinstance(service, FTPServerService)
    assert service.factory.root == str(site)
    assert os.path.isabs(service.factory.root)


def test_registered_as_entry_point() -> None:
    # Passes once appcore's pyproject lists ftp under appcore.service_makers.
    assert get_service_maker("ftp") is ftp


def test_listing_uses_ls_flags_as_flags(arun: Callable[..., Any], site: Path) -> None:
    def client(port: int) -> list[str]:
        with connect(port) as session:
            lines: list[str] = []
            session.retrlines("LIST -la", lines.append)
            return lines

    lines = serve(arun, {"root": site}, client)
    assert any(re.search(r" big\.bin$", line) for line in lines)
