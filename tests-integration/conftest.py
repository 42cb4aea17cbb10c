"""Fixtures for black-box tests: fresh venvs holding wheels installed from dist/ only."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dist_dir() -> Path:
    """The folder of built wheels (``nox -s build``); the integration session sets it."""
    path = Path(os.environ.get("TAP_DIST_DIR", ROOT / "dist"))
    if not any(path.glob("*.whl")):
        pytest.fail(f"no wheels in {path}: run 'scripts/nox -s build' first")
    return path


class Venv:
    """A fresh virtual environment with only what a test installed into it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def run(self, *args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **kwargs,  # type: ignore[arg-type]
        )

    def installed(self) -> set[str]:
        out = self.run(self.python, "-m", "pip", "list", "--format=freeze")
        return {line.split("==")[0].lower() for line in out.stdout.split() if "==" in line}


@pytest.fixture(scope="session")
def make_venv(dist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Venv]:
    """Create a venv and install the named distributions from dist/ with --no-index."""
    cache: dict[tuple[str, ...], Venv] = {}

    def make(*dists: str) -> Venv:
        key = tuple(sorted(dists))
        if key in cache:
            return cache[key]
        path = tmp_path_factory.mktemp("venv-" + "-".join(key))
        venv.EnvBuilder(with_pip=True, symlinks=True).create(path)
        env = Venv(path)
        links = ["--find-links", str(dist_dir), "--find-links", str(dist_dir / "wheelhouse")]
        done = env.run(
            env.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-index", *links, *dists,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        cache[key] = env
        return env

    return make


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable
