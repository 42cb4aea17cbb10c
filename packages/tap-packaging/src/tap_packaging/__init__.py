"""What the packagers (tap2deb, tap2rpm) share: reading an application, the bundled runtime,
the installed layout, systemd unit and logrotate texts, reproducible archives.

A library for the packaging tools only: appcore (which every tool installs) holds nothing of
this, so ``pip install tapconvert`` carries no packaging code. Names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "APP_EXTENSIONS": "_packaging",
    "ApplicationInfo": "_appinfo",
    "Bundle": "_bundle",
    "FILE_TYPES": "_appinfo",
    "RUNTIME_BASE": "_packaging",
    "ServicePaths": "_packaging",
    "TarCompression": "_packaging",
    "app_file_name": "_packaging",
    "bundle_runtime": "_bundle",
    "check_signing_key": "_packaging",
    "describe_bundle": "_bundle",
    "guess_file_type": "_appinfo",
    "launcher_script": "_bundle",
    "logrotate_text": "_packaging",
    "module_distributions": "_bundle",
    "name_from_file": "_appinfo",
    "one_line": "_packaging",
    "parse_maintainer": "_appinfo",
    "read_application_info": "_appinfo",
    "requirement_closure": "_bundle",
    "runtime_distributions": "_packaging",
    "service_twistd_args": "_packaging",
    "source_date_epoch": "_packaging",
    "staging_folder": "_packaging",
    "systemd_unit": "_packaging",
    "validate_deb_name": "_appinfo",
    "validate_deb_version": "_appinfo",
    "validate_rpm_name": "_appinfo",
    "validate_rpm_version": "_appinfo",
    "validate_user_name": "_appinfo",
    "write_reproducible_tar": "_packaging",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from appcore import distribution_version

        value: Any = distribution_version("tap-packaging")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from tap_packaging._appinfo import (
        FILE_TYPES,
        ApplicationInfo,
        guess_file_type,
        name_from_file,
        parse_maintainer,
        read_application_info,
        validate_deb_name,
        validate_deb_version,
        validate_rpm_name,
        validate_rpm_version,
        validate_user_name,
    )
    from tap_packaging._bundle import (
        Bundle,
        bundle_runtime,
        describe_bundle,
        launcher_script,
        module_distributions,
        requirement_closure,
    )
    from tap_packaging._packaging import (
        APP_EXTENSIONS,
        RUNTIME_BASE,
        ServicePaths,
        TarCompression,
        app_file_name,
        check_signing_key,
        logrotate_text,
        one_line,
        runtime_distributions,
        service_twistd_args,
        source_date_epoch,
        staging_folder,
        systemd_unit,
        write_reproducible_tar,
    )

    __version__: str
