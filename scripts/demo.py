"""The Quick start's main job (run by ``scripts/nox -s demo`` in a venv built from dist/).

1. ``mktap web`` builds an Application serving this project's folder on 127.0.0.1;
2. ``twistd`` brings it to life as a daemon (it returns once the server is listening);
3. a real HTTP request checks it answers; the URL and how to stop it are printed.

Runtime files (the application file, pid file, logs) go to ``.demo/`` in the project.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".demo"
BIN = Path(sys.executable).parent


def pick_port(preferred: int = 8080) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise SystemExit("demo: no free port on 127.0.0.1")


def run(*command: str | Path) -> None:
    shown = " ".join(str(c) for c in command)
    print(f"$ {shown}", flush=True)
    done = subprocess.run([str(c) for c in command], cwd=RUN, check=False)
    if done.returncode != 0:
        raise SystemExit(f"demo: '{shown}' failed with exit code {done.returncode}")


def stop_previous() -> None:
    pidfile = RUN / "twistd.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 15)
        print(f"demo: stopped the previous demo server (pid {pid})")
    except (OSError, ValueError, IndexError):
        pass


def main() -> int:
    RUN.mkdir(exist_ok=True)
    stop_previous()
    port = pick_port()
    app_file = RUN / "web.tap"
    run(BIN / "mktap", "-o", app_file, "web", "--path", ROOT,
        "--listen", f"tcp:{port}:interface=127.0.0.1", "--logfile", RUN / "access.log")  # fmt: skip
    run(BIN / "twistd", "-f", app_file, "--pidfile", RUN / "twistd.pid",
        "--logfile", RUN / "twistd.log", "--rundir", RUN)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    with urllib.request.urlopen(url + "README.md", timeout=10) as response:
        first_line = response.readline().decode().strip()
        print(f"demo: GET {url}README.md -> {response.status}: {first_line!r}")
    pid = (RUN / "twistd.pid").read_text().split()[0]
    print(
        f"\nThe web server runs as a daemon (pid {pid}), serving {ROOT}:\n"
        f"    {url}\n"
        f"Stop it with:\n"
        f"    kill $(cat {RUN / 'twistd.pid'})\n"
        f"It then saves its state as {RUN / 'web-shutdown.tap'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
