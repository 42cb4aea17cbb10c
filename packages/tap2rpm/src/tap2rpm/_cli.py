"""The ``tap2rpm`` command line: validate everything first, then build."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from appcore import UsageError, distribution_version, run_cli, version_callback
from tap_packaging import (
    FILE_TYPES,
    name_from_file,
    one_line,
    parse_maintainer,
    read_application_info,
    runtime_distributions,
    source_date_epoch,
    validate_rpm_name,
    validate_rpm_version,
    validate_user_name,
)

from ._build import build_packages
from ._spec import PAYLOADS, RpmPackage

PROG = "tap2rpm"
log = logging.getLogger("tap2rpm")

app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})


def _packager(text: str | None) -> str:
    if text is None:
        # rpmdev-packager's convention
        text = os.environ.get("RPM_PACKAGER")
        if not text:
            raise UsageError("no maintainer: pass -m 'Full Name <user@example.org>'")
    name, email = parse_maintainer(text)
    return f"{name} <{email}>"


def _release(text: str) -> str:
    try:
        return validate_rpm_version(text)
    except UsageError:
        raise UsageError(
            f"invalid release {text!r}: use letters, digits, '.', '_', '+' and '~' (no '-')"
        ) from None


def _requirements(values: Sequence[str]) -> tuple[str, ...]:
    found = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            if "\n" in item or "%" in item:
                raise UsageError(f"invalid --requires {item!r}: one capability, no macros")
            found.append(item)
    return tuple(found)


@app.command()
def tap2rpm(
    tapfile: Annotated[
        Path, typer.Option("-t", "--tapfile", help="The application file to package.")
    ] = Path("twistd.tap"),
    file_type: Annotated[
        str | None,
        typer.Option(
            "-y",
            "--type",
            help=f"The file's type: {', '.join(FILE_TYPES)} (default: guessed "
            "from the extension: .tap, .tax, .tas, .py).",
        ),
    ] = None,
    maintainer: Annotated[
        str | None,
        typer.Option("-m", "--maintainer", help="'Full Name <email>' (default: $RPM_PACKAGER)."),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option("-p", "--protocol", help="The service's name (default: from the file name)."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("-e", "--description", help="One-line package summary.")
    ] = None,
    long_description: Annotated[
        str | None,
        typer.Option("-l", "--long_description", "--long-description", help="Long description."),
    ] = None,
    set_version: Annotated[
        str, typer.Option("-V", "--set-version", help="The package version.")
    ] = "1.0",
    rpmfile: Annotated[
        str | None,
        typer.Option("-r", "--rpmfile", help="The package name (default: the protocol)."),
    ] = None,
    unsigned: Annotated[
        bool, typer.Option("-u", "--unsigned", help="Do not sign the RPMs.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Do not print the files written.")
    ] = False,
    sign_key: Annotated[
        str | None, typer.Option("--sign-key", help="GPG key to sign with (default: maintainer).")
    ] = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where the files go.")
    ] = Path("."),
    user: Annotated[
        str | None,
        typer.Option("--user", help="System user the service runs as (default: package name)."),
    ] = None,
    requires: Annotated[
        list[str] | None,
        typer.Option("--requires", help="Extra RPM requirement (repeatable, or comma-separated)."),
    ] = None,
    release: Annotated[str, typer.Option("--release", help="The package release.")] = "1",
    license_expression: Annotated[
        str,
        typer.Option("--license", help="The application's license (an SPDX expression)."),
    ] = "LicenseRef-Not-Specified",
    compression: Annotated[
        str,
        typer.Option(
            "--compression",
            help="Payload codec: zstd (rpm 4.14+: EL 8, Fedora), xz or gzip (older systems).",
        ),
    ] = "zstd",
    bundle: Annotated[
        list[str] | None,
        typer.Option("--bundle", help="Extra Python distribution to ship (repeatable)."),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option("--wheelhouse", help="Install the runtime from the wheels in this folder."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and the build tools' output.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback("tap2rpm"),
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Wrap an application file in a binary RPM and a source RPM.

    The package runs the application with twistd as a system service (a systemd unit, and
    a SysV init script for older systems) under its own system user, from a private copy of
    the Python runtime. The .spec, .src.rpm and binary .rpm are written to --output-dir
    and their paths printed (unless -q).
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    if compression not in PAYLOADS:
        raise UsageError(
            f"invalid --compression {compression!r}: choose one of {', '.join(PAYLOADS)}"
        )
    packager = _packager(maintainer)
    pkg_version = validate_rpm_version(set_version)
    pkg_release = _release(release)
    extra_requires = _requirements(requires or ())
    license_text = one_line(license_expression, "license", 200)
    info = read_application_info(tapfile, file_type)
    service = protocol if protocol is not None else name_from_file(tapfile)
    name = validate_rpm_name(rpmfile if rpmfile is not None else service)
    service_user = validate_user_name(user if user is not None else name)
    summary = one_line(
        description or "Network service run by twistd from an application file",
        "description",
        79,
    ).rstrip(".")
    long_text = long_description or (
        f"This package runs the application {info.name} from {tapfile.name} as a system "
        f"service with twistd, as the system user {service_user}, from a private Python "
        f"runtime in /usr/lib/{name}."
    )
    epoch = source_date_epoch()
    pkg = RpmPackage(
        name=name,
        version=pkg_version,
        release=pkg_release,
        summary=summary,
        description=long_text,
        packager=packager,
        user=service_user,
        app=info,
        changelog_date=time.strftime("%a %b %d %Y", time.gmtime(epoch)),
        license=license_text,
        requires=extra_requires,
        tool_version=distribution_version("tap2rpm"),
        compression=compression,
    )
    wanted, unowned = runtime_distributions(info.modules, bundle or ())
    for module in unowned:
        log.warning("tap2rpm: no installed distribution provides module %r; not bundled", module)
    key = sign_key or packager.rpartition("<")[2].rstrip(">")
    result = build_packages(
        pkg,
        output_dir,
        wanted,
        source_date_epoch=epoch,
        sign_key=None if unsigned else key,
        wheelhouse=wheelhouse,
    )
    if not quiet:
        for path in result.files():
            sys.stdout.write(f"{path}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run tap2rpm with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    return run_cli(app, argv, prog_name=PROG, debug_flags=("--debug",))


def console_main() -> NoReturn:
    """The ``tap2rpm`` console script."""
    sys.exit(main())
