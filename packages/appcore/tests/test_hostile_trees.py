"""Loaded trees that decode but do not hold together: broken service trees, bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from appcore import (
    EXTENSIONS,
    Application,
    DataError,
    EchoFactory,
    MultiService,
    Persistent,
    Service,
    StreamServerService,
    TimerService,
    dumps,
    load_application,
    loads,
)

pytestmark = pytest.mark.timeout(60)


def broken(case: str) -> object:
    app = Application("app")
    group = MultiService("group")
    group.set_service_parent(app)
    leaf = Service("leaf")
    leaf.set_service_parent(group)
    if case == "own parent":
        app.parent = app
    elif case == "child of two parents":
        app.services.append(leaf)
    elif case == "cycle":
        group.services.append(app)
    elif case == "parent elsewhere":
        leaf.parent = app
    elif case == "not a service":
        group.services.append(StreamServerService("tcp:0", EchoFactory()).endpoint)
    elif case == "name":
        leaf.name = 7  # type: ignore[assignment]
    elif case == "uid":
        app.uid = "root"  # type: ignore[assignment]
    elif case == "format":
        app.persist_format = "yaml"  # type: ignore[assignment]
    elif case == "listed twice":
        group.services.append(leaf)
    elif case == "unnamed listed twice":
        nameless = Service()
        nameless.set_service_parent(group)
        group.services.append(nameless)
    elif case == "twins":
        twin = Service("leaf")
        twin.parent = group
        group.services.append(twin)
    return app


CASES = [
    "own parent",
    "child of two parents",
    "cycle",
    "parent elsewhere",
    "not a service",
    "name",
    "uid",
    "format",
    "twins",
    "listed twice",
    "unnamed listed twice",
]


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
@pytest.mark.parametrize("case", CASES)
def test_a_broken_tree_is_bad_data_at_load(tmp_path: Path, case: str, fmt: str) -> None:
    path = tmp_path / f"app.{EXTENSIONS[fmt]}"
    path.write_bytes(dumps(broken(case), fmt))  # type: ignore[arg-type]
    with pytest.raises(DataError) as caught:
        load_application(path)
    assert "\n" not in caught.value.message


def test_a_sound_tree_passes(tmp_path: Path) -> None:
    path = tmp_path / "app.tap"
    path.write_bytes(dumps(broken("none")))
    assert load_application(path).services[0].name == "group"


# --- numbers held by loaded objects -------------------------------------------------------


@pytest.mark.parametrize("interval", ["nan", "inf", "-1.0", "0.0"])
@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
def test_a_loaded_timer_needs_a_positive_interval(interval: str, fmt: str) -> None:
    from appcore import PeriodicAction

    timer = TimerService(1.0, PeriodicAction())
    timer.interval = float(interval)
    with pytest.raises(DataError, match="interval must be"):
        loads(dumps(timer, fmt))  # type: ignore[arg-type]


class Tuned(Persistent):
    """A persistent class with a timeout, validated when loaded."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def _validate(self) -> None:
        from appcore import check_number

        check_number(self, "timeout", more_than=0)


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
def test_every_format_runs_the_validate_step(fmt: str) -> None:
    assert loads(dumps(Tuned(2.5), fmt)).timeout == 2.5  # type: ignore[arg-type,attr-defined]
    for bad in (-1.0, float("nan"), float("inf"), "soon"):
        with pytest.raises(DataError, match="test_hostile_trees:Tuned: timeout must be"):
            loads(dumps(Tuned(bad), fmt))  # type: ignore[arg-type]
