"""The ``tap2deb`` command line: validate everything first, then build."""

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
    validate_deb_name,
    validate_deb_version,
    validate_user_name,
)

from ._build import build_packages
from ._layout import INIT_KINDS, PackageSpec

PROG = "tap2deb"
log = logging.getLogger("tap2deb")

app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})


def _version(text: str) -> str:
    # 3.0 (quilt) source packages need a Debian revision: "1.0" becomes "1.0-1"
    validate_deb_version(text)
    return text if "-" in text.split(":", 1)[-1] else f"{text}-1"


def _maintainer(text: str | None) -> str:
    if text is None:
        name, email = os.environ.get("DEBFULLNAME"), os.environ.get("DEBEMAIL")
        if not (name and email):
            raise UsageError("no maintainer: pass -m 'Full Name <user@example.org>'")
        text = f"{name} <{email}>"
    name, email = parse_maintainer(text)
    return f"{name} <{email}>"


@app.command()
def tap2deb(
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
        typer.Option(
            "-m",
            "--maintainer",
            help="'Full Name <email>' (default: $DEBFULLNAME <$DEBEMAIL>).",
        ),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option("-p", "--protocol", help="The package name (default: from the file name)."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("-e", "--description", help="One-line package description.")
    ] = None,
    long_description: Annotated[
        str | None,
        typer.Option("-l", "--long_description", "--long-description", help="Long description."),
    ] = None,
    set_version: Annotated[
        str, typer.Option("-V", "--set-version", help="The package version.")
    ] = "1.0",
    debfile: Annotated[
        str | None,
        typer.Option("-d", "--debfile", help="Also link the .deb under this file name."),
    ] = None,
    unsigned: Annotated[
        bool, typer.Option("-u", "--unsigned", help="Do not sign the .dsc and .changes.")
    ] = False,
    sign_key: Annotated[
        str | None, typer.Option("--sign-key", help="GPG key to sign with (default: maintainer).")
    ] = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where the packages go.")
    ] = Path("."),
    user: Annotated[
        str | None,
        typer.Option("--user", help="System user the service runs as (default: package name)."),
    ] = None,
    depends: Annotated[
        list[str] | None,
        typer.Option("--depends", help="Extra Debian dependency (repeatable)."),
    ] = None,
    init: Annotated[
        str, typer.Option("--init", help=f"Init systems to support: {', '.join(INIT_KINDS)}.")
    ] = "both",
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
            callback=version_callback("tap2deb"),
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Wrap an application file in Debian binary and source packages.

    The package runs the application with twistd as a system service (LSB init script and
    systemd unit) under its own system user, from a private copy of the Python runtime.
    The .deb, .dsc, .orig.tar.xz, .debian.tar.xz, .buildinfo and .changes files and the
    unpacked source tree are written to --output-dir; their paths are printed.
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    if init not in INIT_KINDS:
        raise UsageError(f"invalid --init {init!r}: choose one of {', '.join(INIT_KINDS)}")
    if debfile is not None and (not debfile or "/" in debfile):
        raise UsageError(f"invalid --debfile {debfile!r}: a file name, not a path")
    maintainer_text = _maintainer(maintainer)
    full_version = _version(set_version)
    info = read_application_info(tapfile, file_type)
    name = validate_deb_name(protocol if protocol is not None else name_from_file(tapfile))
    service_user = validate_user_name(user if user is not None else name)
    summary = one_line(
        description or f"twistd service for the {info.name} application", "description", 80
    )
    long_text = long_description or (
        f"This package runs the application {info.name} from {tapfile.name} as a system "
        f"service with twistd, as the system user {service_user}, from a private Python "
        f"runtime in /usr/lib/{name}."
    )
    epoch = source_date_epoch()
    spec = PackageSpec(
        name=name,
        version=full_version,
        maintainer=maintainer_text,
        description=summary,
        long_description=long_text,
        user=service_user,
        app=info,
        date=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(epoch)),
        year=time.strftime("%Y", time.gmtime(epoch)),
        depends=tuple(d.strip() for dep in depends or () for d in dep.split(",") if d.strip()),
        init=init,
        tool_version=distribution_version("tap2deb"),
    )
    wanted, unowned = runtime_distributions(info.modules, bundle or ())
    for module in unowned:
        log.warning("tap2deb: no installed distribution provides module %r; not bundled", module)
    result = build_packages(
        spec,
        output_dir,
        wanted,
        source_date_epoch=epoch,
        unsigned=unsigned,
        sign_key=sign_key,
        debfile=debfile,
        wheelhouse=wheelhouse,
    )
    for path in result.files():
        sys.stdout.write(f"{path}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run tap2deb with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    return run_cli(app, argv, prog_name=PROG, debug_flags=("--debug",))


def console_main() -> NoReturn:
    """The ``tap2deb`` console script."""
    sys.exit(main())
