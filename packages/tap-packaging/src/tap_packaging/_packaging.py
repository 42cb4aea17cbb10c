"""What tap2deb and tap2rpm share beyond the runtime bundle: service files and build steps.

Both packagers install an application the same way: the application file in ``/etc/NAME/``,
the private runtime and its launcher in ``/usr/lib/NAME/``, logs in ``/var/log/NAME/`` and
state in ``/var/lib/NAME/``, run by twistd under a system user. This module renders the files
that follow from that layout alike for both (the systemd unit, the logrotate file) and holds
the build steps they share: the signing-key check, the reproducible tarball, the build's
staging folder and the choice of the distributions to bundle. What differs on purpose (init
scripts, maintainer scripts or scriptlets, the options file's text) stays in each tool.
"""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from appcore import CantCreateError, UnavailableError, UsageError
from tap_packaging._appinfo import ApplicationInfo, FileType
from tap_packaging._bundle import module_distributions

TarCompression = Literal["xz"]
# installed application file: NAME plus the extension of its type
APP_EXTENSIONS: dict[FileType, str] = {
    "tap": ".tap",
    "xml": ".tax",
    "source": ".tas",
    "python": ".py",
}
# what every packaged runtime holds besides the application's own distributions
RUNTIME_BASE = ("appcore", "twistd")


def source_date_epoch(environ: Mapping[str, str] | None = None) -> int:
    """``SOURCE_DATE_EPOCH`` from the environment, or now when it is not set.

    A value that is not a whole number of seconds is a :class:`UsageError`: a reproducible
    build must not quietly fall back to the clock.
    """
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH")
    if value is None:
        return int(time.time())
    if not value.isdigit():
        raise UsageError(f"invalid SOURCE_DATE_EPOCH {value!r}: expected seconds since 1970")
    return int(value)


def one_line(text: str, what: str, limit: int) -> str:
    """``text`` stripped, if it is one non-empty line of at most ``limit`` characters."""
    text = text.strip()
    if not text or "\n" in text or len(text) > limit:
        raise UsageError(f"invalid {what}: one non-empty line of at most {limit} characters")
    return text


def app_file_name(name: str, file_type: FileType) -> str:
    """The installed application file's name: the package name and its type's extension."""
    return name + APP_EXTENSIONS[file_type]


def service_twistd_args(name: str, app: ApplicationInfo) -> str:
    """twistd's options in both init systems: no save, the log file, the run folder, the app.

    Foreground and pid-file options are each init system's own; these are common to all.
    """
    return (
        f"--no_save --logfile=/var/log/{name}/{name}.log --rundir=/var/lib/{name} "
        f"{app.twistd_flag} /etc/{name}/{app_file_name(name, app.file_type)}"
    )


class ServicePaths:
    """Where a packaged service lives, from its package name and application file.

    Both packagers' package descriptions derive from this (as frozen dataclasses with the
    fields ``name`` and ``app``), so the layout is the same for .deb and .rpm.
    """

    name: str
    app: ApplicationInfo

    @property
    def app_file_name(self) -> str:
        """The installed application file's name: the package name and its type's extension."""
        return app_file_name(self.name, self.app.file_type)

    @property
    def app_path(self) -> str:
        """The application file, installed as a configuration file."""
        return f"/etc/{self.name}/{self.app_file_name}"

    @property
    def lib_dir(self) -> str:
        """The private folder holding the bundled runtime and the twistd launcher."""
        return f"/usr/lib/{self.name}"

    @property
    def twistd_args(self) -> str:
        """twistd's options common to both init systems (see :func:`service_twistd_args`)."""
        return service_twistd_args(self.name, self.app)


