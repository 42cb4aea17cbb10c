"""mktap: make an Application file for a server type and its options.

``mktap [generic options] TYPE [type options]`` writes ``TYPE.tap`` (``.tax``, ``.tas``;
``.etap`` and so on when encrypted) holding an Application with that server in it, ready for
``twistd -f``. The command line is :func:`mktap.main`; the work it does is
:func:`mktap.make_application`.
"""

from __future__ import annotations

from typing import Any

from ._build import make_application
from ._cli import main

__all__ = ["__version__", "main", "make_application"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from appcore import distribution_version

        value = distribution_version("mktap")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mktap' has no attribute {name!r}")
