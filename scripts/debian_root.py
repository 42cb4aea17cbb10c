"""Debian roots for running the test suite under another release's own python3.

The packages run on the target system's ``/usr/bin/python3``: Debian 12's 3.11.2 and Debian
13's 3.13. The noxfile runs the sessions of an interpreter this machine does not have (Debian
13's) inside a root of that release: ``debootstrap --variant=minbase`` plus python3 and the
Debian packages the tests use (``scripts/debian-packages.txt``), cached as a tarball in
/var/tmp keyed by the release and that list, unpacked once per nox run under ``.nox/roots``.

Inside, the suite runs as on a fresh machine: a copy of the working tree (not the host's
venvs, caches or dist/), ``scripts/nox`` making its own bootstrap venv, the host's resolver
and CA certificates (a machine whose registry traffic passes a TLS proxy needs its CA), and
/proc, /sys and /dev of the host. The mounts live in a private mount namespace, so nothing
is left mounted when the command ends, whatever way it ends.

Needs root, debootstrap and util-linux's unshare (scripts/test installs them).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/var/tmp")
MIRROR = os.environ.get("DEBOOTSTRAP_MIRROR", "http://deb.debian.org/debian")
BASE_INCLUDE = ("python3", "python3-venv", "ca-certificates")
# Where the working tree is copied inside a root (its own .venv-nox is kept there).
INSIDE = Path("/work/tap")
# Never copied in: the host's own environments, build outputs and caches.
EXCLUDE = {".git", ".nox", ".venv-nox", "dist", "bench-results", ".demo", ".hypothesis",
           ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}  # fmt: skip


def debian_packages() -> list[str]:
    """The Debian packages the test suite uses, from scripts/debian-packages.txt."""
    text = (ROOT / "scripts" / "debian-packages.txt").read_text(encoding="utf-8")
    return [word for line in text.splitlines() if not line.startswith("#") for word in line.split()]


def tarball(release: str) -> Path:
    """The cache file of ``release``'s root; its name changes when the package list does."""
    wanted = "\n".join([release, *BASE_INCLUDE, *debian_packages()]).encode()
    return CACHE / f"tap-tests-{release}-{hashlib.sha256(wanted).hexdigest()[:12]}.tar"


def _run(argv: list[str], what: str, timeout: float) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {tail}")


def _mounts_then(
    root: Path, command: str, *, bind_var_tmp: bool = False, pid_namespace: bool = True
) -> list[str]:
    """argv: a private mount namespace with the host's /proc, /sys, /dev, then chroot."""
    quoted = shlex.quote(str(root))
    # The root bound onto itself: inside it, "/" is then a mount point, as on a machine, so a
    # nested `unshare --propagation private` (another root, the lifecycle tests) works there.
    script = (
        "set -e\n"
        f"mount --bind {quoted} {quoted}\n"
        + (f"mount --bind /var/tmp {quoted}/var/tmp\n" if bind_var_tmp else "")
        + f"mount -t proc proc {quoted}/proc\n"
        f"mount --rbind /sys {quoted}/sys\n"
        f"mount --rbind /dev {quoted}/dev\n"
        f"mkdir -p {quoted}/dev/shm && mount -t tmpfs shm {quoted}/dev/shm\n"
        f"cp -L /etc/resolv.conf {quoted}/etc/resolv.conf\n"
        f"exec chroot {quoted} /bin/sh -c {shlex.quote(command)}\n"
    )
    pid = ["--pid", "--fork", "--kill-child"] if pid_namespace else []
    return ["unshare", "--mount", "--propagation", "private", *pid, "/bin/sh", "-c", script]


def host_ca_certificates(root: Path) -> None:
    """Copy the locally added CA certificates into the root (then update-ca-certificates)."""
    local = Path("/usr/local/share/ca-certificates")
    if local.is_dir():
        target = root / "usr/local/share/ca-certificates"
        target.mkdir(parents=True, exist_ok=True)
        for cert in local.glob("*.crt"):
            shutil.copy2(cert, target / cert.name)


def build_tarball(release: str) -> Path:
    """debootstrap ``release``, install the test suite's Debian packages, tar it; cached."""
    cached = tarball(release)
    if cached.is_file():
        return cached
    work = CACHE / f"{cached.stem}.work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_INCLUDE)}",
              release, str(work), MIRROR], f"debootstrap {release}", 1800)  # fmt: skip
        host_ca_certificates(work)
        packages = " ".join(shlex.quote(p) for p in debian_packages())
        install = (
            "export DEBIAN_FRONTEND=noninteractive; update-ca-certificates >/dev/null; "
            "apt-get update -qq && "
            f"apt-get install -y -qq --no-install-recommends {packages} >/dev/null && "
            "apt-get clean"
        )
        _run(_mounts_then(work, install), f"apt-get install in the {release} root", 1800)
        partial = cached.with_suffix(f".partial-{os.getpid()}")
        _run(["tar", "--numeric-owner", "-C", str(work), "-cf", str(partial), "."],
             f"tar of the {release} root", 600)  # fmt: skip
        partial.rename(cached)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return cached


def unpack(release: str, where: Path) -> Path:
    """A root of ``release`` at ``where`` (unpacked from the cache once; reused after)."""
    stamp = where / ".tap-root"
    source = build_tarball(release)
    if stamp.is_file() and stamp.read_text() == source.name:
        return where
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    _run(["tar", "--numeric-owner", "-C", str(where), "-xf", str(source)],
         f"unpacking the {release} root", 600)  # fmt: skip
    stamp.write_text(source.name)
    return where


def copy_tree(root: Path) -> Path:
    """The working tree (what is not excluded above) copied to INSIDE in the root."""
    target = root / INSIDE.relative_to("/")
    keep_venv = target / ".venv-nox"
    saved = None
    if keep_venv.is_dir():  # the root's own nox bootstrap survives between sessions
        saved = root / "tmp" / ".venv-nox-kept"
        shutil.rmtree(saved, ignore_errors=True)
        keep_venv.rename(saved)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT, target, symlinks=True,
                    ignore=lambda _dir, names: [n for n in names if n in EXCLUDE])  # fmt: skip
    if saved is not None:
        saved.rename(keep_venv)
    return target


def run_inside(
    root: Path,
    argv: list[str],
    env: dict[str, str] | None = None,
    *,
    bind_var_tmp: bool = True,
    pid_namespace: bool = True,
) -> int:
    """Run ``argv`` in the copied tree inside ``root``; the exit code.

    With ``bind_var_tmp`` the host's /var/tmp is bound into the root, so the package
    lifecycle tests there reuse the host's cached Debian 12 root instead of making their own.
    Without ``pid_namespace`` the root sees the host's processes, as a plain chroot does
    (and can tell it is one: processes it runs under have another root).
    """
    variables = {"HOME": "/root", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                 **{k: v for k, v in os.environ.items() if k in ("CI", "DEBOOTSTRAP_MIRROR")},
                 **(env or {})}  # fmt: skip
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())
    inner = f"cd {shlex.quote(str(INSIDE))} && exec env -i {exports} " + shlex.join(argv)
    argv_outer = _mounts_then(root, inner, bind_var_tmp=bind_var_tmp, pid_namespace=pid_namespace)
    return subprocess.run(argv_outer, check=False).returncode
