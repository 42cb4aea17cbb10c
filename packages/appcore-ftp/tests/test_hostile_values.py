"""The ftp idle timeout: refused on the command line (64) and in a file (65) when negative,
``nan`` or infinite; 0 still means no limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from appcore import DataError, UsageError, dumps, loads
from appcore_ftp._maker import ftp

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_bad_idle_timeout_is_a_usage_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError, match="--idle-timeout: must be"):
        ftp.options.parse(["--root", str(tmp_path), "--idle-timeout", value])
    assert ftp.options.parse(["--root", str(tmp_path), "--idle-timeout", "0"])["idle_timeout"] == 0


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -5.0, "300"])
def test_a_file_with_a_bad_idle_timeout_is_refused(tmp_path: Path, fmt: str, value: object) -> None:
    service = ftp.make_service({"root": tmp_path, "listen": "tcp:0:interface=127.0.0.1"})
    assert loads(dumps(service, fmt)).factory.idle_timeout == 300.0  # type: ignore[arg-type,attr-defined]
    service.factory.idle_timeout = value  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="appcore_ftp:FTPFactory: idle_timeout must be"):
        loads(dumps(service, fmt))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["0", "nan", "-inf"])
def test_a_bad_login_timeout_is_a_usage_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError, match="--login-timeout: must be"):
        ftp.options.parse(["--root", str(tmp_path), "--login-timeout", value])


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
def test_a_file_with_a_bad_login_timeout_is_refused(tmp_path: Path, fmt: str) -> None:
    service = ftp.make_service({"root": tmp_path, "listen": "tcp:0:interface=127.0.0.1"})
    service.factory.login_timeout = -1.0  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="appcore_ftp:FTPFactory: login_timeout must be"):
        loads(dumps(service, fmt))  # type: ignore[arg-type]
