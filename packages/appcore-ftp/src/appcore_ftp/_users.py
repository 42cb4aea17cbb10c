"""Who may log in: anonymous users (read only) and named users from a password file.

Named users' passwords are :mod:`appcore._passwords` lines, checked off the event loop,
with a pause after each failure.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import aioftp

logger = logging.getLogger("appcore.ftp")

#: User names that log in anonymously (any password) when anonymous access is on.
ANONYMOUS_NAMES = frozenset({"anonymous", "ftp"})


class UserDirectory(aioftp.AbstractUserManager):
    """Anonymous and named users; named ones are checked against a password file.

    The file is read at every login, so people can be added or removed while the server
    runs. A name that is not in the file is asked for a password all the same, so the
    replies do not tell which names exist.
    """

    #: Seconds a failed login waits before its reply, to slow password guessing down.
    failure_delay = 1.0

    def __init__(self, root: Path, *, anonymous: bool, passwd: str | None, writable: bool) -> None:
        super().__init__()
        self.anonymous = anonymous
        self.passwd = passwd
        read_only = [aioftp.Permission("/", readable=True, writable=False)]
        named = [aioftp.Permission("/", readable=True, writable=writable)]
        self._anonymous_user = aioftp.User("anonymous", base_path=root, permissions=read_only)
        # One User object per name: aioftp keeps a throttle per User object for good.
        self._named: dict[str, aioftp.User] = {}
        self._nobody = aioftp.User(None, base_path=root, permissions=read_only)
        self._named_permissions = named
        self._root = root

    async def get_user(
        self, login: str
    ) -> tuple[aioftp.AbstractUserManager.GetUserResponse, aioftp.User | None, str]:
        required = aioftp.AbstractUserManager.GetUserResponse.PASSWORD_REQUIRED
        if self.anonymous and login in ANONYMOUS_NAMES:
            return required, self._anonymous_user, "anonymous login: any password will do"
        user = self._nobody
        if self.passwd is not None and login and login not in ANONYMOUS_NAMES:
            users = await asyncio.to_thread(self._read_users)
            if login in users:
                user = self._named.get(login) or aioftp.User(
                    login, base_path=self._root, permissions=self._named_permissions
                )
                self._named[login] = user
        return required, user, "password required"

    def _read_users(self) -> dict[str, str]:
        from appcore import AppcoreError, read_password_file

        assert self.passwd is not None
        try:
            return read_password_file(self.passwd)
        except AppcoreError as err:
            logger.error("ftp: named logins refused: %s", err.message)
            return {}

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        if user is self._anonymous_user:
            return True
        ok = await asyncio.to_thread(self._verify, user.login, password)
        if not ok:
            logger.warning("ftp: failed login for %r", user.login or "(unknown user)")
            await asyncio.sleep(self.failure_delay)
        return ok

    def _verify(self, login: str | None, password: str) -> bool:
        from appcore import verify_password

        stored = self._read_users().get(login) if login is not None else None
        # An unknown name still costs one hash, so timing does not tell names apart.
        checked = stored if stored is not None else _dummy_hash()
        return verify_password(checked, password) and stored is not None


@functools.cache
def _dummy_hash() -> str:
    import secrets

    from appcore import hash_password

    return hash_password(secrets.token_hex(16))