def runtime_distributions(
    modules: Iterable[str], extra: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """The distributions to bundle for an application, and the modules none provides.

    The runtime always holds appcore and twistd, plus the distribution of every module the
    application's objects come from and the ``extra`` ones asked for. The caller reports the
    modules no installed distribution provides (they cannot be bundled).
    """
    wanted = set(modules)
    owners = module_distributions(wanted)
    unowned = sorted(wanted - set(owners))
    return sorted({*RUNTIME_BASE, *owners.values(), *extra}), unowned


def systemd_unit(
    *,
    name: str,
    description: str,
    user: str,
    launcher: str,
    twistd_args: str,
    options_file: str,
) -> str:
    """A hardened ``Type=notify`` unit: twistd reports readiness once its ports are bound.

    ``options_file`` is the optional environment file with ``TWISTD_OPTIONS``
    (``/etc/default/NAME`` on Debian, ``/etc/sysconfig/NAME`` on RPM systems).
    """
    return f"""\
[Unit]
Description={description}
After=network.target

[Service]
Type=notify
NotifyAccess=main
User={user}
Group={user}
EnvironmentFile=-{options_file}
ExecStart={launcher} --nodaemon --pidfile= {twistd_args} $TWISTD_OPTIONS
Restart=on-failure
WorkingDirectory=/var/lib/{name}
# the package owns these folders with mode 0750; systemd would otherwise make them 0755
StateDirectory={name}
StateDirectoryMode=0750
LogsDirectory={name}
LogsDirectoryMode=0750
UMask=0027
# Bind ports below 1024 without running as root; nothing else is allowed.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
"""


def logrotate_text(name: str, user: str) -> str:
    """``/etc/logrotate.d/NAME``: weekly, eight weeks kept, rotated as the service user."""
    # copytruncate: twistd keeps its log file open; the folder belongs to the service user.
    return f"""\
/var/log/{name}/*.log {{
    weekly
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
    su {user} {user}
}}
"""


def check_signing_key(key: str) -> None:
    """Fail early, before anything is built, when gpg has no secret key for ``key``."""
    if shutil.which("gpg") is None:
        raise UnavailableError(
            "gpg not found to sign the packages: install the Debian package gnupg, "
            "or pass -u/--unsigned to build unsigned packages"
        )
    result = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys", key],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not any(
        line.startswith("sec:") for line in result.stdout.splitlines()
    ):
        raise UnavailableError(
            f"no GPG secret key for {key!r} to sign the packages; pass -u/--unsigned to "
            "build unsigned packages, or --sign-key KEYID to choose a key"
        )


def _tar_entries(tree: Path, parts: Iterable[str] | None) -> list[Path]:
    """The paths to archive, in archive order: each top entry, then what is below it, sorted."""
    tops = [tree] if parts is None else [tree / part for part in sorted(parts)]
    entries: list[Path] = []
    for top in tops:
        entries.append(top)
        entries.extend(sorted(top.rglob("*"), key=lambda p: p.relative_to(tree).as_posix()))
    return entries


def _write_tar(out: IO[bytes], tree: Path, parts: Iterable[str] | None, mtime: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in _tar_entries(tree, parts):
            name = tree.name if path == tree else f"{tree.name}/{path.relative_to(tree).as_posix()}"
            info = tar.gettarinfo(str(path), name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = mtime
            if info.isdir():
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                with path.open("rb") as handle:
                    tar.addfile(info, handle)


def write_reproducible_tar(
    tree: Path,
    target: Path,
    mtime: int,
    *,
    parts: Iterable[str] | None = None,
    compression: TarCompression | None = None,
) -> None:
    """A tarball of ``tree`` that depends only on its files' contents and ``mtime``.

    Entries are sorted, owned by root, in GNU format, with ``mtime`` and modes 0755 or 0644
    (executable or not). Names start with ``tree``'s own name; ``parts`` limits the archive
    to those entries of ``tree`` (without ``tree`` itself). ``compression="xz"`` compresses
    with xz at preset 1; the default leaves it uncompressed. Written atomically.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            if compression == "xz":
                # preset 1: a runtime is tens of megabytes; preset 6 costs seconds for a few
                # percent
                with lzma.LZMAFile(raw, "wb", preset=1) as packed:
                    _write_tar(packed, tree, parts, mtime)
            else:
                _write_tar(raw, tree, parts, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def staging_folder(output_dir: Path, tool: str) -> Iterator[Path]:
    """A hidden work folder inside ``output_dir``, removed afterwards.

    So that a failed build leaves the output folder as it was, an output folder this call
    created is removed too when the body raises. The body moves what it made into place.
    """
    created = not output_dir.exists()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{tool}-", dir=output_dir))
    except OSError as err:
        raise CantCreateError(f"cannot create the output folder {output_dir}: {err}") from err
    try:
        yield staging
    except BaseException:
        if created:
            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
