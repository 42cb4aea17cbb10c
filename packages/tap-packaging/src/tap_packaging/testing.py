"""What a machine can give the packages' lifecycle tests: namespaces, a booted systemd.

For the packagers' tests (tap2deb's and tap2rpm's run their packages in a Debian root): each
function says why a kind of test cannot run here, or None when it can, so a test skips
naming the reason instead of failing on a machine that cannot give it (a chroot, an
unprivileged container).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["booted_systemd_skip_reason", "in_chroot", "namespaces_skip_reason"]


def namespaces_skip_reason() -> str | None:
    """Why ``unshare --pid --mount --root`` cannot run here (tried for real), or None."""
    try:
        tried = subprocess.run(
            ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "true"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"needs pid and mount namespaces (unshare: {err})"
    if tried.returncode != 0:
        detail = tried.stderr.strip().splitlines()[-1:] or [f"exit {tried.returncode}"]
        return f"needs pid and mount namespaces, which this machine refuses: {detail[0]}"
    return None


def booted_systemd_skip_reason() -> str | None:
    """Why systemd-nspawn cannot boot a container here, or None.

    systemd in the container needs a cgroup file system (unified or hybrid): a chroot without
    /sys mounted, or a container that hides it, cannot give that.
    """
    if in_chroot():
        return (
            "needs a booted systemd in systemd-nspawn, which cannot boot a container from "
            "inside a chroot (a process this one runs under has another root)"
        )
    cgroups = Path("/sys/fs/cgroup")
    if not cgroups.is_dir() or not any(cgroups.iterdir()):
        return (
            "needs a booted systemd in systemd-nspawn, which needs the cgroup file system at "
            "/sys/fs/cgroup: not mounted here (a chroot?)"
        )
    return namespaces_skip_reason()


def in_chroot() -> bool:
    """Whether this process runs in a chroot: an ancestor process has another root.

    (Process 1's root is the usual test, but a container may not let us look at it.)
    """
    ours = os.stat("/")
    pid = os.getppid()
    for _ in range(64):  # bounded: a process tree is never that deep
        if pid <= 1:
            return False
        try:
            theirs = os.stat(f"/proc/{pid}/root/")
            if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
                return True
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            pid = int(fields[1])
        except (OSError, ValueError, IndexError):
            return False  # no /proc, or no right to look: let the attempt itself tell
    return False
