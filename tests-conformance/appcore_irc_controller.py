"""irctest's controller for the ``irc`` server type (appcore-irc), run by ``nox -s conformance``.

irctest (github.com/progval/irctest) starts one server per test through a controller: a
module with ``get_irctest_controller_class()``. This one runs the installed ``twistd`` with
the ``irc`` server type in the foreground, as an operator would::

    twistd -n -d DIR --pidfile '' -o irc --listen tcp:PORT:interface=127.0.0.1 ...

with the files irctest's tests expect: an operator ``operuser`` whose password is
``operpassword`` (an appcore password file, ``--opers``) and, when a test asks for one, the
server password (a password file too, ``--password-file``). Both hold scrypt hashes at the
lowest cost appcore accepts, so a test's logins stay quick.

This file is never shipped: it lives outside every package, and only the on-request
``conformance(irc)`` session puts it on ``PYTHONPATH``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController

from appcore import password_line

SERVER_NAME = "My.Little.Server"
SERVER_DESCRIPTION = "test server"
OPER_NAME, OPER_PASSWORD = "operuser", "operpassword"
# The lowest scrypt cost a password file may hold: tests log in often.
TEST_COST = 10


class AppcoreIrcController(BaseServerController, DirectoryBasedController):
    """Runs ``twistd -n irc`` in a fresh folder for each test."""

    software_name = "appcore-irc"
    supported_sasl_mechanisms: set[str] = set()
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: str | None,
        ssl: bool,
        run_services: bool,
        faketime: str | None,
        websocket_hostname: str | None,
        websocket_port: int | None,
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if ssl:
            raise NotImplementedByController("TLS")
        if run_services:
            raise NotImplementedByController("Services")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory is not None
        folder = Path(self.directory)
        opers = folder / "opers"
        opers.write_text(password_line(OPER_NAME, OPER_PASSWORD, log_n=TEST_COST) + "\n")
        # irctest hands out the wildcard address; clients reach a loopback listener through
        # it, and a server with a known operator password stays off the network.
        interface = "127.0.0.1" if hostname in ("", "0.0.0.0") else hostname
        command: list[Any] = [
            _program("twistd"),
            "-n",
            "-d",
            folder,
            "--pidfile",
            "",
            "-o",
            "irc",
            "--listen",
            f"tcp:{port}:interface={interface}",
            "--name",
            SERVER_NAME,
            "--description",
            SERVER_DESCRIPTION,  # LINKS' test expects what irctest's other configs say
            "--opers",
            opers,
            # irctest sends bursts of commands: no flood throttling gets in its way.
            "--flood-rate",
            "1000",
            "--flood-burst",
            "1000",
        ]
        if password is not None:
            secret = folder / "server-password"
            secret.write_text(password_line("server", password, log_n=TEST_COST) + "\n")
            command += ["--password-file", secret]
        self.proc = self.execute(command)


def _program(name: str) -> str:
    """The console script installed beside this interpreter (the session's venv), else on
    PATH: the tools under test are the ones installed with irctest."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed in this environment")
    return found


def get_irctest_controller_class() -> type[AppcoreIrcController]:
    """irctest's entry point: the controller class."""
    return AppcoreIrcController
