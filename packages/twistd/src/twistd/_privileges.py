"""Who the daemon runs as: user and group lookup, chroot, and dropping root.

Ports are bound while the process is still root (the privileged start); then
:func:`drop_privileges` switches the groups first (supplementary, then primary) and the user
last, because after ``setuid`` the process may no longer change its groups.
"""

from __future__ import annotations

import grp
import os
import pwd

from appcore import NoInputError, PermissionDenied, UsageError


class Identity:
    """The user and group to run as; None keeps the current one."""

    __slots__ = ("gid", "uid", "user_name")

    def __init__(
        self, uid: int | None = None, gid: int | None = None, user_name: str | None = None
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.user_name = user_name  # for initgroups: the user's supplementary groups

    def __repr__(self) -> str:
        return f"Identity(uid={self.uid}, gid={self.gid}, user_name={self.user_name!r})"

    @property
    def changes_anything(self) -> bool:
        """Whether switching to this identity is more than a no-op."""
        return self.uid is not None or self.gid is not None


def resolve_identity(
    user: str | int | None,
    group: str | int | None,
    *,
    default_uid: int | None = None,
    default_gid: int | None = None,
) -> Identity:
    """Turn ``-u``/``-g`` values (names or numbers) into an :class:`Identity`.

    When only a user is given, the group defaults to that user's primary group, as it
    would after a login. ``default_*`` come from the Application.
    """
    uid: int | None = None
    gid: int | None = None
    name: str | None = None
    primary_gid: int | None = None
    spec: str | int | None = user if user is not None else default_uid
    if spec is not None:
        entry = _user_entry(spec)
        if entry is None:
            if isinstance(spec, str) and not spec.isdigit():
                raise UsageError(f"no such user: {spec!r}")
            uid = int(spec)
        else:
            uid, name, primary_gid = entry.pw_uid, entry.pw_name, entry.pw_gid
    gspec: str | int | None = group if group is not None else default_gid
    if gspec is not None:
        gid = _group_id(gspec)
    elif primary_gid is not None:
        gid = primary_gid
    return Identity(uid, gid, name)


def _user_entry(spec: str | int) -> pwd.struct_passwd | None:
    try:
        if isinstance(spec, int) or spec.isdigit():
            return pwd.getpwuid(int(spec))
        return pwd.getpwnam(spec)
    except KeyError:
        return None


def _group_id(spec: str | int) -> int:
    if isinstance(spec, int) or spec.isdigit():
        return int(spec)
    try:
        return grp.getgrnam(spec).gr_gid
    except KeyError:
        raise UsageError(f"no such group: {spec!r}") from None


def drop_privileges(identity: Identity, *, effective_only: bool = False) -> None:
    """Become ``identity``: groups first, then the user.

    With ``effective_only`` (``--euid``) only the effective ids change, so the real and
    saved ids stay root; that is weaker isolation, kept for compatibility with twistd.
    """
    if not identity.changes_anything:
        return
    try:
        if identity.gid is not None:
            _switch_groups(identity, effective_only)
        if identity.uid is not None:
            if effective_only:
                if os.geteuid() != identity.uid:
                    os.seteuid(identity.uid)
            elif os.getuid() != identity.uid or os.geteuid() != identity.uid:
                os.setuid(identity.uid)
    except PermissionError:
        raise PermissionDenied(
            f"cannot switch to uid {identity.uid} gid {identity.gid}: "
            "only root can change its user or group"
        ) from None


def _switch_groups(identity: Identity, effective_only: bool) -> None:
    gid = identity.gid
    assert gid is not None  # checked by the caller
    if os.geteuid() == 0:
        # Without this, the daemon would keep root's supplementary groups (often "root").
        if identity.user_name is not None:
            os.initgroups(identity.user_name, gid)
        else:
            os.setgroups([gid])
    if effective_only:
        if os.getegid() != gid:
            os.setegid(gid)
    elif os.getgid() != gid or os.getegid() != gid:
        os.setgid(gid)


def enter_chroot(path: str) -> None:
    """Make ``path`` the root directory and change into it."""
    try:
        os.chroot(path)
    except FileNotFoundError:
        raise NoInputError(f"chroot directory {path}: no such directory") from None
    except PermissionError:
        raise PermissionDenied(f"cannot chroot to {path}: only root can chroot") from None
    except OSError as err:
        raise UsageError(f"cannot chroot to {path}: {err.strerror}") from None
    os.chdir("/")
