"""The irc server type of the tap toolchain: an IRC server (RFC 1459/2812 core).

The classes below are what application files hold (named ``appcore_irc:CLASS``); they load
on first use, so listing server types (which imports only ``appcore_irc._maker``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "IRCFactory": "_service",
    "IRCServerService": "_service",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from appcore_irc._service import IRCFactory, IRCServerService
