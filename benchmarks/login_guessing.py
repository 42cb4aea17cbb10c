"""Stress: password guessing against the manhole and FTP (security review item 15).

Starts ``twistd -n telnet`` (or ``ftp``, ``ssh-manhole``) on 127.0.0.1 with a password
file holding one user, then for ``--seconds`` (10) lets ``--connections`` clients (1, or 30
in parallel) guess wrong passwords as fast as the server answers, reconnecting whenever it
hangs up. Prints the wrong guesses answered per second, as JSON with ``--json``.

    python benchmarks/login_guessing.py --type telnet --connections 30

For ``ssh-manhole`` (public keys only) a guess is one key the server does not know, offered
on a fresh connection. Every socket is on 127.0.0.1; the run stops by itself. Not part of
``nox -s bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _until(reader: asyncio.StreamReader, *markers: bytes) -> bytes:
    text = b""
    while not any(m in text for m in markers):
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("closed")
        text += chunk
    return text


async def telnet_guesser(port: int, stop: float, counts: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _until(reader, b"Username: ")
            while loop.time() < stop:
                writer.write(b"alice\r\n")
                await _until(reader, b"Password: ")
                writer.write(b"wrong-password\r\n")
                answer = await _until(reader, b"Username: ", b"Too many", b"try again later")
                if b"Login incorrect" in answer or b"Too many failed logins." in answer:
                    counts["guesses"] += 1
                if b"Username: " not in answer.split(b"Login incorrect")[-1]:
                    break
        except (OSError, ConnectionError):
            counts["hangups"] += 1
        finally:
            if writer is not None:
                writer.close()


async def _ftp_reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] == b" ":
            return line


async def ftp_guesser(port: int, stop: float, counts: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _ftp_reply(reader)
            while loop.time() < stop:
                writer.write(b"USER alice\r\n")
                if not (await _ftp_reply(reader)).startswith(b"331"):
                    break
                writer.write(b"PASS wrong-password\r\n")
                reply = await _ftp_reply(reader)
                if reply.startswith(b"530"):
                    counts["guesses"] += 1
                else:
                    break
        except (OSError, ConnectionError):
            counts["hangups"] += 1
        finally:
            if writer is not None:
                writer.close()


async def ssh_guesser(port: int, stop: float, counts: dict[str, int]) -> None:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        try:
            async with asyncssh.connect(
                "127.0.0.1",
                port,
                username="alice",
                client_keys=[key],
                known_hosts=None,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                config=None,
                connect_timeout=max(1.0, stop - loop.time()),
            ):
                pass
        except asyncssh.PermissionDenied:
            counts["guesses"] += 1
        except (OSError, asyncssh.Error, TimeoutError):
            counts["hangups"] += 1


GUESSERS: dict[str, Any] = {
    "telnet": telnet_guesser,
    "ftp": ftp_guesser,
    "ssh-manhole": ssh_guesser,
}


def server_command(kind: str, port: int, tmp: Path, log: Path) -> list[str]:
    twistd = shutil.which("twistd") or "twistd"
    head = [twistd, "-n", "--logfile", str(log), "--pidfile", ""]
    listen = f"tcp:{port}:interface=127.0.0.1"
    if kind == "telnet":
        return [*head, "telnet", "--listen", listen, "--passwords", str(tmp / "passwd")]
    if kind == "ftp":
        root = tmp / "root"
        root.mkdir()
        return [*head, "ftp", "--root", str(root), "--listen", listen,
                "--passwd", str(tmp / "passwd")]  # fmt: skip
    import asyncssh

    keys = tmp / "authorized_keys"  # one key, which the guessers do not have
    keys.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    return [*head, "ssh-manhole", "--listen", listen, "--authorized-keys", str(keys),
            "--host-key", str(tmp / "host_key")]  # fmt: skip


async def guess(kind: str, port: int, connections: int, seconds: float) -> dict[str, int]:
    counts = {"guesses": 0, "hangups": 0}
    stop = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(GUESSERS[kind](port, stop, counts) for _ in range(connections)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", choices=sorted(GUESSERS), default="telnet")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from appcore import password_line

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "passwd").write_text(password_line("alice", "the-right-one") + "\n")
        log = tmp / "server.log"
        port = free_port()
        proc = subprocess.Popen(
            server_command(args.type, port, tmp, log),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("server did not start") from None
                    time.sleep(0.1)
            started = time.monotonic()
            counts = asyncio.run(guess(args.type, port, args.connections, args.seconds))
            elapsed = time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(10)
    summary = {
        "type": args.type,
        "connections": args.connections,
        "seconds": round(elapsed, 1),
        "guesses": counts["guesses"],
        "guesses_per_second": round(counts["guesses"] / elapsed, 2),
        "hangups": counts["hangups"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
