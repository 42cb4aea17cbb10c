"""IRC limits: refused on the command line (64) and in a file (65) when below their
bounds, ``nan`` or infinite."""

from __future__ import annotations

import pytest

from appcore import DataError, UsageError, dumps, loads
from appcore_irc._maker import irc

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--flood-rate", "nan"),
        ("--flood-rate", "inf"),
        ("--flood-rate", "0"),
        ("--flood-burst", "-1"),
        ("--max-clients", "-10"),
    ],
)
def test_bad_limits_are_usage_errors(flag: str, value: str) -> None:
    with pytest.raises(UsageError, match=f"{flag}: must be"):
        irc.options.parse([flag, value])


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
@pytest.mark.parametrize(
    ("name", "value"),
    [("flood_rate", float("nan")), ("flood_rate", 0.0), ("flood_burst", -1), ("max_clients", 0)],
)
def test_a_file_with_a_bad_limit_is_refused(fmt: str, name: str, value: object) -> None:
    service = irc.make_service({"listen": "tcp:0:interface=127.0.0.1", "name": "irc.test"})
    setattr(service.factory, name, value)  # type: ignore[attr-defined]
    with pytest.raises(DataError, match=f"appcore_irc:IRCFactory: {name} must be"):
        loads(dumps(service, fmt))  # type: ignore[arg-type]
