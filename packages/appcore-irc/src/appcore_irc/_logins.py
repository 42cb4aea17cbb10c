"""Passwords: the server password (PASS) and IRC operators (OPER).

Both are checked against appcore password files (``NAME:HASH`` lines with scrypt hashes, see
``appcore.password_line``), read again at every check so entries can change while the
server runs. A check costs tens of milliseconds of hashing: it runs in the network's worker
threads (:meth:`~._client.Client.hold`), and the client's later lines wait for its answer.

- Server password (``--password-file``): a client's last PASS before registration must match
  one of the file's entries (the names are labels; remove a line to lock its holders out).
  Without one, or with a wrong one, the client gets ERR_PASSWDMISMATCH (464) and is
  disconnected.
- Operators (``--opers``): ``OPER NAME PASSWORD`` checks the entry ``NAME``. Success gives
  user mode ``+o`` (WALLOPS, ``*`` in WHO, RPL_WHOISOPERATOR); each failure answers 464, and
  :data:`OPER_ATTEMPTS` failures on one connection close it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from appcore import check_password, read_password_file, verify_password

if TYPE_CHECKING:
    from appcore_irc._client import Client
    from appcore_irc._network import Network

logger = logging.getLogger("appcore.irc")

#: Failed OPER attempts one connection may make; the next failure closes it.
OPER_ATTEMPTS = 3


def password(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if client.registered:
        client.numeric("462", "You may not reregister")
        return
    client.password = params[0]  # checked once NICK and USER are in (the last one counts)


def admit(network: Network, client: Client) -> None:
    """NICK and USER are in: welcome the client, once its PASS is checked if one is needed."""
    path = network.password_file
    if path is None:
        network.welcome(client)
        return
    given = client.password
    client.password = None  # no longer needed: do not keep a secret around
    if given is None:
        _refuse(client, "no password given")
        return

    def admitted(ok: bool | None) -> None:
        if ok:
            network.welcome(client)
        else:
            _refuse(client, "wrong password")

    client.hold(lambda: _matches_any(path, given), admitted)


def _matches_any(path: str, given: str) -> bool:
    return any(verify_password(stored, given) for stored in read_password_file(path).values())


def _refuse(client: Client, why: str) -> None:
    logger.warning("irc: %s refused at registration: %s", client.host, why)
    client.numeric("464", "Password incorrect")
    client.quit("Bad password")


def oper(network: Network, client: Client, params: tuple[str, ...]) -> None:
    path = network.opers
    if path is None:
        client.numeric("491", "No O-lines for your host")
        return
    name, given = params[0], params[1]

    def checked(ok: bool | None) -> None:
        if ok:
            _make_operator(client, name)
            return
        client.failed_logins += 1
        logger.warning(
            "irc: failed OPER as %r by %s from %s (%d)",
            name,
            client.nick,
            client.host,
            client.failed_logins,
        )
        client.numeric("464", "Password incorrect")
        if client.failed_logins >= OPER_ATTEMPTS:
            client.quit("Too many failed OPER attempts")

    client.hold(lambda: check_password(path, name, given), checked)


def _make_operator(client: Client, name: str) -> None:
    logger.info("irc: %s (%s) is now an IRC operator as %r", client.nick, client.host, name)
    client.numeric("381", "You are now an IRC operator")
    if not client.is_oper:
        client.modes.add("o")
        client.send(client.prefix, "MODE", client.nick or "*", "+o", text=False)
