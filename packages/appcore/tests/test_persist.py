"""Saving and loading applications: round trips over every format pair, names, atomic writes,
format detection, versioning and structural equality."""

from __future__ import annotations

import enum
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

import appcore
from appcore import (
    Application,
    DataError,
    EchoDatagramFactory,
    EchoFactory,
    MultiService,
    PeriodicAction,
    Persistent,
    ReconnectingClientService,
    Service,
    StreamServerService,
    TimerService,
    UsageError,
    dumps,
    load_application,
    load_file,
    loads,
    register_persistable,
    save_application,
    structurally_equal,
)
from appcore.net._server import DatagramServerService
from appcore.persist._persistent import persistent_state

FORMATS = ("pickle", "xml", "source")
PASSPHRASE = "correct horse battery staple"


class Colour(enum.Enum):
    RED = 1
    BLUE = "blue"


register_persistable(Colour)


class PluginService(Service):
    """Stands in for a service a third-party plugin defines."""

    _transient: ClassVar[tuple[str, ...]] = ("connections",)
    connections: int = 0

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name)
        self.settings = settings


class Tick(PeriodicAction):
    def run(self) -> None:
        self.count = getattr(self, "count", 0) + 1


class Plain:
    """A registered class that is not Persistent: saved through its ``__dict__``."""

    def __init__(self, value: object) -> None:
        self.value = value


register_persistable(Plain)


def build_application() -> Application:
    """Every built-in service type, a plugin service, shared references and cycles."""
    app = Application("demo", uid=1000, gid=1000, persist_format="xml")
    shared = EchoFactory()
    web = MultiService("web")
    web.set_service_parent(app)
    StreamServerService("tcp:8080:interface=127.0.0.1", shared, name="echo1").set_service_parent(
        web
    )
    StreamServerService("tcp:8081:interface=127.0.0.1", shared, name="echo2").set_service_parent(
        web
    )
    DatagramServerService(
        "udp:9999:interface=127.0.0.1", EchoDatagramFactory(), name="udp"
    ).set_service_parent(app)
    ReconnectingClientService("tcp:127.0.0.1:7", EchoFactory(), name="client").set_service_parent(
        app
    )
    TimerService(2.5, Tick(), name="tick").set_service_parent(app)
    looped: list[Any] = []
    looped.append(looped)
    settings = {
        "port": 8443,
        "ratio": -0.25,
        "limits": (1, 2.0, float("inf"), float("-inf"), float("nan")),
        "blob": b"\x00\xff\"'\\",
        "names": {"b", "a", "c"},
        "frozen": frozenset({1, 2}),
        "colour": Colour.BLUE,
        "nested": {1: "one", (2, 3): [None, True, False], "": ""},
        "text": 'tab\t nl\n cr\r quote" amp& lt< uni \u00e9 \u2028 \U0001f600 nul\x00',
        "surrogate": "\udcff",
        "looped": looped,
        "plain": Plain([1, "two"]),
        "big": 2**80,
    }
    plugin = PluginService("plugin", settings)
    plugin.set_service_parent(app)
    plugin.also_looped = looped  # type: ignore[attr-defined]
    plugin.connections = 5  # transient: never saved
    return app


@pytest.fixture(scope="module")
def application() -> Application:
    return build_application()


def test_built_application_shares_and_cycles(application: Application) -> None:
    web = application.get_service_named("web")
    assert isinstance(web, MultiService)
    echo1, echo2 = web.services
    assert echo1.factory is echo2.factory  # type: ignore[attr-defined]


