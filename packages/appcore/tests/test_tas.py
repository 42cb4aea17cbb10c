"""TAS (Python source): the no-exec reader, hand edits, and trusted execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appcore import (
    Application,
    DataError,
    MultiService,
    Service,
    dumps,
    load_file,
    loads,
    structurally_equal,
)
from appcore.persist.tas import _reader as _tas_read


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


class Counter(Service):
    """A service at version 2 whose upgrade step fills in what version 1 lacked."""

    persistence_version = 2

    def upgrade_to_2(self) -> None:
        self.limit = 10


def counter_app() -> Application:
    app = Application("versions")
    counter = Counter("c")
    counter.limit = 5
    counter.set_service_parent(app)
    return app


def test_versions_sit_on_the_cls_line() -> None:
    text = dumps(counter_app(), "source").decode()
    assert f'Counter = cls("{Counter.__module__}:Counter", version=2)\n' in text
    assert "__version__" not in text
    assert loads(text.encode()).get_service_named("c").limit == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize("trusted", [False, True])
def test_an_older_version_on_the_cls_line_runs_the_upgrade(trusted: bool) -> None:
    text = dumps(counter_app(), "source").decode()
    older = text.replace(", version=2)", ", version=1)").replace('"limit": 5, ', "")
    older = older.replace('"limit": 5', "")
    if trusted:
        older += "application.extra = 1\n"  # hand-added code: the file runs as Python
    loaded = loads(older.encode(), trusted=trusted)
    assert loaded.get_service_named("c").limit == 10  # type: ignore[attr-defined]


def test_files_with_versions_in_every_state_still_load() -> None:
    # The layout before the version moved to the cls line: no version there, one per state.
    text = (
        "# appcore TAS 1\n"
        'Application = cls("appcore._service:Application")\n'
        f'Counter = cls("{Counter.__module__}:Counter")\n'
        "_0 = shell(Application)\n"
        '_1 = make(Counter, {"name": "c", "parent": _0, "__version__": 1})\n'
        '_2 = make(Counter, {"name": "d", "parent": _0, "limit": 3, "__version__": 2})\n'
        'fill(_0, {"name": "old", "parent": None, "services": [_1, _2], "__version__": 1})\n'
        "application = _0\n"
    )
    loaded = loads(text.encode())
    assert [s.limit for s in loaded.services] == [10, 3]  # type: ignore[attr-defined]
    newer = text.replace('"__version__": 2', '"__version__": 3')
    with pytest.raises(DataError, match="newer"):
        loads(newer.encode())


def big_app(count: int) -> Application:
    app = Application("big")
    for g in range(4):
        group = MultiService(f"group_{g}")
        group.set_service_parent(app)
        for i in range(count // 4):
            Service(f"s-{g}-{i}").set_service_parent(group)
    return app


def test_the_reader_reads_a_file_in_chunks_without_reading_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_tas_read, "_CHUNK_BYTES", 500)
    data = dumps(big_app(400), "source")
    # The chunked reading raises rather than falling back to reading the whole file.
    root = _tas_read._read_chunks(data)
    assert structurally_equal(root, big_app(400))
    assert dumps(root, "source") == data
    assert root.services[3].services[99].parent is root.services[3]  # type: ignore[attr-defined]


def test_a_reference_to_a_later_chunk_still_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tas_read, "_CHUNK_BYTES", 100)
    lines = dumps(big_app(40), "source").decode().splitlines(keepends=True)
    lines.append(lines.pop(lines.index("_0 = shell(Application)\n")))  # now used before defined
    loaded = loads("".join(lines).encode())
    assert structurally_equal(loaded, big_app(40))


TRICKY_STRINGS = [
    "_1",
    "a _2 b",
    "[_0]",
    "None",
    "True False",
    "null",
    "true",
    "0e5",
    "tab\tand _3",
    'quote " _4',
    "back\\slash _5",
    "\\/",
    "snake_case",
]


@pytest.mark.parametrize("chunk", [1, 50, 1 << 18])
def test_strings_that_look_like_references_or_words_stay_strings(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tas_read, "_CHUNK_BYTES", chunk)
    app = Application("strings")
    for i, text in enumerate(TRICKY_STRINGS):
        service = Service(text)
        service.extra = {text: [text, i, None, True, -1.5]}  # type: ignore[attr-defined]
        service.set_service_parent(app)
    data = dumps(app, "source")
    loaded = loads(data)
    assert structurally_equal(loaded, app)
    assert dumps(loaded, "source") == data


values: Any = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(alphabet='_ "\\Nonetruefals0e1[]{}\t\n', max_size=8),
        st.binary(max_size=4),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(alphabet="_ Nnone0e", max_size=4), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(values, min_size=1, max_size=6), chunk=st.sampled_from([1, 30, 200]))
def test_any_values_read_back_whatever_the_chunk_size(items: list[Any], chunk: int) -> None:
    app = Application("values")
    for i, value in enumerate(items):
        service = Service(f"s{i}")
        service.value = value  # type: ignore[attr-defined]
        service.set_service_parent(app)
    data = dumps(app, "source")
    saved = _tas_read._CHUNK_BYTES
    _tas_read._CHUNK_BYTES = chunk
    try:
        loaded = loads(data)
    finally:
        _tas_read._CHUNK_BYTES = saved
    assert structurally_equal(loaded, app)
    assert dumps(loaded, "source") == data


def test_a_failed_streamed_save_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    from appcore import save_application

    app = small_app()
    path = save_application(app, tmp_path / "src.tas")
    before = path.read_bytes()
    # Thousands of services first, so several chunks are written before the failure.
    for i in range(5000):
        Service(f"more{i}").set_service_parent(app)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    app.deep = deep  # type: ignore[attr-defined]
    with pytest.raises(DataError):
        save_application(app, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.tas"]


def test_a_non_string_attribute_name_round_trips_byte_for_byte() -> None:
    app = small_app()
    service = app.get_service_named("group")
    vars(service)[7] = "seven"  # not an identifier: the writer must still reproduce it
    data = dumps(app, "source")
    loaded = loads(data, "source")
    assert vars(loaded.get_service_named("group"))[7] == "seven"  # type: ignore[attr-defined]
    assert dumps(loaded, "source") == data
