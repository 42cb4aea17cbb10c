"""tap2rpm: wrap an Application file in RPM and source RPM packages.

The package runs the application with twistd as a system service (a systemd unit, and a SysV
init script for older systems), under its own system user, from a private copy of the Python
runtime it needs. :func:`build_packages` does the work; :func:`main` is the command line.
"""

from __future__ import annotations

from typing import Any

from ._build import BuildResult, build_packages
from ._cli import main
from ._spec import RpmPackage, render_spec

__all__ = ["BuildResult", "RpmPackage", "__version__", "build_packages", "main", "render_spec"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from appcore import distribution_version

        value = distribution_version("tap2rpm")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tap2rpm' has no attribute {name!r}")
