"""Benchmark: the cost of ``import appcore`` above a bare interpreter start.

Target (foundation issue): under 60 ms above ``python -c pass``. Each sample is a fresh
interpreter with bytecode caches warm; the median of many samples is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "bare": "pass",
    "import appcore": "import appcore",
    "import appcore + Application": "import appcore; appcore.Application('x')",
}
TARGET_MS = 60.0


def sample(code: str, runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)  # warm caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", "--out", dest="json", type=Path)
    args = parser.parse_args()
    results = {name: sample(code, args.runs) for name, code in CASES.items()}
    above = results["import appcore"] - results["bare"]
    report = {
        "benchmark": "import",
        "median_ms": results,
        "import_appcore_above_bare_ms": above,
        "target_ms": TARGET_MS,
        "meets_target": above < TARGET_MS,
    }
    for name, ms in results.items():
        print(f"{name:32s} {ms:7.1f} ms")
    print(f"{'import appcore above bare':32s} {above:7.1f} ms (target < {TARGET_MS:.0f} ms)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
