"""The private runtime packagers ship: requirement closure, copied files, the launcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import appcore
import tap_packaging
from appcore import CantCreateError, UnavailableError, UsageError

pytestmark = pytest.mark.timeout(120)


def test_closure_follows_requirements() -> None:
    names = {d.metadata["Name"].lower() for d in tap_packaging.requirement_closure(["appcore"])}
    assert {"appcore", "typer-slim", "click", "defusedxml"} <= names
    # none of full typer's tree: rich, pygments, pydantic
    assert not names & {"typer", "rich", "pygments", "pydantic", "cryptography"}, sorted(names)
    assert "pytest" not in names


def test_missing_distribution() -> None:
    with pytest.raises(UnavailableError, match="no-such-dist-xyz"):
        tap_packaging.requirement_closure(["no-such-dist-xyz"])


def test_module_owners() -> None:
    owners = tap_packaging.module_distributions(["appcore", "typer", "os", "not_a_module_xyz"])
    assert owners["appcore"] == "appcore"
    assert owners["typer"] == "typer-slim"
    assert "os" not in owners
    assert "not_a_module_xyz" not in owners


def test_bundle_runs_isolated(tmp_path: Path) -> None:
    site = tmp_path / "site"
    bundle = tap_packaging.bundle_runtime(["appcore"], site)
    assert ("appcore", appcore.__version__) in bundle.distributions
    assert not list(site.rglob("__pycache__"))
    assert not list(site.glob("*.dist-info/RECORD"))
    assert not list(site.glob("*.dist-info/direct_url.json"))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import appcore, importlib.metadata as m;"
        "print(appcore.__file__); print(m.version('typer-slim'))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-B", "-c", code, str(site)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert out[0].startswith(str(site))
    with pytest.raises(CantCreateError, match="not empty"):
        tap_packaging.bundle_runtime(["appcore"], site)


def test_launcher_text() -> None:
    text = tap_packaging.launcher_script("echo", "/usr/lib/echo/site")
    assert text.startswith("#!/usr/bin/python3 -I\n")
    assert "'/usr/lib/echo/site'" in text
    compile(text, "launcher", "exec")
    with pytest.raises(UsageError):
        tap_packaging.launcher_script("echo", "relative/site")


def test_wheelhouse_without_the_wheels(tmp_path: Path) -> None:
    house = tmp_path / "house"
    house.mkdir()
    with pytest.raises(UnavailableError, match="house"):
        tap_packaging.bundle_runtime(["appcore"], tmp_path / "site", wheelhouse=house)
    with pytest.raises(UsageError, match="not a folder"):
        tap_packaging.bundle_runtime(["appcore"], tmp_path / "site2", wheelhouse=tmp_path / "none")
