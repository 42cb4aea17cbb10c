"""A third party's server type, written against appcore's public API only, goes the whole way.

The test writes a small distribution the way an outside author would (its own pyproject, an
entry point in ``appcore.service_makers``, a persisted class named by its public path),
builds its wheel and installs it beside the tools from dist/. Then: ``mktap --help`` lists
it, ``mktap`` builds an application from it, ``twistd`` runs that and a real client gets
the greeting, ``tapconvert`` converts it to every format, and ``tap2deb`` packages it with
the plugin's distribution in the bundled runtime.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.27"]
build-backend = "hatchling.build"

[project]
name = "hello-tap"
version = "1.0"
description = "A greeting server type, from a third party."
dependencies = ["appcore>=0.2.0.dev0,<1"]

[project.entry-points."appcore.service_makers"]
hello = "hello_tap._maker:hello"

[tool.hatch.build.targets.wheel]
packages = ["src/hello_tap"]
"""

INIT = '''\
"""A greeting server: every connection gets one line and is closed."""

import asyncio

from appcore import Factory


class GreetingFactory(Factory):
    __module__ = "hello_tap"  # files name it hello_tap:GreetingFactory

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def build_protocol(self) -> asyncio.BaseProtocol:
        return _Greet(self.greeting)


class _Greet(asyncio.Protocol):
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(f"{self.greeting}\\n".encode())  # type: ignore[attr-defined]
        transport.close()
'''

MAKER = """\
from appcore import Option, Options, ServiceMaker

hello = ServiceMaker(
    tapname="hello",
    description="A greeting server from a third-party distribution.",
    options=Options(
        Option("listen", str, default="tcp:7900:interface=127.0.0.1", help="endpoint"),
        Option("greeting", str, default="hello", help="the line every client gets"),
    ),
    module="hello_tap._service",
    persistable_modules=("hello_tap",),
)
"""

SERVICE = """\
from appcore import StreamServerService

from hello_tap import GreetingFactory


def make_service(options):
    return StreamServerService(options["listen"], GreetingFactory(options["greeting"]),
                               name="hello")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def greeting(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                return conn.makefile("rb").readline()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def plugin_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third party's wheel, built from its own source tree."""
    source = tmp_path_factory.mktemp("hello-tap")
    package = source / "src" / "hello_tap"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text(INIT)
    (package / "_maker.py").write_text(MAKER)
    (package / "_service.py").write_text(SERVICE)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("hello_tap-1.0-*.whl")
    return wheel


def test_a_third_party_server_type_goes_the_whole_way(  # type: ignore[no-untyped-def]
    make_venv, plugin_wheel: Path, tmp_path: Path
) -> None:
    env = make_venv("mktap", "tapconvert", "twistd", "tap2deb")
    done = env.run(env.python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                   plugin_wheel)  # fmt: skip
    assert done.returncode == 0, done.stderr

    listing = env.run(env.bin("mktap"), "--help")
    assert "A greeting server from a third-party distribution." in listing.stdout

    port = free_port()
    listen = f"tcp:{port}:interface=127.0.0.1"
    made = env.run(env.bin("mktap"), "-t", "xml", "-o", tmp_path / "hello.tax", "hello",
                   "--listen", listen, "--greeting", "hi there")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert 'class="hello_tap:GreetingFactory"' in (tmp_path / "hello.tax").read_text()

    for target, ext in (("pickle", "tap"), ("source", "tas")):
        converted = env.run(env.bin("tapconvert"), "-i", tmp_path / "hello.tax", "-o",
                            tmp_path / f"hello.{ext}", "-t", target)  # fmt: skip
        assert converted.returncode == 0, converted.stderr

    for flag, name in (("-x", "hello.tax"), ("-f", "hello.tap"), ("-s", "hello.tas")):
        pidfile = tmp_path / "twistd.pid"
        started = env.run(env.bin("twistd"), flag, tmp_path / name, "--pidfile", pidfile,
                          "-l", tmp_path / "twistd.log", "-d", tmp_path, "-o")  # fmt: skip
        assert started.returncode == 0, started.stderr
        try:
            assert greeting(port) == b"hi there\n"
        finally:
            os.kill(int(pidfile.read_text().split()[0]), 15)
            deadline = time.monotonic() + 20
            while pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        assert not pidfile.exists()

    out = tmp_path / "deb"
    packaged = env.run(env.bin("tap2deb"), "-t", tmp_path / "hello.tap", "-m",
                       "Tap Tester <tap@example.org>", "-V", "1.0", "-u", "--output-dir", out,
                       env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})  # fmt: skip
    assert packaged.returncode == 0, packaged.stderr
    (deb,) = out.glob("*.deb")
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                              timeout=60, check=True).stdout  # fmt: skip
    assert "/hello_tap/__init__.py" in contents  # the plugin's distribution is bundled
    assert "/appcore_web/" not in contents  # and no server type the application does not use
