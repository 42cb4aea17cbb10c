"""tapconvert: convert saved Applications between TAP, TAX and TAS, encrypted or not."""

from __future__ import annotations

from typing import Any

from ._cli import main

__all__ = ["__version__", "main"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("tapconvert")
    raise AttributeError(f"module 'tapconvert' has no attribute {name!r}")
