"""A manhole session, whatever carries it: the login (telnet) and the read-run loop."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from appcore_manhole._console import Console
from appcore_manhole._editor import Interrupted

if TYPE_CHECKING:
    from appcore import LoginThrottle

logger = logging.getLogger("appcore.manhole")


class ReadLine(Protocol):
    """Reads one line (None at end of input); ``echo=False`` for a password."""

    def __call__(self, prompt: str, echo: bool = True) -> Awaitable[str | None]: ...


Write = Callable[[str], None]


async def login(
    read_line: ReadLine,
    write: Write,
    password_file: str,
    attempts: int,
    failure_delay: float,
    peer: object,
    throttle: LoginThrottle | None = None,
) -> str | None:
    """Ask for a user name and password until one matches; the user, or None to hang up.

    With a ``throttle``, each check waits for the turn of its source address (``peer``,
    the transport's peername) and is refused when that would take too long.
    """
    from appcore import AppcoreError, check_password

    loop = asyncio.get_running_loop()
    for _ in range(attempts):
        try:
            user = await read_line("Username: ")
            if user is None:
                return None
            password = await read_line("Password: ", echo=False)
        except Interrupted:
            return None
        if password is None:
            return None
        if throttle is not None and not await throttle.admit(peer):
            logger.warning("manhole: too many failed logins from %s: hanging up", peer)
            write("Too many failed logins from your address; try again later.\n")
            return None
        try:
            # scrypt takes tens of milliseconds: keep it off the loop.
            ok = await loop.run_in_executor(None, check_password, password_file, user, password)
        except AppcoreError as err:
            logger.error("manhole: password file unusable, refusing %s: %s", peer, err.message)
            ok = False
        if ok:
            if throttle is not None:
                throttle.succeeded(peer)
            logger.info("manhole: %s logged in from %s", user, peer)
            return user
        logger.warning("manhole: failed login for %r from %s", user, peer)
        # A pause makes guessing slow; it is per connection, so it does not stall others.
        await asyncio.sleep(failure_delay)
        write("Login incorrect\n")
    write("Too many failed logins.\n")
    return None


def banner(user: str) -> str:
    """The greeting after login."""
    version = sys.version.split()[0]
    return (
        f"appcore manhole: Python {version}, logged in as {user}.\n"
        "app is the application; services.tree(), services.get(path), services.make(type, ...),\n"
        "services.add(service), services.remove(path), services.restart(path). "
        "Ctrl-D logs out.\n"
    )


async def interact(read_line: ReadLine, write: Write, namespace: dict[str, Any], user: str) -> None:
    """The read-run loop: until end of input, ``exit()`` or a closed connection."""
    console = Console(namespace, write)
    write(banner(user))
    while True:
        try:
            line = await read_line(console.prompt)
        except Interrupted:
            console.reset()
            write("KeyboardInterrupt\n")
            continue
        if line is None:
            return
        try:
            await console.push(line)
        except SystemExit:
            return
