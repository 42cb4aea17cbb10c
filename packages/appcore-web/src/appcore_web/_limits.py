"""Size limits and timeouts of a web site, persisted with it."""

from __future__ import annotations

from typing import Any, ClassVar

from appcore import Persistent, UsageError, check_number, number_problem


class Limits(Persistent):
    """What one client may cost the server: sizes, counts and how long it may dawdle.

    Sizes are bytes and times are seconds. Every limit answers with the status HTTP defines
    for it (413, 414, 431, 408) or, for a client that stops reading, a closed connection;
    a WebSocket message past ``ws_max_message`` closes its connection with code 1009.
    """

    __module__ = "appcore_web"  # persisted under its public name

    persistence_version: ClassVar[int] = 1

    #: Names and defaults, in the order ``--help`` lists them.
    DEFAULTS: ClassVar[dict[str, float]] = {
        "max_body": 1 << 20,  # request body bytes (413)
        "max_url": 8192,  # request-target bytes (414)
        "max_header_bytes": 65536,  # all header names and values together (431)
        "max_headers": 100,  # header field count (431)
        "max_connections": 10000,  # concurrent connections per process (503 beyond)
        "max_pipeline": 16,  # parsed requests waiting for their turn before reading pauses
        "idle_timeout": 15.0,  # keep-alive connection with no request in progress
        "request_timeout": 10.0,  # whole request (head and body) must arrive within this
        "send_timeout": 30.0,  # a client that reads nothing for this long is dropped
        "shutdown_timeout": 5.0,  # how long a stop waits for responses in flight
        "ws_max_message": 1 << 20,  # WebSocket message bytes (close code 1009 beyond)
    }

    max_body: int
    max_url: int
    max_header_bytes: int
    max_headers: int
    max_connections: int
    max_pipeline: int
    idle_timeout: float
    request_timeout: float
    send_timeout: float
    shutdown_timeout: float
    # Files from before WebSocket support hold no value: they get this default.
    ws_max_message: int = 1 << 20

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.DEFAULTS)
        if unknown:
            raise UsageError(f"unknown web limit(s): {', '.join(sorted(unknown))}")
        for name, default in self.DEFAULTS.items():
            value = values.get(name, default)
            if value is None:
                value = default
            problem = number_problem(value, integer=type(default) is int, more_than=0)
            if problem is not None:
                raise UsageError(f"web limit {name} {problem}")
            setattr(self, name, type(default)(value))

    def _validate(self) -> None:
        # Every limit is positive and finite, in a file as on the command line: a negative
        # max_body or a nan timeout would be served as given.
        for name, default in self.DEFAULTS.items():
            check_number(self, name, integer=type(default) is int, more_than=0)

    def __repr__(self) -> str:
        changed = {k: getattr(self, k) for k, v in self.DEFAULTS.items() if getattr(self, k) != v}
        return f"Limits({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def smallest_timeout(self) -> float:
        """The shortest timeout, which sets how often connections are checked."""
        return min(self.idle_timeout, self.request_timeout, self.send_timeout)
