"""RFC 2389 and RFC 3659 against real clients: ftplib, Debian's ``curl`` and ``lftp``.

The yardstick is what users see: ``curl -R`` and ``lftp``'s ``mirror`` keep the files'
modification times, and the MLSx facts say what RFC 3659 section 7 says they should. The
server is the installed ``twistd`` running the ftp type, as a subprocess.
"""

from __future__ import annotations

import calendar
import ftplib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from appcore._passwords import password_line

pytestmark = pytest.mark.timeout(60)

Start = Callable[..., int]

#: Old, distinct modification times (UTC), so that "now" cannot pass for them.
TIMES = {
    "hello.txt": (2001, 2, 3, 4, 5, 6),
    "sub": (2003, 4, 5, 6, 7, 8),
    "sub/inner.bin": (2002, 12, 31, 23, 59, 58),
    "sub/deep": (2004, 1, 1, 0, 0, 1),
    "sub/deep/leaf.txt": (1999, 9, 9, 9, 9, 9),
}


def stamp(when: tuple[int, ...]) -> str:
    return "{:04d}{:02d}{:02d}{:02d}{:02d}{:02d}".format(*when)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A served folder with old timestamps, and links leading out of it."""
    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello world\n")
    (root / "sub" / "inner.bin").write_bytes(bytes(range(256)) * 40)
    (root / "sub" / "deep" / "leaf.txt").write_bytes(b"leaf\n")
    (tmp_path / "secret.txt").write_bytes(b"secret\n")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "door").symlink_to(tmp_path)
    # Deepest first: setting a file's time changes its folder's.
    for name, when in sorted(TIMES.items(), key=lambda item: -item[0].count("/")):
        seconds = calendar.timegm(when)
        os.utime(root / name, (seconds, seconds))
    return root


@pytest.fixture
def alice(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    path.write_text(password_line("alice", "wonderland", log_n=10) + "\n", encoding="utf-8")
    return path


def login(port: int, user: str = "anonymous", password: str = "guest@") -> ftplib.FTP:
    client = ftplib.FTP()
    client.connect("127.0.0.1", port, timeout=10)
    client.login(user, password)
    return client


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} must be installed (scripts/debian-packages.txt lists it)")
    return path


def test_feat_lists_every_extension_before_login(tree: Path, twistd_ftp: Start) -> None:
    port = twistd_ftp(tree)
    client = ftplib.FTP()
    client.connect("127.0.0.1", port, timeout=10)
    with client:
        reply = client.sendcmd("FEAT")
        utf8 = client.sendcmd("OPTS UTF8 ON")
    head, *features, tail = reply.splitlines()
    assert head.startswith("211-")
    assert tail.startswith("211 ")
    assert all(line.startswith(" ") and not line.startswith("  ") for line in features)
    assert sorted(line.strip() for line in features) == [
        "EPRT",
        "EPSV",
        "MDTM",
        "MLST type*;size*;modify*;perm*;unique*;",
        "PASV",
        "REST STREAM",
        "SIZE",
        "TVFS",
        "UTF8",
    ]
    assert utf8.startswith("200 ")


def test_mdtm_and_size(tree: Path, twistd_ftp: Start) -> None:
    with login(twistd_ftp(tree)) as client:
        assert client.sendcmd("MDTM hello.txt") == "213 " + stamp(TIMES["hello.txt"])
        assert client.sendcmd("MDTM /sub/deep/leaf.txt") == "213 " + stamp(
            TIMES["sub/deep/leaf.txt"]
        )
        assert client.sendcmd("MDTM sub") == "213 " + stamp(TIMES["sub"])
        client.sendcmd("TYPE I")
        assert client.size("sub/inner.bin") == 256 * 40
        # Transfers send the bytes as they are in either type: so does SIZE count.
        client.sendcmd("TYPE A")
        assert client.size("hello.txt") == len(b"hello world\n")
        refused = []
        for command in ("MDTM missing.txt", "SIZE sub", "MDTM leak.txt", "SIZE leak.txt"):
            with pytest.raises(ftplib.error_perm) as caught:
                client.sendcmd(command)
            refused.append(str(caught.value))
    assert refused == [
        "550 no such file or folder",
        "550 not a plain file",
        "550 permission denied: outside the served folder",
        "550 permission denied: outside the served folder",
    ]


def test_mlsd_facts_through_ftplib(tree: Path, alice: Path, twistd_ftp: Start) -> None:
    port = twistd_ftp(tree, "--passwd", str(alice), "--writable")
    with login(port) as guest:
        anonymous = dict(guest.mlsd("/"))
        inner = dict(guest.mlsd("sub"))
        ending: list[str] = []
        guest.retrlines("MLSD", ending.append)
        last = guest.lastresp
    with login(port, "alice", "wonderland") as named:
        writable = dict(named.mlsd())
    # Links that lead out of the served folder are not listed.
    assert sorted(anonymous) == ["hello.txt", "sub"]
    hello = anonymous["hello.txt"]
    assert set(hello) == {"type", "size", "modify", "perm", "unique"}
    assert hello["type"] == "file"
    assert hello["size"] == "12"
    assert hello["modify"] == stamp(TIMES["hello.txt"])
    assert hello["perm"] == "r"
    stats = os.stat(tree / "hello.txt")
    assert hello["unique"] == f"{stats.st_dev:x}g{stats.st_ino:x}"
    folder = anonymous["sub"]
    assert (folder["type"], folder["modify"], folder["perm"]) == ("dir", stamp(TIMES["sub"]), "el")
    assert "size" not in folder
    assert inner["deep"]["modify"] == stamp(TIMES["sub/deep"])
    assert inner["inner.bin"]["size"] == str(256 * 40)
    assert writable["hello.txt"]["perm"] == "adfrw"
    assert writable["sub"]["perm"] == "cdeflmp"
    assert last == "226"  # RFC 3659: the listing ends like any transfer (aioftp said 200)


def test_mlst_and_opts_mlst(tree: Path, alice: Path, twistd_ftp: Start) -> None:
    port = twistd_ftp(tree, "--passwd", str(alice), "--writable")
    with login(port, "alice", "wonderland") as client:
        one = client.sendcmd("MLST sub/inner.bin")
        top = client.sendcmd("MLST")
        chosen = client.sendcmd("OPTS MLST Modify;type;nonsense;")
        fewer = client.sendcmd("MLST hello.txt")
        feat = client.sendcmd("FEAT")
        with pytest.raises(ftplib.error_perm) as not_a_folder:
            list(client.mlsd("hello.txt"))
    inner = os.stat(tree / "sub" / "inner.bin")
    assert one.splitlines() == [
        "250-listing /sub/inner.bin",
        f" type=file;size=10240;modify={stamp(TIMES['sub/inner.bin'])};perm=adfrw;"
        f"unique={inner.st_dev:x}g{inner.st_ino:x}; /sub/inner.bin",
        "250 end",
    ]
    # The served folder itself cannot be deleted or renamed: no "d", no "f".
    assert ";perm=celmp;" in top.splitlines()[1]
    assert chosen == "200 MLST OPTS type;modify;"
    assert fewer.splitlines()[1] == f" type=file;modify={stamp(TIMES['hello.txt'])}; /hello.txt"
    assert " MLST type*;size;modify*;perm;unique;" in feat.splitlines()
    assert str(not_a_folder.value).startswith("501 ")


def test_curl_keeps_the_modification_time(tree: Path, tmp_path: Path, twistd_ftp: Start) -> None:
    port = twistd_ftp(tree)
    out = tmp_path / "leaf.txt"
    subprocess.run(
        [tool("curl"), "--silent", "--show-error", "--max-time", "20", "--remote-time",
         "--output", str(out), f"ftp://127.0.0.1:{port}/sub/deep/leaf.txt"],
        check=True,
        timeout=30,
    )  # fmt: skip
    assert out.read_bytes() == b"leaf\n"
    assert out.stat().st_mtime == calendar.timegm(TIMES["sub/deep/leaf.txt"])


@pytest.mark.parametrize("mlsd", ["on", "off"], ids=["mlsd", "list-and-mdtm"])
def test_lftp_mirror_keeps_modification_times(
    tree: Path, tmp_path: Path, twistd_ftp: Start, mlsd: str
) -> None:
    port = twistd_ftp(tree)
    copy = tmp_path / "copy"
    script = (
        "set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; "
        f"set ftp:use-mlsd {mlsd}; open -u anonymous,guest ftp://127.0.0.1:{port}; "
        f"mirror / {copy}"
    )
    home = tmp_path / "home"  # lftp keeps its settings and history under $HOME
    home.mkdir()
    subprocess.run(
        [tool("lftp"), "-c", script],
        check=True,
        timeout=45,
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
    )
    copied = sorted(str(p.relative_to(copy)) for p in copy.rglob("*"))
    assert copied == sorted(TIMES)
    assert (copy / "sub" / "inner.bin").read_bytes() == (tree / "sub" / "inner.bin").read_bytes()
    times = {name: os.stat(copy / name).st_mtime for name in TIMES}
    assert times == {name: calendar.timegm(when) for name, when in TIMES.items()}
