"""TAP (pickle): restricted unpickling and broken input."""

from __future__ import annotations

import os
import pickle

import pytest

from appcore import Application, DataError, Service, dumps, loads


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_hostile_pickle_naming_os_system_is_refused() -> None:
    data = pickle.dumps(Boom(), protocol=5)
    with pytest.raises(DataError, match="posix:system"):
        loads(data, "pickle")


def test_builtins_eval_is_refused() -> None:
    data = pickle.dumps(eval, protocol=5)
    with pytest.raises(DataError, match="builtins:eval"):
        loads(data)


@pytest.mark.parametrize("cut", [1, 2, 10, 100, -1])
def test_truncated_pickle_is_bad_data(cut: int) -> None:
    app = Application("t")
    Service("s").set_service_parent(app)
    data = dumps(app, "pickle")
    with pytest.raises(DataError):
        loads(data[:cut], "pickle")


def test_junk_after_protocol_header_is_bad_data() -> None:
    with pytest.raises(DataError, match="not a valid TAP"):
        loads(b"\x80\x05junkjunkjunk")


def test_saving_a_function_is_refused() -> None:
    app = Application("t")
    app.callback = print  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="not registered"):
        dumps(app, "pickle")
