"""The ``.spec`` file of a packaged application and the service files it installs.

Everything here is text rendered from an :class:`RpmPackage` and the bundled runtime; nothing
runs a tool. Paths are written out rather than taken from rpm macros: Debian's rpm lacks
``%_unitdir`` and the systemd scriptlet macros and sets ``%_sharedstatedir`` to ``/usr/com``,
so the same spec must mean the same layout on every rpmbuild. The installed layout:

- ``/etc/NAME/NAME.EXT``: the application file, ``%config(noreplace)``, readable by the user;
- ``/etc/sysconfig/NAME``: extra twistd options, ``%config(noreplace)``;
- ``/usr/lib/systemd/system/NAME.service``: a hardened ``Type=notify`` unit;
- ``/etc/rc.d/init.d/NAME``: a SysV init script (chkconfig and LSB headers) for older systems;
- ``/etc/logrotate.d/NAME``; logs in ``/var/log/NAME``, state in ``/var/lib/NAME``, both owned
  by the service user;
- ``/usr/lib/NAME/site``: the private Python runtime, ``/usr/lib/NAME/twistd`` its launcher.

The scriptlets are written out in POSIX sh and guard on ``$1`` (the number of instances left
after the operation): 1 in ``%post`` is an install, 0 in ``%preun``/``%postun`` an erase, so an
upgrade never stops or disables the service; it is restarted (``try-restart``) instead.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from appcore import (
    ApplicationInfo,
    Bundle,
    app_file_name,
    logrotate_text,
    service_twistd_args,
    systemd_unit,
)

UNIT_DIR = "/usr/lib/systemd/system"
INIT_DIR = "/etc/rc.d/init.d"
# payload codecs: zstd needs rpm 4.14 (EL 8, Fedora 31); xz and gzip read everywhere. Low
# levels: the runtime is tens of megabytes and higher levels cost seconds for a few percent.
PAYLOADS = {"zstd": "w3.zstdio", "xz": "w2.xzdio", "gzip": "w6.gzdio"}
# a bundled private library (auditwheel's ``libffi-1a2b3c4d.so.8``): the package provides it
_PRIVATE_LIB = re.compile(r"lib[^/]*\.so(\.[0-9.]+)?$")


@dataclass(frozen=True)
class RpmPackage:
    """Everything the spec and the service files are rendered from (all fields validated)."""

    name: str
    version: str
    release: str
    summary: str
    description: str
    packager: str  # "Name <email>"
    user: str
    app: ApplicationInfo
    changelog_date: str  # "Tue Nov 14 2023", the day of SOURCE_DATE_EPOCH
    license: str = "LicenseRef-Not-Specified"
    requires: tuple[str, ...] = ()
    tool_version: str = "unknown"
    compression: str = "zstd"  # a key of PAYLOADS

    @property
    def app_file_name(self) -> str:
        """The application file's installed name: the package name and its type's extension."""
        return app_file_name(self.name, self.app.file_type)

    @property
    def app_path(self) -> str:
        return f"/etc/{self.name}/{self.app_file_name}"

    @property
    def lib_dir(self) -> str:
        return f"/usr/lib/{self.name}"

    @property
    def source_dir(self) -> str:
        """The top folder of the source tarball (``%setup``'s default)."""
        return f"{self.name}-{self.version}"

    @property
    def twistd_args(self) -> str:
        """The options both init systems give twistd: log file, run folder, the application."""
        return service_twistd_args(self.name, self.app)


def python_for(bundle: Bundle) -> tuple[str, str]:
    """The launcher's interpreter and the ``python(abi)`` requirement for ``bundle``.

    Compiled modules load only in the Python version they were built for: then the launcher
    names that exact interpreter (``/usr/bin/python3.11``, which EL systems install beside an
    older ``python3``); a pure-Python runtime takes any ``python3`` new enough for appcore.
    """
    if bundle.python_abi is not None:
        version = f"{bundle.python_abi[0]}.{bundle.python_abi[1:]}"
        return f"/usr/bin/python{version}", f"python(abi) = {version}"
    return "/usr/bin/python3", "python(abi) >= 3.11"


def private_libraries(site: Path) -> list[str]:
    """File names of shared libraries bundled in the runtime (not Python extension modules)."""
    return sorted({p.name for p in site.rglob("lib*.so*") if _PRIVATE_LIB.search(p.name)})


def _escape(text: str) -> str:
    """Text for the spec: a literal ``%`` is ``%%`` (rpm would expand it as a macro)."""
    return text.replace("%", "%%")


def _wrap(text: str) -> str:
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return "\n\n".join("\n".join(textwrap.wrap(p, 79)) for p in paragraphs)


def render_spec(pkg: RpmPackage, bundle: Bundle, libraries: list[str] | None = None) -> str:
    """The ``.spec`` text. ``libraries`` are bundled shared libraries to keep out of Requires."""
    n, user = pkg.name, pkg.user
    _python, abi = python_for(bundle)
    requires = "".join(f"Requires:       {_escape(r)}\n" for r in pkg.requires)
    arch = "" if bundle.has_binaries else "BuildArch:      noarch\n"
    exclude = ""
    if libraries:
        alternatives = "|".join(re.escape(lib) for lib in libraries)
        exclude = f"%global __requires_exclude ^({_escape(alternatives)})\n"
    return f"""\
# Generated by tap2rpm {pkg.tool_version} from {_escape(pkg.app.path.name)}.
# Reproducible: built files take their mtimes and the build time from SOURCE_DATE_EPOCH
# (or, when it is not set, from the %%changelog date) and the build host is not recorded.
%global _buildhost reproducible
%global source_date_epoch_from_changelog 1
%global clamp_mtime_to_source_date_epoch 1
%global use_source_date_epoch_as_buildtime 1
%global _source_payload {PAYLOADS[pkg.compression]}
%global _binary_payload {PAYLOADS[pkg.compression]}
# The runtime ships exactly as it was bundled and tested: no stripping, no byte-compiling,
# no debuginfo package, no /usr/lib/.build-id links (they would clash with other packages
# bundling the same wheels).
%global __os_install_post %{{nil}}
%global debug_package %{{nil}}
%global _build_id_links none
# The private runtime provides nothing to the rest of the system.
%global __provides_exclude_from ^{pkg.lib_dir}/site/.*$
{exclude}
Name:           {n}
Version:        {pkg.version}
Release:        {pkg.release}
Summary:        {_escape(pkg.summary)}
License:        {_escape(pkg.license)}
Packager:       {_escape(pkg.packager)}
Source0:        %{{name}}-%{{version}}.tar
{arch}
Requires:       {abi}
Requires:       logrotate
Requires(pre):  /usr/bin/getent
Requires(pre):  /usr/sbin/groupadd
Requires(pre):  /usr/sbin/useradd
{requires}
%description
{_escape(_wrap(pkg.description))}

# The scripts name the build folders by rpm's environment variables, not by macros: the
# source RPM records the expanded spec, which must not depend on where it was built.
%prep
cd "$RPM_BUILD_DIR"
rm -rf {pkg.source_dir}
tar -xof "$RPM_SOURCE_DIR/{pkg.source_dir}.tar"

%build
# Nothing to compile: tap2rpm collected the runtime into the source tarball.

%install
cd "$RPM_BUILD_DIR/{pkg.source_dir}"
install -D -m 0640 app/{pkg.app_file_name} "$RPM_BUILD_ROOT"{pkg.app_path}
install -d -m 0755 "$RPM_BUILD_ROOT"{pkg.lib_dir}
cp -R runtime/site "$RPM_BUILD_ROOT"{pkg.lib_dir}/site
install -m 0755 runtime/twistd "$RPM_BUILD_ROOT"{pkg.lib_dir}/twistd
install -D -m 0644 service/{n}.service "$RPM_BUILD_ROOT"{UNIT_DIR}/{n}.service
install -D -m 0755 service/{n}.init "$RPM_BUILD_ROOT"{INIT_DIR}/{n}
install -D -m 0644 service/{n}.sysconfig "$RPM_BUILD_ROOT"/etc/sysconfig/{n}
install -D -m 0644 service/{n}.logrotate "$RPM_BUILD_ROOT"/etc/logrotate.d/{n}
install -d -m 0750 "$RPM_BUILD_ROOT"/var/log/{n} "$RPM_BUILD_ROOT"/var/lib/{n}

%pre
# The service user owns the log and state folders below: create it before they are unpacked.
getent group {user} >/dev/null || groupadd -r {user}
getent passwd {user} >/dev/null || \\
    useradd -r -g {user} -d /var/lib/{n} -s /sbin/nologin -c "{n} service" {user}
exit 0

%post
# $1 = 1: first install (enable and start); 2 or more: upgrade (%%postun restarts)
if command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
    if [ "$1" -eq 1 ]; then
        systemctl enable {n}.service >/dev/null 2>&1 || :
        # without a running systemd (a chroot, an image build) it starts at the next boot
        if [ -d /run/systemd/system ]; then
            systemctl start {n}.service || :
        fi
    fi
elif [ -x /sbin/chkconfig ]; then
    if [ "$1" -eq 1 ]; then
        /sbin/chkconfig --add {n}
        /sbin/service {n} start >/dev/null 2>&1 || :
    fi
fi
exit 0

%preun
# $1 = 0: erase (stop and disable); 1 or more: upgrade (leave it running)
if [ "$1" -eq 0 ]; then
    if command -v systemctl >/dev/null 2>&1; then
        if [ -d /run/systemd/system ]; then
            systemctl stop {n}.service || :
        fi
        systemctl --no-reload disable {n}.service >/dev/null 2>&1 || :
    elif [ -x /sbin/chkconfig ]; then
        /sbin/service {n} stop >/dev/null 2>&1 || :
        /sbin/chkconfig --del {n}
    fi
fi
exit 0

%postun
# $1 = 1 or more: upgrade, the new files are in place; restart only if it was running
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart {n}.service || :
    fi
elif [ "$1" -ge 1 ] && [ -x /sbin/service ]; then
    /sbin/service {n} condrestart >/dev/null 2>&1 || :
fi
exit 0

%files
%dir /etc/{n}
%config(noreplace) %attr(0640, root, {user}) {pkg.app_path}
%config(noreplace) /etc/sysconfig/{n}
%config(noreplace) /etc/logrotate.d/{n}
{INIT_DIR}/{n}
{UNIT_DIR}/{n}.service
{pkg.lib_dir}
%dir %attr(0750, {user}, {user}) /var/log/{n}
%dir %attr(0750, {user}, {user}) /var/lib/{n}

%changelog
* {pkg.changelog_date} {_escape(pkg.packager)} - {pkg.version}-{pkg.release}
- Package {_escape(pkg.app.path.name)} with tap2rpm {pkg.tool_version}.
"""


def init_script(pkg: RpmPackage) -> str:
    """A SysV init script for systems without systemd; twistd daemonizes itself.

    twistd binds the ports and writes the pid file as root, then runs as the service user.
    It needs nothing from ``/etc/rc.d/init.d/functions``, so it also runs where that is absent.
    """
    n, user = pkg.name, pkg.user
    return f"""\
#!/bin/sh
#
# {n}: {pkg.summary}
#
# chkconfig:   2345 85 15
# description: Runs {pkg.app_path} with twistd as the user {user}.
# processname: twistd
# config:      /etc/sysconfig/{n}
# pidfile:     /var/run/{n}.pid
#
### BEGIN INIT INFO
# Provides:          {n}
# Required-Start:    $local_fs $remote_fs $network $syslog
# Required-Stop:     $local_fs $remote_fs $network $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {pkg.summary}
# Description:       Runs {pkg.app_path} with twistd as the user {user}.
### END INIT INFO

PATH=/sbin:/usr/sbin:/bin:/usr/bin
NAME={n}
DAEMON={pkg.lib_dir}/twistd
PIDFILE=/var/run/$NAME.pid
LOCKFILE=/var/lock/subsys/$NAME
TWISTD_OPTIONS=""
[ -r /etc/sysconfig/$NAME ] && . /etc/sysconfig/$NAME

running() {{
    [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}}

start() {{
    [ -x "$DAEMON" ] || exit 5
    running && return 0
    printf 'Starting %s: ' "$NAME"
    install -d -o {user} -g {user} -m 0750 /var/lib/$NAME /var/log/$NAME
    # twistd returns once the application runs (or failed to start), as a daemon
    "$DAEMON" --pidfile="$PIDFILE" --uid={user} --gid={user} --umask=027 \\
        {pkg.twistd_args} $TWISTD_OPTIONS
    rc=$?
    if [ $rc -eq 0 ]; then
        [ -d /var/lock/subsys ] && touch "$LOCKFILE"
        echo OK
    else
        echo FAILED
    fi
    return $rc
}}

stop() {{
    printf 'Stopping %s: ' "$NAME"
    if running; then
        pid=$(cat "$PIDFILE")
        kill -TERM "$pid"
        # up to 30 seconds for a clean shutdown, then kill
        tries=0
        while kill -0 "$pid" 2>/dev/null; do
            tries=$((tries + 1))
            if [ $tries -ge 300 ]; then
                kill -KILL "$pid" 2>/dev/null
                break
            fi
            sleep 0.1
        done
    fi
    rm -f "$PIDFILE" "$LOCKFILE"
    echo OK
    return 0
}}

status() {{
    if running; then
        echo "$NAME (pid $(cat "$PIDFILE")) is running"
        return 0
    elif [ -f "$PIDFILE" ]; then
        echo "$NAME is dead but its pid file exists"
        return 1
    elif [ -f "$LOCKFILE" ]; then
        echo "$NAME is dead but subsys is locked"
        return 2
    fi
    echo "$NAME is stopped"
    return 3
}}

case "$1" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart|reload|force-reload) stop; start ;;
    condrestart|try-restart) if running; then stop; start; fi ;;
    *)
        echo "Usage: $0 {{start|stop|status|restart|condrestart|try-restart|force-reload}}" >&2
        exit 2
        ;;
esac
exit $?
"""


def sysconfig_file(pkg: RpmPackage) -> str:
    n = pkg.name
    return f"""\
# Settings for the {n} service, read by {n}.service and {INIT_DIR}/{n}.
# Extra twistd options, added after the packaged ones (see {pkg.lib_dir}/twistd --help),
# for example TWISTD_OPTIONS="--reactor=uvloop".
TWISTD_OPTIONS=""
"""


def service_files(pkg: RpmPackage) -> dict[str, tuple[str, int]]:
    """The files of the tarball's ``service/`` folder: name -> (text, mode)."""
    n = pkg.name
    return {
        f"{n}.service": (
            systemd_unit(
                name=n,
                description=pkg.summary,
                user=pkg.user,
                launcher=f"{pkg.lib_dir}/twistd",
                twistd_args=pkg.twistd_args,
                options_file=f"/etc/sysconfig/{n}",
            ),
            0o644,
        ),
        f"{n}.init": (init_script(pkg), 0o755),
        f"{n}.sysconfig": (sysconfig_file(pkg), 0o644),
        f"{n}.logrotate": (logrotate_text(n, pkg.user), 0o644),
    }
