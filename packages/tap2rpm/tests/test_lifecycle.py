"""The scriptlets really run, in a real Debian 12 root.

1. ``rpm -i --root`` from the host into a debootstrap root without a running init: the user
   is created before the files that it owns are unpacked, the service is enabled offline,
   the config files are in place; ``rpm -e --root`` disables it and keeps the user.
2. The same root booted with a real systemd in systemd-nspawn, rpm run inside it: installed,
   the service is enabled, active and answers a real client on 127.0.0.1 (the container
   shares the host's network); the SysV init script runs it too; an upgrade restarts it and
   keeps edited config files (the new version beside them as .rpmnew); erase stops it.

The Debian root's rpm database knows none of its packages, so installs use ``--nodeps``;
``--force-debian`` silences Debian's "use alien" warning.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REASON = None
if os.geteuid() != 0:
    REASON = "needs root (rpm --root and systemd-nspawn in a debootstrap root)"

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
]
RPM = ["rpm", "--dbpath", "/var/lib/rpm", "--force-debian"]


def _in_root(root: Path, command: str, kit: SimpleNamespace) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(root), "sh", "-c", command],
        env=kit.chroot_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_rpm_root_scriptlets(rootfs: Path, built: dict[str, Any], kit: SimpleNamespace) -> None:
    rpm = built["tap"].rpm
    kit.run(*RPM, "--root", str(rootfs), "--nodeps", "-i", str(rpm))

    # %pre made a system user and group, which own the log and state folders
    user = _in_root(rootfs, "getent passwd echo", kit).stdout.strip().split(":")
    assert user[0] == "echo"
    assert int(user[2]) < 1000, user  # a system user
    assert user[5] == "/var/lib/echo"
    assert _in_root(rootfs, "getent group echo", kit).returncode == 0
    owners = _in_root(rootfs, "stat -c '%U:%G %a %n' /var/lib/echo /var/log/echo "
                      "/etc/echo/echo.tap", kit).stdout.splitlines()  # fmt: skip
    assert owners == [
        "echo:echo 750 /var/lib/echo",
        "echo:echo 750 /var/log/echo",
        "root:echo 640 /etc/echo/echo.tap",
    ]
    # %post enabled the unit offline (no systemd runs in a chroot) and started nothing
    wants = rootfs / "etc/systemd/system/multi-user.target.wants/echo.service"
    assert wants.is_symlink()
    assert (rootfs / "etc/sysconfig/echo").is_file()
    listed = kit.run(*RPM, "--root", str(rootfs), "-qa")
    assert "echo-1.0-1" in listed
    kit.run(*RPM, "--root", str(rootfs), "-V", "--nodeps", "echo")  # everything as packaged

    # the launcher starts twistd from the private runtime with the root's own python3
    version = _in_root(rootfs, "/usr/lib/echo/twistd --version", kit)
    assert version.returncode == 0, version.stderr
    assert "twistd" in version.stdout

    # erase: disabled, files gone, the user stays (never reuse a uid that owned files)
    kit.run(*RPM, "--root", str(rootfs), "-e", "echo")
    assert not wants.is_symlink()
    assert not (rootfs / "usr/lib/echo").exists()
    assert not (rootfs / "usr/lib/systemd/system/echo.service").exists()
    assert not (rootfs / "var/lib/echo").exists()
    assert _in_root(rootfs, "getent passwd echo", kit).returncode == 0


def _child_of(parent: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False
        ).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.05)
    pytest.fail(f"process {parent} started no child within {timeout}s")


class Container:
    """A Debian 12 root booted with systemd in systemd-nspawn, driven with nsenter."""

    def __init__(self, root: Path, log: Path, env: dict[str, str]) -> None:
        self.root = root
        self.log = log
        self.env = env
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
            env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        return result

    def unit(self, prop: str) -> str:
        return self.sh(f"systemctl show -p {prop} --value echo.service").stdout.strip()

    def poweroff(self) -> None:
        assert self.process is not None
        self.sh("systemctl poweroff", check=False)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            pytest.fail("the container did not power off within 60s")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.mark.usefixtures("booted_systemd")
def test_systemd_lifecycle(
    rpm_rootfs: Path,
    built: dict[str, Any],
    built_v2: Any,
    port: int,
    kit: SimpleNamespace,
    tmp_path: Path,
) -> None:
    for package in (built["python"].rpm, built_v2.rpm):
        shutil.copyfile(package, rpm_rootfs / "var/tmp" / package.name)
    v1, v2 = (f"/var/tmp/{p.name}" for p in (built["python"].rpm, built_v2.rpm))
    rpm = " ".join(RPM)
    box = Container(rpm_rootfs, tmp_path / "nspawn.log", kit.chroot_env)
    try:
        box.boot()
        assert not kit.echo_answers(port)

        # install: user created, unit enabled and started, a real client gets its echo
        box.sh(f"{rpm} --nodeps -i {v1}")
        assert box.sh("getent passwd echo", check=False).returncode == 0
        assert box.sh("systemctl is-enabled echo.service").stdout.strip() == "enabled"
        kit.wait_for(lambda: box.unit("ActiveState") == "active", 20, "echo.service active")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer after install")
        assert box.unit("User") == "echo"
        assert box.unit("Type") == "notify"
        assert box.unit("NoNewPrivileges") == "yes"
        first = box.unit("MainPID")
        assert first != "0"
        assert box.sh(f"stat -c %U /proc/{first}").stdout.strip() == "echo"
        assert (rpm_rootfs / "var/log/echo/echo.log").is_file()

        # the SysV init script runs it as well (for systems without systemd)
        box.sh("systemctl stop echo.service")
        kit.wait_for(lambda: not kit.echo_answers(port), 20, "the service to stop")
        box.sh("/etc/rc.d/init.d/echo start")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the SysV-started service to answer")
        assert box.sh("/etc/rc.d/init.d/echo status", check=False).returncode == 0
        box.sh("/etc/rc.d/init.d/echo stop")
        assert box.sh("/etc/rc.d/init.d/echo status", check=False).returncode == 3
        assert not kit.echo_answers(port)
        box.sh("systemctl start echo.service")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer again")
        first = box.unit("MainPID")

        # upgrade: restarted (a new process), still enabled, edited config files kept
        sysconfig = rpm_rootfs / "etc/sysconfig/echo"
        app_file = rpm_rootfs / "etc/echo/echo.py"
        sysconfig.write_text(sysconfig.read_text() + "# edited by the administrator\n")
        app_file.write_text(app_file.read_text() + "# edited by the administrator\n")
        box.sh(f"{rpm} --nodeps -U {v2}")
        kit.wait_for(lambda: box.unit("ActiveState") == "active", 20, "active after upgrade")
        kit.wait_for(lambda: kit.echo_answers(port), 20, "the service to answer after upgrade")
        assert box.unit("MainPID") not in ("0", first)
        assert box.sh("systemctl is-enabled echo.service").stdout.strip() == "enabled"
        assert box.sh(f"{rpm} -q --qf '%{{VERSION}}-%{{RELEASE}}' echo").stdout == "2.0-1"
        assert "# edited by the administrator" in sysconfig.read_text()
        assert "# edited by the administrator" in app_file.read_text()
        # the app file changed in 2.0: the packaged one waits beside the edited one
        rpmnew = rpm_rootfs / "etc/echo/echo.py.rpmnew"
        assert rpmnew.is_file()
        assert "# version 2" in rpmnew.read_text()
        assert "# version 2" not in app_file.read_text()
        # the sysconfig file did not change between versions: nothing to set aside
        assert not (rpm_rootfs / "etc/sysconfig/echo.rpmnew").exists()

        # erase: stopped and disabled, the user stays
        box.sh(f"{rpm} -e echo")
        assert box.unit("ActiveState") != "active"
        assert not kit.echo_answers(port)
        assert box.sh("systemctl is-enabled echo.service", check=False).returncode != 0
        assert not (rpm_rootfs / "usr/lib/echo").exists()
        assert box.sh("getent passwd echo", check=False).returncode == 0
        box.poweroff()
    finally:
        box.close()
