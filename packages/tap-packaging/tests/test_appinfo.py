"""Application facts and package-name rules shared by tap2deb and tap2rpm."""

from __future__ import annotations

from pathlib import Path

import pytest

import appcore
import tap_packaging
from appcore import DataError, NoInputError, UsageError


def test_python_file_is_read_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    app = tmp_path / "My_Echo.py"
    app.write_text(
        "import os, json\nimport typer.main\nfrom appcore import Application\n"
        f"open({str(marker)!r}, 'w').close()\napplication = Application('x')\n"
    )
    info = tap_packaging.read_application_info(app)
    assert not marker.exists()
    assert info.file_type == "python"
    assert info.name == "My_Echo"
    assert info.twistd_flag == "-y"
    assert info.modules == {"typer", "appcore"}
    assert tap_packaging.name_from_file(app) == "my-echo"


def test_python_file_without_application(tmp_path: Path) -> None:
    app = tmp_path / "a.py"
    app.write_text("x = 1\n")
    with pytest.raises(DataError, match="application"):
        tap_packaging.read_application_info(app)


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
def test_saved_application(tmp_path: Path, fmt: str) -> None:
    from appcore import save_application

    app = appcore.Application("echo", uid=12, gid=34)
    appcore.StreamServerService(
        "tcp:0:interface=127.0.0.1", appcore.EchoFactory()
    ).set_service_parent(app)
    path = save_application(app, directory=tmp_path, format=fmt)  # type: ignore[arg-type]
    info = tap_packaging.read_application_info(path)
    assert (info.name, info.uid, info.gid) == ("echo", 12, 34)
    assert info.modules == {"appcore"}


def test_missing_and_unknown(tmp_path: Path) -> None:
    with pytest.raises(NoInputError):
        tap_packaging.read_application_info(tmp_path / "none.tap")
    with pytest.raises(UsageError, match="--type"):
        tap_packaging.guess_file_type(tmp_path / "app.yaml")
    with pytest.raises(UsageError, match="encrypted"):
        tap_packaging.guess_file_type(tmp_path / "app.etap")
    assert tap_packaging.guess_file_type(tmp_path / "app.bin", "xml") == "xml"


@pytest.mark.parametrize("name", ["echo", "my-app2", "a.b+c", "0ad"])
def test_good_deb_names(name: str) -> None:
    assert tap_packaging.validate_deb_name(name) == name


@pytest.mark.parametrize("name", ["", "x", "Echo", "my_app", "-echo", "a b"])
def test_bad_deb_names(name: str) -> None:
    with pytest.raises(UsageError):
        tap_packaging.validate_deb_name(name)


@pytest.mark.parametrize("version", ["1.0", "1.0-1", "2:1.0~rc1-0ubuntu1", "1.0-1-2", "0"])
def test_good_deb_versions(version: str) -> None:
    assert tap_packaging.validate_deb_version(version) == version


@pytest.mark.parametrize("version", ["", "one", "1.0-", "a:1.0", "1.0_1", "-1", "1:"])
def test_bad_deb_versions(version: str) -> None:
    with pytest.raises(UsageError):
        tap_packaging.validate_deb_version(version)


def test_rpm_rules() -> None:
    assert tap_packaging.validate_rpm_version("1.0~rc1") == "1.0~rc1"
    assert tap_packaging.validate_rpm_name("My_App") == "My_App"
    for bad in ("1.0-1", "", ".1"):
        with pytest.raises(UsageError):
            tap_packaging.validate_rpm_version(bad)
    with pytest.raises(UsageError):
        tap_packaging.validate_rpm_name("-x")


def test_maintainer() -> None:
    assert tap_packaging.parse_maintainer(" Jane Doe <jane@example.org> ") == (
        "Jane Doe",
        "jane@example.org",
    )
    for bad in ("Jane", "<jane@example.org>", "Jane <jane>", "Jane <a@b.c>, Bob <b@c.d>"):
        with pytest.raises(UsageError):
            tap_packaging.parse_maintainer(bad)


def test_user_names() -> None:
    assert tap_packaging.validate_user_name("_echo-1") == "_echo-1"
    for bad in ("Root", "1abc", "a" * 33, "a.b"):
        with pytest.raises(UsageError):
            tap_packaging.validate_user_name(bad)
