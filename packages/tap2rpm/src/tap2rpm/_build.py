"""Build the packages: write the source tarball and the spec, then run ``rpmbuild -ba``.

rpmbuild works in a private ``_topdir`` inside a hidden staging folder of the output folder;
only a complete (and, unless unsigned, signed) build is moved into place, so a failed build
leaves the output folder as it was. The tarball is written here (sorted, root-owned, mtimes
from ``SOURCE_DATE_EPOCH``) and the spec pins what rpmbuild would otherwise take from the
host (build host, build time, file mtimes), so the same inputs give byte-identical RPMs.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from appcore import CantCreateError, InternalError, UnavailableError
from tap_packaging import (
    Bundle,
    bundle_runtime,
    check_signing_key,
    launcher_script,
    staging_folder,
    write_reproducible_tar,
)

from ._spec import RpmPackage, private_libraries, python_for, render_spec, service_files

log = logging.getLogger("tap2rpm")

# tool -> the Debian package that provides it (on RPM systems: rpm-build, rpm-sign, gnupg2)
TOOLS = {"rpmbuild": "rpm", "rpmsign": "rpm", "gpg": "gnupg"}


@dataclass(frozen=True)
class BuildResult:
    """The files a build left in the output folder."""

    spec: Path
    srpm: Path
    rpm: Path
    signed: bool

    def files(self) -> list[Path]:
        """Every produced file: the spec, the source RPM, the binary RPM."""
        return [self.spec, self.srpm, self.rpm]


def require_tool(name: str, purpose: str = "build the packages") -> None:
    """Raise a clear error naming the Debian package of ``name`` when it is missing."""
    if shutil.which(name) is None:
        package = TOOLS.get(name, name)
        raise UnavailableError(
            f"{name} not found to {purpose}: install the Debian package {package} "
            f"(apt-get install {package}; on RPM systems: dnf install rpm-build rpm-sign)"
        )


def _check_signing(key: str) -> None:
    """Fail early, before anything is built, without a secret key for ``key`` or rpmsign."""
    check_signing_key(key)
    require_tool("rpmsign", "sign the packages")


def _fsync(path: Path) -> None:
    """Flush ``path`` to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def prepare_sources(
    pkg: RpmPackage,
    tree: Path,
    distributions: Iterable[str],
    *,
    wheelhouse: Path | None = None,
) -> tuple[Bundle, str]:
    """Lay out the source tree (``app/``, ``runtime/``, ``service/``); return the spec text."""
    app_dir = tree / "app"
    app_dir.mkdir(parents=True)
    shutil.copyfile(pkg.app.path, app_dir / pkg.app_file_name)
    (app_dir / pkg.app_file_name).chmod(0o644)
    site = tree / "runtime" / "site"
    bundle = bundle_runtime(distributions, site, wheelhouse=wheelhouse)
    python, _abi = python_for(bundle)
    _write(
        tree / "runtime" / "twistd", launcher_script(pkg.name, f"{pkg.lib_dir}/site", python), 0o755
    )
    for name, (text, mode) in service_files(pkg).items():
        _write(tree / "service" / name, text, mode)
    return bundle, render_spec(pkg, bundle, private_libraries(site))


def _environment(source_date_epoch: int, home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SOURCE_DATE_EPOCH=str(source_date_epoch), LC_ALL="C.UTF-8", TZ="UTC")
    env.pop("PYTHONPATH", None)
    if home is not None:
        # the user's ~/.rpmmacros (a %dist, a %_topdir) must not leak into a generated package
        env["HOME"] = str(home)
    return env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    log.debug("running %s", " ".join(command))
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    # the tool's whole output only under --debug: errors stay one line
    log.debug("%s output:\n%s%s", what, result.stdout, result.stderr)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        errors = [line for line in output if "error" in line.lower()] or output or ["no output"]
        raise InternalError(f"{what} failed (exit {result.returncode}): {errors[-1].strip()}")


