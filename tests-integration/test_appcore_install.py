"""appcore installs alone from its wheel and stays cheap to import."""

from __future__ import annotations

import json

TOOLS = {"mktap", "tapconvert", "twistd", "tap2deb", "tap2rpm"}

# Run inside the venv: every installed distribution that appcore's declared requirements
# (followed transitively, extras excluded) do not account for.
CLOSURE = r"""
import json, re
from importlib import metadata

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

installed = {norm(d.metadata["Name"]): d for d in metadata.distributions()}
seen, todo = set(), ["appcore"]
while todo:
    name = todo.pop()
    if name in seen or name not in installed:
        continue
    seen.add(name)
    for req in installed[name].requires or []:
        if "extra ==" in req:
            continue
        todo.append(norm(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]))
print(json.dumps({"installed": sorted(installed), "closure": sorted(seen)}))
"""


def test_appcore_alone_pulls_only_its_dependencies(make_venv) -> None:
    env = make_venv("appcore")
    done = env.run(env.python, "-c", CLOSURE)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    installed, closure = set(report["installed"]), set(report["closure"])
    assert "appcore" in closure
    assert not installed & TOOLS
    unexpected = installed - closure - {"pip", "setuptools"}
    assert not unexpected, f"installed but not required by appcore: {sorted(unexpected)}"


def test_import_appcore_loads_no_heavy_modules(make_venv) -> None:
    env = make_venv("appcore")
    probe = (
        "import sys, json; before = set(sys.modules); import appcore; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = env.run(env.python, "-c", probe)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    heavy = {"asyncio", "ssl", "xml", "cryptography", "importlib.metadata", "typer", "socket"}
    assert "appcore" in loaded
    assert not loaded & heavy, f"import appcore loaded {sorted(loaded & heavy)}"


def test_appcore_version_matches_metadata(make_venv) -> None:
    env = make_venv("appcore")
    done = env.run(
        env.python,
        "-c",
        "import appcore, importlib.metadata as m; "
        "print(appcore.__version__ == m.version('appcore'))",
    )
    assert done.stdout.strip() == "True", done.stderr
