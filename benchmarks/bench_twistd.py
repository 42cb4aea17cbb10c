"""Side-by-side benchmark: our ``twistd`` against Twisted's, in one run on one machine.

Two measurements, each repeated and reported as medians, the two runners interleaved so that
machine drift hits both alike:

* **spawn to first HTTP 200**: from ``Popen`` of ``twistd -n web --path DIR`` until a GET on
  127.0.0.1 returns 200 (the client retries every millisecond);
* **SIGTERM to exit**: an application of 100,000 services (plus one echo port used to see
  that it runs) loaded from a TAP; from SIGTERM until the process has exited, including the
  shutdown save of ``NAME-shutdown.tap`` (and, for reference, with ``-o``: no save).

Twisted comes from ``--twisted-python`` (an interpreter of a separate venv, for example
``/tmp/twvenv/bin/python``), else from the running interpreter if it can import twisted, else
``/tmp/twvenv/bin/python`` if it exists. The product never imports Twisted. Output: a table
and, with ``--out``, JSON::

    python benchmarks/bench_twistd.py --twisted-python /tmp/twvenv/bin/python --out r.json

Our packages are run with bytecode caching allowed (``PYTHONDONTWRITEBYTECODE`` is removed
from the children's environment and one warm-up run precedes the timed ones): a start-up
benchmark that recompiles every module measures the compiler, not the tool. Installed wheels
are byte-compiled by pip anyway.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

OURS_MAIN = (
    "import sys; from twistd._cli import console_main; sys.argv[0] = 'twistd'; console_main()"
)
TWISTED_MAIN = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"

# Builds the big application in each runner's own interpreter and format.
OURS_BUILD = """
import sys
from appcore import Application, EchoFactory, MultiService, Service, StreamServerService
from appcore import save_application
count, port, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
app = Application("big")
bulk = MultiService("bulk")
for i in range(count):
    Service().set_service_parent(bulk)
bulk.set_service_parent(app)
StreamServerService(f"tcp:{port}:interface=127.0.0.1", EchoFactory()).set_service_parent(app)
print(save_application(app, directory=folder))
"""
TWISTED_BUILD = """
import os, sys
from twisted.application import internet, service
from twisted.internet.protocol import Factory
from twisted.persisted import sob
from twisted.protocols.wire import Echo
count, port, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
app = service.Application("big")
bulk = service.MultiService()
bulk.setServiceParent(app)
for i in range(count):
    service.Service().setServiceParent(bulk)
