"""Plugin discovery through a real installed distribution and a real dropped-in folder.

Each scenario runs a fresh Python subprocess (discovery is cached per process, and the test
must see exactly what a tool would see with that ``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appcore import (
    Option,
    Options,
    PluginError,
    Service,
    ServiceMaker,
    UnavailableError,
    UsageError,
)

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.timeout(60)

# Runs inside the subprocess: discovery, then a JSON report on stdout.
PROBE = """
import json, sys
import appcore
SERVERS = ("appcore_fixture_dist.server", "appcore_plugins._dropecho_server")
found = appcore.discover_service_makers()
report = {
    "makers": {n: m.description for n, m in found.makers.items()},
    "sources": found.sources,
    "errors": [[e.name, e.source, e.message] for e in found.errors],
    "allowed": sorted(appcore.allowed_persistable_modules()),
    "server_modules_loaded": sorted(m for m in sys.modules if m in SERVERS),
}
lookups = {}
for name in sys.argv[1:]:
    try:
        maker = appcore.get_service_maker(name)
        service = maker.make_service({"port": "81"})
        lookups[name] = ["ok", type(service).__name__, service.name, getattr(service, "port", None)]
    except appcore.AppcoreError as err:
        lookups[name] = ["error", int(err.exit_code), err.message]