def run_rpmbuild(spec: Path, topdir: Path, source_date_epoch: int) -> tuple[Path, Path]:
    """``rpmbuild -ba`` in ``topdir`` (SOURCES already filled); the source and binary RPMs."""
    env = _environment(source_date_epoch, home=topdir)
    _run(
        [
            "rpmbuild",
            "-ba",
            "--define",
            f"_topdir {topdir}",
            "--define",
            f"_tmppath {topdir}/tmp",
            str(spec),
        ],
        env,
        "rpmbuild",
    )
    srpms = sorted((topdir / "SRPMS").glob("*.src.rpm"))
    rpms = sorted((topdir / "RPMS").rglob("*.rpm"))
    if len(srpms) != 1 or len(rpms) != 1:
        raise InternalError(f"rpmbuild made {len(srpms)} source and {len(rpms)} binary RPMs")
    return srpms[0], rpms[0]


def sign_packages(paths: Iterable[Path], key: str, source_date_epoch: int) -> None:
    """Add a GPG signature to each RPM with rpmsign (the user's gpg and ~/.rpmmacros)."""
    env = _environment(source_date_epoch)
    _run(
        [
            "rpmsign",
            "--addsign",
            "--define",
            f"_gpg_name {key}",
            # Debian's rpm names gpg2, which newer GnuPG no longer installs
            "--define",
            f"__gpg {shutil.which('gpg') or 'gpg'}",
            *map(str, paths),
        ],
        env,
        "rpmsign",
    )


def build_packages(
    pkg: RpmPackage,
    output_dir: Path,
    distributions: Iterable[str],
    *,
    source_date_epoch: int,
    sign_key: str | None = None,
    wheelhouse: Path | None = None,
) -> BuildResult:
    """Build ``pkg``'s spec, source RPM and binary RPM into ``output_dir``.

    ``sign_key`` None builds unsigned packages; otherwise both RPMs are signed with it.
    """
    require_tool("rpmbuild")
    output_dir = output_dir.absolute()  # rpmbuild changes folders: every path must be absolute
    if sign_key is not None:
        _check_signing(sign_key)
    with staging_folder(output_dir, "tap2rpm") as staging:
        return _build_in(
            staging, pkg, output_dir, distributions, source_date_epoch, sign_key, wheelhouse
        )


def _build_in(
    staging: Path,
    pkg: RpmPackage,
    output_dir: Path,
    distributions: Iterable[str],
    source_date_epoch: int,
    sign_key: str | None,
    wheelhouse: Path | None,
) -> BuildResult:
    topdir = staging / "rpmbuild"
    tree = staging / pkg.source_dir
    spec = topdir / "SPECS" / f"{pkg.name}.spec"
    try:
        for folder in ("SOURCES", "SPECS", "BUILD", "RPMS", "SRPMS", "tmp"):
            (topdir / folder).mkdir(parents=True)
        _bundle, spec_text = prepare_sources(pkg, tree, distributions, wheelhouse=wheelhouse)
        # uncompressed: the source RPM compresses its payload anyway
        write_reproducible_tar(
            tree, topdir / "SOURCES" / f"{pkg.source_dir}.tar", source_date_epoch
        )
        spec.write_text(spec_text)
    except OSError as err:
        raise CantCreateError(f"cannot write the sources: {err}") from err
    srpm, rpm = run_rpmbuild(spec, topdir, source_date_epoch)
    if sign_key is not None:
        sign_packages([srpm, rpm], sign_key, source_date_epoch)
    # only a complete build reaches the output folder; the spec last, as the marker of one
    moved = []
    for path in (srpm, rpm, spec):
        _fsync(path)
        target = output_dir / path.name
        os.replace(path, target)
        moved.append(target)
    return BuildResult(spec=moved[2], srpm=moved[0], rpm=moved[1], signed=sign_key is not None)
