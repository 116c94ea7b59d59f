"""A census of hostile inputs (issue 9, "Must show"): how many were tried, how each ended.

Draws mutated instances from the fuzz test's strategies (tests/test_fuzz_loader.py: types
swapped, numbers extreme, keys duplicated, strings hostile, nesting deep), loads each with
``Instance.load`` and runs a share of them through the CLI's real entry point in this process
(`placement solve ... -o OUT`). Counted: loads refused with InputError, loads accepted, any
other exception (a traceback for a user: must be 0); CLI exit codes (must be 0, 1 or 2, and
nothing written on 2).

    python benchmarks/hostile_input.py --cases 2000 --cli 200
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import strategies as st  # noqa: E402

from placement import InputError, Instance  # noqa: E402
from tests.test_fuzz_loader import (  # noqa: E402
    hostile_text,
    in_range_mutations,
    mutations,
    run_cli_in_process,
    write_case,
)

SOLVERS = ("greedy", "least-loaded", "local-search", "cpsat", "milp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="mutated files loaded")
    parser.add_argument("--cli", type=int, default=200, help="of them, run through the CLI")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rng = random.Random(args.seed)
    strategy = st.one_of(mutations, in_range_mutations)
    loads: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    crashes: list[str] = []
    started = time.perf_counter()
    for i in range(args.cases):
        path = write_case(hostile_text(strategy.example()))
        try:
            Instance.load(path)
            loads["accepted"] += 1
        except InputError:
            loads["refused (InputError)"] += 1
        except Exception as exc:  # noqa: BLE001 - counting what must never happen
            loads["other exception"] += 1
            crashes.append(f"{path}: {type(exc).__name__}: {exc}")
        if i < args.cli:
            out = path.with_suffix(".solution.json")
            try:
                code = run_cli_in_process(["solve", str(path), "--solver", rng.choice(SOLVERS),
                                           "--time-limit", "1", "-o", str(out)])
                exits[f"exit {code}"] += 1
                if code == 2 and out.exists():
                    exits["exit 2 but wrote"] += 1
            except Exception as exc:  # noqa: BLE001
                exits["traceback"] += 1
                crashes.append(f"CLI {path}: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    print(f"{args.cases} hostile files loaded in {seconds:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(loads.items())))
    print(f"{min(args.cli, args.cases)} of them through `placement solve`: "
          + ", ".join(f"{k} {v}" for k, v in sorted(exits.items())))
    for line in crashes[:20]:
        print("CRASH", line)
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
