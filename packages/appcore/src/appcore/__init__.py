"""appcore: the shared core of the tap toolchain.

Service trees (:class:`Application`, :class:`MultiService`, :class:`Service`), endpoint-driven
network services, event loop choice, server-type plugins, persistence formats, logging and
the CLI boundary every tool shares.

Names are imported lazily on first use, so ``import appcore`` stays cheap: a tool that only
needs one part never pays for the others (asyncio, XML parsing, cryptography).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {}


def _export(module: str, *names: str) -> None:
    for name in names:
        _EXPORTS[name] = module


# --- errors and exit codes
_export(
    "_errors",
    "ExitCode",
    "AppcoreError",
    "UsageError",
    "DataError",
    "NoInputError",
    "UnavailableError",
    "InternalError",
    "CantCreateError",
    "IOFailure",
    "PermissionDenied",
)
# --- the service tree
_export("_persistent", "Persistent", "register_persistable", "persistable_class", "class_path")
_export(
    "_service", "IService", "Service", "MultiService", "Application", "iter_services", "FORMATS"
)
# --- event loops and running
_export(
    "_loops",
    "LOOP_NAMES",
    "DEFAULT_LOOP",
    "LoopKind",
    "loop_kinds",
    "available_loops",
    "new_event_loop",
)
_export("_runner", "start_application", "stop_application", "serve_until_signal", "run_application")
# --- the CLI boundary
_export("_cli", "run_cli", "error_line", "version_callback", "distribution_version")
# --- endpoints and network services
# --- plugins, options, logging
# --- persistence

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from ._cli import distribution_version

        value: Any = distribution_version("appcore")
    elif name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
    else:
        raise AttributeError(f"module 'appcore' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._cli import distribution_version, error_line, run_cli, version_callback
    from ._errors import (
        AppcoreError,
        CantCreateError,
        DataError,
        ExitCode,
        InternalError,
        IOFailure,
        NoInputError,
        PermissionDenied,
        UnavailableError,
        UsageError,
    )
    from ._loops import (
        DEFAULT_LOOP,
        LOOP_NAMES,
        LoopKind,
        available_loops,
        loop_kinds,
        new_event_loop,
    )
    from ._persistent import Persistent, class_path, persistable_class, register_persistable
    from ._runner import (
        run_application,
        serve_until_signal,
        start_application,
        stop_application,
    )
    from ._service import FORMATS, Application, IService, MultiService, Service, iter_services

    __version__: str
