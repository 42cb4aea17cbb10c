"""Benchmark: save and load an Application of 100,000 services in TAP, TAX and TAS.

The tree is GROUPS MultiServices of SERVICES/GROUPS Services each, under one Application.
Every measurement runs in a fresh subprocess (so peak memory is that operation's own): the
child builds the tree and saves it, or loads the saved file, and reports wall time, peak
RSS (``ru_maxrss``) and that peak minus the peak before the operation started (its
*growth*: what the save or load itself needs, without the interpreter and the tree built
first, which no save can go below). When Twisted is importable in this interpreter, the
same tree built from ``twisted.application.service`` is saved and loaded with
``twisted.persisted.sob`` in its ``pickle`` and ``source`` styles in the same run, and the
ratios are computed against it.

    python benchmarks/bench_persist.py [--services 100000] [--groups 100] [--repeat 3]
                                       [--json results.json]

Install Twisted only in a separate benchmark venv, never in the development one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OURS = {"pickle": "tap", "xml": "tax", "source": "tas"}
TWISTED = {"pickle": "tap", "source": "tas"}
# (our format, Twisted style it is compared with, what the issue asks of the ratio)
TARGETS = [
    ("pickle", "pickle", "save and load time <= 0.6x Twisted"),
    ("source", "source", "save and load time and peak memory <= 0.1x Twisted"),
]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build_ours(services: int, groups: int) -> Any:
    from appcore import Application, MultiService, Service

    app = Application("bench")
    per_group = services // groups
    for i in range(groups):
        group = MultiService(f"group-{i}")
        group.set_service_parent(app)
        for j in range(per_group):
            Service(f"service-{i}-{j}").set_service_parent(group)
    return app


def _build_twisted(services: int, groups: int) -> Any:
    from twisted.application import service  # noqa: TID251 - benchmark comparison only

    app = service.Application("bench")
    top = service.IServiceCollection(app)
    per_group = services // groups
    for i in range(groups):
        group = service.MultiService()
        group.setName(f"group-{i}")
        group.setServiceParent(top)
        for j in range(per_group):
            leaf = service.Service()
            leaf.setName(f"service-{i}-{j}")
            leaf.setServiceParent(group)
    return app


def child(impl: str, fmt: str, op: str, path: str, services: int, groups: int) -> dict[str, Any]:
    """One measurement, run inside a fresh interpreter."""
    if op == "save":
        app = (
            _build_ours(services, groups) if impl == "appcore" else _build_twisted(services, groups)
        )
        before = _peak_mib()
        start = time.perf_counter()
        if impl == "appcore":
            from appcore import save_application

            save_application(app, path, format=fmt)  # type: ignore[arg-type]
        else:
            from twisted.persisted import sob  # noqa: TID251

            persistable = sob.IPersistable(app)
            persistable.setStyle(fmt)
            persistable.save(filename=path)
        seconds = time.perf_counter() - start
    else:
        if impl == "appcore":
            # Import cost is not load cost (Twisted's side imports sob before timing too).
            import appcore.persist._files
            import appcore.persist._tap  # noqa: F401
            from appcore import load_file
        else:
            import twisted.application.service  # noqa: F401, TID251
            from twisted.persisted import sob  # noqa: TID251
        before = _peak_mib()
        start = time.perf_counter()
        if impl == "appcore":
            root = load_file(path)
            assert len(list(root.services)) == groups  # type: ignore[attr-defined]
        else:
            root = sob.load(path, fmt)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": _peak_mib(), "before_mib": before}


def _run_child(impl: str, fmt: str, op: str, path: Path, args: argparse.Namespace) -> Any:
    command = [
        sys.executable,
        __file__,
        "--child",
        impl,
        fmt,
        op,
        str(path),
        "--services",
        str(args.services),
        "--groups",
        str(args.groups),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{impl} {fmt} {op} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def _measure(impl: str, fmt: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"save": [], "load": []}
    for _ in range(args.repeat):
        runs["save"].append(_run_child(impl, fmt, "save", path, args))
        runs["load"].append(_run_child(impl, fmt, "load", path, args))
    result: dict[str, Any] = {"impl": impl, "format": fmt, "bytes": path.stat().st_size}
    for op, items in runs.items():
        result[f"{op}_s"] = statistics.median(r["seconds"] for r in items)
        result[f"{op}_peak_mib"] = statistics.median(r["peak_mib"] for r in items)
        result[f"{op}_growth_mib"] = statistics.median(
            r["peak_mib"] - r["before_mib"] for r in items
        )
    return result


def _twisted_available() -> bool:
    try:
        import twisted.persisted.sob  # noqa: F401, TID251
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--child", nargs=4, metavar=("IMPL", "FORMAT", "OP", "PATH"))
    args = parser.parse_args(argv)
    if args.child:
        impl, fmt, op, path = args.child
        print(json.dumps(child(impl, fmt, op, path, args.services, args.groups)))
        return 0

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-persist-") as folder:
        for fmt, ext in OURS.items():
            results.append(_measure("appcore", fmt, Path(folder, f"bench.{ext}"), args))
        if _twisted_available():
            for fmt, ext in TWISTED.items():
                path = Path(folder, f"twisted.{ext}")
                results.append(_measure("twisted", fmt, path, args))
    report: dict[str, Any] = {
        "services": args.services,
        "groups": args.groups,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "results": results,
        "ratios": _ratios(results),
    }
    _table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    else:
        print(json.dumps(report, indent=2))
    return 0


def _ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {(r["impl"], r["format"]): r for r in results}
    ratios = []
    for ours, theirs, target in TARGETS:
        a, b = by_key.get(("appcore", ours)), by_key.get(("twisted", theirs))
        if a is None or b is None:
            continue
        ratios.append(
            {
                "format": ours,
                "target": target,
                "save_time": round(a["save_s"] / b["save_s"], 3),
                "load_time": round(a["load_s"] / b["load_s"], 3),
                "load_peak_memory": round(a["load_peak_mib"] / b["load_peak_mib"], 3),
                "save_peak_memory": round(a["save_peak_mib"] / b["save_peak_mib"], 3),
                "save_growth_memory": round(a["save_growth_mib"] / b["save_growth_mib"], 3),
                "size": round(a["bytes"] / b["bytes"], 3),
            }
        )
    return ratios


def _table(report: dict[str, Any]) -> None:
    out = sys.stderr
    out.write(f"{report['services']} services, median of {report['repeat']}\n")
    out.write(
        "peak = highest RSS of the process; growth = peak minus the RSS before the operation "
        "(what the save or load itself needs, without the tree built beforehand)\n"
    )
    out.write(
        f"{'impl':8} {'format':7} {'save s':>7} {'load s':>7} {'MB':>6} {'save peak':>10} "
        f"{'growth':>7} {'load peak':>10} {'growth':>7}   (MiB)\n"
    )
    for r in report["results"]:
        out.write(
            f"{r['impl']:8} {r['format']:7} {r['save_s']:7.2f} {r['load_s']:7.2f} "
            f"{r['bytes'] / 1e6:6.1f} {r['save_peak_mib']:10.0f} {r['save_growth_mib']:7.1f} "
            f"{r['load_peak_mib']:10.0f} {r['load_growth_mib']:7.1f}\n"
        )
    for q in report["ratios"]:
        out.write(
            f"ratio {q['format']}: save {q['save_time']}x, load {q['load_time']}x, "
            f"save memory {q['save_peak_memory']}x (growth {q['save_growth_memory']}x), "
            f"load memory {q['load_peak_memory']}x ({q['target']})\n"
        )


if __name__ == "__main__":
    sys.exit(main())
