"""The telnet manhole's login limits: refused on the command line (64) and in a file (65)
when below their bounds, ``nan`` or infinite."""

from __future__ import annotations

from pathlib import Path

import pytest

from appcore import DataError, UsageError, dumps, loads
from appcore._passwords import password_line
from appcore_manhole._maker import telnet

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--failure-delay", "nan"),
        ("--failure-delay", "-inf"),
        ("--failure-delay", "-1"),
        ("--attempts", "0"),
        ("--login-timeout", "0"),
        ("--login-timeout", "nan"),
    ],  # fmt: skip
)
def test_bad_login_limits_are_usage_errors(tmp_path: Path, flag: str, value: str) -> None:
    with pytest.raises(UsageError, match=f"{flag}: must be"):
        telnet.options.parse(["--passwords", str(tmp_path / "p"), flag, value])


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("failure_delay", float("inf")),
        ("failure_delay", -1.0),
        ("attempts", 0),
        ("login_timeout", 0.0),
    ],
)
def test_a_file_with_a_bad_login_limit_is_refused(
    tmp_path: Path, fmt: str, name: str, value: object
) -> None:
    passwords = tmp_path / "manhole.passwd"
    passwords.write_text(password_line("alice", "secret", log_n=10) + "\n", encoding="utf-8")
    service = telnet.make_service(
        telnet.options.parse(["--passwords", str(passwords), "--listen", "tcp:0"])
    )
    setattr(service.factory, name, value)
    with pytest.raises(DataError, match=f"appcore_manhole:TelnetManholeFactory: {name} must be"):
        loads(dumps(service, fmt))  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
def test_an_ssh_manhole_file_with_a_bad_login_timeout_is_refused(tmp_path: Path, fmt: str) -> None:
    import asyncssh

    from appcore_manhole._maker import ssh_manhole

    keys = tmp_path / "authorized_keys"
    keys.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    service = ssh_manhole.make_service(
        ssh_manhole.options.parse(["--authorized-keys", str(keys), "--listen", "tcp:0"])
    )
    service.login_timeout = float("nan")  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="appcore_manhole:SSHManholeService: login_timeout must be"):
        loads(dumps(service, fmt))  # type: ignore[arg-type]