@pytest.mark.parametrize(("first", "second"), list(itertools.product(FORMATS, FORMATS)))
def test_round_trip_over_format_pairs(application: Application, first: str, second: str) -> None:
    once = loads(dumps(application, first))  # type: ignore[arg-type]
    assert structurally_equal(application, once)
    data = dumps(once, second)  # type: ignore[arg-type]
    twice = loads(data)
    assert structurally_equal(application, twice)
    assert isinstance(twice, Application)
    web = twice.get_service_named("web")
    assert web.services[0].factory is web.services[1].factory  # type: ignore[attr-defined]
    plugin = twice.get_service_named("plugin")
    assert plugin.settings["looped"] is plugin.also_looped  # type: ignore[attr-defined]
    assert plugin.settings["looped"][0] is plugin.settings["looped"]  # type: ignore[attr-defined]
    assert plugin.connections == 0  # type: ignore[attr-defined]
    assert plugin.parent is twice


@pytest.mark.parametrize(
    ("first", "second"), [("pickle", "xml"), ("xml", "source"), ("source", "pickle")]
)
def test_encrypted_round_trip(application: Application, first: str, second: str) -> None:
    once = loads(dumps(application, first, passphrase=PASSPHRASE), passphrase=PASSPHRASE)  # type: ignore[arg-type]
    data = dumps(once, second, passphrase=PASSPHRASE)  # type: ignore[arg-type]
    assert structurally_equal(application, loads(data, passphrase=PASSPHRASE))


@pytest.mark.parametrize("fmt", ["xml", "source"])
def test_saving_a_loaded_text_file_reproduces_it(application: Application, fmt: str) -> None:
    data = dumps(application, fmt)  # type: ignore[arg-type]
    assert dumps(loads(data), fmt) == data  # type: ignore[arg-type]
    assert dumps(loads(dumps(loads(data), "pickle")), fmt) == data  # type: ignore[arg-type]


def test_structural_equality_sees_differences(application: Application) -> None:
    other = build_application()
    assert structurally_equal(application, other)
    other.get_service_named("plugin").settings["port"] = 1  # type: ignore[attr-defined]
    assert not structurally_equal(application, other)
    unshared = build_application()
    web = unshared.get_service_named("web")
    web.services[1].factory = EchoFactory()  # type: ignore[attr-defined]
    assert not structurally_equal(application, unshared)
    assert structurally_equal([float("nan")], [float("nan")])
    assert not structurally_equal(0.0, -0.0)
    assert not structurally_equal((1,), [1])


def test_saving_a_running_application_leaves_runtime_state_out(arun: Any) -> None:
    app = Application("live")
    server = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory(), name="echo")
    server.set_service_parent(app)

    async def run() -> bytes:
        await appcore.start_application(app)
        try:
            assert server.running
            return dumps(app, "pickle")
        finally:
            await appcore.stop_application(app)

    loaded = loads(arun(run()))
    assert isinstance(loaded, Application)
    assert not loaded.get_service_named("echo").running


def test_enum_members_pickle_as_a_call_of_their_class() -> None:
    """One TAP form on every interpreter: ``Colour(value)``, never ``getattr(Colour, name)``
    (Python 3.11.2, Debian 12's python3, reduces members through the builtin getattr)."""
    import pickletools

    app = Application("enums")
    app.colours = [Colour.RED, Colour.BLUE, Colour.RED]  # type: ignore[attr-defined]
    data = dumps(app, "pickle")
    names = [arg for op, arg, _ in pickletools.genops(data) if op.name == "SHORT_BINUNICODE"]
    assert "getattr" not in names
    assert "builtins" not in names
    loaded = loads(data, "pickle")
    assert loaded.colours == [Colour.RED, Colour.BLUE, Colour.RED]  # type: ignore[attr-defined]
    assert loaded.colours[0] is loaded.colours[2] is Colour.RED  # type: ignore[attr-defined]


def test_unregistered_class_is_refused_when_saving() -> None:
    class Stranger:
        pass

    app = Application("x")
    app.stranger = Stranger()  # type: ignore[attr-defined]
    for fmt in FORMATS:
        with pytest.raises(DataError, match="not registered"):
            dumps(app, fmt)  # type: ignore[arg-type]


