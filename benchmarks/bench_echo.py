"""Benchmark: echo round trips per second, ``twistd -y`` of an echo application.

Our ``twistd`` on the default loop and on uvloop against Twisted's ``twistd -y`` with its
classic echo protocol, side by side in one run: 50 connections each sending a 64-byte
message and waiting for its echo before the next (the load tool is a small C program,
``echo_load.c``, compiled here, so the client is not the bottleneck). Medians of several
runs; target: at least 1.8x Twisted's round trips per second.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 1.8

OURS_APP = """
from appcore import Application, EchoFactory, StreamServerService
application = Application("echo")
StreamServerService("tcp:{port}:interface=127.0.0.1", EchoFactory()).set_service_parent(application)
"""

TWISTED_APP = """
from twisted.application import internet, service
from twisted.internet import protocol

class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)

factory = protocol.Factory()
factory.protocol = Echo
application = service.Application("echo")
internet.TCPServer({port}, factory, interface="127.0.0.1").setServiceParent(application)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"server exited early: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def compile_load(folder: Path) -> Path:
    binary = folder / "echo_load"
    subprocess.run(
        ["gcc", "-O2", "-o", str(binary), str(HERE / "echo_load.c")], check=True, timeout=120
    )
    return binary


def measure(
    command: list[str], app_text: str, folder: Path, load: Path, args: argparse.Namespace
) -> float:
    port = free_port()
    app_file = folder / f"echo-{port}.py"
    app_file.write_text(app_text.format(port=port))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(
        [*command, "-n", "-y", str(app_file), "--pidfile", "", "-l", str(folder / "server.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=folder,
        env=env,
    )
    try:
        wait_listening(port, proc)
        done = subprocess.run(
            [str(load), str(port), str(args.connections), str(args.size), str(args.duration)],
            capture_output=True,
            text=True,
            timeout=args.duration + 30,
            check=True,
        )
        trips, elapsed = done.stdout.split()
        return int(trips) / float(elapsed)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--twisted-python", required=True, help="python of a venv with Twisted")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", "--out", dest="json", type=Path)
    args = parser.parse_args()

    ours_twistd = str(Path(sys.executable).parent / "twistd")
    twisted_twistd = str(Path(args.twisted_python).parent / "twistd")
    servers = {
        "twisted": ([twisted_twistd], TWISTED_APP),
        "ours-asyncio": ([ours_twistd, "-r", "asyncio"], OURS_APP),
        "ours-uvloop": ([ours_twistd, "-r", "uvloop"], OURS_APP),
    }
    samples: dict[str, list[float]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        load = compile_load(folder)
        for _ in range(args.runs):  # interleaved, so drift hits every server alike
            for name, (command, app_text) in servers.items():
                samples[name].append(measure(command, app_text, folder, load, args))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["twisted"]
    report = {
        "benchmark": "echo",
        "load": f"{args.connections} connections x {args.size} B, "
        f"{args.duration:g} s, {args.runs} runs",
        "round_trips_per_s": medians,
        "samples": samples,
        "ratio_vs_twisted": {name: value / base for name, value in medians.items()},
        "target": TARGET,
    }
    for name, value in medians.items():
        print(f"{name:14s} {value:10,.0f} round trips/s  {value / base:5.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
