"""A Kubernetes round trip: import a running cluster, solve, export Deployments, play the
cluster (each Deployment becomes the pod it would create, bound to its selected node, as
`kubectl get pods -o json` prints it), re-import those pods as `current`, and re-solve with
`limits.max_moves: 0`: the re-solve should move nothing.

The fixtures are built with the official `kubernetes` client's models and serializer
(`pip install ".[k8s]"`), so they are exactly what kubectl prints. Moves are counted by the one
moves function (placement.cluster.moves) through the evaluator.

    python benchmarks/k8s_round_trip.py [--solver greedy] [--time-limit 5]
        [-o benchmarks/results/k8s-round-trip.md]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from placement import Instance, evaluate, solve
from placement.cluster.k8s import HOSTNAME_LABEL, export_manifests, import_cluster
from placement.cluster.moves import count_moves
from placement.formats.files import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]

try:
    from kubernetes import client
except ImportError:  # the demo needs the optional client to build kubectl-exact fixtures
    sys.exit('this demo needs the kubernetes client: pip install ".[k8s]"')

API = client.ApiClient()
# (name, instance type, state) of the cluster's nodes
NODES = [("ip-10-0-1-11", "c5.2xlarge", "ready"), ("ip-10-0-1-12", "c5.2xlarge", "cordoned"),
         ("ip-10-0-1-13", "c5.2xlarge", "ready"), ("ip-10-0-2-21", "c5.4xlarge", "ready"),
         ("ip-10-0-2-22", "c5.4xlarge", "down"), ("ip-10-0-2-23", "c5.4xlarge", "ready")]
# placement pods running before the demo: (model, replica, node); None = pending
RUNNING = [("resnet50", 0, "ip-10-0-1-11"), ("bert-base", 0, "ip-10-0-2-22"),
           ("yolo-v5", 0, "ip-10-0-2-21"), ("distilbert", 0, "ip-10-0-1-12"),
           ("retired-model", 0, "ip-10-0-1-13"), ("mobilenet-v2", 0, None)]


def node(name: str, instance_type: str, state: str) -> client.V1Node:
    big = instance_type == "c5.4xlarge"
    allocatable = {"cpu": "15890m" if big else "7910m", "memory": "30Gi" if big else "14Gi",
                   "pods": "110"}
    return client.V1Node(
        api_version="v1", kind="Node",
        metadata=client.V1ObjectMeta(name=name, labels={
            HOSTNAME_LABEL: name, "node.kubernetes.io/instance-type": instance_type,
            "topology.kubernetes.io/zone": "eu-west-1a" if name.endswith("1") else "eu-west-1b",
        }),
        spec=client.V1NodeSpec(unschedulable=True if state == "cordoned" else None),
        status=client.V1NodeStatus(
            allocatable=allocatable, capacity=allocatable,
            conditions=[client.V1NodeCondition(type="Ready",
                                               status="False" if state == "down" else "True")],
        ),
    )


def pod(name: str, labels: dict, spec: client.V1PodSpec, node_name: str | None) -> client.V1Pod:
    spec.node_name = node_name
    return client.V1Pod(
        api_version="v1", kind="Pod",
        metadata=client.V1ObjectMeta(name=name, namespace="default", labels=labels),
        spec=spec,
        status=client.V1PodStatus(phase="Running" if node_name else "Pending"),
    )


def container(cpu: str, memory: str, image: str = "registry.k8s.io/pause:3.9"):
    return client.V1Container(name="main", image=image, resources=client.V1ResourceRequirements(
        requests={"cpu": cpu, "memory": memory}))


def tenant_pods() -> list[client.V1Pod]:
    """Pods that are not ours (a log shipper on every node): they take capacity."""
    return [pod(f"fluent-bit-{name[-2:]}", {"app": "fluent-bit"},
                client.V1PodSpec(containers=[container("250m", "512Mi")]), name)
            for name, _, state in NODES if state != "down"]


def as_list(items: list, list_class) -> dict:
    return API.sanitize_for_serialization(list_class(
        api_version="v1", kind="List", items=items,
        metadata=client.V1ListMeta(resource_version="")))


def deployment_pods(objects: list[dict], nodes: dict) -> list[client.V1Pod]:
    """The pod each exported Deployment creates, bound where its node selector points (what
    the scheduler does with a 1-replica Deployment pinned by hostname)."""
    by_hostname = {n["metadata"]["labels"][HOSTNAME_LABEL]: n["metadata"]["name"]
                   for n in nodes["items"]}
    pods = []
    for obj in objects:
        deployment = API.deserialize(_json(obj), "V1Deployment", None)
        template = deployment.spec.template
        digest = hashlib.sha1(deployment.metadata.name.encode()).hexdigest()
        hostname = template.spec.node_selector[HOSTNAME_LABEL]
        pods.append(pod(f"{deployment.metadata.name}-{digest[:10]}-{digest[10:15]}",
                        {**template.metadata.labels, "pod-template-hash": digest[:10]},
                        template.spec, by_hostname[hostname]))
    return pods


def _json(obj: dict) -> str:
    import json

    return json.dumps(obj)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", default="greedy")
    parser.add_argument("--resolvers", default="greedy,local-search,cpsat,milp,exhaustive",
                        help="solvers for the max_moves 0 re-solve")
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("-o", "--output", type=Path,
                        default=ROOT / "benchmarks/results/k8s-round-trip.md")
    args = parser.parse_args()
    base = Instance.load(ROOT / "instances/demo.json")
    nodes = as_list([node(*n) for n in NODES], client.V1NodeList)
    ours = [pod(f"{m}-{r}", {"placement.io/model": m, "placement.io/replica": str(r)},
                client.V1PodSpec(containers=[container("1", "1Gi")]), where)
            for m, r, where in RUNNING]
    pods = as_list(ours + tenant_pods(), client.V1PodList)
    lines = ["# Kubernetes round trip", ""]

    def say(text: str = "") -> None:
        print(text)
        lines.append(text)

    first = import_cluster(base, nodes, pods)
    inst = first.instance
    states = [r.state for r in inst.machine_records()]
    say(f"1. imported {len(states)} nodes ({states.count('cordoned')} cordoned, "
        f"{states.count('down')} down); current: {len(inst.current_placement())} replicas "
        f"running, departed: {inst.departed()}")
    sol = solve(inst, args.solver, time_limit=args.time_limit, seed=0)
    say(f"2. solved with {sol.solver}: {sol.status}, mean degradation "
        f"{sol.summary.mean_degradation:.4f}, {sol.summary.moves} counted moves, "
        f"{sol.summary.forced_moves} forced (off the down node)")
    down = {r.id for r in inst.machine_records() if r.state == "down"}
    on_down = sorted(rid for rid, mid in sol.assignment.items() if mid in down)
    if on_down:
        say(f"   the solver placed {on_down} on a down node: solvers do not read machine "
            "states yet, so the round trip carries that on")
    exported = export_manifests(inst, sol.assignment)
    say(f"3. exported {len(exported.objects)} Deployments (each deserializes into "
        "V1Deployment)")
    running = as_list(deployment_pods(exported.objects, nodes) + tenant_pods(), client.V1PodList)
    say(f"4. the cluster runs them: {len(running['items'])} pods bound to their nodes")
    again = import_cluster(base, nodes, running).instance
    same = again.current_placement() == sol.assignment
    say(f"5. re-imported current equals the solution's assignment: {same}")
    stay = count_moves(again, sol.assignment)
    say(f"6. moves from the re-imported current to the solution (the one moves function): "
        f"{stay.counted} counted, {stay.forced} forced")
    frozen_data = again.dump()
    frozen_data.setdefault("limits", {})["max_moves"] = 0
    frozen = Instance.model_validate(frozen_data)
    say(f"7. re-solve with max_moves 0 (time limit {args.time_limit:g} s):")
    say("")
    say("| solver | status | counted moves | forced moves | within max_moves 0 |")
    say("|---|---|---|---|---|")
    honoured_by_all = True
    for name in [s for s in args.resolvers.split(",") if s]:
        resolved = solve(frozen, name, time_limit=args.time_limit, seed=0)
        moves = resolved.summary.moves if resolved.summary else None
        honoured = moves == 0
        honoured_by_all &= honoured
        say(f"| {name} | {resolved.status} | {moves} | "
            f"{resolved.summary.forced_moves if resolved.summary else None} | "
            f"{'yes' if honoured else 'NO'} |")
    say("")
    kept = evaluate(frozen, frozen.current_placement())
    say(f"Staying put (current as the placement) is feasible: {not kept.diagnosis}, "
        f"with {kept.summary.moves} moves.")
    if not honoured_by_all:
        say("Some solvers do not honour limits.max_moves yet (that work is under way); the "
            "moves above are counted by the one moves function, so the gap is theirs.")
    write_text_atomic(args.output, "\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
