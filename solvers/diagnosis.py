"""Why an instance has no solution, in words a user can act on.

These checks are necessary conditions, cheap and exact: each message names a model or a
resource and says what fails. When none fires and a solver still finds nothing, the caller says
so plainly (the instance may be too tight for the heuristic, or the time limit too short).
"""

from __future__ import annotations

import numpy as np

from solvers.problem import TOLERANCE, Problem


def hosts(problem: Problem) -> np.ndarray:
    """[M, T] bool: a replica of the model, alone, fits a machine of the type and is allowed
    there (and meets its SLO alone there, when SLOs are hard)."""
    allowed = problem.allowed
    fits = np.all(problem.requests[:, None, :] <= problem.capacity[None, :, :] + TOLERANCE, axis=2)
    ok = allowed & fits & (problem.machines_per_type[None, :] > 0)
    if problem.slo_mode == "hard":
        solo = np.where(allowed, problem.solo_latency, np.inf)
        ok &= solo <= problem.slo[:, None] + TOLERANCE
    return ok


def diagnose(problem: Problem) -> list[str]:
    """Reasons no assignment can exist; empty when no simple reason is found."""
    reasons: list[str] = []
    names, types = problem.model_names, problem.type_names
    allowed = problem.allowed
    present = problem.machines_per_type > 0
    fits = np.all(problem.requests[:, None, :] <= problem.capacity[None, :, :] + TOLERANCE, axis=2)
    ok = hosts(problem)
    count = problem.replicas_per_model
    for m, name in enumerate(names):
        if count[m] == 0:
            continue
        if not (allowed[m] & present).any():
            listed = [types[t] for t in np.flatnonzero(allowed[m])]
            reasons.append(
                f"model {name} runs only on {', '.join(listed) or 'no type'}, and the instance "
                "has no machine of those types"
            )
            continue
        if not (allowed[m] & present & fits[m]).any():
            reasons.append(
                f"model {name} fits no machine type it may run on: its requests exceed the "
                "capacity of every allowed type"
            )
            continue
        if not ok[m].any():
            best = np.nanmin(
                np.where(allowed[m] & present & fits[m], problem.solo_latency[m], np.nan)
            )
            reasons.append(
                f"model {name} misses its SLO even alone: best solo latency {best:g} ms > "
                f"slo_ms {problem.slo[m]:g}"
            )
            continue
        room = int(problem.machines_per_type[ok[m]].sum())
        if count[m] > room:
            reasons.append(
                f"model {name} asks for {count[m]} replicas on distinct machines, but only {room} "
                "machines can host it"
            )
    limit = problem.max_per_machine
    if limit is not None and problem.n_replicas > limit * problem.n_machines:
        reasons.append(
            f"{problem.n_replicas} replicas exceed {problem.n_machines} machines x "
            f"max_models_per_machine {limit}"
        )
    total_demand = problem.requests[problem.replica_model].sum(axis=0)
    total_capacity = problem.capacity[problem.machine_type].sum(axis=0)
    for k, res in enumerate(problem.resource_names):
        if total_demand[k] > total_capacity[k] + TOLERANCE:
            reasons.append(
                f"resource {res}: the replicas request {total_demand[k]:g} in all, the machines "
                f"offer {total_capacity[k]:g}"
            )
    return reasons


def no_solution_message(problem: Problem, reasons: list[str], proved: bool) -> list[str]:
    if reasons:
        return reasons
    if proved:
        return [
            "no assignment meets capacity, anti-affinity and every SLO together; each model fits "
            "alone, so the conflict is interference between models or packing: add machines, "
            "relax SLOs, or use objective.slo = soft"
        ]
    return [
        "no solution found within the limits; every model can be placed alone, so try a longer "
        "--time-limit or an exact solver (cpsat, milp) to prove infeasibility"
    ]
