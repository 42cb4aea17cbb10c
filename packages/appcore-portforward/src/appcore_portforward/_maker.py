"""The portforward server type declaration: names, options and where the code lives.

Light on purpose: listing server types imports this, never the server code.
"""

from __future__ import annotations

from appcore import Option, Options, ServiceMaker


def _tcp_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port must be from 1 to 65535, not {value}")
    return value


portforward = ServiceMaker(
    tapname="portforward",
    description="Forward connections to another host and port, with backpressure.",
    options=Options(
        Option(
            "listen",
            str,
            default="tcp:6666",
            help="endpoint to accept connections on",
            short="l",
            metavar="ENDPOINT",
        ),
        Option(
            "dest",
            str,
            help="client endpoint to forward to, e.g. tcp:host=example.org:port=80",
            short="d",
            metavar="ENDPOINT",
        ),
        Option("host", str, default="localhost", help="destination host (with --port)"),
        Option("port", int, help="destination port (instead of --dest)", validate=_tcp_port),
        Option(
            "buffer_size",
            int,
            default=64 * 1024,
            help="bytes buffered per direction before reading pauses",
            metavar="BYTES",
            at_least=1024,
        ),
    ),
    module="appcore_portforward._relay",
    persistable_modules=("appcore_portforward",),
)
