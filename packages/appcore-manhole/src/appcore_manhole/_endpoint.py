"""Manholes listen on the loopback interface unless an interface is named explicitly."""

from __future__ import annotations

import dataclasses

from appcore import (
    ServerEndpoint,
    TCPServerEndpoint,
    UsageError,
    parse_server_endpoint,
    split_description,
)


def loopback_by_default(description: str) -> ServerEndpoint:
    """Parse a stream endpoint; a tcp/tcp6 one without an interface gets the loopback one.

    A manhole runs arbitrary code for whoever logs in: reachable from the network only when
    the person configuring it says so (``interface=0.0.0.0``).
    """
    endpoint = parse_server_endpoint(description)
    if endpoint.kind == "udp":
        raise UsageError(f"--listen {description!r}: a manhole needs a stream endpoint")
    if isinstance(endpoint, TCPServerEndpoint):
        positional, keywords = split_description(description)
        if positional and positional[0] in ("tcp", "tcp6"):
            positional = positional[1:]
        if len(positional) < 2 and "interface" not in keywords:
            loopback, spelled = ("::1", r"\:\:1") if endpoint.ipv6 else ("127.0.0.1", "127.0.0.1")
            return dataclasses.replace(
                endpoint, interface=loopback, description=f"{description}:interface={spelled}"
            )
    return endpoint
