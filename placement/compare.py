"""Several solvers on one instance, each solution through the one evaluator (and the truth)."""

from __future__ import annotations

from typing import Any

from placement.api import solve
from placement.evaluate import evaluate
from placement.formats.instance import Instance
from placement.formats.solution import Summary
from placement.interference import SetPredictor, SlowdownSource
from solvers import registry

#: The default line-up of `placement compare`: every solver but brute force.
DEFAULT_SOLVERS = (
    "least-loaded",
    "round-robin",
    "random",
    "first-fit",
    "greedy",
    "local-search",
    "cpsat",
    "milp",
)


def default_solvers() -> list[str]:
    known = set(registry.names())
    return [s for s in DEFAULT_SOLVERS if s in known]


def ratio(baseline: float | None, value: float | None) -> float | None:
    """baseline / value: how many times lower this solver's figure is (inf when value is 0)."""
    if baseline is None or value is None:
        return None
    if value <= 0:
        return float("inf") if baseline > 0 else 1.0
    return baseline / value


def compare(
    instance: Instance,
    solvers: list[str] | None = None,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    threads: int | None = None,
    truth: SlowdownSource | None = None,
    predictor: SetPredictor | None = None,
) -> list[dict[str, Any]]:
    """One row per solver: status, objective, gap, seconds, summary figures (predicted, and
    true when ``truth`` is given) and the ratio of least-loaded's mean degradation to this one's."""
    names = solvers or default_solvers()
    rows: list[dict[str, Any]] = []
    for name in names:
        sol = solve(
            instance, name, time_limit=time_limit, seed=seed, threads=threads, predictor=predictor
        )
        row: dict[str, Any] = {
            "solver": sol.solver if name != "auto" else f"auto ({sol.solver})",
            "status": sol.status,
            "objective": sol.objective,
            "bound": sol.bound,
            "gap": sol.gap,
            "seconds": sol.solve_seconds,
        }
        for key in Summary.model_fields:
            row[key] = getattr(sol.summary, key) if sol.summary else None
            if truth is not None:
                row[f"true_{key}"] = None
        if truth is not None and sol.assignment:
            true = evaluate(instance, sol.assignment, source=truth).summary
            for key in Summary.model_fields:
                row[f"true_{key}"] = getattr(true, key)
        rows.append(row)
    base = next((r for r in rows if r["solver"] == "least-loaded"), None)
    if base is None and "least-loaded" in registry.names():
        sol = solve(instance, "least-loaded", time_limit=time_limit, seed=seed)
        base = {"mean_degradation": sol.summary.mean_degradation if sol.summary else None}
        if truth is not None and sol.assignment:
            base["true_mean_degradation"] = evaluate(
                instance, sol.assignment, source=truth
            ).summary.mean_degradation
    for row in rows:
        row["ratio_to_least_loaded"] = ratio(
            base and base["mean_degradation"], row["mean_degradation"]
        )
        if truth is not None:
            row["true_ratio_to_least_loaded"] = ratio(
                base and base.get("true_mean_degradation"), row["true_mean_degradation"]
            )
    return rows
