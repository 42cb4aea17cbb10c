"""Turn the JSON results of every benchmark into one report: REPORT.md and ratios.png.

    python benchmarks/report.py bench-results/

Every figure is a ratio against Twisted measured in the same run (ours / Twisted for times,
latencies and memory, where lower is better; Twisted / ours is never used, so a ratio below
1 always means "less than Twisted" and each row says which direction its target wants).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Row:
    benchmark: str
    measure: str
    ours: str
    twisted: str
    ratio: float | None
    target: str
    met: bool | None


def _load(folder: Path, name: str) -> Any:
    path = folder / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def import_rows(data: Any) -> Iterator[Row]:
    above = data["import_appcore_above_bare_ms"]
    target = data["target_ms"]
    yield Row("import", "`import appcore` above bare python", f"{above:.1f} ms", "-", None,
              f"< {target:.0f} ms", above < target)  # fmt: skip


def persist_rows(data: Any) -> Iterator[Row]:
    results = {(r["impl"], r["format"]): r for r in data["results"]}
    pairs = [("pickle", "pickle", "TAP", 0.6, True), ("source", "source", "TAS", 0.1, True)]
    for ours_fmt, theirs_fmt, label, limit, with_memory in pairs:
        ours = results.get(("appcore", ours_fmt))
        theirs = results.get(("twisted", theirs_fmt))
        if ours is None or theirs is None:
            continue
        measures = [("save", "save_s"), ("load", "load_s")]
        for name, key in measures:
            ratio = ours[key] / theirs[key]
            yield Row("persistence", f"{label} {name}, 100,000 services", _fmt_s(ours[key]),
                      _fmt_s(theirs[key]), ratio, f"<= {limit}x", ratio <= limit)  # fmt: skip
        if with_memory and label == "TAS":
            memory = (
                ("load peak memory (process)", "load_peak_mib"),
                ("save peak memory (process, tree included)", "save_peak_mib"),
                ("save memory growth (what the save itself needs)", "save_growth_mib"),
            )
            for name, key in memory:
                ratio = ours[key] / theirs[key]
                yield Row("persistence", f"TAS {name}", f"{ours[key]:.0f} MiB",
                          f"{theirs[key]:.0f} MiB", ratio, f"<= {limit}x",
                          ratio <= limit)  # fmt: skip
    tax = results.get(("appcore", "xml"))
    if tax is not None:
        yield Row("persistence", "TAX load, 100,000 services", _fmt_s(tax["load_s"]), "-", None,
                  "< 3 s", tax["load_s"] < 3)  # fmt: skip
        yield Row("persistence", "TAX load peak memory", f"{tax['load_peak_mib']:.0f} MiB", "-",
                  None, "< 400 MiB", tax["load_peak_mib"] < 400)  # fmt: skip


def twistd_rows(data: Any) -> Iterator[Row]:
    for key, label, limit in (
        ("spawn_to_first_200", "spawn to first HTTP 200", 0.5),
        ("sigterm_to_exit_with_save", "SIGTERM to exit, 100,000 services, with save", 0.5),
        ("sigterm_to_exit_no_save", "SIGTERM to exit, 100,000 services, no save", None),
    ):
        row = data.get(key, {})
        if "ours" not in row or "twisted" not in row:
            continue
        ours, theirs = row["ours"]["median_s"], row["twisted"]["median_s"]
        ratio = ours / theirs
        yield Row("twistd", label, _fmt_s(ours), _fmt_s(theirs), ratio,
                  f"<= {limit}x" if limit else "-",
                  ratio <= limit if limit else None)  # fmt: skip


def web_rows(data: Any) -> Iterator[Row]:
    for name, servers in data["results"].items():
        base = servers["twisted"]
        for label, entry in servers.items():
            if label == "twisted" or not label.startswith("appcore"):
                continue
            one = label.endswith("-w1")
            yield Row("web", f"static {name}, {label}: requests/s", f"{entry['rps']:,.0f}",
                      f"{base['rps']:,.0f}", entry["rps_ratio"],
                      ">= 2.5x" if one else "-",
                      entry["rps_ratio"] >= 2.5 if one else None)  # fmt: skip
            yield Row("web", f"static {name}, {label}: p99 latency", f"{entry['p99_ms']:.1f} ms",
                      f"{base['p99_ms']:.1f} ms", entry["p99_ratio"],
                      "<= 0.5x" if one else "-",
                      entry["p99_ratio"] <= 0.5 if one else None)  # fmt: skip


def echo_rows(data: Any) -> Iterator[Row]:
    base = data["round_trips_per_s"]["twisted"]
    for label, value in data["round_trips_per_s"].items():
        if label == "twisted":
            continue
        ratio = value / base
        yield Row("echo", f"{label}: round trips/s ({data['load']})", f"{value:,.0f}",
                  f"{base:,.0f}", ratio, f">= {data['target']}x",
                  ratio >= data["target"])  # fmt: skip


ADAPTERS = {
    "import": import_rows,
    "persist": persist_rows,
    "twistd": twistd_rows,
    "web": web_rows,
    "echo": echo_rows,
}


def collect(folder: Path) -> list[Row]:
    rows: list[Row] = []
    for name, adapter in ADAPTERS.items():
        data = _load(folder, name)
        if data is not None:
            rows.extend(adapter(data))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "# Benchmark report",
        "",
        "Measured side by side with Twisted in the same run on the same machine "
        "(`scripts/nox -s bench`). Ratio = ours / Twisted.",
        "",
        "| benchmark | measure | ours | Twisted | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        lines.append(
            f"| {row.benchmark} | {row.measure} | {row.ours} | {row.twisted} | {ratio} "
            f"| {row.target} | {met} |"
        )
    lines += ["", "![ratios against Twisted](ratios.png)", ""]
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.ratio is not None]
    if not shown:
        return
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(shown) + 1.5))
    labels = [f"{r.benchmark}: {r.measure}" for r in shown]
    colours = ["#2a9d8f" if r.met else "#e76f51" if r.met is False else "#8d99ae" for r in shown]
    ax.barh(range(len(shown)), [r.ratio or 0 for r in shown], color=colours)
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ours / Twisted (log scale; 1 = same as Twisted)")
    ax.set_title("Side by side with Twisted (green: target met, red: missed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path("bench-results")
    rows = collect(folder)
    if not rows:
        sys.stderr.write(f"report: no benchmark results in {folder}\n")
        return 66
    (folder / "REPORT.md").write_text(markdown(rows))
    plot(rows, folder / "ratios.png")
    sys.stdout.write(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
