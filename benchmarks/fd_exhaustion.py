"""Stress: a stream server out of file descriptors (security review item 13).

Starts ``twistd -n TYPE`` with ``RLIMIT_NOFILE`` set low in the child (256 by default), then
keeps ``--busy`` connections (300) busy for ``--seconds`` (40): each sends a request every
half second and reads the answer, reconnecting whenever the server closes it or it times
out (and, with ``--session N``, after N requests, as clients come and go).
Meanwhile a "normal" client makes ``--tries`` (12) fresh connections, spread over the run,
each given ``--client-timeout`` seconds (3) to get one answer. Prints the growth of the
server's log in bytes and the normal client's successes, as JSON with ``--json``.

    python benchmarks/fd_exhaustion.py --type web            # twistd from PATH
    python benchmarks/fd_exhaustion.py --type irc --reactor uvloop

Every socket is on 127.0.0.1; the run stops by itself. Not part of ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

Exchange = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ------------------------------------------------------------------ what each type is asked


async def web_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    """Nothing to say before the first request."""


async def web_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode("latin-1"))
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)


async def irc_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(f"NICK u{n}x{time.monotonic_ns() % 10**9}\r\nUSER u 0 * :u\r\n".encode())
    while b" 001 " not in await _line(reader):
        pass


async def _line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    return line


async def irc_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(b"PING :x\r\n")
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if b"PONG" in line:
            return


async def ftp_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    while not (await _line(reader)).startswith(b"220 "):
        pass
    writer.write(b"USER anonymous\r\n")
    await _ftp_reply(reader, b"331")
    writer.write(b"PASS x@example.org\r\n")
    await _ftp_reply(reader, b"230")


async def _ftp_reply(reader: asyncio.StreamReader, code: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[:3] == code and line[3:4] == b" ":
            return
        if line[:1] in b"45" and line[3:4] == b" ":
            raise ConnectionError(line.decode("latin-1").strip())


async def ftp_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(b"NOOP\r\n")
    await _ftp_reply(reader, b"200")


TYPES: dict[str, tuple[Exchange, Exchange]] = {
    "web": (web_open, web_request),
    "irc": (irc_open, irc_request),
    "ftp": (ftp_open, ftp_request),
}


def server_command(kind: str, port: int, folder: Path, log: Path, reactor: str) -> list[str]:
    twistd = shutil.which("twistd") or "twistd"
    head = [twistd, "-n", "-r", reactor, "--logfile", str(log), "--pidfile", ""]
    listen = f"tcp:{port}:interface=127.0.0.1"
    if kind == "web":
        return [*head, "web", "--path", str(folder), "--listen", listen]
    if kind == "irc":
        # A busy client pings about twice a second: above the default flood rate.
        return [*head, "irc", "--listen", listen, "--flood-rate", "50", "--max-clients", "5000"]
    if kind == "ftp":
        return [*head, "ftp", "--root", str(folder), "--listen", listen]
    raise SystemExit(f"unknown type {kind}")


# ------------------------------------------------------------------ load


async def busy_client(
    port: int, n: int, kind: str, stop: float, counts: dict[str, int], session: int
) -> None:
    opening, request = TYPES[kind]
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            await asyncio.wait_for(opening(reader, writer, n), 10)
            done = 0
            while loop.time() < stop and not (session and done >= session):
                await asyncio.wait_for(request(reader, writer, n), 10)
                counts["busy"] += 1
                done += 1
                await asyncio.sleep(0.5)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, ConnectionError):
            counts["busy_errors"] += 1
            await asyncio.sleep(0.1)
        finally:
            if writer is not None:
                writer.close()


async def normal_client(port: int, kind: str, timeout: float) -> bool:
    opening, request = TYPES[kind]
    writer = None

    async def once() -> None:
        nonlocal writer
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await opening(reader, writer, 0)
        await request(reader, writer, 0)

    try:
        await asyncio.wait_for(once(), timeout)
        return True
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, ConnectionError):
        return False
    finally:
        if writer is not None:
            writer.close()


async def load(args: argparse.Namespace, port: int) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    stop = loop.time() + args.seconds
    counts = {"busy": 0, "busy_errors": 0}
    tasks = [
        asyncio.ensure_future(busy_client(port, n, args.type, stop, counts, args.session))
        for n in range(args.busy)
    ]
    outcomes: list[bool] = []
    warm_up = min(5.0, args.seconds / 4)
    gap = (args.seconds - warm_up - args.client_timeout) / max(1, args.tries - 1)
    await asyncio.sleep(warm_up)
    for _ in range(args.tries):
        started = loop.time()
        outcomes.append(await normal_client(port, args.type, args.client_timeout))
        await asyncio.sleep(max(0.0, gap - (loop.time() - started)))
    await asyncio.gather(*tasks)
    return {"normal_ok": sum(outcomes), "normal_tries": len(outcomes), **counts}


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start listening")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", choices=sorted(TYPES), default="web")
    parser.add_argument("--reactor", default="asyncio")
    parser.add_argument("--nofile", type=int, default=256)
    parser.add_argument("--busy", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--tries", type=int, default=12)
    parser.add_argument(
        "--session", type=int, default=0,
        help="requests after which a busy client hangs up and reconnects (0: never)",
    )  # fmt: skip
    parser.add_argument("--client-timeout", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-log", type=Path, help="copy the server's log here at the end")
    args = parser.parse_args()
    # This process holds every client socket: it needs more descriptors than the server.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    nofile = args.nofile
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "root"
        folder.mkdir()
        (folder / "small.txt").write_bytes(b"x" * 512)
        log = Path(tmp) / "server.log"
        port = free_port()
        proc = subprocess.Popen(
            server_command(args.type, port, folder, log, args.reactor),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile)),
        )
        try:
            wait_listening(port, proc)
            time.sleep(0.5)
            before = log.stat().st_size if log.exists() else 0
            started = time.monotonic()
            result = asyncio.run(load(args, port))
            elapsed = time.monotonic() - started
            after = log.stat().st_size if log.exists() else 0
            alive = proc.poll() is None
        finally:
            if args.keep_log is not None and log.exists():
                shutil.copyfile(log, args.keep_log)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    summary = {
        "type": args.type,
        "reactor": args.reactor,
        "nofile": nofile,
        "busy_connections": args.busy,
        "session_requests": args.session,
        "seconds": round(elapsed, 1),
        "log_growth_bytes": after - before,
        "server_alive": alive,
        **result,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
