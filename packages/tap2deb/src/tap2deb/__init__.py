"""tap2deb: wrap an Application file in Debian binary and source packages.

The package runs the application with twistd as a system service (an LSB init script and a
systemd unit), under its own system user, from a private copy of the Python runtime it needs.
:func:`build_packages` does the work; :func:`main` is the command line.
"""

from __future__ import annotations

from typing import Any

from ._build import BuildResult, build_packages
from ._cli import main
from ._layout import PackageSpec

__all__ = ["BuildResult", "PackageSpec", "__version__", "build_packages", "main"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from appcore import distribution_version

        value = distribution_version("tap2deb")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tap2deb' has no attribute {name!r}")
