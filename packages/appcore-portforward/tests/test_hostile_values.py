"""The relay buffer size: refused on the command line (64) and in a file (65) when below
1024 bytes or not an integer."""

from __future__ import annotations

import pytest

from appcore import DataError, UsageError, dumps, loads
from appcore_portforward._maker import portforward

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("value", ["-1", "0", "1023"])
def test_a_small_buffer_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="--buffer-size: must be at least 1024"):
        portforward.options.parse(["--port", "80", "--buffer-size", value])


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
@pytest.mark.parametrize("value", [-1, 10, 65536.5, float("nan")])
def test_a_file_with_a_bad_buffer_size_is_refused(fmt: str, value: object) -> None:
    service = portforward.make_service(
        {"listen": "tcp:0:interface=127.0.0.1", "host": "127.0.0.1", "port": 9}
    )
    service.factory.buffer_size = value  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="PortForwardFactory: buffer_size must be"):
        loads(dumps(service, fmt))  # type: ignore[arg-type]
