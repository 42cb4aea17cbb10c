"""The one task runner of the monorepo.

Packages are found by scanning ``packages/*/pyproject.toml``; every per-package session is
parametrized over them. Sessions stay short: the shared logic lives in the plain functions
at the top.

    scripts/nox                 # the default sessions: lint, typecheck, tests, build, integration
    scripts/nox -s tests        # every package's unit tests, under every interpreter
    scripts/nox -s "tests(appcore, debian12)"
    scripts/nox -t debian13     # every session of one interpreter
    scripts/nox -s demo         # the Quick start's main job
    scripts/nox -s bench        # benchmarks against Twisted (not default)
    scripts/nox -s "conformance(irc)" -- /path/to/irctest   # outside suites (not default)

The interpreter dimension (``tests`` and ``integration``): the packages run on the target
system's own python3, so the suite runs under each one this machine can provide.

    debian12 / debian13   /usr/bin/python3 of the Debian release this machine runs
    default               the interpreter running nox, when it is another one (a pyenv build)
    debian13 (elsewhere)  Debian 13's python3 (3.13) in a debootstrapped Debian 13 root, as root
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import debian_root

ROOT = Path(__file__).parent.resolve()
PACKAGES_DIR = ROOT / "packages"
DIST = ROOT / "dist"
CORE = "appcore"
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
IMPORT_LINTER = "import-linter==2.17"

nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "build", "integration"]

# Local packages a package's tests run beside it, as subprocesses (never imported): the inetd
# and manhole types are exercised through mktap and twistd, as their users run them; the web
# and ftp types' hostile-client tests run them under twistd.
TEST_COMPANIONS = {
    "appcore-ftp": ("twistd",),
    "appcore-inetd": ("mktap", "twistd"),
    "appcore-manhole": ("mktap", "twistd"),
    "appcore-web": ("twistd",),
}
# The packagers' lifecycle tests (marked "root": a Debian root, maintainer scripts, systemd)
# run in integration (tools from wheels) and in package(kind) (from the source trees, on
# request); their tests(...) sessions run everything else.
PACKAGERS = {"deb": "tap2deb", "rpm": "tap2rpm"}
# Extras whose code a package's own modules import (typecheck installs them): only extras
# with third-party libraries, never those naming the project's other distributions.
TYPECHECK_EXTRAS = {"appcore": "[uvloop,encryption]", "appcore-manhole": "[ssh]"}


# ----------------------------------------------------------------------------- helpers


@functools.cache
def read_pyproject(package: str) -> dict:
    """A package's pyproject.toml, parsed once per nox run (callers only read it)."""
    with (PACKAGES_DIR / package / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def find_packages() -> list[str]:
    """Every package folder holding a pyproject.toml; appcore first, the tools after it."""
    names = sorted(p.parent.name for p in PACKAGES_DIR.glob("*/pyproject.toml"))
    return sorted(names, key=lambda name: (name != CORE, name))


PACKAGES = find_packages()
TOOLS = [name for name in PACKAGES if name != CORE]


# ----------------------------------------------------------------------------- interpreters

SYSTEM_PYTHON = "/usr/bin/python3"
# Debian releases whose python3 the packages target, by the id their sessions carry.
RELEASES = {"debian12": "bookworm", "debian13": "trixie"}
# Set inside a root made by scripts/debian_root.py: the sessions there are the system's.
IN_ROOT = os.environ.get("TAP_IN_ROOT", "")


def host_release() -> str:
    """``debianNN`` for a Debian host (from /etc/os-release), else ``system``."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            fields[key] = value.strip('"')
    except OSError:
        return "system"
    if fields.get("ID") == "debian" and fields.get("VERSION_ID"):
        return f"debian{fields['VERSION_ID']}"
    return "system"


def find_interpreters() -> dict[str, str | None]:
    """Interpreter id -> interpreter; ``None`` marks a release run inside its own root."""
    found: dict[str, str | None] = {}
    here = host_release()
    if Path(SYSTEM_PYTHON).exists():
        found[here] = SYSTEM_PYTHON
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    if not Path(SYSTEM_PYTHON).exists() or base != Path(SYSTEM_PYTHON).resolve():
        found["default"] = str(base)
    if not IN_ROOT:
        for release_id in RELEASES:
            found.setdefault(release_id, None)
    return found


INTERPRETERS = find_interpreters()


def interpreter_params() -> list[nox.param]:
    """The ``python`` dimension: a session per interpreter id, also tagged with the id.

    A release run inside its own root gets no venv on this machine (``python=False``): its
    session only enters the root and runs the same session there.
    """
    return [
        nox.param(python if python is not None else False, id=name, tags=[name])
        for name, python in INTERPRETERS.items()
    ]


def interpreter_id(session: nox.Session) -> str:
    """The interpreter id a session's name ends with: ``tests(appcore, debian12)``."""
    return session.name.rsplit("(", 1)[-1].rstrip(")").split(", ")[-1]


def run_in_release_root(session: nox.Session) -> bool:
    """Run this session inside the Debian root of its interpreter, if it is such a release.

    True when it ran there: the caller then has nothing left to do.
    """
    if session.python is not False:
        return False
    interpreter = interpreter_id(session)
    release = RELEASES[interpreter]
    if os.geteuid() != 0:
        session.error(f"{interpreter} sessions run in a debootstrapped {release} root: as root")
    session.log(f"{session.name}: entering a {release} root (its python3 runs the session)")
    root = debian_root.unpack(release, ROOT / ".nox" / "roots" / release)
    debian_root.copy_tree(root)
    argv = [
        "scripts/nox",
        "-s",
        session.name,
        *(["--", *session.posargs] if session.posargs else []),
    ]
    code = debian_root.run_inside(root, argv, env={"TAP_IN_ROOT": interpreter})
    if code != 0:
        session.error(f"{session.name} failed in the {release} root (exit {code})")
    return True


def import_name(package: str) -> str:
    """The import package a distribution owns (one distribution, one import package)."""
    return read_pyproject(package)["project"]["name"].replace("-", "_")


def optional_groups(package: str) -> list[str]:
    """The names of a package's extras."""
    return sorted(read_pyproject(package)["project"].get("optional-dependencies", {}))


def test_requirements(package: str) -> list[str]:
    groups = read_pyproject(package).get("dependency-groups", {})
    return list(groups.get("test", []))


def install_for_tests(session: nox.Session, package: str) -> None:
    """The package, appcore with its uvloop extra, its test companions and test group."""
    install_local(session, package, "appcore[uvloop,encryption]", *TEST_COMPANIONS.get(package, ()))
    session.install("pytest>=8", *test_requirements(package))


def run_pytest(session: nox.Session, folder: Path, *args: str) -> None:
    session.run("python", "-c", "import sys; print('interpreter: Python', sys.version)")
    session.run(
        "python", "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(folder), *args,
    )  # fmt: skip


def folder_of(distribution: str) -> str | None:
    """The package folder of one of this repository's distributions, else None."""
    wanted = distribution.lower().replace("_", "-")
    for package in PACKAGES:
        if read_pyproject(package)["project"]["name"].lower() == wanted:
            return package
    return None


def local_closure(package: str) -> list[str]:
    """``package`` and every distribution of this repository it depends on, transitively."""
    import re

    found: list[str] = []
    todo = [package]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        for requirement in read_pyproject(current)["project"].get("dependencies", []):
            name = re.match(r"[A-Za-z0-9._-]+", requirement)
            local = folder_of(name.group(0)) if name else None
            if local is not None:
                todo.append(local)
    return found


def install_local(session: nox.Session, *specs: str) -> None:
    """Install packages from their folders in one resolution, with every local dependency
    from its folder too (never from an index); a spec may carry extras (``appcore[uvloop]``)."""
    wanted: dict[str, str] = {}
    for spec in specs:
        name, _, extra = spec.partition("[")
        for local in local_closure(name):
            wanted.setdefault(local, "")
        if extra:
            wanted[name] = f"[{extra}"
    session.install(*[f"{PACKAGES_DIR / name}{extra}" for name, extra in wanted.items()])


def check_wheel(wheel: Path, package: str) -> list[str]:
    """A wheel holds its import package (with py.typed) and its dist-info, nothing else."""
    own = import_name(package)
    problems = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    for name in names:
        if name.split("/", 1)[0].endswith(".dist-info"):
            continue
        if not name.startswith(f"{own}/"):
            problems.append(f"{wheel.name}: unexpected file {name}")
        if "__pycache__" in name or name.endswith((".pyc", ".pyo")):
            problems.append(f"{wheel.name}: compiled file {name}")
    for required in (f"{own}/__init__.py", f"{own}/py.typed"):
        if required not in names:
            problems.append(f"{wheel.name}: missing {required}")
    return problems


def check_sdist(sdist: Path, package: str) -> list[str]:
    """An sdist holds the sources, tests and docs of its package, nothing else."""
    own = import_name(package)
    # hatchling always adds the .gitignore it applies; it is harmless in an sdist.
    allowed_top = {"src", "tests", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"}
    allowed_top.add(".gitignore")
    problems = []
    with tarfile.open(sdist) as tf:
        names = [m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name]
    for name in names:
        top = name.split("/", 1)[0]
        if top not in allowed_top:
            problems.append(f"{sdist.name}: unexpected file {name}")
        if name.startswith("src/") and not name.startswith(f"src/{own}/"):
            problems.append(f"{sdist.name}: foreign source {name}")
        if "__pycache__" in name or name.endswith((".pyc", ".pyo")):
            problems.append(f"{sdist.name}: compiled file {name}")
    for required in ("pyproject.toml", "README.md", "CHANGELOG.md", f"src/{own}/__init__.py"):
        if required not in names:
            problems.append(f"{sdist.name}: missing {required}")
    return problems


# The Python releases the interpreter dimension tests (Debian 12's 3.11, Debian 13's 3.13):
# every package's classifiers name exactly these, and requires-python starts at the first.
TESTED_PYTHONS = ("3.11", "3.13")


def check_python_metadata(package: str) -> list[str]:
    """requires-python and the version classifiers say exactly what the matrix tests."""
    project = read_pyproject(package)["project"]
    prefix = "Programming Language :: Python :: 3."
    named = tuple(
        c.removeprefix("Programming Language :: Python :: ")
        for c in project.get("classifiers", [])
        if c.startswith(prefix) and c[len(prefix) :].isdigit()
    )
    problems = []
    if sorted(named) != sorted(TESTED_PYTHONS):
        problems.append(f"{package}: classifiers name Python {named}, tested: {TESTED_PYTHONS}")
    if project.get("requires-python") != f">={TESTED_PYTHONS[0]}":
        problems.append(f"{package}: requires-python should be >={TESTED_PYTHONS[0]}")
    return problems


def build_all(session: nox.Session) -> None:
    """Build every package's wheel and sdist into dist/ and check them."""
    if DIST.exists():
        shutil.rmtree(DIST)
    DIST.mkdir()
    session.install("build==1.6.1", "twine==7.0.0")
    problems: list[str] = []
    for package in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(DIST), str(PACKAGES_DIR / package))
        dist_name = read_pyproject(package)["project"]["name"].replace("-", "_")
        (wheel,) = DIST.glob(f"{dist_name}-*.whl")
        (sdist,) = DIST.glob(f"{dist_name}-*.tar.gz")
        problems += check_wheel(wheel, package) + check_sdist(sdist, package)
        problems += check_python_metadata(package)
    session.run("twine", "check", "--strict", *[str(p) for p in sorted(DIST.iterdir())])
    if problems:
        session.error("distribution contents:\n  " + "\n  ".join(problems))


def fill_wheelhouse(session: nox.Session) -> Path:
    """Third-party wheels the built packages need, so installs from dist/ run with --no-index."""
    house = DIST / "wheelhouse"
    house.mkdir(exist_ok=True)
    session.install("pip")
    ours = [str(p) for p in sorted(DIST.glob("*.whl"))]
    # the extras too: "twistd[all]" pulls appcore-manhole[ssh], and so asyncssh
    extras = [f"{tool}[{name}]" for tool in ("mktap", "twistd") for name in optional_groups(tool)]
    session.run(
        "python", "-m", "pip", "download", "--quiet", "--dest", str(house),
        "--find-links", str(DIST), *ours, *extras, "uvloop",
    )  # fmt: skip
    return house


# ----------------------------------------------------------------------------- sessions


@nox.session
@nox.parametrize("python", interpreter_params())
@nox.parametrize("package", PACKAGES, ids=PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run one package's unit tests against its installed (non-editable) build."""
    if run_in_release_root(session):
        return
    install_for_tests(session, package)
    select = ["-m", "not root"] if package in PACKAGERS.values() else []
    run_pytest(session, PACKAGES_DIR / package / "tests", *select, *(session.posargs or ["-q"]))


@nox.session
@nox.parametrize("kind", list(PACKAGERS), ids=list(PACKAGERS))
def package(session: nox.Session, kind: str) -> None:
    """Build real packages and run their lifecycle in a Debian 12 root (deb, rpm); as root."""
    tool = PACKAGERS[kind]
    install_for_tests(session, tool)
    run_pytest(session, PACKAGES_DIR / tool / "tests", "-m", "root", "-rs",
               *(session.posargs or ["-q"]))  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (pinned, explicit rules) and the layers between packages (import-linter)."""
    session.install(RUFF, IMPORT_LINTER)
    session.run("ruff", "check", str(ROOT))
    session.run("ruff", "format", "--check", str(ROOT))
    # the layers in pyproject.toml's [tool.importlinter], on the sources (nothing installed)
    sources = os.pathsep.join(str(PACKAGES_DIR / name / "src") for name in PACKAGES)
    session.run("lint-imports", "--config", str(ROOT / "pyproject.toml"),
                env={"PYTHONPATH": sources})  # fmt: skip


@nox.session
@nox.parametrize("package", PACKAGES, ids=PACKAGES)
def typecheck(session: nox.Session, package: str) -> None:
    """mypy --strict on one package, in a venv holding only its declared dependencies."""
    install_local(session, package + TYPECHECK_EXTRAS.get(package, ""))
    session.install(MYPY, *read_pyproject(package).get("dependency-groups", {}).get("types", []))
    session.run(
        "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(PACKAGES_DIR / package / "src")
    )


@nox.session
def build(session: nox.Session) -> None:
    """Build every wheel and sdist into dist/; check contents and metadata (twine)."""
    build_all(session)


@nox.session
@nox.parametrize("python", interpreter_params())
def integration(session: nox.Session) -> None:
    """The cross-tool matrix from wheels in dist/ (--no-index), then the package lifecycles.

    tests-integration/ installs each tool alone into fresh venvs of this session's
    interpreter; then the packagers, installed here from the same wheels, run their lifecycle
    tests (a Debian 12 root, maintainer scripts and scriptlets, systemd), as
    ``package(kind)`` does from the source trees.
    """
    if run_in_release_root(session):
        return
    if not any(DIST.glob("*.whl")):
        build_all(session)
    house = fill_wheelhouse(session)
    session.install("pytest", "pytest-timeout", "irc>=20.5", "hatchling>=1.27")
    env = {"TAP_DIST_DIR": str(DIST)}
    session.run(
        "python", "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "tests-integration"), *(session.posargs or ["-q"]), env=env,
    )  # fmt: skip
    if IN_ROOT or interpreter_id(session) != host_release():
        # What the lifecycle checks runs on the Debian 12 root's own python3, whatever runs
        # the packager: once per run, under this machine's system interpreter, is enough.
        session.log("package lifecycles: run by the system interpreter's integration session")
        return
    session.install("--no-index", "--find-links", str(DIST), "--find-links", str(house),
                    "twistd", *PACKAGERS.values())  # fmt: skip
    for tool in PACKAGERS.values():
        run_pytest(session, PACKAGES_DIR / tool / "tests", "-m", "root", "-rs", "-q")


@nox.session
def demo(session: nox.Session) -> None:
    """The Quick start's main job: build an application, run it on 127.0.0.1, show the way."""
    if not any(DIST.glob("*.whl")):
        build_all(session)
    house = fill_wheelhouse(session)
    wheels = [p.name.split("-")[0] for p in DIST.glob("*.whl")]
    session.install("--no-index", "--find-links", str(DIST), "--find-links", str(house), *wheels)
    session.run("python", str(ROOT / "scripts" / "demo.py"), *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with Twisted, in one run; results and report in bench-results/.

    Twisted lives only here, in its own venv (both ship a ``twistd`` script); that venv also
    holds appcore so the persistence benchmark can run both in one interpreter.
    """
    missing = [tool for tool in ("wrk", "gcc") if not shutil.which(tool)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        # wrk loads the web servers; gcc builds the echo benchmark's C load tool (the Debian
        # packages are named after the commands).
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", *missing,
                    external=True, env={"DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    elif missing:
        session.error(
            f"the benchmarks need {' and '.join(missing)}: apt-get install {' '.join(missing)}"
        )
    session.install(str(PACKAGES_DIR / CORE) + "[uvloop]", *[str(PACKAGES_DIR / t) for t in TOOLS])
    twisted_venv = Path(session.virtualenv.location).parent / "bench-twisted"
    if not (twisted_venv / "bin" / "python").exists():
        session.run("python", "-m", "venv", str(twisted_venv))
    twisted_python = str(twisted_venv / "bin" / "python")
    session.run(twisted_python, "-m", "pip", "install", "--quiet", "twisted==26.10.0",
                str(PACKAGES_DIR / CORE), external=True)  # fmt: skip
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    scripts = ROOT / "benchmarks"
    session.run("python", str(scripts / "bench_import.py"), "--json", str(out / "import.json"))
    session.run(twisted_python, str(scripts / "bench_persist.py"), "--repeat", "3",
                "--json", str(out / "persist.json"), external=True)  # fmt: skip
    session.run("python", str(scripts / "bench_twistd.py"), "--twisted-python", twisted_python,
                "--json", str(out / "twistd.json"))  # fmt: skip
    session.run("python", str(scripts / "bench_echo.py"), "--twisted-python", twisted_python,
                "--json", str(out / "echo.json"))  # fmt: skip
    session.run("python", str(scripts / "bench_web.py"), "--twistd",
                str(twisted_venv / "bin" / "twistd"), "--json", str(out / "web.json"))  # fmt: skip
    if (scripts / "report.py").exists():
        session.install("matplotlib")
        session.run("python", str(scripts / "report.py"), str(out))


# Outside conformance suites, by server type: the suite, what to install beside it, our
# controller for it (a module in tests-conformance/, never shipped) and the tests that apply.
CONFORMANCE = {
    "irc": {
        "suite": "irctest (https://github.com/progval/irctest)",
        "packages": ("appcore-irc", "mktap", "twistd"),
        "controller": "appcore_irc_controller",
        # RFC 1459 and RFC 2812 only: no services, no IRCv3, nothing one server's own, and
        # nothing irctest itself calls deprecated or a strict reading.
        "select": (
            "(RFC1459 or RFC2812) and not services and not IRCv3 and not Ergo and not Sable"
            " and not deprecated and not strict"
        ),
    },
}


@nox.session(default=False)
@nox.parametrize("server", list(CONFORMANCE), ids=list(CONFORMANCE))
def conformance(session: nox.Session, server: str) -> None:
    """An outside conformance suite against the installed server type (not in CI).

    Give the suite's checkout as the first argument or in ``CONFORMANCE_SUITE``; the other
    arguments go to pytest: ``scripts/nox -s "conformance(irc)" -- /tmp/irctest -k whois``.
    """
    spec = CONFORMANCE[server]
    args = list(session.posargs)
    checkout = args.pop(0) if args and not args[0].startswith("-") else None
    checkout = checkout or os.environ.get("CONFORMANCE_SUITE")
    if not checkout or not (Path(checkout) / "requirements.txt").is_file():
        session.error(
            f"conformance({server}) needs a checkout of {spec['suite']}: give its folder as "
            f"the first argument after --, or set CONFORMANCE_SUITE (got {checkout!r})"
        )
    suite = Path(checkout).resolve()
    session.install("-r", str(suite / "requirements.txt"))
    install_local(session, *spec["packages"])
    session.chdir(suite)
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", "--controller", spec["controller"],
        "-m", spec["select"], "-rfEs",
        *(args or ["-q"]), env={"PYTHONPATH": str(ROOT / "tests-conformance")},
    )  # fmt: skip
