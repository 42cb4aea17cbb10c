"""A web worker process: ``python -m appcore_web._worker_main`` (started by a WorkerPool).

It reads the pickled site and its listening socket numbers from stdin, serves until
SIGTERM/SIGINT or until stdin closes (the parent died), then stops the site gracefully.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import struct
import sys
from typing import Any

from appcore import (
    ConnectionTracker,
    SSLServerEndpoint,
    StreamServer,
    new_event_loop,
    parse_server_endpoint,
    serve_stream,
    server_ssl_context,
)


def _read_payload() -> dict[str, Any]:
    stream = sys.stdin.buffer
    header = stream.read(4)
    if len(header) != 4:
        raise SystemExit("appcore web worker: no start-up data on stdin")
    (size,) = struct.unpack("!I", header)
    data = stream.read(size)
    if len(data) != size:
        raise SystemExit("appcore web worker: truncated start-up data on stdin")
    payload: dict[str, Any] = pickle.loads(data)
    return payload


async def _serve(payload: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    site = payload["site"]
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    # The parent holds our stdin open for as long as it lives.
    loop.add_reader(sys.stdin.fileno(), _watch_parent, request_stop)

    await site.start()
    site.runtime().multiprocess = True
    servers: list[StreamServer] = []
    # appcore's accept loop, as in a one-process server: it survives running out of file
    # descriptors, closing idle keep-alive connections to let waiting clients in.
    tracker = ConnectionTracker()
    build = tracker.wrap(site.build_protocol)
    for text, fd in payload["sockets"]:
        endpoint = parse_server_endpoint(text)
        context = server_ssl_context(endpoint) if isinstance(endpoint, SSLServerEndpoint) else None
        sock = socket.socket(fileno=fd)
        servers.append(
            serve_stream(sock, build, ssl_context=context, name=text, close_idle=tracker.close_idle)
        )
    await stop
    for server in servers:
        server.close()
    await site.stop()


def _watch_parent(request_stop: Any) -> None:
    try:
        data = os.read(sys.stdin.fileno(), 4096)
    except OSError:
        data = b""
    if not data:
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        request_stop()


def main() -> int:
    """Run one worker; returns its exit status."""
    payload = _read_payload()
    loop = new_event_loop(payload.get("loop", "asyncio"))
    try:
        loop.run_until_complete(_serve(payload))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
