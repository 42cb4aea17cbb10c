"""The packages' whole life in a real Debian 12 root: install, start, answer, upgrade, remove,
purge; first under the SysV runlevel policy of the real invoke-rc.d, then under a real systemd
booted in a systemd-nspawn container. A real client on 127.0.0.1 talks to the service (the
root shares the host's network)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REASON = None
if os.geteuid() != 0:
    REASON = "needs root (unshare --root, systemd-nspawn, dpkg -i in a debootstrap root)"

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
]
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
    "TERM": "dumb",
}
REAPER = """
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.1)
"""
FAKE_RUNLEVEL = (
    '#!/bin/sh\n# test stand-in for sysvinit\'s runlevel\necho "N $(cat /etc/test-runlevel)"\n'
)


def _child_of(parent: int, timeout: float = 10) -> int:
    """The pid of ``parent``'s first child (the namespace's init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False
        ).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.05)
    pytest.fail(f"process {parent} started no child within {timeout}s")


class SysvRoot:
    """A root with its own pid and mount namespaces (``unshare --root``), driven by nsenter."""

    def __init__(self, root: Path) -> None:
        self.root = root
        runlevel = root / "usr/sbin/runlevel"
        runlevel.unlink(missing_ok=True)  # systemd-sysv's link to systemctl
        runlevel.write_text(FAKE_RUNLEVEL)
        runlevel.chmod(0o755)
        self.set_runlevel(2)
        # The namespace's init must reap orphans as a real init does: a stopped daemon left
        # as a zombie would look alive to start-stop-daemon and fail every restart.
        self.holder = subprocess.Popen(
            ["unshare", "--pid", "--mount", "--fork", f"--root={root}", "--mount-proc",
             "python3", "-c", REAPER],
            stdin=subprocess.DEVNULL, env=ENV,
        )  # fmt: skip
        self.init_pid = _child_of(self.holder.pid)

    def set_runlevel(self, level: int) -> None:
        (self.root / "etc/test-runlevel").write_text(f"{level}\n")

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["nsenter", "-t", str(self.init_pid), "-p", "-m", "-r", "-w", "sh", "-c", command],
            env=ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
            check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        return result

    def service_pid(self) -> int | None:
        pidfile = self.root / "run/echo.pid"
        if not pidfile.is_file():
            return None
        pid = int(pidfile.read_text())
        return pid if self.sh(f"kill -0 {pid}", check=False).returncode == 0 else None

    def close(self) -> None:
        # killing the namespace's init (not unshare, its parent) ends every process in it
        try:
            os.kill(self.init_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.holder.wait(timeout=30)


def _copy_debs(root: Path, *debs: Path) -> list[str]:
    paths = []
    for deb in debs:
        target = root / "var/tmp" / deb.name
        target.write_bytes(deb.read_bytes())
        paths.append(f"/var/tmp/{deb.name}")
    return paths


def _user_exists(box: Any, name: str = "echo") -> bool:
    return bool(box.sh(f"getent passwd {name}", check=False).returncode == 0)


@pytest.mark.usefixtures("namespaces")
def test_sysv_lifecycle(
    rootfs: Path, built: dict[str, Any], built_v2: Any, port: int, kit: SimpleNamespace
) -> None:
    v1, v2 = _copy_debs(rootfs, built["tap"].deb, built_v2.deb)
    box = SysvRoot(rootfs)
    try:
        # install in runlevel 2: the real invoke-rc.d starts it; a real client gets an echo
        box.sh(f"dpkg -i {v1}")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer after install")
        assert _user_exists(box)
        assert box.sh("/etc/init.d/echo status", check=False).returncode == 0
        assert (rootfs / "var/log/echo/echo.log").is_file()
        first = box.service_pid()
        assert first is not None

        # upgrade: restarted (a new process), a locally edited conffile is kept
        default = rootfs / "etc/default/echo"
        default.write_text(default.read_text() + "# edited by the administrator\n")
        box.sh(f"dpkg -i {v2}")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer after upgrade")
        second = box.service_pid()
        assert second is not None
        assert second != first
        assert "# edited by the administrator" in default.read_text()
        assert box.sh("dpkg-query -W -f '${Version}' echo").stdout == "2.0-1"

        # remove: stopped, but user and conffiles stay until purge
        box.sh("dpkg -r echo")
        assert not kit.echo_answers(port)
        assert box.sh(f"kill -0 {second}", check=False).returncode != 0
        assert default.is_file()
        assert _user_exists(box)

        # purge: no user, group, logs, state or configuration left
        box.sh("dpkg -P echo")
        assert not _user_exists(box)
        assert box.sh("getent group echo", check=False).returncode != 0
        for gone in ("var/log/echo", "var/lib/echo", "etc/echo", "etc/default/echo"):
            assert not (rootfs / gone).exists(), gone

        # runlevel 1: installing does not start it; the policy, not the script, decided
        box.set_runlevel(1)
        box.sh(f"dpkg -i {v1}")
        time.sleep(1)
        assert not kit.echo_answers(port)
        assert box.sh("/etc/init.d/echo status", check=False).returncode != 0
        box.set_runlevel(2)
        box.sh("invoke-rc.d echo start")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer in runlevel 2")
        box.sh("dpkg -P echo")
        assert not kit.echo_answers(port)
    finally:
        box.close()


class Container:
    """A Debian 12 root booted with systemd in systemd-nspawn, driven with nsenter."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["systemd-nspawn", "--register=no", "--keep-unit", "--quiet",
                 "--console=passive", "-D", str(self.root), "--boot"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.leader = _child_of(self.process.pid)
        deadline = time.monotonic() + 60
        while True:
            state = self.sh("systemctl is-system-running --wait", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the container did not boot: {state!r}; see {self.log}")
            time.sleep(0.2)

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "sh", "-c", command],
            env=ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
            check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        return result

    def shut_down(self, verb: str) -> None:
        assert self.process is not None
        self.sh(f"systemctl {verb}", check=False)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            pytest.fail(f"the container did not {verb} within 60s")

    def close(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # nspawn asks the container's systemd to power off
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            try:
                os.kill(self.leader, signal.SIGKILL)  # the container's init: all of it
            except ProcessLookupError:
                pass
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.mark.usefixtures("booted_systemd")
def test_systemd_lifecycle(
    rootfs: Path, built: dict[str, Any], port: int, kit: SimpleNamespace, tmp_path: Path
) -> None:
    (v1,) = _copy_debs(rootfs, built["python"].deb)
    box = Container(rootfs, tmp_path / "nspawn.log")
    try:
        box.boot()
        box.sh(f"dpkg -i {v1}")
        assert box.sh("systemctl is-enabled echo.service").stdout.strip() == "enabled"
        assert box.sh("systemctl is-active echo.service").stdout.strip() == "active"
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer under systemd")
        status = box.sh("systemctl show -p User -p Type -p NoNewPrivileges echo.service").stdout
        assert "User=echo" in status
        assert "Type=notify" in status
        assert "NoNewPrivileges=yes" in status

        # a reboot of the container brings it back
        box.shut_down("reboot")
        box.boot()
        assert box.sh("systemctl is-active echo.service").stdout.strip() == "active"
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer after reboot")

        box.sh("dpkg -r echo")
        assert box.sh("systemctl is-active echo.service", check=False).stdout.strip() != "active"
        assert not kit.echo_answers(port)
        box.sh("dpkg -P echo")
        assert box.sh("getent passwd echo", check=False).returncode != 0
        assert not (rootfs / "var/lib/echo").exists()
        box.shut_down("poweroff")
    finally:
        box.close()
