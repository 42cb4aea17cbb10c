"""Passwords: IRC operators (OPER, WALLOPS) and the server password (PASS), from appcore
password files; the options that name those files, and files saved before they existed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appcore import DataError, NoInputError, UsageError, loads, password_line
from appcore_irc._maker import irc
from appcore_irc._service import IRCFactory, IRCServerService

pytestmark = pytest.mark.timeout(30)

LOCAL = "tcp:0:interface=127.0.0.1"


@pytest.fixture
def opers(tmp_path: Path) -> Path:
    """A password file with the operator ``root`` (password ``sesame``), at the lowest cost."""
    path = tmp_path / "opers"
    path.write_text("# operators\n" + password_line("root", "sesame", log_n=10) + "\n")
    return path


@pytest.fixture
def server_password(tmp_path: Path) -> Path:
    """A server password file accepting ``letmein`` and ``guestpass``."""
    path = tmp_path / "server-password"
    lines = [password_line(label, word, log_n=10) for label, word in
             (("staff", "letmein"), ("guests", "guestpass"))]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_oper_and_wallops(serve: Any, library: Any, opers: Path) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        boss, listener, deaf = [await irc.connect(n) for n in ("boss", "listener", "deaf")]
        listener.mode("listener", "+w")
        await irc.settle(listener)
        boss.wallops("before OPER")
        assert await irc.kinds(boss) == ["noprivileges"]
        boss.oper("root", "sesame")
        # The answer comes before anything sent after OPER, though it is checked in a thread.
        replies = await irc.settle(boss)
        assert [(e.type, e.arguments) for e in replies] == [
            ("youreoper", ["You are now an IRC operator"]),
            ("umode", ["+o"]),
        ]
        boss.wallops("hi everyone")
        said = await irc.wait(listener, "wallops")
        assert (said.source.nick, said.target) == ("boss", "hi everyone")
        assert await irc.kinds(deaf) == []  # no +w, no WALLOPS
        assert await irc.kinds(boss) == []
        deaf.whois(["boss"])
        assert "whoisoperator" in await irc.kinds(deaf)
        deaf.who("boss")
        assert (await irc.settle(deaf))[0].arguments[5] == "H*"
        deaf.lusers()
        replies = {e.type: e.arguments for e in await irc.settle(deaf)}
        assert replies["luserop"] == ["1", "operator(s) online"]
        boss.mode("boss", "-o")  # giving it up
        assert (await irc.wait(boss, "umode")).arguments == ["-o"]
        boss.wallops("still?")
        assert await irc.kinds(boss) == ["noprivileges"]
        boss.send_raw("OPER root")
        assert await irc.kinds(boss) == ["needmoreparams"]
        irc.close()

    serve(scenario, opers=opers)


def test_failed_opers_are_refused_then_disconnected(serve: Any, library: Any, opers: Path) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        guesser = await irc.connect("guesser")
        guesser.oper("root", "wrong")
        assert await irc.kinds(guesser) == ["passwdmismatch"]
        guesser.oper("nobody", "sesame")  # an unknown name gets the same answer
        assert await irc.kinds(guesser) == ["passwdmismatch"]
        guesser.oper("root", "still wrong")
        await irc.wait(guesser, "passwdmismatch")
        closing = await irc.wait(guesser, "error")
        assert "Too many failed OPER attempts" in closing.target
        await irc.wait(guesser, "disconnect")
        irc.close()

    serve(scenario, opers=opers)


def test_oper_without_operators(serve: Any, library: Any, opers: Path) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        user = await irc.connect("user")
        user.oper("root", "sesame")
        assert await irc.kinds(user) == ["nooperhost"]
        irc.close()

    serve(scenario)


def test_oper_file_edited_while_serving(serve: Any, library: Any, opers: Path) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        user = await irc.connect("user")
        opers.write_text(password_line("newroot", "fresh", log_n=10) + "\n")
        user.oper("root", "sesame")  # gone from the file
        assert await irc.kinds(user) == ["passwdmismatch"]
        opers.write_text("root:not-a-hash\n")  # broken: refuses everyone, logged
        user.oper("root", "sesame")
        assert await irc.kinds(user) == ["passwdmismatch"]
        opers.write_text(password_line("root", "sesame", log_n=10) + "\n")
        user.oper("root", "sesame")
        assert await irc.kinds(user) == ["youreoper", "umode"]
        irc.close()

    serve(scenario, opers=opers)


def test_server_password(serve: Any, library: Any, server_password: Path) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        for word in ("letmein", "guestpass"):
            member = await irc.connect(f"member{len(word)}", password=word)
            member.pass_("again")  # registered: too late to give one
            assert await irc.kinds(member) == ["alreadyregistered"]
        for word in (None, "wrong"):
            stranger = await irc.connect("stranger", password=word, welcome=False)
            await irc.wait(stranger, "passwdmismatch")
            assert "Bad password" in (await irc.wait(stranger, "error")).target
            await irc.wait(stranger, "disconnect")
            assert not [e for c, e in irc.events if c is stranger and e.type == "welcome"]
        irc.close()

    serve(scenario, password_file=server_password)


def test_password_checked_at_registration_only(serve: Any, raw: Any, server_password: Path) -> None:
    async def scenario(port: int) -> None:
        client = await raw.open(port)
        # Several PASS lines: the last one counts. Nothing is said before NICK and USER.
        await client.send("PASS wrong", "PASS letmein", "NICK late", "USER late 0 * :Late")
        await client.expect(r" 001 late ")
        await client.close()
        early = await raw.open(port)
        # PASS after NICK and USER is too late (RFC 2812 3.1.1): registration failed already.
        await early.send("NICK early", "USER early 0 * :Early", "PASS letmein")
        await early.expect(r" 464 early :Password incorrect")
        await early.expect(r"^ERROR :Closing Link: 127.0.0.1 \(Bad password\)")
        assert await early.closed()
        assert not any(" 001 " in line for line in early.seen)
        await early.close()

    serve(scenario, password_file=server_password)


def test_password_options(tmp_path: Path, opers: Path, server_password: Path) -> None:
    service = irc.make_service(
        {
            "listen": LOCAL,
            "opers": opers,
            "password_file": server_password,
            "description": "Our server",
        }  # fmt: skip
    )
    assert isinstance(service, IRCServerService)
    factory = service.factory
    assert (factory.opers, factory.password_file) == (str(opers), str(server_password))
    assert factory.description == "Our server"
    parsed = irc.options.parse(["--opers", str(opers), "--password-file", str(server_password)])
    assert (parsed["opers"], parsed["password_file"]) == (opers, server_password)
    with pytest.raises(NoInputError, match="--opers"):
        irc.make_service({"opers": tmp_path / "missing"})
    plain = tmp_path / "plain"
    plain.write_text("root:sesame\n")  # a plain-text password is never accepted
    with pytest.raises(DataError, match=r"--password-file: .*plain:1"):
        irc.make_service({"password_file": plain})
    with pytest.raises(UsageError, match="--description"):
        irc.make_service({"description": "x" * 101})
    with pytest.raises(UsageError, match="--description"):
        irc.make_service({"description": "two\nlines"})


def test_new_settings_survive_saving(round_trip: Any, opers: Path, server_password: Path) -> None:
    service = irc.make_service(
        {
            "listen": LOCAL,
            "opers": opers,
            "password_file": server_password,
            "description": "Saved",
        }  # fmt: skip
    )
    for app in round_trip(service):
        (copy,) = list(app)
        factory = copy.factory
        assert isinstance(factory, IRCFactory)
        assert (factory.opers, factory.password_file, factory.description) == (
            str(opers),
            str(server_password),
            "Saved",
        )


# An application saved when IRCFactory was at version 1 (before operators, server passwords
# and descriptions), as appcore 0.1's mktap wrote it.
VERSION_1 = """\
Application = cls("appcore._service:Application", version=1)
IRCServerService = cls("appcore.servers.irc:IRCServerService", version=1)
TCPServerEndpoint = cls("appcore._endpoints:TCPServerEndpoint", version=1)
IRCFactory = cls("appcore.servers.irc:IRCFactory", version=1)
_0 = shell(Application)
_2 = make(TCPServerEndpoint, {"description": "tcp:0:interface=127.0.0.1", "port": 0, \
"interface": "127.0.0.1", "backlog": 50, "ipv6": False})
_3 = make(IRCFactory, {"name": "irc.old", "motd": None, "max_clients": 9, "flood_rate": 2.0, \
"flood_burst": 20})
_1 = make(IRCServerService, {"name": "irc", "parent": _0, "endpoint": _2, "factory": _3})
fill(_0, {"name": "irc", "parent": None, "services": [_1], "uid": None, "gid": None, \
"process_name": None, "persist_format": "source"})
application = _0
"""


def test_version_1_files_load_with_the_defaults() -> None:
    (service,) = list(loads(VERSION_1.encode(), "source"))
    factory = service.factory
    assert isinstance(factory, IRCFactory)
    assert (factory.name, factory.max_clients) == ("irc.old", 9)
    assert (factory.opers, factory.password_file) == (None, None)
    assert factory.description == "appcore IRC server"
    assert factory.network.description == "appcore IRC server"
