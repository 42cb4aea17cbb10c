"""How often a shutdown save survives a second stop signal (ours and, optionally, Twisted's),
and how often a daemon outlives a starting process killed during its start-up.

Not part of ``nox -s bench``: run by hand, with an interpreter that has appcore and twistd
(for example the venv of ``scripts/nox -s "tests(twistd, debian12)"``)::

    .nox/tests-twistd-debian12/bin/python benchmarks/measure_stop_signals.py --runs 10 \
        [--twisted /tmp/twvenv/bin/twistd]

Each run saves an application with an echo port on 127.0.0.1 (and ``--bulk`` plain
services, so that stopping and saving take a while), starts ``twistd -n -f``,
waits until the port echoes, then sends SIGTERM, waits GAP ms, sends SIGTERM again, and
records whether ``NAME-shutdown.tap`` was written. ``timeout`` runs ``timeout 1 twistd ...``
in a session of its own: coreutils' timeout signals the child and then its whole process
group, so the child gets SIGTERM twice at once.

``--starter-runs N`` then starts ``twistd -f`` as a daemon N times and sends SIGTERM to the
starting process 0 to 300 ms after it was spawned (random, during its start-up), and
counts, among the runs where that killed it before it finished, the daemons still running
a second later.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TWISTED_APP = """\
import sys
from twisted.application import internet, service
from twisted.internet import protocol
from twisted.persisted import sob
from twisted.protocols.wire import Echo

application = service.Application("measured")
factory = protocol.ServerFactory()
factory.protocol = Echo
internet.TCPServer(int(sys.argv[1]), factory, interface="127.0.0.1").setServiceParent(
    application
)
bulk = service.MultiService()
bulk.setName("bulk")
for i in range(int(sys.argv[2])):
    child = service.Service()
    child.setName(f"s{i}")
    child.setServiceParent(bulk)
bulk.setServiceParent(application)
sob.IPersistable(application).save(filename="measured.tap")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"up")
            return sock.recv(2) == b"up"
    except OSError:
        return False


def save_ours(folder: Path, port: int, bulk: int) -> Path:
    from appcore import (
        Application,
        EchoFactory,
        MultiService,
        Service,
        StreamServerService,
        save_application,
    )

    app = Application("measured")
    StreamServerService(f"tcp:{port}:interface=127.0.0.1", EchoFactory()).set_service_parent(app)
    group = MultiService("bulk")
    for i in range(bulk):
        Service(f"s{i}").set_service_parent(group)
    group.set_service_parent(app)
    return Path(save_application(app, folder / "measured.tap"))


def save_twisted(folder: Path, port: int, bulk: int, twistd: str) -> Path:
    python = str(Path(twistd).parent / "python")
    subprocess.run([python, "-c", TWISTED_APP, str(port), str(bulk)], cwd=folder, check=True)
    return folder / "measured.tap"


def one_run(twistd: str, twisted: bool, gap_ms: float | None, bulk: int) -> bool:
    """One start and double stop; True when the shutdown file was written."""
    with tempfile.TemporaryDirectory(prefix="stop-signals-") as name:
        folder = Path(name)
        port = free_port()
        tap = save_twisted(folder, port, bulk, twistd) if twisted else save_ours(folder, port, bulk)
        args = [twistd, "-n", "--pidfile=", "-l", "run.log", "-f", str(tap)]
        if gap_ms is None:
            args = ["timeout", "2", *args]
        proc = subprocess.Popen(
            args,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not serving(port):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"twistd did not start in {folder}")
                time.sleep(0.01)
            if gap_ms is not None:
                os.kill(proc.pid, signal.SIGTERM)
                if gap_ms:
                    time.sleep(gap_ms / 1000)
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return (folder / "measured-shutdown.tap").exists()


def one_starter_kill(twistd: str, delay_ms: float) -> bool | None:
    """True when a daemon outlived its starting process killed during start-up; None when
    the starting process had already finished (the start-up was over)."""
    with tempfile.TemporaryDirectory(prefix="starter-kill-") as name:
        folder = Path(name)
        tap = save_ours(folder, free_port(), 0)
        starter = subprocess.Popen(
            [twistd, "-f", str(tap)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay_ms / 1000)
        starter.send_signal(signal.SIGTERM)
        killed = starter.wait(10) == -signal.SIGTERM
        time.sleep(1.0)
        try:
            pid = int((folder / "twistd.pid").read_text())
        except (OSError, ValueError):
            return False if killed else None
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False if killed else None
        return True if killed else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--twistd", default=str(Path(sys.executable).parent / "twistd"))
    parser.add_argument("--twisted", help="Twisted's twistd, to measure it the same way")
    parser.add_argument("--gaps", default="0,2,50", help="ms between the two SIGTERMs")
    parser.add_argument(
        "--bulk", type=int, default=0, help="plain services added so the save takes a while"
    )
    parser.add_argument("--starter-runs", type=int, default=0)
    options = parser.parse_args()
    cases: list[float | None] = [float(g) for g in options.gaps.split(",") if g]
    cases.append(None)
    tools = [("ours", options.twistd, False)]
    if options.twisted:
        tools.append(("Twisted", options.twisted, True))
    for label, twistd, twisted in tools:
        for gap in cases:
            runs = range(options.runs)
            saved = sum(one_run(twistd, twisted, gap, options.bulk) for _ in runs)
            how = "timeout(1)" if gap is None else f"gap {gap:g} ms"
            print(
                f"{label:8} {how:12} bulk {options.bulk:6} saved {saved}/{options.runs}",
                flush=True,
            )
    if options.starter_runs:
        rng = random.Random(12)
        delays = [rng.uniform(0, 300) for _ in range(options.starter_runs)]
        outcomes = [one_starter_kill(options.twistd, delay) for delay in delays]
        killed = [alive for alive in outcomes if alive is not None]
        print(
            f"starter killed during start-up in {len(killed)} of {len(delays)} runs: "
            f"daemon kept running {sum(killed)}/{len(killed)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