report["lookups"] = lookups
report["loaded_after"] = sorted(m for m in sys.modules if m in SERVERS)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture distribution installed for real by pip into its own target folder."""
    work = tmp_path_factory.mktemp("dist")
    source = work / "src"
    shutil.copytree(FIXTURES / "plugin_dist", source)
    target = work / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
            "--no-build-isolation", "--no-deps", "--target", str(target), str(source),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    assert (target / "appcore_fixture_dist-1.0.0.dist-info" / "entry_points.txt").exists()
    return target


@pytest.fixture
def dropin(tmp_path: Path) -> Path:
    """A folder holding an ``appcore_plugins/`` namespace folder with the fixture modules."""
    folder = tmp_path / "dropin"
    shutil.copytree(FIXTURES / "dropin", folder)
    assert not (folder / "appcore_plugins" / "__init__.py").exists()
    return folder


def probe(*paths: Path, lookups: tuple[str, ...] = ()) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in paths))
    env.pop("APPCORE_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *lookups],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def errors_by_name(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {name: (source, message) for name, source, message in report["errors"]}


def test_installed_distribution_is_listed_without_importing_server_code(installed: Path) -> None:
    report = probe(installed)
    assert report["makers"]["fixtureweb"] == "A fixture web server from an installed distribution."
    assert report["sources"]["fixtureweb"].startswith("appcore-fixture-dist 1.0.0")
    assert report["server_modules_loaded"] == []
    assert "appcore_fixture_dist.server" in report["allowed"]
    assert "appcore" in report["allowed"]


def test_broken_entry_points_are_reported_and_hide_nothing(installed: Path) -> None:
    report = probe(installed)
    errors = errors_by_name(report)
    assert "fixtureweb" in report["makers"]
    assert errors["fixturebroken"][1] == "RuntimeError: fixture plugin exploded at import"
    assert "appcore-fixture-dist" in errors["fixturebroken"][0]
    assert "not a ServiceMaker" in errors["fixturenotmaker"][1]
    assert "fixturebroken" not in report["makers"]


def test_make_service_imports_the_server_module_on_demand(installed: Path) -> None:
    report = probe(installed, lookups=("fixtureweb",))
    assert report["server_modules_loaded"] == []
    assert report["lookups"]["fixtureweb"] == ["ok", "GreetingService", "fixtureweb", 81]
    assert report["loaded_after"] == ["appcore_fixture_dist.server"]


def test_dropped_in_module_is_listed_and_broken_one_reported(dropin: Path) -> None:
    report = probe(dropin, lookups=("dropecho", "dropbroken"))
    assert report["makers"]["dropecho"] == "A dropped-in echo server type."
    assert report["sources"]["dropecho"] == f"{dropin}/appcore_plugins/dropecho.py"
    # The private server module is neither a plugin nor imported by listing.
    assert report["server_modules_loaded"] == []
    assert not any(name.startswith("_") for name in report["makers"])
    errors = errors_by_name(report)
    assert errors["dropbroken"] == (
        f"{dropin}/appcore_plugins/dropbroken.py",
        "ImportError: dropbroken needs a module that is not installed",
    )
    assert report["lookups"]["dropecho"] == ["ok", "Service", "echo-81", None]
    assert report["lookups"]["dropbroken"] == [
        "error",
        69,
        "server type 'dropbroken' is broken: "
        "ImportError: dropbroken needs a module that is not installed",
    ]
    assert "appcore_plugins._dropecho_server" in report["allowed"]


def test_both_sources_together_first_duplicate_wins(installed: Path, dropin: Path) -> None:
    report = probe(dropin, installed)
    assert {"fixtureweb", "dropecho"} <= set(report["makers"])
    # Entry points come before dropped-in modules, whatever the path order.
    assert report["makers"]["fixtureweb"] == "A fixture web server from an installed distribution."
    source, message = errors_by_name(report)["fixtureweb"]
    assert source.endswith("appcore_plugins/dropdup.py")
    assert message.startswith("duplicate server type, already provided by appcore-fixture-dist")


def test_unknown_name_suggests_close_matches(installed: Path, dropin: Path) -> None:
    report = probe(installed, dropin, lookups=("fixtureweeb", "zzzzzz"))
    code, message = report["lookups"]["fixtureweeb"][1:]
    assert code == 69
    assert message == "unknown server type 'fixtureweeb'; did you mean 'fixtureweb'?"
    code, message = report["lookups"]["zzzzzz"][1:]
    assert code == 69
    assert message.startswith("unknown server type 'zzzzzz'; available: ")
    assert "dropecho" in message
    assert "fixtureweb" in message


def test_listing_is_cheap_to_import() -> None:
    # Importing appcore and the plugin machinery must not pull importlib.metadata in.
    code = (
        "import sys, appcore, appcore.plugins._discovery, appcore.plugins._options;"
        "appcore.ServiceMaker; print('importlib.metadata' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "False"


# --- in-process checks of the declaration itself


def test_service_maker_declaration_rules() -> None:
    maker = ServiceMaker("x", "An x server.", module="appcore.service._tree")
    assert maker.persistable_modules == ("appcore.service._tree",)
    assert len(maker.options) == 0
    with pytest.raises(ValueError, match="one line"):
        ServiceMaker("x", "two\nlines", module="m")
    with pytest.raises(ValueError, match="one word"):
        ServiceMaker("x y", "bad name", module="m")
    with pytest.raises(ValueError, match="module is required"):
        ServiceMaker("x", "no module")


def test_make_service_reports_unusable_server_modules() -> None:
    missing = ServiceMaker("gone", "Missing module.", module="appcore_no_such_module_xyz")
    with pytest.raises(UnavailableError, match="cannot import appcore_no_such_module_xyz"):
        missing.make_service({})
    no_factory = ServiceMaker("bare", "Module without make_service.", module="appcore._errors")
    with pytest.raises(UnavailableError, match="defines no make_service"):
        no_factory.make_service({})


def test_make_service_validates_options_before_importing() -> None:
    maker = ServiceMaker(
        "p", "Port server.", Options(Option("port", int, 1)), module="appcore_no_such_module_xyz"
    )
    with pytest.raises(UsageError, match="invalid value for --port: expected an integer"):
        maker.make_service({"port": "http"})
    with pytest.raises(UsageError, match="unknown option 'prot'"):
        maker.make_service({"prot": 1})


def test_plugin_error_reads_as_one_line() -> None:
    error = PluginError("web", "dist 1.0: web = x:y", "RuntimeError: boom")
    assert str(error) == "plugin 'web' (dist 1.0: web = x:y): RuntimeError: boom"
    assert isinstance(Service(), Service)
