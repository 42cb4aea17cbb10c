"""What the server answers: refusals are ``550`` (not aioftp's ``451``) when retrying cannot
help, above all for a rename or removal reaching outside the served folder, and the reply
texts are plain English. The server is the installed ``twistd`` running the ftp type; the
client is a plain socket that records every reply line."""

from __future__ import annotations

import errno
import ftplib
import io
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from aioftp import errors

from appcore._passwords import password_line
from appcore_ftp._replies import refusal

pytestmark = pytest.mark.timeout(60)

Start = Callable[..., int]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "full").mkdir()
    (root / "full" / "a.txt").write_bytes(b"a\n")
    (root / "hello.txt").write_bytes(b"hello\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_bytes(b"x\n")
    (root / "door").symlink_to(tmp_path / "outside")
    return root


@pytest.fixture
def writable(site: Path, tmp_path: Path, twistd_ftp: Start) -> int:
    """A writable server on ``site`` for alice (password "wonderland"); its port."""
    passwd = tmp_path / "passwd"
    passwd.write_text(password_line("alice", "wonderland", log_n=10) + "\n", encoding="utf-8")
    return twistd_ftp(site, "--passwd", str(passwd), "--writable")


class Session:
    """A control connection that keeps every reply line, multi-line replies included."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def reply(self) -> str:
        lines = [self.file.readline().decode("utf-8").rstrip("\r\n")]
        code = lines[0][:3]
        if lines[0][3:4] == "-":
            while not lines[-1].startswith(code + " "):
                lines.append(self.file.readline().decode("utf-8").rstrip("\r\n"))
        return "\n".join(lines)

    def send(self, command: str) -> str:
        self.sock.sendall(command.encode("utf-8") + b"\r\n")
        return self.reply()


def test_removing_or_renaming_outside_the_root_is_refused_with_550(
    writable: int, site: Path
) -> None:
    session = Session(writable)
    try:
        session.reply()
        session.send("USER alice")
        session.send("PASS wonderland")
        replies = [
            session.send("RMD /"),
            session.send("RMD .."),
            session.send("RNFR .."),
            session.send("RNFR /"),
            session.send("RNTO elsewhere"),  # no RNFR was accepted
            session.send("CWD sub/deep"),
            session.send("RMD ../../.."),
            session.send("DELE ../../../outside/x.txt"),
            session.send("RNFR ../../door/x.txt"),
            session.send("RMD /door"),
        ]
    finally:
        session.close()
    assert replies == [
        "550 permission denied: the served folder cannot be removed",
        "550 permission denied: the served folder cannot be removed",
        "550 permission denied: the served folder cannot be renamed",
        "550 permission denied: the served folder cannot be renamed",
        "503 send RNFR first",
        '250 now in "/sub/deep"',
        "550 permission denied: the served folder cannot be removed",
        "550 no such file or folder",
        "550 permission denied: outside the served folder",
        "550 permission denied: outside the served folder",
    ]
    assert site.is_dir()
    assert (site.parent / "outside" / "x.txt").exists()


def test_file_system_refusals_are_550(writable: int, site: Path) -> None:
    with ftplib.FTP() as client:
        client.connect("127.0.0.1", writable, timeout=10)
        client.login("alice", "wonderland")
        refused = []
        for action in (
            lambda: client.rmd("full"),
            lambda: client.rename("sub", "sub/deep/sub"),
            lambda: client.rename("hello.txt", "missing/hello.txt"),
            # an error met by the transfer itself, after its 150 reply
            lambda: client.storbinary("STOR sub", io.BytesIO(b"data")),
        ):
            with pytest.raises(ftplib.error_perm) as caught:
                action()
            refused.append(str(caught.value))
        alive = client.sendcmd("NOOP")
    assert refused == [
        "550 folder not empty",
        "550 not possible on this path",
        "550 no such file or folder",
        "550 is a folder",
    ]
    assert alive == "200 ok"
    assert (site / "full" / "a.txt").exists()
    assert (site / "sub" / "deep").is_dir()


@pytest.mark.parametrize(
    ("number", "reply"),
    [
        (errno.EACCES, ("550", "permission denied")),
        (errno.EPERM, ("550", "permission denied")),
        (errno.ENOTEMPTY, ("550", "folder not empty")),
        (errno.ENOSPC, ("452", "no space left on the server")),
        (errno.EIO, ("451", "local error in processing")),
    ],
)
def test_refusal_codes(number: int, reply: tuple[str, str]) -> None:
    # (The tests run as root, for whom permissions never fail: the mapping is checked here.)
    error = OSError(number, "system's words")
    assert refusal(errors.PathIOError(reason=(OSError, error, None))) == reply  # type: ignore[arg-type]


def test_reply_texts(writable: int, site: Path) -> None:
    session = Session(writable)
    try:
        transcript = [session.reply()]
        for command in (
            "PWD",
            "USER alice",
            "PASS wrong",
            "USER alice",
            "PASS wonderland",
            "PASS again",
            "TYPE L 8",
            "TYPE A N",
            "TYPE E",
            "TYPE X",
            "MODE S",
            "MODE B",
            "STRU F",
            "MKD new",
            'MKD say "hi"',
            "CWD new",
            "CDUP",
            "RNFR new",
            "RNTO renamed",
            "RMD renamed",
            "DELE sub",
            "SIZE missing",
            "CWD hello.txt",
            "MKD sub",
            "RETR hello.txt",
            "EPSV 2",
            "EPSV ALL",
            "PASV",
            "PORT 127,0,0,1,100,100",
            "NOOP",
            "PBSZ 0",
            "QUIT",
        ):
            transcript.append(f"{command} -> {session.send(command)}")
    finally:
        session.close()
    assert transcript == [
        "220 appcore ftp server ready",
        "PWD -> 530 log in first",
        "USER alice -> 331 password required",
        "PASS wrong -> 530 login incorrect",
        "USER alice -> 331 password required",
        "PASS wonderland -> 230 logged in",
        "PASS again -> 503 already logged in",
        "TYPE L 8 -> 200 type set to I",
        "TYPE A N -> 200 type set to A",
        "TYPE E -> 504 only TYPE A (or A N) and TYPE I (or L 8) are supported",
        "TYPE X -> 501 expected TYPE A or TYPE I",
        "MODE S -> 200 MODE set to S",
        "MODE B -> 504 only MODE S is supported",
        "STRU F -> 200 STRU set to F",
        'MKD new -> 257 "/new" created',
        'MKD say "hi" -> 257 "/say ""hi""" created',
        'CWD new -> 250 now in "/new"',
        'CDUP -> 250 now in "/"',
        "RNFR new -> 350 ready for the new name (RNTO)",
        "RNTO renamed -> 250 renamed",
        "RMD renamed -> 250 folder removed",
        "DELE sub -> 550 not a plain file",
        "SIZE missing -> 550 no such file or folder",
        "CWD hello.txt -> 550 not a folder",
        "MKD sub -> 550 already exists",
        "RETR hello.txt -> 425 use PASV, EPSV, PORT or EPRT first",
        "EPSV 2 -> 522 network protocol not supported, use (1)",
        "EPSV ALL -> 200 EPSV ALL: only EPSV from now on",
        "PASV -> 503 EPSV ALL was sent: only EPSV sets up data connections",
        "PORT 127,0,0,1,100,100 -> 503 EPSV ALL was sent: only EPSV sets up data connections",
        "NOOP -> 200 ok",
        "PBSZ 0 -> 502 'pbsz' not implemented",
        "QUIT -> 221 goodbye",
    ]
    assert (site / 'say "hi"').is_dir()


def test_abort_ends_a_transfer_and_the_session_goes_on(tmp_path: Path, twistd_ftp: Start) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "big.bin").write_bytes(b"\0" * (32 * 1024 * 1024))
    with ftplib.FTP() as client:
        client.connect("127.0.0.1", twistd_ftp(root), timeout=10)
        client.login()
        # A transfer under way: nobody reads its data connection, so the sender blocks.
        data = client.transfercmd("RETR big.bin")
        try:
            assert data.recv(1024)
            client.putcmd("ABOR")
            under_way = [client.getmultiline(), client.getmultiline()]
        finally:
            data.close()
        # A transfer still waiting for its data connection.
        client.sendcmd("PASV")
        client.putcmd("RETR big.bin")
        started = client.getmultiline()
        client.putcmd("ABOR")
        waiting = [client.getmultiline(), client.getmultiline()]
        nothing = client.sendcmd("ABOR")
        after = client.sendcmd("NOOP")
    assert under_way == ["426 transfer aborted", "226 abort successful"]
    assert started == "150 transfer starting"
    assert waiting == ["426 transfer aborted", "226 abort successful"]
    assert nothing == "226 nothing to abort"
    assert after == "200 ok"
