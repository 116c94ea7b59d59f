"""The benchmark's PNG plots (matplotlib, Agg backend: no display needed, same bytes on CI).

Each function takes the rows of one study (as read from ``results.csv``) and writes one PNG,
returning its file name, or ``None`` when the study has nothing to show for that plot (one
load only, no exact solver, ...). The report decides where they go; this module only draws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, median
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from solvers.result import Status  # noqa: E402

Row = dict[str, Any]
SOLVED = tuple(s.value for s in Status if s.solved)
EXACT = ("cpsat", "milp", "exhaustive")

# one colour per solver across every plot, so a reader can follow a solver between figures
_PALETTE = {
    "least-loaded": "#d62728", "round-robin": "#ff7f0e", "random": "#bcbd22",
    "first-fit": "#8c564b", "greedy": "#1f77b4", "local-search": "#17becf",
    "cpsat": "#2ca02c", "milp": "#9467bd", "exhaustive": "#7f7f7f", "auto": "#e377c2",
}


def color(solver: str) -> str | None:
    return _PALETTE.get(solver)


def is_solved(row: Row) -> bool:
    """A placement was found and the truth scored it."""
    return row["status"] in SOLVED and row["true_mean_degradation"] is not None


def solved(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if is_solved(r)]


def solvers_in(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r["solver"] for r in rows))


def _save(fig: plt.Figure, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return name


def common_instances(rows: Sequence[Row], solvers: Sequence[str]) -> set[tuple[str, int]]:
    """(instance, seed) pairs that every one of ``solvers`` solved."""
    by_solver: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for r in solved(rows):
        by_solver[r["solver"]].add((r["instance_id"], r["seed"]))
    sets = [by_solver[s] for s in solvers]
    return set.intersection(*sets) if sets else set()


def well_covered_solvers(rows: Sequence[Row]) -> list[str]:
    """Solvers that solved at least half as many instances as the best one: a solver that
    rarely finds a placement (or ran on tiny instances only) would shrink the common set."""
    count: dict[str, set] = defaultdict(set)
    for r in solved(rows):
        count[r["solver"]].add((r["instance_id"], r["seed"]))
    best = max((len(v) for v in count.values()), default=0)
    return [s for s in solvers_in(rows) if len(count[s]) >= max(1, best / 2)]


def cdf(rows: Sequence[Row], replicas: dict[tuple, list[float]], out_dir: Path, name: str,
        key_of) -> str | None:
    """CDF of per-replica TRUE degradation, one curve per solver, on the instances all of them
    solved (so every curve covers the same replicas)."""
    longest = max((r["time_limit"] for r in rows), default=0)
    rows = [r for r in rows if r["time_limit"] == longest]
    solvers = well_covered_solvers(rows)
    common = common_instances(rows, solvers)
    left_out = [s for s in solvers_in(rows) if s not in solvers]
    if not solvers or not common:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in solvers:
        values = [v for r in solved(rows) if r["solver"] == s
                  and (r["instance_id"], r["seed"]) in common for v in replicas.get(key_of(r), [])]
        if not values:
            continue
        xs = np.sort(np.asarray(values))
        ys = np.arange(1, xs.size + 1) / xs.size
        ax.step(xs, ys, where="post", label=s, color=color(s))
    ax.set_xlabel("true degradation of a replica (slowdown - 1)")
    ax.set_ylabel("fraction of replicas")
    ax.set_xscale("symlog", linthresh=0.05)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.set_title(f"CDF of true per-replica degradation ({len(common)} instances solved by all)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower right",
              title=f"left out (solved < half): {', '.join(left_out)}" if left_out else None,
              title_fontsize=7)
    return _save(fig, out_dir, name)


def versus_load(rows: Sequence[Row], out_dir: Path, name: str) -> str | None:
    """Mean true degradation and true SLO violations (per 100 replicas) against load."""
    done = solved(rows)
    loads = sorted({r["load"] for r in done if r["load"] is not None})
    if len(loads) < 2:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for s in solvers_in(done):
        xs, deg, viol = [], [], []
        for load in loads:
            sel = [r for r in done if r["solver"] == s and r["load"] == load]
            if sel:
                xs.append(load)
                deg.append(mean(r["true_mean_degradation"] for r in sel))
                viol.append(100 * sum(r["true_slo_violations"] for r in sel)
                            / sum(r["replicas"] for r in sel))
        a.plot(xs, deg, marker="o", label=s, color=color(s))
        b.plot(xs, viol, marker="o", label=s, color=color(s))
    a.set(xlabel="load (requested / capacity)", ylabel="mean true degradation",
          title="degradation vs load")
    b.set(xlabel="load (requested / capacity)", ylabel="true SLO violations per 100 replicas",
          title="SLO violations vs load")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    a.legend(fontsize=8)
    return _save(fig, out_dir, name)


def time_versus_size(rows: Sequence[Row], out_dir: Path, name: str) -> str | None:
    """Median solve seconds against replicas, log-log; the time limit drawn as a dashed line."""
    sizes = sorted({r["replicas"] for r in rows if r["replicas"]})
    if len(sizes) < 2:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in solvers_in(rows):
        pts = []
        for n in sizes:
            sel = [r["seconds"] for r in rows if r["solver"] == s and r["replicas"] == n
                   and r["seconds"] is not None]
            if sel:
                pts.append((n, max(median(sel), 1e-5)))
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=s, color=color(s))
    for limit in sorted({r["time_limit"] for r in rows}):
        ax.axhline(limit, ls="--", lw=0.8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="replicas", ylabel="median solve seconds",
           title="solve time vs size (dashed: time limit)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def gap_versus_time(rows: Sequence[Row], out_dir: Path, name: str) -> str | None:
    """Exact solvers' final relative gap against their time limit (one point per limit)."""
    limits = sorted({r["time_limit"] for r in rows})
    exact = [s for s in solvers_in(rows) if s in EXACT and s != "exhaustive"]
    if len(limits) < 2 or not exact:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in exact:
        xs, ys, opt = [], [], []
        for t in limits:
            sel = [r for r in rows if r["solver"] == s and r["time_limit"] == t]
            gaps = [r["gap"] for r in sel if r["gap"] is not None]
            if gaps:
                xs.append(t)
                ys.append(100 * mean(gaps))
                opt.append(sum(r["status"] == "optimal" for r in sel) / len(sel))
        ax.plot(xs, ys, marker="o", label=s, color=color(s))
        for x, y, o in zip(xs, ys, opt, strict=True):
            ax.annotate(f"{o:.0%} opt", (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=color(s))
    ax.set_xscale("log")
    ax.set(xlabel="time limit (s)", ylabel="mean final gap (%)",
           title="exact solvers: gap vs time limit (labels: share proved optimal)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def machines_used(rows: Sequence[Row], out_dir: Path, name: str, baseline: str = "first-fit"
                  ) -> str | None:
    """Consolidation, per instance (averages over the instances each solver happened to solve
    would mislead): machines used by each solver, its true SLO violations written on the bar,
    and a cross where it found no placement."""
    solvers = solvers_in(rows)
    instances = list(dict.fromkeys((r["instance_id"], r["seed"]) for r in rows))
    if not solvers or not instances:
        return None
    by = {(r["instance_id"], r["seed"], r["solver"]): r for r in solved(rows)}
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(instances)), 4.5))
    width = 0.8 / len(solvers)
    for k, s in enumerate(solvers):
        for i, (iid, seed) in enumerate(instances):
            x = i + (k - (len(solvers) - 1) / 2) * width
            r = by.get((iid, seed, s))
            if r is None:
                ax.plot(x, 0.5, marker="x", color=color(s) or "#999999")
                continue
            ax.bar(x, r["true_machines_used"], width, color=color(s) or "#999999",
                   label=s if i == 0 or s not in ax.get_legend_handles_labels()[1] else None)
            if r["true_slo_violations"]:
                ax.annotate(str(r["true_slo_violations"]), (x, r["true_machines_used"]),
                            ha="center", va="bottom", fontsize=6, color="red")
    labels = [f"{iid.split('/', 1)[-1]}\nseed {seed}" for iid, seed in instances]
    ax.set_xticks(range(len(instances)), labels, fontsize=7)
    ax.set(ylabel="machines used",
           title=f"objective = machines (baseline {baseline}); red: true SLO violations, "
                 "x: no placement")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=3)
    return _save(fig, out_dir, name)


def paper_table(table: list[dict[str, Any]], roles: Sequence[str], out_dir: Path, name: str
                ) -> str | None:
    """Table 5 beside ours: cumulative added latency (s) per cluster, true / predicted / paper."""
    if not table:
        return None
    fig, axes = plt.subplots(1, len(table), figsize=(4 * len(table), 4), squeeze=False)
    for ax, entry in zip(axes[0], table, strict=True):
        xs = np.arange(len(roles))
        width = 0.27
        series = [("ours, true", entry["true"], "#1f77b4"),
                  ("ours, predicted", entry["pred"], "#aec7e8"),
                  ("paper", entry.get("paper") or [np.nan] * len(roles), "#ff7f0e")]
        for k, (label, values, c) in enumerate(series):
            vals = [np.nan if v is None else v for v in values]
            ax.bar(xs + (k - 1) * width, vals, width, label=label, color=c)
        ax.set_xticks(xs, [r.replace("least-loaded", "least-\nloaded") for r in roles],
                      fontsize=8)
        ax.set_title(entry["cluster"], fontsize=10)
        ax.set_ylabel("cumulative added latency (s)")
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Table 5: cumulative latency degradation over the workloads")
    return _save(fig, out_dir, name)
