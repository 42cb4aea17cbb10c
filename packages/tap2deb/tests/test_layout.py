"""The debian/ folder's text, rendered without running any tool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tap2deb import PackageSpec
from tap2deb._layout import debian_files
from tap_packaging import ApplicationInfo, Bundle

PURE = Bundle(Path("/site"), (("appcore", "0.1"), ("twistd", "0.1")), False, None)
BINARY = Bundle(Path("/site"), (("appcore", "0.1"),), True, "311")


def _spec(**changes: object) -> PackageSpec:
    info = ApplicationInfo(Path("/x/web.tap"), "tap", "web", None, None, frozenset({"appcore"}))
    values: dict[str, object] = {
        "name": "web",
        "version": "1.0-1",
        "maintainer": "Jane Doe <jane@example.org>",
        "description": "web service",
        "long_description": "First paragraph.\n\nSecond paragraph.",
        "user": "web",
        "app": info,
        "date": "Tue, 14 Nov 2023 22:13:20 +0000",
        "year": "2023",
        **changes,
    }
    return PackageSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "upstream"), [("1.0-1", "1.0"), ("2:1.0-3", "1.0"), ("1.0-rc-1", "1.0-rc")]
)
def test_upstream_version(version: str, upstream: str) -> None:
    assert _spec(version=version).upstream_version == upstream


def test_init_choice() -> None:
    assert "web.service" not in debian_files(_spec(init="sysv"), PURE)
    assert "web.init" not in debian_files(_spec(init="systemd"), PURE)
    both = debian_files(_spec(), PURE)
    assert "web.init" in both
    assert "web.service" in both


def test_control_architecture_and_python_pin() -> None:
    pure = debian_files(_spec(depends=("libfoo1",)), PURE)["control"][0]
    assert "Architecture: all" in pure
    assert "python3 (<< " not in pure
    assert "libfoo1" in pure
    assert " .\n" in pure  # paragraph separator of the long description
    binary = debian_files(_spec(), BINARY)["control"][0]
    assert "Architecture: any" in binary
    assert "${shlibs:Depends}" in binary
    assert "python3 (<< 3.12)" in binary


def test_scripts_are_valid_shell(tmp_path: Path) -> None:
    files = debian_files(_spec(), PURE)
    for name in ("web.init", "web.postinst", "web.postrm"):
        text, mode = files[name]
        assert mode == 0o755
        assert "set -e" in text or name == "web.init"
        script = tmp_path / name
        script.write_text(text.replace("#DEBHELPER#", ""))
        subprocess.run(["sh", "-n", str(script)], check=True, timeout=10)


def test_unit_runs_twistd_in_the_foreground() -> None:
    unit = debian_files(_spec(), PURE)["web.service"][0]
    assert "Type=notify" in unit
    assert "User=web" in unit
    assert "ExecStart=/usr/lib/web/twistd --nodaemon" in unit
    assert "-f /etc/web/web.tap" in unit
