"""Users and the server, spoken by the real ``irc`` client library: NICK, AWAY, user modes,
WHO, WHOIS, WHOWAS, USERHOST, ISON, LUSERS, INFO, LINKS, TIME and VERSION."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.timeout(30)

FAST = {"flood_rate": 1000.0, "flood_burst": 1000}


def test_nick_to_the_same_nick_is_not_echoed(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        alice, bob = await irc.connect("alice"), await irc.connect("bob")
        for member in (alice, bob):
            await irc.join(member, "#test")
        await irc.settle(alice)  # bob's JOIN
        bob.nick("Alice")  # taken: the case does not matter
        assert await irc.kinds(bob) == ["nicknameinuse"]
        alice.nick("alice")  # the nick it has: nothing happens, nothing is said
        assert await irc.kinds(alice) == []
        assert await irc.kinds(bob) == []
        alice.nick("Alice")  # a change of case is a change: everyone sees it
        for member in (alice, bob):
            changed = await irc.wait(member, "nick")
            assert (changed.source.nick, changed.target) == ("alice", "Alice")
        irc.close()

    serve(scenario)


def test_away(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        bar, qux = await irc.connect("bar"), await irc.connect("qux")
        bar.send_raw("AWAY :I'm not here right now")
        assert await irc.kinds(bar) == ["nowaway"]
        qux.privmsg("bar", "what's up")
        assert (await irc.wait(qux, "away")).arguments == ["bar", "I'm not here right now"]
        qux.notice("bar", "a notice gets no answer")
        assert await irc.kinds(qux) == []
        qux.who("bar")
        assert (await irc.settle(qux))[0].arguments[5] == "G"  # gone
        qux.whois(["bar"])
        away = [e.arguments for e in await irc.settle(qux) if e.type == "away"]
        assert away == [["bar", "I'm not here right now"]]
        bar.send_raw("AWAY")
        assert await irc.kinds(bar) == ["privmsg", "privnotice", "unaway"]
        qux.privmsg("bar", "back?")
        assert await irc.kinds(qux) == []
        irc.close()

    serve(scenario)


def test_user_modes_and_who(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        shy, friend, stranger = [await irc.connect(n) for n in ("shy", "friend", "stranger")]
        for member in (shy, friend):
            await irc.join(member, "#pals")
        shy.mode("shy", "+i")
        assert (await irc.wait(shy, "umode")).arguments == ["+i"]
        shy.mode("shy", "+o")  # only OPER makes an operator: ignored
        shy.mode("shy", "")
        assert (await irc.wait(shy, "umodeis")).arguments == ["+i"]
        # Invisible: a WHO mask shows shy only to those sharing a channel...
        stranger.who("sh*")
        assert await irc.kinds(stranger) == ["endofwho"]
        stranger.who("shy")  # ...but the exact nickname finds shy, as WHOIS would
        assert await irc.kinds(stranger) == ["whoreply", "endofwho"]
        friend.who("shy")
        row = await irc.wait(friend, "whoreply")
        assert row.arguments == ["#pals", "~shy", "127.0.0.1", "irc.test", "shy", "H@", "0 shy"]
        stranger.who("#pals")  # a public channel: its visible members only
        rows = [e.arguments[4] for e in await irc.settle(stranger) if e.type == "whoreply"]
        assert rows == ["friend"]
        stranger.who("*")  # masks match nicknames, user names, hosts and real names
        assert sorted(e.arguments[4] for e in await irc.settle(stranger) if e.arguments[4:]) == [
            "friend",
            "stranger",
        ]
        shy.mode("shy", "-i")
        await irc.wait(shy, "umode")
        stranger.who("sh?")
        assert (await irc.wait(stranger, "whoreply")).arguments[4] == "shy"
        shy.mode("friend", "+i")
        await irc.wait(shy, "usersdontmatch")
        shy.mode("shy", "+x")
        await irc.wait(shy, "umodeunknownflag")
        irc.close()

    serve(scenario)


def test_whois(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        cool, other = await irc.connect("coolNick"), await irc.connect("otherNick")
        await irc.join(cool, "#chan1")
        await irc.join(cool, "#chan2")
        for asked in ("WHOIS coolNick", "WHOIS irc.test coolNick", "WHOIS coolnick coolNick"):
            other.send_raw(asked)
            replies = {e.type: e.arguments for e in await irc.settle(other)}
            assert replies["whoisuser"] == ["coolNick", "~coolNick", "127.0.0.1", "*", "coolNick"]
            assert replies["whoischannels"][0] == "coolNick"
            assert sorted(replies["whoischannels"][1].split()) == ["@#chan1", "@#chan2"]
            assert replies["whoisserver"] == ["coolNick", "irc.test", "a test server"]
            assert replies["whoisidle"][0] == "coolNick"
            assert replies["endofwhois"] == ["coolNick", "End of WHOIS list"]
            assert "whoisoperator" not in replies
        other.whois(["nobody"])
        assert [(e.type, e.arguments[0]) for e in await irc.settle(other)] == [
            ("nosuchnick", "nobody"),
            ("endofwhois", "nobody"),
        ]
        other.send_raw("WHOIS elsewhere.example coolNick")
        assert await irc.kinds(other) == ["nosuchserver"]
        irc.close()

    serve(scenario, description="a test server")


def test_whowas(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        asker = await irc.connect("asker")
        for ident in ("first", "second"):
            gone = irc.reactor.server()
            await gone.connect("127.0.0.1", port, "leaver", username=ident, ircname="Real Name")
            await irc.wait(gone, "welcome")
            gone.quit("bye")
            await irc.wait(gone, "disconnect")
        renamed = await irc.connect("oldname")
        renamed.nick("newname")  # a nick change is history too
        await irc.wait(renamed, "nick")
        asker.whowas("leaver")
        replies = await irc.settle(asker)
        assert [(e.type, e.arguments[:2]) for e in replies] == [
            ("whowasuser", ["leaver", "~second"]),  # newest first
            ("whoisserver", ["leaver", "irc.test"]),
            ("whowasuser", ["leaver", "~first"]),
            ("whoisserver", ["leaver", "irc.test"]),
            ("endofwhowas", ["leaver", "End of WHOWAS"]),
        ]
        assert replies[0].arguments[2:] == ["127.0.0.1", "*", "Real Name"]
        for count, found in (("1", 1), ("2", 2), ("0", 2), ("-1", 2), ("x", 2)):
            asker.send_raw(f"WHOWAS leaver {count}")
            assert (await irc.kinds(asker)).count("whowasuser") == found
        asker.whowas("oldname")
        assert (await irc.settle(asker))[0].arguments[0] == "oldname"
        asker.whowas("never")
        assert await irc.kinds(asker) == ["wasnosuchnick", "endofwhowas"]
        asker.send_raw("WHOWAS")
        assert await irc.kinds(asker) == ["nonicknamegiven"]
        irc.close()

    serve(scenario, **FAST)


def test_lusers(serve: Any, library: Any, raw: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        bar = await irc.connect("bar")
        await irc.join(bar, "#one")
        hidden = await irc.connect("hidden")
        hidden.mode("hidden", "+i")
        await irc.settle(hidden)
        pending = await raw.open(port)  # connected, never registered
        await pending.send("NICK pending", "PING sync")
        await pending.expect("PONG")
        bar.lusers()
        replies = {e.type: e.arguments for e in await irc.settle(bar)}
        assert replies["luserclient"] == ["There are 1 users and 1 invisible on 1 servers"]
        assert replies["luserunknown"] == ["1", "unknown connection(s)"]
        assert replies["luserchannels"] == ["1", "channels formed"]
        assert replies["luserme"] == ["I have 2 clients and 0 servers"]
        assert replies["n_local"][:2] == ["2", "2"]
        assert replies["n_global"][:2] == ["2", "2"]
        assert "luserop" not in replies
        hidden.quit()
        await irc.wait(hidden, "disconnect")
        await pending.close()
        bar.lusers()
        replies = {e.type: e.arguments for e in await irc.settle(bar)}
        assert replies["n_local"][:2] == ["1", "2"]  # one now, two at most
        assert "luserunknown" not in replies
        irc.close()

    serve(scenario)


def test_info_and_links(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        asker = await irc.connect("asker")
        asker.info()
        replies = await irc.settle(asker)
        assert {e.type for e in replies[:-1]} == {"info"}
        assert replies[0].arguments == ["irc.test: Our little server"]
        assert replies[-1].type == "endofinfo"
        asker.info("elsewhere.example")
        assert await irc.kinds(asker) == ["nosuchserver"]
        asker.links()
        assert [(e.type, e.arguments) for e in await irc.settle(asker)] == [
            ("links", ["irc.test", "irc.test", "0 Our little server"]),
            ("endoflinks", ["*", "End of LINKS list"]),
        ]
        asker.links(server_mask="*.example")
        assert await irc.kinds(asker) == ["endoflinks"]
        irc.close()

    serve(scenario, description="Our little server")


def test_userhost_ison_time_version(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        bar, qux = await irc.connect("bar"), await irc.connect("qux")
        bar.send_raw("AWAY :out")
        await irc.settle(bar)
        qux.userhost(["bar", "qux", "nobody"])
        assert (await irc.wait(qux, "userhost")).arguments == [
            "bar=-~bar@127.0.0.1 qux=+~qux@127.0.0.1"
        ]
        qux.ison(["nobody", "BAR", "qux"])
        assert (await irc.wait(qux, "ison")).arguments == ["bar qux"]
        qux.time()
        assert (await irc.wait(qux, "time")).arguments[0] == "irc.test"
        qux.version()
        version = await irc.wait(qux, "version")
        assert version.arguments[0].startswith("appcore-")
        assert version.arguments[1:] == ["irc.test", "appcore IRC server"]
        qux.time("elsewhere.example")
        assert await irc.kinds(qux) == ["nosuchserver"]
        irc.close()

    serve(scenario)


def test_user_needs_a_user_name_and_a_real_name(serve: Any, raw: Any) -> None:
    async def scenario(port: int) -> None:
        client = await raw.open(port)
        await client.send("NICK foo", "USER username * * :")
        await client.expect(r" 461 foo USER :Not enough parameters")
        await client.send("USER  * * :Real", "USER :x * * :Real")
        await client.expect(r" 461 foo USER ")
        await client.send("USER username * * :Real")
        await client.expect(r" 001 foo ")
        await client.close()

    serve(scenario)
