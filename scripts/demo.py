"""The Quick start's main job (run by ``scripts/nox -s demo`` in a venv built from dist/).

Builds an Application holding the built-in echo server type on 127.0.0.1, starts the real
service tree, talks to it over TCP, and stops it in order.
"""

from __future__ import annotations

import asyncio
import sys

import appcore


async def main() -> int:
    app = appcore.Application("demo")
    echo = appcore.get_service_maker("echo").make_service({"listen": ["tcp:0:interface=127.0.0.1"]})
    echo.set_service_parent(app)
    await appcore.start_application(app)
    (server,) = list(echo)  # type: ignore[call-overload]
    print(f"demo: echo server listening on 127.0.0.1:{server.port}")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"hello from the tap toolchain\n")
    answer = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    await writer.wait_closed()
    print(f"demo: the server answered {answer!r}")
    await appcore.stop_application(app)
    print("demo: stopped in order; running:", app.running)
    return 0 if answer == b"hello from the tap toolchain\n" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
