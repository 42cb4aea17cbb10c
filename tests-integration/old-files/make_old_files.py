"""Write the application files kept in this folder (run once, with the release that wrote them).

    python make_old_files.py OUT_DIR     # with that release's mktap and tapconvert on PATH

The files are frozen: class paths move between releases, and these prove that files written
before a move still load and run (test_old_files.py). They name paths under BASE and fixed
loopback ports, which the test recreates; the passphrase of the encrypted ones is PASSPHRASE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE = Path("/tmp/tap-old-files")
PASSPHRASE = "old files passphrase"
# Below Linux's ephemeral range (32768-60999): a fixed port there can be taken by any
# outgoing connection's local end, and twistd then fails with 'address already in use'.
FIRST_PORT = 29411
FORMATS = {"tap": "pickle", "tax": "xml", "tas": "source"}


def type_args(port: int, dest_port: int) -> dict[str, list[str]]:
    listen = f"tcp:{port}:interface=127.0.0.1"
    return {
        "echo": ["echo", "--listen", listen],
        "web": ["web", "--path", str(BASE / "site"), "--listen", listen],
        "ftp": ["ftp", "--root", str(BASE / "site"), "--listen", listen],
        "irc": ["irc", "--listen", listen],
        "telnet": ["telnet", "--listen", listen, "--passwords", str(BASE / "passwd")],
        "ssh-manhole": ["ssh-manhole", "--listen", listen, "--authorized-keys",
                        str(BASE / "authorized_keys"), "--host-key", str(BASE / "host_key")],
        "inetd": ["inetd", "--file", str(BASE / "inetd.conf"), "--interface", "127.0.0.1"],
        "portforward": ["portforward", "--listen", listen,
                        "--dest", f"tcp:host=127.0.0.1:port={dest_port}"],
    }  # fmt: skip


def mktap(*args: str) -> None:
    env = {**os.environ, "MKTAP_PASSPHRASE": PASSPHRASE}
    subprocess.run(["mktap", *args], check=True, env=env, cwd=BASE)


def support_files(out: Path, inetd_port: int) -> None:
    """The files the applications name, kept beside them (the test copies them to BASE)."""
    import asyncssh

    from appcore._passwords import password_line

    support = out / "support"
    support.mkdir(parents=True, exist_ok=True)
    (support / "passwd").write_text(password_line("admin", "secret") + "\n")
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(support / "client_key"))
    (support / "authorized_keys").write_bytes(key.export_public_key())
    (support / "inetd.conf").write_text(f"{inetd_port} stream tcp nowait nobody internal echo\n")
    for name in ("passwd", "authorized_keys", "inetd.conf"):
        (BASE / name).write_bytes((support / name).read_bytes())


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (BASE / "site").mkdir(parents=True, exist_ok=True)
    ports = {name: FIRST_PORT + i for i, name in enumerate(type_args(0, 0))}
    support_files(out, ports["inetd"])
    for name, port in ports.items():
        args = type_args(port, ports["echo"])[name]
        for ext, fmt in FORMATS.items():
            mktap("-t", fmt, "-o", str(out / f"{name}.{ext}"), *args)
    # One application holding three server types, encrypted in every format.
    combined = FIRST_PORT + 20
    for ext, fmt in FORMATS.items():
        target = str(out / f"combined.e{ext}")
        mktap("-t", fmt, "-e", "-o", target, "echo", "--listen",
              f"tcp:{combined}:interface=127.0.0.1")  # fmt: skip
        mktap("-e", "-a", target, "web", "--path", str(BASE / "site"), "--listen",
              f"tcp:{combined + 1}:interface=127.0.0.1")  # fmt: skip
        mktap("-e", "-a", target, "telnet", "--listen", f"tcp:{combined + 2}",
              "--passwords", str(BASE / "passwd"))  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