internet.TCPServer(port, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(app)
path = os.path.join(folder, "big.tap")
sob.IPersistable(app).setStyle("pickle")
sob.IPersistable(app).save(filename=path)
print(path)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(name, None)
    return env


class Runner:
    """One twistd implementation: how to start it and how to build its big application."""

    def __init__(self, label: str, python: str, main: str, build: str) -> None:
        self.label = label
        self.python = python
        self.main = main
        self.build = build

    def command(self, *args: str) -> list[str]:
        return [self.python, "-c", self.main, *args]


def first_200(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request)
                head = sock.recv(64)
            if head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                return
        except OSError:
            pass
        time.sleep(0.001)
    raise TimeoutError(f"no HTTP 200 on port {port}")


def echo_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Wait until the echo port answers: the event loop runs, every service has started."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"twistd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"x")
                if sock.recv(1) == b"x":
                    return
        except OSError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"no echo on port {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_to_200(runner: Runner, site: Path, use_web_type: bool, workdir: Path) -> float:
    port = free_port()
    listen = f"tcp:{port}:interface=127.0.0.1"
    if use_web_type or runner.label == "twisted":
        args = ["-n", "--pidfile=", "web", "--path", str(site), "--listen", listen]
    else:  # our web server type is not registered: the same server through a -y file
        app = workdir / "web_app.py"
        app.write_text(
            "from appcore import Application\n"
            "from appcore_web import Site, WebService\n"
            "application = Application('web')\n"
            f"WebService(Site({str(site)!r}), [{listen!r}]).set_service_parent(application)\n"
        )
        args = ["-n", "--pidfile=", "-y", str(app)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        runner.command(*args),
        cwd=workdir,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first_200(port, proc)
        return time.perf_counter() - started
    finally:
        stop(proc)


def build_big_app(runner: Runner, count: int, folder: Path) -> tuple[Path, int]:
    port = free_port()
    out = subprocess.run(
        [runner.python, "-c", runner.build, str(count), str(port), str(folder)],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return Path(out.stdout.strip().splitlines()[-1]), port


def sigterm_to_exit(runner: Runner, tap: Path, port: int, save: bool) -> float:
    shutdown = tap.with_name("big-shutdown.tap")
    shutdown.unlink(missing_ok=True)
    args = ["-n", "--pidfile=", "-l", str(tap.parent / "run.log"), "-f", str(tap)]
    if not save:
        args.insert(0, "-o")
    proc = subprocess.Popen(
        runner.command(*args),
        cwd=tap.parent,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        echo_ready(port, proc)
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        elapsed = time.perf_counter() - started
    finally:
        stop(proc)
    if save and not shutdown.exists():
        raise RuntimeError(f"{runner.label}: no shutdown file was written")
    return elapsed


def interleaved(
    runners: list[Runner], runs: int, measure: Callable[[Runner], float]
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {r.label: [] for r in runners}
    for runner in runners:
        measure(runner)  # warm-up: bytecode caches, page cache
    for _ in range(runs):
        for runner in runners:
            samples[runner.label].append(measure(runner))
    return samples


def _stop_measure(built: dict[str, tuple[Path, int]], save: bool) -> Callable[[Runner], float]:
    def measure(runner: Runner) -> float:
        tap, port = built[runner.label]
        return sigterm_to_exit(runner, tap, port, save)

    return measure


def find_twisted(explicit: str | None) -> str | None:
    candidates = [explicit] if explicit else [sys.executable, "/tmp/twvenv/bin/python"]
    for python in candidates:
        if python and Path(python).exists():
            probe = subprocess.run(
                [python, "-c", "import twisted.scripts.twistd"], capture_output=True, check=False
            )
            if probe.returncode == 0:
                return python
    return None


def web_type_registered() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "from appcore import get_service_maker; get_service_maker('web')"],
        capture_output=True,
        check=False,
        env=child_env(),
    )
    return probe.returncode == 0


def summarize(samples: dict[str, list[float]]) -> dict[str, Any]:
    return {
        label: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "samples_s": values,
        }
        for label, values in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twisted-python", help="python of a venv with Twisted installed")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of the start-up test")
    parser.add_argument("--stop-runs", type=int, default=5, help="timed runs of the stop test")
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--out", "--json", dest="out", type=Path, help="write JSON here")
    args = parser.parse_args(argv)

    runners = [Runner("ours", sys.executable, OURS_MAIN, OURS_BUILD)]
    twisted_python = find_twisted(args.twisted_python)
    if twisted_python is not None:
        runners.append(Runner("twisted", twisted_python, TWISTED_MAIN, TWISTED_BUILD))
    else:
        print("Twisted not found: measuring ours only (--twisted-python)", file=sys.stderr)
    use_web_type = web_type_registered()
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "twisted_python": twisted_python,
        "ours_web_via": "twistd web" if use_web_type else "-y file (web type not registered)",
    }
    with tempfile.TemporaryDirectory(prefix="bench-twistd-") as tmp:
        root = Path(tmp)
        site = root / "site"
        site.mkdir()
        (site / "index.html").write_bytes(b"x" * 1024)
        results["spawn_to_first_200"] = summarize(
            interleaved(runners, args.runs, lambda r: spawn_to_200(r, site, use_web_type, root))
        )
        for save in (True, False):
            key = "sigterm_to_exit_with_save" if save else "sigterm_to_exit_no_save"
            built: dict[str, tuple[Path, int]] = {}
            for runner in runners:
                folder = root / f"{runner.label}-big"
                folder.mkdir(exist_ok=True)
                built[runner.label] = build_big_app(runner, args.services, folder)

            results[key] = summarize(
                interleaved(runners, args.stop_runs, _stop_measure(built, save))
            )
    print_table(results)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def print_table(results: dict[str, Any]) -> None:
    print(f"{'measurement':34} {'ours':>10} {'twisted':>10} {'ratio':>7}")
    for key in ("spawn_to_first_200", "sigterm_to_exit_with_save", "sigterm_to_exit_no_save"):
        row = results.get(key, {})
        ours = row.get("ours", {}).get("median_s")
        theirs = row.get("twisted", {}).get("median_s")
        ratio = f"{ours / theirs:.2f}x" if ours and theirs else "-"
        shown = [f"{v * 1000:8.1f}ms" if v else f"{'-':>10}" for v in (ours, theirs)]
        print(f"{key:34} {shown[0]} {shown[1]} {ratio:>7}")
    print(f"(ours served HTTP via {results['ours_web_via']}; medians; ratio = ours / twisted)")


if __name__ == "__main__":
    sys.exit(main())
