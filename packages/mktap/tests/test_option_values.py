"""Numbers on mktap's command line: ``nan``, infinities and out-of-bound values are usage
errors (exit 64, one line, nothing written), for every server type's timeouts and limits.

A dropped-in plugin declares them the way the bundled server types do (``more_than=``,
``at_least=``, and a float option with no bounds at all).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appcore import load_application

pytestmark = pytest.mark.timeout(60)

MKTAP = Path(sys.executable).parent / "mktap"

TUNED_PLUGIN = """\
from appcore import Option, Options, ServiceMaker

tuned = ServiceMaker(
    tapname="tuned",
    description="A server type with a timeout, a limit and a ratio.",
    options=Options(
        Option("timeout", float, default=10.0, help="seconds", more_than=0),
        Option("delay", float, default=1.0, help="seconds", at_least=0),
        Option("limit", int, default=100, help="connections", at_least=1),
        Option("ratio", float, default=0.5, help="no bounds declared"),
    ),
    module="appcore_plugins.tuned_server",
    persistable_modules=("appcore",),
)
"""

TUNED_SERVER = """\
from appcore import EchoFactory, StreamServerService


def make_service(options):
    service = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory())
    service.settings = dict(options)
    return service
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    plugins = tmp_path / "plugins" / "appcore_plugins"
    plugins.mkdir(parents=True)
    (plugins / "tuned.py").write_text(TUNED_PLUGIN)
    (plugins / "tuned_server.py").write_text(TUNED_SERVER)
    values = {k: v for k, v in os.environ.items() if k not in ("MKTAP_PASSPHRASE", "APPCORE_DEBUG")}
    values["PYTHONPATH"] = str(plugins.parent)
    return values


def mktap(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKTAP), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--timeout", "nan"], "must be a finite number, not nan"),
        (["--timeout", "inf"], "must be a finite number, not inf"),
        (["--timeout", "-inf"], "must be a finite number, not -inf"),
        (["--timeout", "-1"], "must be more than 0, not -1.0"),
        (["--timeout", "0"], "must be more than 0, not 0.0"),
        (["--delay", "-0.5"], "must be at least 0, not -0.5"),
        (["--limit", "-1"], "must be at least 1, not -1"),
        (["--limit", "0"], "must be at least 1, not 0"),
        (["--ratio", "nan"], "must be a finite number, not nan"),
        (["--ratio", "-inf"], "must be a finite number, not -inf"),
    ],
)
def test_bad_numbers_are_usage_errors(
    tmp_path: Path, env: dict[str, str], args: list[str], reason: str
) -> None:
    done = mktap(tmp_path, env, "tuned", *args)
    assert done.returncode == 64, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mktap: error: ")
    assert reason in lines[0]
    assert list(tmp_path.iterdir()) == [tmp_path / "plugins"]


def test_numbers_within_bounds_are_kept(tmp_path: Path, env: dict[str, str]) -> None:
    done = mktap(tmp_path, env, "tuned", "--timeout", "0.25", "--delay", "0", "--limit", "1")
    assert done.returncode == 0, done.stderr
    service = load_application(tmp_path / "tuned.tap").services[0]
    assert service.settings == {  # type: ignore[attr-defined]
        "timeout": 0.25,
        "delay": 0.0,
        "limit": 1,
        "ratio": 0.5,
    }
