"""Channel commands and channel modes, spoken by the real ``irc`` client library.

JOIN, PART, NAMES, LIST, KICK, INVITE and MODE with every channel mode: the flags
``i m n p s t``, the key ``k``, the limit ``l``, bans ``b`` and the member modes ``o v``.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.timeout(30)

FAST = {"flood_rate": 1000.0, "flood_burst": 1000}  # these tests send many commands at once


def test_key_mode(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, guest = await irc.connect("op"), await irc.connect("guest")
        await irc.join(op, "#vault")
        op.mode("#vault", "+k sesame")
        assert (await irc.wait(op, "mode")).arguments == ["+k", "sesame"]
        guest.join("#vault")
        assert (await irc.wait(guest, "badchannelkey")).arguments[0] == "#vault"
        guest.join("#vault", "wrong")
        await irc.wait(guest, "badchannelkey")
        guest.join("#vault", "sesame")
        await irc.wait(guest, "join")
        guest.mode("#vault", "")
        assert (await irc.wait(guest, "channelmodeis")).arguments[1:] == ["+ntk", "sesame"]
        # Keys are 1 to 23 printable characters without spaces or commas: else 696.
        for bad in ("two words", "x" * 24, "", "a,b"):
            op.send_raw(f"MODE #vault +k :{bad}")
            invalid = await irc.wait(op, "696")
            assert invalid.arguments[:3] == ["#vault", "k", "*"]
        assert "mode" not in await irc.kinds(op)
        op.mode("#vault", "-k sesame")
        assert (await irc.wait(op, "mode")).arguments == ["-k", "sesame"]
        guest.part("#vault")
        guest.join("#vault")
        await irc.wait(guest, "join")
        irc.close()

    serve(scenario)


def test_limit_mode(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, first, second = [await irc.connect(n) for n in ("op", "first", "second")]
        await irc.join(op, "#small")
        op.mode("#small", "+l 2")
        assert (await irc.wait(op, "mode")).arguments == ["+l", "2"]
        first.join("#small")
        await irc.wait(first, "join")
        second.join("#small")
        assert (await irc.wait(second, "channelisfull")).arguments[0] == "#small"
        for bad in ("0", "-1", "abc", "100001"):
            op.send_raw(f"MODE #small +l :{bad}")
            assert (await irc.wait(op, "696")).arguments[:3] == ["#small", "l", bad]
        first.part("#small")  # room again
        second.join("#small")
        await irc.wait(second, "join")
        op.mode("#small", "+l 2")  # full again, then no limit
        await irc.wait(op, "mode")
        first.join("#small")
        await irc.wait(first, "channelisfull")
        op.mode("#small", "-l")
        assert (await irc.wait(op, "mode")).arguments == ["-l"]
        first.join("#small")
        await irc.wait(first, "join")
        irc.close()

    serve(scenario, **FAST)


def test_invite_only_mode_and_invite(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, helper, guest, bystander = [
            await irc.connect(n) for n in ("op", "helper", "guest", "bystander")
        ]
        for member in (op, helper, bystander):
            await irc.join(member, "#club")
        op.mode("#club", "+i")
        await irc.wait(op, "mode")
        await irc.settle(bystander)
        guest.join("#club")
        assert (await irc.wait(guest, "inviteonlychan")).arguments[0] == "#club"
        # On an invite-only channel only its operators invite.
        helper.invite("guest", "#club")
        await irc.wait(helper, "chanoprivsneeded")
        op.invite("guest", "#club")
        assert (await irc.wait(op, "inviting")).arguments == ["guest", "#club"]
        invited = await irc.wait(guest, "invite")
        assert (invited.source.nick, invited.arguments) == ("op", ["#club"])
        assert await irc.kinds(bystander) == []  # other members are not told
        # INVITE alone lists the invitations held (RPL_INVITELIST 336, end 337).
        guest.send_raw("INVITE")
        assert (await irc.wait(guest, "336")).arguments == ["#club"]
        await irc.wait(guest, "337")
        guest.join("#club")
        await irc.wait(guest, "join")
        guest.part("#club")  # the invitation was used up
        guest.join("#club")
        await irc.wait(guest, "inviteonlychan")
        # Errors: not on the channel, already on it, nobody by that name.
        guest.invite("bystander", "#club")
        await irc.wait(guest, "notonchannel")
        op.invite("helper", "#club")
        assert (await irc.wait(op, "useronchannel")).arguments[:2] == ["helper", "#club"]
        op.invite("nobody", "#club")
        await irc.wait(op, "nosuchnick")
        op.send_raw("INVITE guest")
        await irc.wait(op, "needmoreparams")
        # A channel that does not exist may be named.
        op.invite("guest", "#later")
        await irc.wait(op, "inviting")
        await irc.wait(guest, "invite")
        irc.close()

    serve(scenario, **FAST)


def test_moderated_mode_and_voice(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, talker = await irc.connect("op"), await irc.connect("talker")
        for member in (op, talker):
            await irc.join(member, "#stage")
        op.mode("#stage", "+m")
        assert (await irc.wait(talker, "mode")).arguments == ["+m"]
        talker.privmsg("#stage", "may I?")
        assert (await irc.wait(talker, "cannotsendtochan")).arguments[0] == "#stage"
        assert "pubmsg" not in await irc.kinds(op)
        op.mode("#stage", "+v talker")
        assert (await irc.wait(talker, "mode")).arguments == ["+v", "talker"]
        talker.privmsg("#stage", "thank you")
        assert (await irc.wait(op, "pubmsg")).arguments == ["thank you"]
        op.names(["#stage"])
        assert (await irc.wait(op, "namreply")).arguments == ["=", "#stage", "@op +talker"]
        op.mode("#stage", "-v talker")
        await irc.wait(talker, "mode")
        talker.privmsg("#stage", "again?")
        await irc.wait(talker, "cannotsendtochan")
        irc.close()

    serve(scenario)


def test_secret_and_private_modes_hide_the_channel(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        member, outsider = await irc.connect("member"), await irc.connect("outsider")
        for name in ("#open", "#hidden", "#quiet"):
            await irc.join(member, name)
        member.topic("#open", "all welcome")
        member.mode("#hidden", "+s")
        member.mode("#quiet", "+p")
        await irc.settle(member)
        outsider.list()
        assert [(e.arguments) for e in await irc.settle(outsider) if e.type == "list"] == [
            ["#open", "1", "all welcome"]
        ]
        member.list()
        assert {e.arguments[0] for e in await irc.settle(member) if e.type == "list"} == {
            "#open",
            "#hidden",
            "#quiet",
        }
        outsider.list(["#hidden", "#open"])
        assert [e.arguments[0] for e in await irc.settle(outsider) if e.type == "list"] == ["#open"]
        outsider.names(["#hidden"])
        assert await irc.kinds(outsider) == ["endofnames"]
        outsider.whois(["member"])
        channels = await irc.wait(outsider, "whoischannels")
        assert channels.arguments[1] == "@#open"
        # Members see the channel type in NAMES: @ secret, * private.
        member.names(["#hidden"])
        assert (await irc.wait(member, "namreply")).arguments[0] == "@"
        member.names(["#quiet"])
        assert (await irc.wait(member, "namreply")).arguments[0] == "*"
        irc.close()

    serve(scenario, **FAST)


def test_ban_mode(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, bar, friend = [await irc.connect(n) for n in ("op", "Bar", "friend")]
        for member in (op, friend):
            await irc.join(member, "#chan")
        op.mode("#chan", "+b bar")  # completed to bar!*@*
        assert (await irc.wait(op, "mode")).arguments == ["+b", "bar!*@*"]
        op.mode("#chan", "+b *!*@192.0.2.*")
        await irc.wait(op, "mode")
        op.mode("#chan", "b")
        listed = [await irc.wait(op, "banlist") for _ in range(2)]
        assert [e.arguments[:2] for e in listed] == [
            ["#chan", "bar!*@*"],
            ["#chan", "*!*@192.0.2.*"],
        ]
        assert listed[0].arguments[2].startswith("op!")
        await irc.wait(op, "endofbanlist")
        bar.join("#chan")  # masks compare without case: Bar fits bar!*@*
        assert (await irc.wait(bar, "bannedfromchan")).arguments[0] == "#chan"
        # A banned member who is already in may not speak.
        op.mode("#chan", "+b friend!*@*")
        await irc.wait(op, "mode")
        friend.privmsg("#chan", "hello?")
        await irc.wait(friend, "cannotsendtochan")
        # An invitation gets past a ban; removing the ban lets everyone in.
        op.invite("Bar", "#chan")
        await irc.wait(bar, "invite")
        bar.join("#chan")
        await irc.wait(bar, "join")
        bar.part("#chan")
        op.mode("#chan", "-b BAR!*@*")
        assert (await irc.wait(op, "mode")).arguments == ["-b", "bar!*@*"]
        bar.join("#chan")
        await irc.wait(bar, "join")
        irc.close()

    serve(scenario, **FAST)


def test_ban_list_is_bounded(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op = await irc.connect("op")
        await irc.join(op, "#full")
        for number in range(101):
            op.mode("#full", f"+b ban{number}!*@*")
        kinds = await irc.kinds(op)
        assert kinds.count("mode") == 100
        assert kinds.count("banlistfull") == 1
        irc.close()

    serve(scenario, **FAST)


def test_flags_and_member_modes(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, other = await irc.connect("op"), await irc.connect("other")
        for member in (op, other):
            await irc.join(member, "#flags")
        op.mode("#flags", "+imps-t")
        assert (await irc.wait(other, "mode")).arguments == ["+imps-t"]
        assert (await irc.wait(op, "mode")).arguments == ["+imps-t"]  # the setter sees it too
        op.mode("#flags", "")
        assert (await irc.wait(op, "channelmodeis")).arguments[1] == "+imnps"
        await irc.wait(op, "channelcreate")
        # Only the parameters of four modes count in one command (ISUPPORT MODES=4).
        op.mode("#flags", "+vvvvv other other other other other")
        assert (await irc.wait(other, "mode")).arguments == ["+v", "other"]
        op.mode("#flags", "+o other")
        await irc.wait(other, "mode")
        await irc.settle(op)
        other.names(["#flags"])
        assert (await irc.wait(other, "namreply")).arguments[2] == "@op @other"
        op.mode("#flags", "+y")
        assert (await irc.wait(op, "unknownmode")).arguments[0] == "y"
        op.mode("#flags", "+o nobody")
        await irc.wait(op, "nosuchnick")
        other.mode("#flags", "-o op")
        assert (await irc.wait(op, "mode")).arguments == ["-o", "op"]
        op.mode("#flags", "+t")
        await irc.wait(op, "chanoprivsneeded")
        irc.close()

    serve(scenario)


def test_kick(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        op, bar, baz, qux = [await irc.connect(n) for n in ("op", "bar", "baz", "qux")]
        for member in (op, bar, baz):
            await irc.join(member, "#room")
        op.kick("#room", "bar", "bye")
        for member in (op, bar, baz):
            kicked = await irc.wait(member, "kick")
            assert (kicked.source.nick, kicked.target, kicked.arguments) == (
                "op",
                "#room",
                ["bar", "bye"],
            )
        bar.privmsg("#room", "still here?")
        await irc.wait(bar, "cannotsendtochan")  # gone: +n keeps it out
        op.kick("#room", "baz")  # no comment: the kicker's nick (RFC 2812 3.2.8)
        assert (await irc.wait(baz, "kick")).arguments == ["baz", "op"]
        # The errors, in the order a server checks them.
        qux.kick("#nowhere", "op")
        await irc.wait(qux, "nosuchchannel")
        qux.kick("#room", "op")
        await irc.wait(qux, "notonchannel")
        await irc.join(qux, "#room")
        qux.kick("#room", "op")
        await irc.wait(qux, "chanoprivsneeded")
        op.kick("#room", "nobody")
        await irc.wait(op, "nosuchnick")
        op.kick("#room", "bar")
        assert (await irc.wait(op, "usernotinchannel")).arguments[:2] == ["bar", "#room"]
        # Many users at once: one KICK line each.
        for member in (bar, baz):
            await irc.join(member, "#room")
        await irc.settle(qux)
        op.send_raw("KICK #room bar,baz :both")
        first, second = await irc.wait(qux, "kick"), await irc.wait(qux, "kick")
        assert [first.arguments, second.arguments] == [["bar", "both"], ["baz", "both"]]
        irc.close()

    serve(scenario, **FAST)


def test_join_part_names_list(serve: Any, library: Any) -> None:
    async def scenario(port: int) -> None:
        irc = library(port)
        alice, bob = await irc.connect("alice"), await irc.connect("bob")
        alice.send_raw("JOIN #one,#two")
        assert (await irc.kinds(alice)).count("endofnames") == 2
        bob.list()
        listed = [e.arguments for e in await irc.settle(bob) if e.type in ("list", "listend")]
        assert sorted(listed[:2]) == [["#one", "1", ""], ["#two", "1", ""]]
        assert listed[2][0] == "End of LIST"
        bob.list(["#nothing"])
        assert await irc.kinds(bob) == ["listend"]
        alice.send_raw("NAMES #one,#two,#nothing")
        replies = await irc.settle(alice)
        assert [(e.type, e.arguments[:2]) for e in replies] == [
            ("namreply", ["=", "#one"]),
            ("namreply", ["=", "#two"]),
            ("endofnames", ["#one,#two,#nothing", "End of NAMES list"]),
        ]
        alice.send_raw("JOIN 0")  # leaves every channel
        parts = [await irc.wait(alice, "part") for _ in range(2)]
        assert sorted(p.target for p in parts) == ["#one", "#two"]
        bob.list()
        assert await irc.kinds(bob) == ["listend"]
        irc.close()

    serve(scenario, **FAST)
