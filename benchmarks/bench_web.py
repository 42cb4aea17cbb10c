"""Side-by-side benchmark: appcore's web server against Twisted's ``twistd web``.

Both servers serve the same folder (a 1 KiB and a 1 MiB file) with access logging on, on
127.0.0.1, in the same run; ``wrk`` loads each in turn, several runs, and the medians are
compared. Prints a table and writes JSON (``--json``)::

    python benchmarks/bench_web.py --twistd /tmp/twvenv/bin/twistd --runs 3 --duration 10

Twisted is only ever a benchmark dependency (a separate venv); the product never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

FILES = {"1KiB": 1024, "1MiB": 1024 * 1024}

# Our server, started straight through appcore (no twistd needed).
LAUNCHER = """
import sys
from appcore import run_application
from appcore_web.tap import make_service
from appcore_web._maker import web
root, port, log, loop, workers = sys.argv[1:6]
options = web.options.parse([
    "--path", root, "--listen", f"tcp:{port}:interface=127.0.0.1",
    "--logfile", log, "--workers", workers,
])
run_application(make_service(options), loop)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> float:
    """Seconds from now until ``url`` answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, threads: int, connections: int, duration: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twistd", default=os.environ.get("TWISTD", "twistd"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--loop", default="asyncio", help="our server's loop: asyncio or uvloop")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--files", nargs="+", choices=list(FILES), default=list(FILES), help="files to load"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another appcore source tree (a folder holding the appcore package, for example"
        " an unpacked `git archive` of main) to run beside this one, labelled baseline-wN",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 69
    twistd = shutil.which(args.twistd) or args.twistd
    if not os.path.exists(twistd):
        print(f"twistd not found at {args.twistd} (pip install twisted in a venv)", file=sys.stderr)
        return 69

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = Path(tmp) / "www"
        root.mkdir()
        for name, size in FILES.items():
            (root / name).write_bytes(os.urandom(size))
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        startup: dict[str, float] = {}
        try:
            port = free_port()
            proc = subprocess.Popen(
                [twistd, "-n", "--pidfile=", "-l", f"{tmp}/twistd.log", "web",
                 "--path", str(root), "--listen", f"tcp:{port}:interface=127.0.0.1",
                 "--logfile", f"{tmp}/twisted-access.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
            )  # fmt: skip
            servers["twisted"] = (proc, port)
            startup["twisted"] = wait_until_serving(f"http://127.0.0.1:{port}/1KiB", proc)
            trees: list[tuple[str, Path | None]] = [("appcore", None)]
            if args.baseline is not None:
                trees.append(("baseline", args.baseline.resolve()))
            for workers in args.workers:
                for name, src in trees:
                    port = free_port()
                    label = f"{name}-w{workers}"
                    env = dict(os.environ)
                    if src is not None:
                        env["PYTHONPATH"] = os.pathsep.join(
                            p for p in (str(src), env.get("PYTHONPATH")) if p
                        )
                    proc = subprocess.Popen(
                        [sys.executable, "-c", LAUNCHER, str(root), str(port),
                         f"{tmp}/{label}-access.log", args.loop, str(workers)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp, env=env,
                    )  # fmt: skip
                    servers[label] = (proc, port)
                    startup[label] = wait_until_serving(f"http://127.0.0.1:{port}/1KiB", proc)

            samples: dict[str, dict[str, list[dict[str, float]]]] = {
                f: {s: [] for s in servers} for f in args.files
            }
            for run in range(args.runs):
                for name in args.files:
                    for label, (_, port) in servers.items():
                        result = run_wrk(
                            f"http://127.0.0.1:{port}/{name}",
                            args.threads,
                            args.connections,
                            args.duration,
                        )
                        samples[name][label].append(result)
                        print(
                            f"run {run + 1} {name:5} {label:12} {result['rps']:10.0f} req/s"
                            f"  p99 {result['p99_ms']:7.2f} ms",
                            file=sys.stderr,
                        )
        finally:
            for proc, _ in servers.values():
                stop(proc)

    report: dict[str, Any] = {
        "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s",
        "runs": args.runs,
        "loop": args.loop,
        "startup_s": startup,
        "results": {},
    }
    rows = []
    for name in args.files:
        base = samples[name]["twisted"]
        base_rps = statistics.median(r["rps"] for r in base)
        base_p99 = statistics.median(r["p99_ms"] for r in base)
        report["results"][name] = {}
        for label, runs in samples[name].items():
            rps = statistics.median(r["rps"] for r in runs)
            p99 = statistics.median(r["p99_ms"] for r in runs)
            entry = {
                "rps": round(rps, 1),
                "p99_ms": round(p99, 2),
                "rps_ratio": round(rps / base_rps, 2),
                "p99_ratio": round(p99 / base_p99, 2),
                "non_2xx": sum(r["non_2xx"] for r in runs),
            }
            report["results"][name][label] = entry
            rows.append((name, label, entry))
    print(json.dumps(report, indent=2))
    print(f"\n{'file':6} {'server':12} {'req/s':>10} {'p99 ms':>8} {'x req/s':>8} {'x p99':>7}")
    for name, label, entry in rows:
        print(
            f"{name:6} {label:12} {entry['rps']:10.0f} {entry['p99_ms']:8.2f}"
            f" {entry['rps_ratio']:8.2f} {entry['p99_ratio']:7.2f}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
