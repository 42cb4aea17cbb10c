"""Run the README's Quick start commands on a fresh Debian machine made on the spot.

    sudo python3 scripts/fresh_machine.py [--release bookworm] [COMMAND ...]

A ``debootstrap --variant=minbase`` root holding only python3 and ca-certificates (plus this
machine's locally added CA certificates, which a registry behind a TLS proxy needs) gets a
fresh clone of this repository's HEAD; then, inside it, each COMMAND runs in turn (by default
the two Quick start commands, ``scripts/nox -s demo`` and ``scripts/test``), as root in a
chroot (its own mount namespace; the host's processes, as a chroot has). Exits with the first
failing command's code.
Nothing is cached: this is the check that the README's commands need nothing else.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import debian_root

DEFAULT_COMMANDS = ["scripts/nox -s demo", "scripts/test"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="bookworm")
    parser.add_argument("--keep", action="store_true", help="keep the root afterwards")
    parser.add_argument("commands", nargs="*", default=DEFAULT_COMMANDS)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=f"fresh-{args.release}-", dir="/var/tmp"))
    root = work / "root"
    try:
        started = time.monotonic()
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,ca-certificates",
             args.release, str(root), debian_root.MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        debian_root.host_ca_certificates(root)
        checkout = root / debian_root.INSIDE.relative_to("/")
        checkout.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--quiet", str(debian_root.ROOT), str(checkout)],
                       check=True)  # fmt: skip
        print(f"fresh {args.release} root ready in {time.monotonic() - started:.0f} s: {root}")
        code = debian_root.run_inside(
            root, ["update-ca-certificates"], bind_var_tmp=False, pid_namespace=False
        )
        for command in args.commands:
            started = time.monotonic()
            print(f"--- {command}", flush=True)
            code = debian_root.run_inside(
                root, shlex.split(command), bind_var_tmp=False, pid_namespace=False
            )
            print(f"--- {command}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
            if code != 0:
                return code
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
