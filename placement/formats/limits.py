"""The range of every number and name an instance file may hold (SPEC section 4).

The ranges admit any realistic cluster (100,000 replicas on 20,000 machines and well beyond)
and keep every figure a solver computes finite and within what its backend accepts: HiGHS
refuses objective coefficients near 1e15 and above, CP-SAT scales costs to 64-bit integers,
and products such as ``weight x latency x degradation`` summed over every replica must stay
far from float overflow. Each bound is stated in the JSON Schema (``minimum``/``maximum``),
so a user sees it in ``placement schema instance``.

Worst case with these bounds: one replica's weighted added latency is at most
``MAX_WEIGHT x MAX_LATENCY_MS x MAX_COMPOSED_SLOWDOWN`` = 1e3 x 1e6 x 1e4 = 1e13, and a
machine's total cost at most ``MAX_COST`` = 1e6.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

#: Per resource, per machine type (capacity) or per replica (requests): vCPUs, GiB, GPU %...
MAX_RESOURCE = 1e9
#: Per machine per hour.
MAX_COST = 1e6
#: Solo latency and SLO, in milliseconds (1e6 ms is about 17 minutes).
MAX_LATENCY_MS = 1e6
#: A model's weight in weighted means (relative importance).
MAX_WEIGHT = 1e3
#: A measured or assumed slowdown (entries and ``missing``).
MAX_SLOWDOWN = 100.0
#: A slowdown composed from pairs (``multiplicative`` grows fast) is capped here.
MAX_COMPOSED_SLOWDOWN = 1e4
#: Absolute value of a model or machine-type feature (read by learned predictors, which
#: compute in float32).
MAX_FEATURE = 1e9
#: Machines in one ``count`` group, and in the whole instance after expansion.
MAX_MACHINES = 1_000_000
#: Replicas of one model, and in the whole instance.
MAX_REPLICAS = 1_000_000
#: Resource kinds, feature names per entry.
MAX_RESOURCES = 64
MAX_FEATURES = 1_000
#: Longest time limit accepted, in seconds (about 11.6 days): beyond it a typo, not a plan.
MAX_TIME_LIMIT = 1e6
#: Length of any name (model, machine type, machine id, resource, feature, instance).
MAX_NAME_LENGTH = 256

#: No control characters (C0, DEL, C1): they would reach the terminal raw (escape sequences,
#: carriage returns rewriting a line). Every other character is allowed and printed literally.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
        description="a name: 1 to 256 characters, no control characters",
    ),
]
Resource = Annotated[float, Field(ge=0, le=MAX_RESOURCE, allow_inf_nan=False)]
Cost = Annotated[float, Field(ge=0, le=MAX_COST, allow_inf_nan=False)]
LatencyMs = Annotated[float, Field(gt=0, le=MAX_LATENCY_MS, allow_inf_nan=False)]
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]
Slowdown = Annotated[float, Field(gt=0, le=MAX_SLOWDOWN, allow_inf_nan=False)]
Feature = Annotated[float, Field(ge=-MAX_FEATURE, le=MAX_FEATURE, allow_inf_nan=False)]
MachineCount = Annotated[int, Field(ge=0, le=MAX_MACHINES)]
ReplicaCount = Annotated[int, Field(ge=1, le=MAX_REPLICAS)]
PerMachineLimit = Annotated[int, Field(ge=1, le=MAX_REPLICAS)]
