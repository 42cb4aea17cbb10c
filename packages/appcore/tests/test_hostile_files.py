"""Hostile application files: structure bombs in every format, memo bombs in TAP.

The hostile files are built here, opcode by opcode (pickle) or line by line (TAX, TAS), so
each test says exactly what the file does. Every case ends in a :class:`DataError` (exit
65 at a tool) within a bounded time, or converts in time proportional to the file.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator

import pytest

from appcore import Application, DataError, Service, dumps, loads

pytestmark = pytest.mark.timeout(60)

TAG = b"appcore-tap/1"


def tap_of(root: bytes) -> bytes:
    """A TAP whose root is built by the opcodes ``root`` (protocol 4, no versions)."""
    head = pickle.PROTO + b"\x04" + pickle.SHORT_BINUNICODE + bytes([len(TAG)]) + TAG
    return head + pickle.EMPTY_DICT + root + pickle.TUPLE3 + pickle.STOP


def shared_tuples(depth: int) -> bytes:
    """``depth`` tuples, each holding the one below twice (a DUP of one object): 2 bytes a
    level, 2**(depth+1) values once written out."""
    return pickle.NONE + (pickle.DUP + pickle.TUPLE2) * depth


def memo_bomb(index: int) -> bytes:
    """A TAP storing None at memo slot ``index`` (LONG_BINPUT): 26 bytes."""
    return tap_of(pickle.NONE + pickle.LONG_BINPUT + index.to_bytes(4, "little"))


# --- shared structure ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "source"])
@pytest.mark.parametrize("depth", [21, 40])
def test_shared_tuples_are_refused_by_the_text_writers(fmt: str, depth: int) -> None:
    root = loads(tap_of(shared_tuples(depth)), "pickle")  # pickle keeps the sharing
    start = time.monotonic()
    with pytest.raises(DataError, match="shares tuples"):
        dumps(root, fmt)  # type: ignore[arg-type]
    assert time.monotonic() - start < 2
    again = loads(dumps(root, "pickle"))  # TAP writes it as it is, sharing and all
    assert isinstance(again, tuple)
    assert again[0] is again[1]


@pytest.mark.parametrize("fmt", ["xml", "source"])
def test_moderate_sharing_is_written_out(fmt: str) -> None:
    app = Application("shared")
    common = ("index.html", "index.htm", ("nested", 1))
    for n in range(200):
        service = Service(f"s{n}")
        service.names = common  # type: ignore[attr-defined]
        service.set_service_parent(app)
    copy = loads(dumps(app, fmt))  # type: ignore[arg-type]
    assert [s.names for s in copy] == [common] * 200  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["xml", "source"])
def test_a_cycle_through_a_shared_tuple_still_round_trips(fmt: str) -> None:
    app = Application("cycle")
    inner: list[object] = []
    pair = (inner, "x")
    inner.append(pair)
    app.first = pair  # type: ignore[attr-defined]
    app.second = pair  # type: ignore[attr-defined]
    copy = loads(dumps(app, fmt))  # type: ignore[arg-type]
    assert copy.first[0] is copy.second[0]  # type: ignore[attr-defined]
    assert copy.first[0][0][1] == "x"  # type: ignore[attr-defined]


def test_sharing_just_under_the_floor_is_written() -> None:
    from appcore.persist._census import EXPANSION_FLOOR

    depth = EXPANSION_FLOOR.bit_length() - 3  # about a quarter of the floor once written out
    root = loads(tap_of(shared_tuples(depth)), "pickle")
    assert loads(dumps(root, "source")) == root


@pytest.mark.parametrize("fmt", ["xml", "source"])
def test_an_integer_too_long_for_text_is_bad_data(fmt: str) -> None:
    app = Application("big")
    app.number = 10**5000  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="too long to write as text"):
        dumps(app, fmt)  # type: ignore[arg-type]
    assert loads(dumps(app, "pickle")).number == app.number  # type: ignore[attr-defined]


# --- memo bombs ------------------------------------------------------------------------


def test_a_memo_bomb_is_refused_at_once() -> None:
    start = time.monotonic()
    # 1 GiB of memo table before the fix. Under the memory ceiling (a one-thread process,
    # as a tool is: tapconvert's tests check that path alone) or by the scan.
    with pytest.raises(DataError, match="more memory than a file of 26 bytes|memo index"):
        loads(memo_bomb(1 << 26), "pickle")
    assert time.monotonic() - start < 1


@pytest.fixture
def another_thread() -> Iterator[None]:
    """A second thread, alive for the test: no memory ceiling can be set then."""
    done = threading.Event()
    thread = threading.Thread(target=done.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


@pytest.mark.usefixtures("another_thread")
def test_with_other_threads_the_opcodes_are_scanned_instead() -> None:
    with pytest.raises(DataError, match="memo index 67108864 at byte 19 is larger than the file"):
        loads(memo_bomb(1 << 26), "pickle")
    app = Application("fine")
    Service("s").set_service_parent(app)
    assert loads(dumps(app, "pickle")).services[0].name == "s"  # type: ignore[attr-defined]


def test_the_scan_accepts_what_pickle_writes_in_every_protocol() -> None:
    from appcore.persist._tap import check_memo_indices

    tree = {"k": [("a", 1), ("a", 1)] * 300, "s": "x" * 300}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        check_memo_indices(pickle.dumps(tree, protocol=protocol))
    with pytest.raises(DataError, match="memo index"):
        check_memo_indices(pickle.dumps(None, protocol=0)[:-1] + b"p99999\n.")


# --- TAX and TAS: the same bombs in the other formats -------------------------------------


def test_deeply_nested_tax_is_bad_data() -> None:
    depth = 50_000
    data = b'<tax version="1">' + b"<list>" * depth + b"</list>" * depth + b"</tax>"
    start = time.monotonic()
    with pytest.raises(DataError, match="nested too deeply"):
        loads(data, "xml")
    assert time.monotonic() - start < 5


def test_deeply_nested_tas_is_bad_data() -> None:
    depth = 50_000
    data = f"# appcore TAS 1\napplication = {'[' * depth}{']' * depth}\n".encode()
    start = time.monotonic()
    with pytest.raises(DataError):
        loads(data, "source")
    assert time.monotonic() - start < 5


def test_a_tas_name_referenced_many_times_loads_as_one_object() -> None:
    uses = 200_000
    data = (
        "# appcore TAS 1\n_0 = list()\nfill(_0, [1, 2, 3])\n"
        f"application = [{', '.join(['_0'] * uses)}]\n"
    ).encode()
    root = loads(data, "source")
    assert isinstance(root, list)
    assert len(root) == uses
    assert len({id(item) for item in root}) == 1
    assert len(dumps(root, "xml")) < 30 * uses  # one <ref> per use, not a copy


def test_a_tax_ref_used_many_times_loads_as_one_object() -> None:
    uses = 100_000
    data = (
        b'<tax version="1"><list><list id="0"><int>1</int></list>'
        + b'<ref id="0"/>' * uses
        + b"</list></tax>"
    )
    root = loads(data, "xml")
    assert isinstance(root, list)
    assert len({id(item) for item in root}) == 1
