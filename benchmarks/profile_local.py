"""Profile this machine and build the shipped instance ``instances/local-cpu.json``.

    python benchmarks/profile_local.py            # about 12 minutes on 2 cores

Runs ``placement profile`` on eight built-in models (two sizes each of MLP, CNN, transformer
block and embedding lookup) on two machine types made of this machine's CPUs: ``local-1c``
(CPU 0: the models time-share one core) and ``local-2c`` (CPUs 0,1), back to back, 0.6 s
per set after 0.2 s of warm-up, 3 rounds (each set right after its members alone), every
pair and 12 sampled sets of 3 per type. It writes

* ``instances/local-cpu.csv``: the measurements (SPEC section 8, extra columns after the four);
* ``instances/local-cpu.json``: the catalog the profiler wrote, made a placement instance:
  4 ``local-1c`` and 3 ``local-2c`` machines, 14 replicas, each replica reserving half a core
  (``requests.vcpus = 0.5``; the profiled CPU use stays in ``features.cpu_util``) and at most 3
  models per machine, so that every co-location a placement can make has the degree of a
  measured one (pairs on one core, up to 3 models on two).

Provenance (command, CPU, date) goes in instances/README.md by hand from what this prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["mlp-m", "mlp-l", "cnn-m", "cnn-l", "transformer-m", "transformer-l", "embed-m",
          "embed-l"]
REPLICAS = {"mlp-m": 2, "mlp-l": 2, "cnn-m": 2, "cnn-l": 2, "transformer-m": 2,
            "transformer-l": 2, "embed-m": 1, "embed-l": 1}
MACHINES = [{"type": "local-1c", "count": 4}, {"type": "local-2c", "count": 3}]
REQUEST_VCPUS = 0.5
MAX_MODELS_PER_MACHINE = 3


def profile_command(csv_out: Path, catalog_out: Path) -> list[str]:
    return ["placement", "profile", *MODELS, "--cpus", "local-1c=0", "--cpus", "local-2c=0,1",
            "--seconds", "0.6", "--warmup", "0.2", "--repeats", "3", "--sets", "12",
            "--seed", "0", "--name", "local-cpu", "-o", str(csv_out),
            "--catalog-out", str(catalog_out)]


def make_instance(catalog: dict) -> dict:
    """The profiler's catalog with machines, replicas, requests and limits to place."""
    data = dict(catalog)
    data["machines"] = MACHINES
    for model in data["models"]:
        model["replicas"] = REPLICAS[model["name"]]
        model["requests"] = {**model["requests"], "vcpus": REQUEST_VCPUS}
    data["limits"] = {"max_models_per_machine": MAX_MODELS_PER_MACHINE}
    data["objective"] = {"minimize": "mean_degradation", "slo": "hard"}
    return data


def main() -> None:
    csv_out = ROOT / "instances" / "local-cpu.csv"
    with tempfile.TemporaryDirectory() as folder:
        catalog_out = Path(folder) / "catalog.json"
        command = profile_command(csv_out, catalog_out)
        print("$", " ".join(command), flush=True)
        started = time.monotonic()
        subprocess.run(command, check=True)
        print(f"wall time {time.monotonic() - started:.0f} s")
        catalog = json.loads(catalog_out.read_text())
    sys.path.insert(0, str(ROOT))
    from placement.formats.files import write_json_atomic
    from placement.formats.instance import Instance

    data = make_instance(catalog)
    Instance.model_validate(data)
    write_json_atomic(ROOT / "instances" / "local-cpu.json", data)
    print(f"wrote {csv_out} and instances/local-cpu.json")


if __name__ == "__main__":
    main()
