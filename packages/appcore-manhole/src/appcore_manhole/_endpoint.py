"""Manholes listen on this machine only unless the endpoint says otherwise."""

from __future__ import annotations

from appcore import ServerEndpoint, UsageError, parse_server_endpoint


def loopback_by_default(description: str) -> ServerEndpoint:
    """Parse a stream endpoint with appcore's local-only defaults.

    tcp and ssl without an interface listen on 127.0.0.1 (tcp6 on ::1), a unix socket
    without a mode gets mode 600. A manhole runs arbitrary code for whoever logs in:
    reachable from elsewhere only when the person configuring it says so
    (``interface=0.0.0.0``, ``mode=660``).
    """
    endpoint = parse_server_endpoint(description, local_only=True)
    if endpoint.kind == "udp":
        raise UsageError(f"--listen {description!r}: a manhole needs a stream endpoint")
    return endpoint
