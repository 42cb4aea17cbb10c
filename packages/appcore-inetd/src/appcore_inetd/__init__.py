"""The inetd server type of the tap toolchain: programs and internal services from an inetd.conf.

The classes below are what application files hold (named ``appcore_inetd:CLASS``); they load
on first use, so listing server types (which imports only ``appcore_inetd._maker``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "InetdService": "_service",
    "ProgramService": "_programs",
    "DiscardFactory": "_internal",
    "DaytimeFactory": "_internal",
    "TimeFactory": "_internal",
    "ChargenFactory": "_internal",
    "DiscardDatagramFactory": "_internal",
    "DaytimeDatagramFactory": "_internal",
    "TimeDatagramFactory": "_internal",
    "ChargenDatagramFactory": "_internal",
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
    from appcore_inetd._internal import (
        ChargenDatagramFactory,
        ChargenFactory,
        DaytimeDatagramFactory,
        DaytimeFactory,
        DiscardDatagramFactory,
        DiscardFactory,
        TimeDatagramFactory,
        TimeFactory,
    )
    from appcore_inetd._programs import ProgramService
    from appcore_inetd._service import InetdService