def test_default_names_and_tags(tmp_path: Path, application: Application) -> None:
    assert save_application(application, directory=tmp_path).name == "demo.tax"
    path = save_application(application, directory=tmp_path, format="pickle", tag="shutdown")
    assert path.name == "demo-shutdown.tap"
    path = save_application(application, directory=tmp_path, format="source", passphrase="pw")
    assert path.name == "demo.etas"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert structurally_equal(application, load_application(path, passphrase="pw"))
    with pytest.raises(UsageError):
        save_application(application, tmp_path / "x.etap")
    with pytest.raises(UsageError):
        save_application(application, tmp_path / "x.tap", format="xml")


def test_load_application_wraps_a_bare_service(tmp_path: Path) -> None:
    root = MultiService("tree")
    Service("leaf").set_service_parent(root)
    path = save_application(root, tmp_path / "bare.tas")
    app = load_application(path)
    assert isinstance(app, Application)
    assert app.name == "bare"
    assert app.services[0].name == "tree"
    (tmp_path / "list.tap").write_bytes(dumps([1, 2]))
    with pytest.raises(DataError, match="not an application"):
        load_application(tmp_path / "list.tap")


def test_extension_and_content_must_agree(tmp_path: Path, application: Application) -> None:
    path = tmp_path / "demo.tap"
    path.write_bytes(dumps(application, "xml"))
    with pytest.raises(DataError, match="holds xml data"):
        load_file(path)
    other = tmp_path / "demo.data"
    other.write_bytes(dumps(application, "source"))
    assert structurally_equal(application, load_file(other))


def test_atomic_write_keeps_the_old_file_when_saving_fails(tmp_path: Path) -> None:
    app = Application("keep")
    path = save_application(app, tmp_path / "keep.tas")
    before = path.read_bytes()

    class Exploding(Persistent):
        def __getstate__(self) -> dict[str, Any]:
            raise RuntimeError("serializer failed midway")

    app.bad = Exploding()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        save_application(app, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.tas"]


_WRITER = textwrap.dedent(
    """
    import sys
    from appcore import Application, MultiService, Service, save_application
    app = Application("big")
    for i in range(50):
        group = MultiService(f"g{i}")
        group.set_service_parent(app)
        for j in range(1000):
            Service(f"s{i}-{j}").set_service_parent(group)
    print("ready", flush=True)
    while True:
        save_application(app, sys.argv[1])
    """
)


@pytest.mark.timeout(60)
def test_killed_writer_never_leaves_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "big.tax"
    save_application(Application("old"), path)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the writer never started a temp file"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    loaded = load_application(path)
    assert loaded.name in ("old", "big")


class _Versioned:
    """Builds version 1 and version 2 of one persisted class, as two releases would."""

    @staticmethod
    def define(version: int) -> type[Service]:
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__qualname__": "Versioned",
            "persistence_version": version,
        }
        if version >= 2:

            def upgrade_to_2(self: Any) -> None:
                self.colour = "blue"

            namespace["upgrade_to_2"] = upgrade_to_2
        cls = type("Versioned", (Service,), namespace)
        globals()["Versioned"] = cls  # pickle finds classes by module attribute
        return cls


@pytest.mark.parametrize("fmt", FORMATS)
def test_old_files_are_upgraded(fmt: str) -> None:
    old = _Versioned.define(1)
    app = Application("up")
    old("v").set_service_parent(app)
    data = dumps(app, fmt)  # type: ignore[arg-type]
    try:
        new = _Versioned.define(2)
        loaded = loads(data)
        service = loaded.get_service_named("v")  # type: ignore[attr-defined]
        assert type(service) is new
        assert vars(service)["colour"] == "blue"
        assert persistent_state(service)["__version__"] == 2
    finally:
        _Versioned.define(1)


def test_newer_files_are_refused() -> None:
    _Versioned.define(2)
    try:
        data = dumps(_Versioned.define(2)("v"), "xml")
        _Versioned.define(1)
        with pytest.raises(DataError, match="newer"):
            loads(data)
    finally:
        _Versioned.define(1)
