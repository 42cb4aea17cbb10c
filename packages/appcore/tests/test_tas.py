"""TAS (Python source): the no-exec reader, hand edits, and trusted execution."""

from __future__ import annotations

from pathlib import Path

import pytest

from appcore import Application, DataError, MultiService, Service, dumps, load_file, loads


def small_app() -> Application:
    app = Application("src")
    group = MultiService("group")
    group.set_service_parent(app)
    for i in range(3):
        Service(f"s{i}").set_service_parent(group)
    settings = {"port": 8080, "timeout": 0.5, "pair": (1, 2), "neg": -3}
    app.settings = settings  # type: ignore[attr-defined]
    return app


def test_generated_file_shape() -> None:
    text = dumps(small_app(), "source").decode()
    lines = text.splitlines()
    assert lines[0].startswith("# appcore TAS 1")
    assert lines[-1] == "application = _0"
    assert sum(1 for line in lines if line.startswith("_") and "make(" in line) == 3


def test_value_edits_stay_on_the_no_exec_path(tmp_path: Path) -> None:
    text = dumps(small_app(), "source").decode()
    edited = text.replace('"port": 8080', '"port": 9090').replace('"s1"', '"renamed"')
    edited = edited.replace("_2 = make(", "# a comment a person added\n_2 = make(")
    loaded = loads(edited.encode())
    assert loaded.settings["port"] == 9090  # type: ignore[attr-defined]
    assert loaded.services[0].services[1].name == "renamed"  # type: ignore[attr-defined]


def test_reformatted_file_still_loads_without_exec() -> None:
    text = dumps(small_app(), "source").decode()
    spread = text.replace('{"name": "s0", ', '{\n    "name": "s0",\n    ')
    loaded = loads(spread.encode())
    assert loaded.services[0].services[0].name == "s0"  # type: ignore[attr-defined]


def test_hand_added_code_needs_trust(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = dumps(small_app(), "source").decode()
    hostile = text + f"open({str(marker)!r}, 'w').close()\n"
    with pytest.raises(DataError, match="trust-source"):
        loads(hostile.encode())
    assert not marker.exists()
    loaded = loads(hostile.encode(), trusted=True)
    assert marker.exists()
    assert isinstance(loaded, Application)


def test_trusted_code_may_build_services() -> None:
    text = dumps(small_app(), "source").decode()
    extra = "for i in range(5):\n    make(Service, {'name': f'x{i}', 'parent': None})\n"
    extra += "application.extra = [make(Service, {'name': 'y', 'parent': None})]\n"
    loaded = loads((text + extra).encode(), trusted=True)
    assert loaded.extra[0].name == "y"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "line",
    [
        "_99 = make(Service, {'name': __import__('os').getcwd()})",
        'fill(_0, {"x": f"{1}"})',
        '_99 = make(Service, {"a": _0.name})',
        "_99 = make(Service, -_0)",
        "import os",
    ],
)
def test_code_disguised_as_values_is_not_run(line: str) -> None:
    text = dumps(small_app(), "source").decode() + line + "\n"
    with pytest.raises(DataError, match="did not generate"):
        loads(text.encode())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# appcore TAS 1\n_0 = make(Service, {\n", "syntax error"),
        ('# appcore TAS 1\nX = cls("os:system")\napplication = 1\n', "os:system"),
        ("# appcore TAS 1\n_0 = make(Nope, {})\napplication = _0\n", "not bound"),
        ("# appcore TAS 1\napplication = _5\n", "never defines"),
        (
            '# appcore TAS 1\nS = cls("appcore._service:Service")\n_0 = shell(S)\n',
            "no 'application",
        ),
    ],
)
def test_broken_sources_give_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        loads(text.encode(), "source")


def test_json_lookalikes_read_as_python_reads_them() -> None:
    # Each of these values JSON would read differently (or at all); the reader must not.
    text = '# appcore TAS 1\napplication = ["a\\/b", "\\ud83d\\ude00", 1E5, [0e1], _x]\n'
    with pytest.raises(DataError, match="did not generate"):
        loads(text.encode())
    text = '# appcore TAS 1\napplication = ["a\\/b", "\\ud83d\\ude00", 1E5, 0e1]\n'
    value = loads(text.encode())
    assert value == ["a\\/b", "\ud83d\ude00", 1e5, 0.0]


def test_tac_and_py_are_not_tas(tmp_path: Path) -> None:
    path = tmp_path / "app.tac"
    path.write_text("application = 1\n")
    with pytest.raises(DataError, match="not recognised"):
        load_file(path)
