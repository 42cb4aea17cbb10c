"""The ``irc`` server type: with the ``irc`` client library from PyPI, and with raw sockets."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from irc.client_aio import AioConnection, AioReactor

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


def run_server(
    arun: Callable[..., Any],
    scenario: Callable[[int], Awaitable[Any]],
    **options: Any,
) -> Any:
    """Serve IRC on a free port, run ``scenario(port)``, stop; returns the scenario's result."""
    service = irc.make_service({"listen": LOCAL, "name": "irc.test", **options})
    assert isinstance(service, IRCServerService)

    errors: list[dict[str, Any]] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        await start_application(service)
        try:
            assert service.port is not None
            return await scenario(service.port)
        finally:
            await stop_application(service)

    result = arun(main(), timeout=20)
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    assert not errors, errors
    return result


class Raw:
    """A bare socket client: send lines, wait for lines matching a pattern."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.seen: list[str] = []

    @classmethod
    async def open(cls, port: int, nick: str | None = None) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if nick is not None:
            await client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} the tester")
            await client.expect(r" 376 | 422 ")
        return client

    async def send(self, *lines: str | bytes) -> None:
        for line in lines:
            data = line if isinstance(line, bytes) else line.encode() + b"\r\n"
            self.writer.write(data)
        await self.writer.drain()

    async def expect(self, pattern: str, timeout: float = 5.0) -> str:
        """The next line matching ``pattern`` (lines before it are kept in ``seen``)."""

        async def read() -> str:
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise EOFError(f"closed while waiting for {pattern!r}; saw {self.seen[-5:]}")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.seen.append(line)
                if re.search(pattern, line):
                    return line

        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"no line matching {pattern!r}; last: {self.seen[-6:]}") from None

    async def closed(self, timeout: float = 5.0) -> bool:
        """Whether the server closes the connection (reading what is left until then)."""
        try:
            while await asyncio.wait_for(self.reader.readline(), timeout):
                pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


# --- with a real client library (jaraco's irc)


class Recorder:
    """Collects the events the irc library raises, per connection, and waits for them."""

    def __init__(self) -> None:
        self.events: list[tuple[AioConnection, Any]] = []
        self.changed = asyncio.Event()

    def __call__(self, connection: AioConnection, event: Any) -> None:
        self.events.append((connection, event))
        self.changed.set()

    async def wait(self, connection: AioConnection, kind: str, test: Callable[[Any], bool] = bool):
        async def find() -> Any:
            while True:
                for conn, event in self.events:
                    if conn is connection and event.type == kind and test(event):
                        self.events.remove((conn, event))
                        return event
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(find(), 5)


def test_two_library_clients_chat_in_a_channel(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> None:
        reactor = AioReactor(loop=asyncio.get_running_loop())
        seen = Recorder()
        reactor.add_global_handler("all_events", seen)
        alice = reactor.server()
        bob = reactor.server()
        await alice.connect("127.0.0.1", port, "alice")
        await bob.connect("127.0.0.1", port, "bob")
        welcome = await seen.wait(alice, "welcome")
        assert "alice!" in welcome.arguments[0]
        await seen.wait(bob, "welcome")
        await seen.wait(alice, "nomotd")  # the MOTD (none here) arrives with registration

        alice.join("#lobby")
        await seen.wait(alice, "join", lambda e: e.source.nick == "alice")
        bob.join("#lobby")
        await seen.wait(alice, "join", lambda e: e.source.nick == "bob")
        names = await seen.wait(bob, "namreply")
        assert names.arguments[1:] == ["#lobby", "@alice bob"]

        alice.privmsg("#lobby", "hello bob")
        said = await seen.wait(bob, "pubmsg")
        assert said.source.nick == "alice"
        assert said.target == "#lobby"
        assert said.arguments == ["hello bob"]
        bob.privmsg("alice", "hi alice, privately")
        private = await seen.wait(alice, "privmsg")
        assert private.source.nick == "bob"
        assert private.arguments == ["hi alice, privately"]
        bob.notice("#lobby", "a notice")
        assert (await seen.wait(alice, "pubnotice")).arguments == ["a notice"]

        alice.topic("#lobby", "Plans for today")
        changed = await seen.wait(bob, "topic")
        assert changed.arguments == ["Plans for today"]
        bob.topic("#lobby")
        assert (await seen.wait(bob, "currenttopic")).arguments == ["#lobby", "Plans for today"]
        # Channels start +nt: bob is no operator, so he cannot change the topic.
        bob.topic("#lobby", "mine now")
        assert (await seen.wait(bob, "chanoprivsneeded")).arguments[0] == "#lobby"

        bob.who("#lobby")
        rows = [await seen.wait(bob, "whoreply") for _ in range(2)]
        assert sorted(r.arguments[4] for r in rows) == ["alice", "bob"]
        await seen.wait(bob, "endofwho")

        alice.mode("#lobby", "+o bob")
        opped = await seen.wait(bob, "mode")
        assert opped.arguments == ["+o", "bob"]
        bob.names(["#lobby"])
        assert (await seen.wait(bob, "namreply")).arguments[2] in ("@alice @bob", "@bob @alice")

        # A third client may not take a nickname in use.
        carol = reactor.server()
        await carol.connect("127.0.0.1", port, "alice")
        assert (await seen.wait(carol, "nicknameinuse")).arguments[0] == "alice"
        carol.nick("carol")
        await seen.wait(carol, "welcome")

        bob.part("#lobby", "bye")
        parted = await seen.wait(alice, "part")
        assert parted.source.nick == "bob"
        alice.quit("done")
        await seen.wait(alice, "disconnect")
        for connection in (bob, carol):
            connection.disconnect("end")

    run_server(arun, scenario)


# --- raw sockets: numerics, errors, modes, floods, junk


def test_registration_numerics_and_motd(arun: Callable[..., Any], tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("Welcome to the test network.\nBe nice.\n", encoding="utf-8")

    async def scenario(port: int) -> list[str]:
        client = await Raw.open(port)
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

    seen = run_server(arun, scenario, motd=str(motd))
    codes = [line.split()[1] for line in seen if line.startswith(":irc.test ")]
    assert codes[:3] == ["PONG", "451", "461"]
    assert codes[3:8] == ["001", "002", "003", "004", "005"]
    assert codes[8:12] == ["375", "372", "372", "376"]
    assert (
        ":irc.test 001 tester :Welcome to the Internet Relay Network tester!~tester@127.0.0.1"
        in seen
    )
    assert ":irc.test 372 tester :- Be nice." in seen


def test_missing_motd_is_422(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> str:
        client = await Raw.open(port, "nomotd")
        await client.close()
        return client.seen[-1]

    assert run_server(arun, scenario) == ":irc.test 422 nomotd :MOTD File is missing"


def test_error_numerics(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> None:
        a = await Raw.open(port, "anna")
        b = await Raw.open(port, "bert")
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

    run_server(arun, scenario, flood_rate=100.0)  # many lines: not a flood test


def test_channel_modes_and_operators(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> None:
        op = await Raw.open(port, "op")
        guest = await Raw.open(port, "guest")
        outsider = await Raw.open(port, "outsider")
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

    run_server(arun, scenario)


def test_flood_disconnects_the_flooder_only(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> tuple[int, bool]:
        calm = await Raw.open(port, "calm")
        flooder = await Raw.open(port, "flooder")
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
        late = await Raw.open(port, "late")
        await late.close()
        await calm.close()
        await flooder.close()
        return spam, gone

    spam, gone = run_server(arun, scenario)
    assert gone
    assert spam <= 25  # the burst allowance, not 3000


def test_throttled_but_not_flooding_client_gets_every_line(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> list[str]:
        client = await Raw.open(port, "steady")
        await client.send(*[f"PING n{i}" for i in range(30)])  # over the burst, under the queue
        pongs = [await client.expect(rf"PONG irc\.test :n{i}$") for i in range(30)]
        await client.close()
        return pongs

    assert len(run_server(arun, scenario, flood_rate=50.0)) == 30


def test_malformed_lines_are_survived(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> None:
        client = await Raw.open(port, "robust")
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

    run_server(arun, scenario)


def test_max_clients(arun: Callable[..., Any]) -> None:
    async def scenario(port: int) -> tuple[str, bool]:
        first = await Raw.open(port, "first")
        second = await Raw.open(port)
        refused = await second.expect(r"^ERROR")
        gone = await second.closed()
        await first.close()
        await second.close()
        return refused, gone

    refused, gone = run_server(arun, scenario, max_clients=1)
    assert refused == "ERROR :Closing Link: 127.0.0.1 (Server is full)"
    assert gone


def test_stop_says_goodbye(arun: Callable[..., Any]) -> None:
    service = irc.make_service({"listen": LOCAL, "name": "irc.test"})

    async def scenario() -> tuple[str, bool]:
        await start_application(service)
        assert service.port is not None
        client = await Raw.open(service.port, "leaving")
        await stop_application(service)
        goodbye = await client.expect(r"^ERROR")
        gone = await client.closed()
        await client.close()
        return goodbye, gone

    goodbye, gone = arun(scenario())
    assert goodbye == "ERROR :Closing Link: 127.0.0.1 (Server shutting down)"
    assert gone


def test_tree_saves_while_serving(
    arun: Callable[..., Any], tmp_path: Path, round_trip: Callable[[Service], list[Any]]
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
            client = await Raw.open(service.port, "saver")
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
