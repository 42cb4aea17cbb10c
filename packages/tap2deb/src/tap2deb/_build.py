"""Build the packages: lay out the source tree, then let dpkg-buildpackage do the rest.

The work happens in a hidden staging folder inside the output folder; only a complete build
is moved into place, so a failed build leaves the output folder as it was. The orig tarball
is written here (sorted, owned by root, mtimes from ``SOURCE_DATE_EPOCH``); dpkg-source and
``dpkg-deb --root-owner-group`` (chosen by debhelper for ``Rules-Requires-Root: no``) are
reproducible the same way, so the same inputs give byte-identical packages.
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

from ._layout import PackageSpec, debian_files

log = logging.getLogger("tap2deb")

# tool -> the Debian package that provides it
TOOLS = {
    "dpkg-buildpackage": "dpkg-dev",
    "dpkg-source": "dpkg-dev",
    "dpkg-deb": "dpkg",
    "dh": "debhelper",
}
_RESULT_SUFFIXES = (".deb", ".dsc", ".orig.tar.xz", ".debian.tar.xz", ".changes", ".buildinfo")


@dataclass(frozen=True)
class BuildResult:
    """The files a build left in the output folder."""

    deb: Path
    dsc: Path
    orig: Path
    debian_tar: Path
    changes: Path
    buildinfo: Path
    source_tree: Path
    signed: bool

    def files(self) -> list[Path]:
        """Every produced file, the source tree last."""
        return [
            self.deb,
            self.dsc,
            self.orig,
            self.debian_tar,
            self.buildinfo,
            self.changes,
            self.source_tree,
        ]


def require_tools(names: Iterable[str]) -> None:
    """Raise a clear error naming the Debian package of the first missing tool."""
    for name in names:
        if shutil.which(name) is None:
            package = TOOLS.get(name, name)
            raise UnavailableError(
                f"{name} not found: install the Debian package {package} "
                f"(sudo apt-get install {package})"
            )


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _run(command: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    log.debug("running %s in %s", " ".join(command), cwd)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        log.error("%s output:\n%s", what, "\n".join(output))
        errors = [line for line in output if "error" in line.lower()] or output or ["no output"]
        raise InternalError(f"{what} failed (exit {result.returncode}): {errors[-1].strip()}")


def _environment(source_date_epoch: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SOURCE_DATE_EPOCH=str(source_date_epoch), LC_ALL="C.UTF-8", TZ="UTC")
    # The runtime is tens of megabytes: xz -1 packs it in a few seconds where the default -6
    # takes many, for a package about a tenth larger. Set in the environment, not in
    # debian/rules, so a rebuild from the source package keeps Debian's defaults.
    env.setdefault("DPKG_DEB_COMPRESSOR_TYPE", "xz")
    env.setdefault("DPKG_DEB_COMPRESSOR_LEVEL", "1")
    # the user's own build settings must not leak into a generated package
    for name in ("DEB_BUILD_OPTIONS", "DEB_BUILD_PROFILES", "DH_VERBOSE", "PYTHONPATH"):
        env.pop(name, None)
    return env


def prepare_tree(
    spec: PackageSpec,
    tree: Path,
    distributions: Iterable[str],
    *,
    wheelhouse: Path | None = None,
) -> Bundle:
    """Write the source tree: ``app/``, ``runtime/`` (site + launcher) and ``debian/``."""
    app_dir = tree / "app"
    app_dir.mkdir(parents=True)
    shutil.copyfile(spec.app.path, app_dir / spec.app_file_name)
    (app_dir / spec.app_file_name).chmod(0o644)
    bundle = bundle_runtime(distributions, tree / "runtime" / "site", wheelhouse=wheelhouse)
    launcher = launcher_script(spec.name, f"{spec.lib_dir}/site")
    _write(tree / "runtime" / "twistd", launcher, 0o755)
    for relative, (text, mode) in debian_files(spec, bundle).items():
        _write(tree / "debian" / relative, text, mode)
    return bundle


def build_packages(
    spec: PackageSpec,
    output_dir: Path,
    distributions: Iterable[str],
    *,
    source_date_epoch: int,
    unsigned: bool = True,
    sign_key: str | None = None,
    debfile: str | None = None,
    wheelhouse: Path | None = None,
) -> BuildResult:
    """Build the source and binary packages of ``spec`` into ``output_dir``."""
    require_tools(TOOLS)
    key = sign_key or spec.maintainer.rpartition("<")[2].rstrip(">")
    if not unsigned:
        check_signing_key(key)
    with staging_folder(output_dir, "tap2deb") as staging:
        result = _build_in(
            staging,
            spec,
            output_dir,
            distributions,
            source_date_epoch,
            None if unsigned else key,
            wheelhouse,
        )
        if debfile:
            _link_debfile(result.deb, output_dir / debfile)
        return result


def _build_in(
    staging: Path,
    spec: PackageSpec,
    output_dir: Path,
    distributions: Iterable[str],
    source_date_epoch: int,
    key: str | None,
    wheelhouse: Path | None,
) -> BuildResult:
    upstream = spec.upstream_version
    tree = staging / f"{spec.name}-{upstream}"
    try:
        prepare_tree(spec, tree, distributions, wheelhouse=wheelhouse)
        orig = staging / f"{spec.name}_{upstream}.orig.tar.xz"
        write_reproducible_tar(
            tree, orig, source_date_epoch, parts=("app", "runtime"), compression="xz"
        )
    except OSError as err:
        raise CantCreateError(f"cannot write the source tree: {err}") from err
    env = _environment(source_date_epoch)
    sign = ["-us", "-uc"] if key is None else [f"--sign-key={key}"]
    # -d: only debhelper is needed, not build-essential (nothing is compiled)
    _run(["dpkg-buildpackage", "-d", "--build=full", *sign], tree, env, "dpkg-buildpackage")
    _run(["dh_clean"], tree, env, "dh_clean")
    found: dict[str, Path] = {}
    for path in sorted(staging.iterdir()):
        for suffix in _RESULT_SUFFIXES:
            if path.is_file() and path.name.endswith(suffix):
                found[suffix] = path
    missing = [suffix for suffix in _RESULT_SUFFIXES if suffix not in found]
    if missing:
        raise InternalError(f"dpkg-buildpackage produced no {', '.join(missing)} file")
    # only a complete build reaches the output folder
    moved = {suffix: output_dir / path.name for suffix, path in found.items()}
    for suffix, path in found.items():
        os.replace(path, moved[suffix])
    source_tree = output_dir / tree.name
    if source_tree.exists():
        os.replace(source_tree, staging / "previous-tree")
    os.replace(tree, source_tree)
    return BuildResult(
        deb=moved[".deb"],
        dsc=moved[".dsc"],
        orig=moved[".orig.tar.xz"],
        debian_tar=moved[".debian.tar.xz"],
        changes=moved[".changes"],
        buildinfo=moved[".buildinfo"],
        source_tree=source_tree,
        signed=key is not None,
    )


def _link_debfile(deb: Path, target: Path) -> None:
    """``--debfile``: the .deb under a second name (the .changes keeps naming the first)."""
    if target.suffix != ".deb":
        target = target.with_name(target.name + ".deb")
    if target == deb:
        return
    try:
        target.unlink(missing_ok=True)
        os.link(deb, target)
    except OSError as err:
        raise CantCreateError(f"cannot write {target}: {err}") from err
