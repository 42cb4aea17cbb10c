"""twistd: bring a dead Application to life as a well-behaved Unix daemon.

The command line lives in :func:`twistd.main`; the pieces it is made of (the daemon's
double fork with a readiness pipe, the locked pid file, privilege dropping and systemd
notification) are private modules. ``__version__`` is looked up lazily: reading package
metadata costs start-up time a server start never needs.
"""

from __future__ import annotations

from typing import Any

from ._cli import main

__all__ = ["__version__", "main"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from appcore import distribution_version

        value = distribution_version("twistd")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'twistd' has no attribute {name!r}")
