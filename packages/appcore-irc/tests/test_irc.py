"""The ``irc`` server type: with the ``irc`` client library from PyPI, and with raw sockets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import (
    NoInputError,
    Service,
    UsageError,
    get_service_maker,
    start_application,
    stop_application,
)
from appcore_irc._maker import irc
from appcore_irc._service import IRCFactory, IRCServerService

pytestmark = pytest.mark.timeout(30)

LOCAL = "tcp:0:interface=127.0.0.1"


def test_two_library_clients_chat_in_a_channel(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        clients = library(port)
        alice = await clients.connect("alice", welcome=False)
        bob = await clients.connect("bob", welcome=False)
        welcome = await clients.wait(alice, "welcome")
        assert "alice!" in welcome.arguments[0]
        await clients.wait(bob, "welcome")
        await clients.wait(alice, "nomotd")  # the MOTD (none here) arrives with registration

        alice.join("#lobby")
        await clients.wait(alice, "join", lambda e: e.source.nick == "alice")
        bob.join("#lobby")
        await clients.wait(alice, "join", lambda e: e.source.nick == "bob")
        names = await clients.wait(bob, "namreply")
        assert names.arguments[1:] == ["#lobby", "@alice bob"]

        alice.privmsg("#lobby", "hello bob")
        said = await clients.wait(bob, "pubmsg")
        assert said.source.nick == "alice"
        assert said.target == "#lobby"
        assert said.arguments == ["hello bob"]
        bob.privmsg("alice", "hi alice, privately")
        private = await clients.wait(alice, "privmsg")
        assert private.source.nick == "bob"
        assert private.arguments == ["hi alice, privately"]
        bob.notice("#lobby", "a notice")
        assert (await clients.wait(alice, "pubnotice")).arguments == ["a notice"]

        alice.topic("#lobby", "Plans for today")
        changed = await clients.wait(bob, "topic")
        assert changed.arguments == ["Plans for today"]
        bob.topic("#lobby")
        assert (await clients.wait(bob, "currenttopic")).arguments == ["#lobby", "Plans for today"]
        # Channels start +nt: bob is no operator, so he cannot change the topic.
        bob.topic("#lobby", "mine now")
        assert (await clients.wait(bob, "chanoprivsneeded")).arguments[0] == "#lobby"

        bob.who("#lobby")
        rows = [await clients.wait(bob, "whoreply") for _ in range(2)]
        assert sorted(r.arguments[4] for r in rows) == ["alice", "bob"]
        await clients.wait(bob, "endofwho")

        alice.mode("#lobby", "+o bob")
        opped = await clients.wait(bob, "mode")
        assert opped.arguments == ["+o", "bob"]
        bob.names(["#lobby"])
        assert (await clients.wait(bob, "namreply")).arguments[2] in ("@alice @bob", "@bob @alice")

        # A third client may not take a nickname in use.
        carol = await clients.connect("alice", welcome=False)
        assert (await clients.wait(carol, "nicknameinuse")).arguments[0] == "alice"
        carol.nick("carol")
        await clients.wait(carol, "welcome")

        bob.part("#lobby", "bye")
        parted = await clients.wait(alice, "part")
        assert parted.source.nick == "bob"
        alice.quit("done")
        await clients.wait(alice, "disconnect")
        clients.close()

    serve(scenario)


# --- raw sockets: numerics, errors, modes, floods, junk


def test_registration_numerics_and_motd(serve: Any, raw: Any, tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("Welcome to the test network.\nBe nice.\n", encoding="utf-8")

    async def scenario(port: int) -> list[str]:
        client = await raw.open(port)
        await client.send("PING early")  # allowed before registration
        await client.expect(r"PONG irc\.test :early")
        await client.send("JOIN #x")
        await client.expect(r" 451 \* :You have not registered")
        await client.send("USER onlyone")
        await client.expect(r" 461 \* USER :Not enough parameters")
        await client.send("NICK tester", "USER tester 0 * :The Tester")
        await client.expect(r" 376 ")
        await client.send("MOTD")
        await client.expect(r" 376 ")
        await client.close()
        return client.seen

    seen = serve(scenario, motd=str(motd))
    codes = [line.split()[1] for line in seen if line.startswith(":irc.test ")]
    assert codes[:3] == ["PONG", "451", "461"]
    assert codes[3:9] == ["001", "002", "003", "004", "005", "005"]
    assert codes[9:13] == ["375", "372", "372", "376"]
    assert (
        ":irc.test 001 tester :Welcome to the Internet Relay Network tester!~tester@127.0.0.1"
        in seen
    )
    assert ":irc.test 372 tester :- Be nice." in seen


def test_missing_motd_is_422(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> str:
        client = await raw.open(port, "nomotd")
        await client.close()
        return client.seen[-1]

    assert serve(scenario) == ":irc.test 422 nomotd :MOTD File is missing"


def test_error_numerics(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> None:
        a = await raw.open(port, "anna")
        b = await raw.open(port, "bert")
        checks = [
            ("NICK", r" 431 anna :No nickname given"),
            ("NICK 9lives", r" 432 anna 9lives :Erroneous nickname"),
            ("NICK BERT", r" 433 anna BERT :Nickname is already in use"),
            ("USER again 0 * :x", r" 462 anna :You may not reregister"),
            ("USER x", r" 462 anna"),
            ("JOIN", r" 461 anna JOIN :Not enough parameters"),
            ("JOIN nochannel", r" 403 anna nochannel :No such channel"),
            ("PART #nowhere", r" 403 anna #nowhere :No such channel"),
            ("PRIVMSG", r" 411 anna :No recipient given \(PRIVMSG\)"),
            ("PRIVMSG bert", r" 412 anna :No text to send"),
            ("PRIVMSG nobody :hi", r" 401 anna nobody :No such nick/channel"),
            ("TOPIC", r" 461 anna TOPIC"),
            ("MODE", r" 461 anna MODE"),
            ("PING", r" 409 anna :No origin specified"),
            ("FROBNICATE now", r" 421 anna FROBNICATE :Unknown command"),
            ("MODE bert +i", r" 502 anna :Cant change mode for other users"),
            ("MODE anna +x", r" 501 anna :Unknown MODE flag"),
        ]
        for line, expected in checks:
            await a.send(line)
            await a.expect(expected)
        await b.send("JOIN #room")
        await b.expect(r" 366 bert #room ")
        for line, expected in [
            ("PART #room", r" 442 anna #room :You're not on that channel"),
            ("TOPIC #room :mine", r" 442 anna #room"),
            ("PRIVMSG #room :from outside", r" 404 anna #room :Cannot send to channel"),
            ("MODE #room +t", r" 482 anna #room :You're not channel operator"),
            ("NOTICE nobody :notices never get errors", None),
            ("MODE #room", r" 324 anna #room \+nt"),
        ]:
            await a.send(line)
            if expected is not None:
                await a.expect(expected)
        await a.send("MODE anna +i")
        await a.expect(r":anna!~anna@127.0.0.1 MODE anna \+i$")
        await a.send("MODE anna")
        await a.expect(r" 221 anna \+i$")
        # Nick changes are seen by the client itself.
        await a.send("NICK anne")
        await a.expect(r":anna!~anna@127.0.0.1 NICK anne$")
        assert not any(" 401 " in line or " 4" in line for line in a.seen[-3:])
        await a.close()
        await b.close()

    serve(scenario, flood_rate=100.0)  # many lines: not a flood test


def test_channel_modes_and_operators(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> None:
        op = await raw.open(port, "op")
        guest = await raw.open(port, "guest")
        outsider = await raw.open(port, "outsider")
        await op.send("JOIN #ops")
        await op.expect(r" 353 op = #ops :@op")
        await guest.send("JOIN #ops")
        await guest.expect(r" 353 guest = #ops :@op guest")
        await guest.send("TOPIC #ops :guest topic")
        await guest.expect(r" 482 guest #ops")
        await op.send("MODE #ops -tn")
        await guest.expect(r":op!~op@127.0.0.1 MODE #ops -tn")
        await guest.send("TOPIC #ops :guest topic")
        await op.expect(r":guest!~guest@127.0.0.1 TOPIC #ops :guest topic")
        await outsider.send("PRIVMSG #ops :hello from outside")
        await guest.expect(r":outsider!~outsider@127.0.0.1 PRIVMSG #ops :hello from outside")
        await op.send("MODE #ops +o guest", "MODE #ops +o outsider", "MODE #ops +q")
        await guest.expect(r"MODE #ops \+o guest")
        await op.expect(r" 441 op outsider #ops :They aren't on that channel")
        await op.expect(r" 472 op q :is unknown mode char")
        await guest.send("MODE #ops +t-o op")
        await op.expect(r":guest!~guest@127.0.0.1 MODE #ops \+t-o op")
        await op.send("TOPIC #ops :no longer op")
        await op.expect(r" 482 op #ops")
        await guest.send("QUIT :gone fishing")
        await guest.expect(r"^ERROR :Closing Link: 127.0.0.1 \(Quit: gone fishing\)")
        await op.expect(r":guest!~guest@127.0.0.1 QUIT :Quit: gone fishing")
        assert await guest.closed()
        for client in (op, guest, outsider):
            await client.close()

    serve(scenario)


def test_flood_disconnects_the_flooder_only(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> tuple[int, bool]:
        calm = await raw.open(port, "calm")
        flooder = await raw.open(port, "flooder")
        await calm.send("JOIN #busy")
        await calm.expect(r" 366 ")
        await flooder.send("JOIN #busy")
        await flooder.expect(r" 366 ")
        await calm.expect(r"flooder.* JOIN")
        await flooder.send(b"".join(b"PRIVMSG #busy :spam %d\r\n" % i for i in range(3000)))
        await flooder.expect(r"^ERROR :Closing Link: 127.0.0.1 \(Excess Flood\)")
        gone = await flooder.closed()
        await calm.expect(r":flooder!~flooder@127.0.0.1 QUIT :Excess Flood")
        spam = sum(1 for line in calm.seen if "spam" in line)
        # The others are served as before, and newcomers too.
        await calm.send("PING still-there")
        await calm.expect(r"PONG irc\.test :still-there")
        late = await raw.open(port, "late")
        await late.close()
        await calm.close()
        await flooder.close()
        return spam, gone

    spam, gone = serve(scenario)
    assert gone
    assert spam <= 25  # the burst allowance, not 3000


def test_throttled_but_not_flooding_client_gets_every_line(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> list[str]:
        client = await raw.open(port, "steady")
        await client.send(*[f"PING n{i}" for i in range(30)])  # over the burst, under the queue
        pongs = [await client.expect(rf"PONG irc\.test :n{i}$") for i in range(30)]
        await client.close()
        return pongs

    assert len(serve(scenario, flood_rate=50.0)) == 30


def test_malformed_lines_are_survived(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> None:
        client = await raw.open(port, "robust")
        await client.send(
            b"\xff\xfe\x00\x01binary junk\r\n",
            b"\r\n\n   \r\n",
            b":onlyaprefix\r\n",
            b"@tag=1 :prefix PING tagged\r\n",
            b"\x80\x81 invalid utf-8 command\r\n",
            b"PRIVMSG robust :caf\xe9 in latin-1\r\n",
            b"A" * 3000 + b"\r\n",
            b"NICK " + b"x" * 600 + b"\r\n",
        )
        await client.expect(r"PONG irc\.test :tagged")
        await client.expect(r"PRIVMSG robust :caf\u00e9 in latin-1")
        await client.expect(r" 417 robust :Input line was too long")
        await client.expect(r" 417 robust :Input line was too long")
        # A line split across writes, and one without CR.
        await client.send(b"PI", b"NG split\r", b"\n", b"PING bare-lf\n")
        await client.expect(r"PONG irc\.test :split")
        await client.expect(r"PONG irc\.test :bare-lf")
        # Missing parameters get 461, and the connection carries on.
        await client.send("USER", "PART", "JOIN")
        await client.expect(r" 462 robust :You may not reregister")  # registered already
        await client.expect(r" 461 robust PART :Not enough parameters")
        await client.expect(r" 461 robust JOIN :Not enough parameters")
        await client.send("PING alive")
        await client.expect(r"PONG irc\.test :alive")
        await client.close()

    serve(scenario)


def test_max_clients(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> tuple[str, bool]:
        first = await raw.open(port, "first")
        second = await raw.open(port)
        refused = await second.expect(r"^ERROR")
        gone = await second.closed()
        await first.close()
        await second.close()
        return refused, gone

    refused, gone = serve(scenario, max_clients=1)
    assert refused == "ERROR :Closing Link: 127.0.0.1 (Server is full)"
    assert gone


def test_stop_says_goodbye(arun: Callable[..., Any], raw: Any) -> None:
    service = irc.make_service({"listen": LOCAL, "name": "irc.test"})

    async def scenario() -> tuple[str, bool]:
        await start_application(service)
        assert service.port is not None
        client = await raw.open(service.port, "leaving")
        await stop_application(service)
        goodbye = await client.expect(r"^ERROR")
        gone = await client.closed()
        await client.close()
        return goodbye, gone

    goodbye, gone = arun(scenario())
    assert goodbye == "ERROR :Closing Link: 127.0.0.1 (Server shutting down)"
    assert gone


def test_tree_saves_while_serving(
    arun: Callable[..., Any],
    raw: Any,
    tmp_path: Path,
    round_trip: Callable[[Service], list[Any]],
) -> None:
    motd = tmp_path / "motd"
    motd.write_text("hi\n", encoding="utf-8")
    service = irc.make_service(
        {"listen": LOCAL, "name": "irc.saved", "motd": motd, "max_clients": 7}
    )

    async def scenario() -> list[Any]:
        await start_application(service)
        try:
            assert service.port is not None
            client = await raw.open(service.port, "saver")
            await client.send("JOIN #kept")
            await client.expect(r" 366 ")
            copies = round_trip(service)
            await client.close()
            return copies
        finally:
            await stop_application(service)

    for app in arun(scenario()):
        (copy,) = list(app)
        assert isinstance(copy, IRCServerService)
        factory = copy.factory
        assert isinstance(factory, IRCFactory)
        assert (factory.name, factory.motd, factory.max_clients) == ("irc.saved", str(motd), 7)
        assert factory._network is None


def test_options(tmp_path: Path) -> None:
    parsed = irc.options.parse(["--name", "irc.example.org", "--max-clients", "5"])
    assert parsed["max_clients"] == 5
    with pytest.raises(UsageError, match="--max-clients"):
        irc.options.parse(["--max-clients", "0"])
    with pytest.raises(UsageError, match="host name"):
        irc.make_service({"name": "nodots"})
    with pytest.raises(UsageError, match="host name"):
        irc.make_service({"name": "bad name.org"})
    with pytest.raises(NoInputError, match="--motd"):
        irc.make_service({"motd": tmp_path / "missing"})
    with pytest.raises(UsageError, match="flood-rate"):
        irc.make_service({"flood_rate": -1.0})


def test_registered_as_entry_point() -> None:
    # Passes once appcore's pyproject lists irc under appcore.service_makers.
    assert get_service_maker("irc") is irc
