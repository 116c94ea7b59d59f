"""Several solvers on one instance, each solution through the one evaluator (and the truth).

A solver that refuses the instance or an option (``exhaustive`` beyond its size, an unknown
``backend``) does not abort the comparison: its row is ``skipped`` with the reason.
"""

from __future__ import annotations

from typing import Any

from placement.api import solve, solver_options
from placement.evaluate import evaluate
from placement.formats.errors import UsageError
from placement.formats.instance import Instance
from placement.formats.solution import Solution, Summary
from placement.interference import SetPredictor, SlowdownSource
from solvers import registry
from solvers.result import Status

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
#: ``status`` of a row whose solver did not run.
SKIPPED = "skipped"


def default_solvers() -> list[str]:
    known = set(registry.names())
    return [s for s in DEFAULT_SOLVERS if s in known]


def ratio(baseline: float | None, value: float | None) -> float | None:
    """baseline / value: how many times lower this solver's figure is (None when value is 0:
    no finite ratio, and JSON has no infinity)."""
    if baseline is None or value is None:
        return None
    if value <= 0:
        return None if baseline > 0 else 1.0
    return baseline / value


def _reason(sol: Solution) -> str | None:
    """Why a solver found no solution, in one line (its diagnosis, else its status)."""
    if Status(sol.status).solved:
        return None
    if sol.diagnosis:
        return sol.diagnosis[0]
    return "no solution found within the time limit" if sol.status == "unknown" else sol.status


def best_row(rows: list[dict[str, Any]], soft_slo: bool) -> dict[str, Any] | None:
    """The row with the best goal among solved rows: fewest SLO violations first under soft
    SLOs, then the lowest objective, then the lowest mean degradation (both to 9 digits), then
    a proved optimum before a heuristic's equal value, then line-up order."""
    solved = [r for r in rows if r["status"] in ("optimal", "feasible")]
    if not solved:
        return None

    def key(row: dict[str, Any]) -> tuple[float, float, float, bool]:
        viol = float(row["slo_violations"] or 0) if soft_slo else 0.0
        return (viol, round(row["objective"], 9), round(row["mean_degradation"], 9),
                row["status"] != "optimal")

    return min(solved, key=key)


def compare(
    instance: Instance,
    solvers: list[str] | None = None,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    threads: int | None = None,
    truth: SlowdownSource | None = None,
    predictor: SetPredictor | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """One row per solver: status, objective, gap, seconds, summary figures (predicted, and
    true when ``truth`` is given), the ratio of least-loaded's mean degradation to this one's,
    ``reason`` (why a row has no solution, or was skipped) and ``best`` (the best row).

    ``options`` go to each solver that has them (``backend="cbc"`` reaches ``milp`` only); an
    option no solver of the line-up has is an error."""
    names = solvers or default_solvers()
    for name in names:
        registry.get(name)  # KeyError naming the known solvers
    accepted = {name: solver_options(name) for name in names}
    unused = sorted(set(options) - set().union(*accepted.values()))
    if unused:
        raise UsageError(f"no solver of {names} has the option(s) {unused}")
    rows: list[dict[str, Any]] = []
    for name in names:
        row: dict[str, Any] = {"solver": name, "status": SKIPPED, "objective": None,
                               "bound": None, "gap": None, "seconds": None, "reason": None}
        for key in Summary.model_fields:
            row[key] = None
            if truth is not None:
                row[f"true_{key}"] = None
        own = {k: v for k, v in options.items() if k in accepted[name]}
        try:
            sol = solve(instance, name, time_limit=time_limit, seed=seed, threads=threads,
                        predictor=predictor, **own)
        except UsageError as exc:  # the solver refuses this instance or option: skip, say why
            row["reason"] = str(exc)
            rows.append(row)
            continue
        row.update(
            solver=sol.solver if name != "auto" else f"auto ({sol.solver})",
            status=sol.status,
            objective=sol.objective,
            bound=sol.bound,
            gap=sol.gap,
            seconds=sol.solve_seconds,
            reason=_reason(sol),
        )
        for key in Summary.model_fields:
            row[key] = getattr(sol.summary, key) if sol.summary else None
        if truth is not None and sol.assignment:
            true = evaluate(instance, sol.assignment, source=truth).summary
            for key in Summary.model_fields:
                row[f"true_{key}"] = getattr(true, key)
        rows.append(row)
    base = next((r for r in rows if r["solver"] == "least-loaded"), None)
    if base is None and "least-loaded" in registry.names():
        sol = solve(instance, "least-loaded", time_limit=time_limit, seed=seed,
                    predictor=predictor)
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
    best = best_row(rows, soft_slo=instance.objective.slo == "soft")
    for row in rows:
        row["best"] = row is best
    return rows
