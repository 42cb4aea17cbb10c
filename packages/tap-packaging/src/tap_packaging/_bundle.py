"""Collect the Python runtime a packaged application needs into a private folder.

A package built by tap2deb or tap2rpm must run on a clean system that has only ``python3``:
it carries appcore, twistd and the plugin distributions the application uses, with their
whole requirement closure, in a folder such as ``/usr/lib/NAME/site`` that only its launcher
puts on ``sys.path``.

Two sources, both offline:

- the running environment (default): each distribution's installed files, as listed in its
  ``RECORD``, are copied; an editable install contributes the packages under the folder its
  ``.pth`` file names. What ships is exactly what the user ran and tested.
- a wheelhouse: ``pip install --target --no-index --find-links`` installs the named
  distributions from the wheels in a folder (what CI builds), never from the network.

Bytecode, ``RECORD`` hashes of the host, installer marks and scripts are left out, and files
are written with fixed modes, so the same inputs give the same tree.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from appcore import CantCreateError, UnavailableError, UsageError, describe_os_error

log = logging.getLogger("appcore.bundle")

# dist-info files that describe the host's installation, not the distribution
_HOST_ONLY = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_EXTENSION = re.compile(r"\.(?:cpython-(\d+)[^/]*|abi3)?\.so(?:\.[0-9.]+)?$")


@dataclass(frozen=True)
class Bundle:
    """A filled private runtime folder.

    ``distributions`` are ``name version`` pairs, sorted. ``python_abi`` is the CPython
    version tag (``"311"``) when some extension module only loads in that Python version;
    ``has_binaries`` tells a packager the folder is architecture-dependent.
    """

    site: Path
    distributions: tuple[tuple[str, str], ...]
    has_binaries: bool
    python_abi: str | None


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise UnavailableError(
            f"distribution {name!r} is not installed (pip install {name})"
        ) from None


def requirement_closure(
    names: Iterable[str], *, environment: Mapping[str, str] | None = None
) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, themselves included, sorted by name.

    Markers are evaluated for ``environment`` (default: this interpreter), with the extras
    each requirement asks for. A requirement that is not installed is an error.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, metadata.Distribution] = {}
    pending: list[tuple[str, frozenset[str], str]] = [
        (n, frozenset(), "the application") for n in names
    ]
    done: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras, needed_by = pending.pop()
        key = canonical_name(name)
        if (key, extras) in done:
            continue
        done.add((key, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise UnavailableError(
                f"{name} (needed by {needed_by}) is not installed; install it before packaging"
            ) from None
        found[key] = dist
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement as err:
                log.warning("%s: ignoring unreadable requirement %r: %s", name, text, err)
                continue
            if req.marker is not None and not any(
                req.marker.evaluate({**(environment or {}), "extra": extra})
                for extra in (extras or {""})
            ):
                continue
            pending.append((req.name, frozenset(req.extras), dist.metadata["Name"]))
    return [found[key] for key in sorted(found)]


def _editable_roots(dist: metadata.Distribution) -> list[Path] | None:
    """The source folders an editable install puts on sys.path, or None if not editable."""
    direct = dist.read_text("direct_url.json")
    if not direct or not json.loads(direct).get("dir_info", {}).get("editable"):
        return None
    roots: list[Path] = []
    for file in dist.files or ():
        if file.suffix != ".pth" or len(file.parts) != 1:
            continue
        for line in Path(str(dist.locate_file(file))).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("import"):
                raise UnavailableError(
                    f"cannot bundle {dist.metadata['Name']}: its editable install uses an "
                    "import hook; install it normally or build from a wheelhouse"
                )
            roots.append(Path(line))
    if not roots:
        raise UnavailableError(f"cannot find the sources of editable {dist.metadata['Name']}")
    return roots


def module_distributions(modules: Iterable[str]) -> dict[str, str]:
    """Map top-level module names to the installed distribution providing each.

    Modules that no distribution provides (the standard library, a file next to the
    application) are left out. Editable installs are found through their source folders.
    """
    owners = metadata.packages_distributions()
    result: dict[str, str] = {}
    wanted = set(modules)
    for module in wanted:
        if module in owners:
            result[module] = owners[module][0]
    missing = wanted - set(result)
    if missing:
        for dist in metadata.distributions():
            try:
                roots = _editable_roots(dist)
            except UnavailableError:
                continue
            for root in roots or ():
                for module in list(missing):
                    if (root / module / "__init__.py").is_file() or (
                        root / f"{module}.py"
                    ).is_file():
                        result[module] = dist.metadata["Name"]
                        missing.discard(module)
    return result


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o755 if _EXTENSION.search(target.name) else 0o644)


def _copy_installed(dist: metadata.Distribution, site: Path) -> None:
    roots = _editable_roots(dist)
    for file in dist.files or ():
        parts = PurePosixPath(str(file)).parts
        # '..' leads out of site-packages: console scripts and data files
        if ".." in parts or "__pycache__" in parts or file.suffix == ".pyc":
            continue
        if parts[0].endswith(".dist-info") and parts[-1] in _HOST_ONLY:
            continue
        if roots is not None and file.suffix == ".pth" and len(parts) == 1:
            continue
        source = Path(str(dist.locate_file(file)))
        if source.is_file():
            _copy(source, site.joinpath(*parts))
    for root in roots or ():
        for entry in sorted(root.iterdir()):
            if entry.name.endswith((".egg-info", ".dist-info")) or entry.name == "__pycache__":
                continue
            if entry.is_dir() and (entry / "__init__.py").is_file():
                for source in sorted(entry.rglob("*")):
                    rel = source.relative_to(root)
                    if (
                        source.is_file()
                        and "__pycache__" not in rel.parts
                        and source.suffix != ".pyc"
                    ):
                        _copy(source, site / rel)
            elif entry.suffix == ".py" and entry.is_file():
                _copy(entry, site / entry.name)


def _install_wheels(names: list[str], site: Path, wheelhouse: Path) -> None:
    if not wheelhouse.is_dir():
        raise UsageError(f"wheelhouse {wheelhouse} is not a folder")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--no-compile",
        "--target",
        str(site),
        *names,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    except subprocess.TimeoutExpired:
        raise UnavailableError(f"pip took over 15 minutes to install from {wheelhouse}") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise UnavailableError(f"cannot install {' '.join(names)} from {wheelhouse}: {last}")
    # scripts are not used (the launcher calls twistd's entry point) and name host paths
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    for record in site.glob("*.dist-info/*"):
        if record.name in _HOST_ONLY:
            record.unlink()


def bundle_runtime(names: Iterable[str], site: Path, *, wheelhouse: Path | None = None) -> Bundle:
    """Fill the empty or missing folder ``site`` with ``names`` and everything they require."""
    wanted = sorted({canonical_name(n) for n in names})
    try:
        site.mkdir(parents=True, exist_ok=True)
        if any(site.iterdir()):
            raise CantCreateError(f"{site} is not empty")
        if wheelhouse is not None:
            _install_wheels(wanted, site, wheelhouse)
        else:
            for dist in requirement_closure(wanted):
                _copy_installed(dist, site)
    except OSError as err:
        raise CantCreateError(f"cannot fill {site}: {describe_os_error(err)}") from err
    return describe_bundle(site)


def describe_bundle(site: Path) -> Bundle:
    """Read back what a runtime folder holds."""
    dists = []
    for info in sorted(site.glob("*.dist-info")):
        meta = metadata.PathDistribution(info).metadata
        dists.append((str(meta["Name"]), str(meta["Version"])))
    abis = set()
    binaries = False
    for path in site.rglob("*.so*"):
        match = _EXTENSION.search(path.name)
        if match:
            binaries = True
            if match.group(1):
                abis.add(match.group(1))
    if len(abis) > 1:
        raise UnavailableError(f"the runtime mixes extension modules for Pythons {sorted(abis)}")
    return Bundle(site, tuple(dists), binaries, abis.pop() if abis else None)


LAUNCHER = '''\
#!{python} -I
"""Run twistd for {name} from its private runtime in {site}."""
import sys

# -I left the script's folder, PYTHONPATH and user site-packages out; the runtime goes first
sys.path.insert(0, {site!r})
sys.dont_write_bytecode = True  # the runtime belongs to the package manager: never write to it

from importlib.metadata import distribution

(twistd,) = [
    point
    for point in distribution("twistd").entry_points
    if point.group == "console_scripts" and point.name == "twistd"
]
sys.argv[0] = "twistd"
sys.exit(twistd.load()())
'''


def launcher_script(name: str, site: str, python: str = "/usr/bin/python3") -> str:
    """The text of an executable script that runs twistd with ``site`` on ``sys.path``."""
    if not os.path.isabs(site) or not os.path.isabs(python):
        raise UsageError("the launcher needs absolute paths")
    return LAUNCHER.format(python=python, name=name, site=site)
