"""Kubernetes in and out (SPEC section 11) on fixtures in the exact format `kubectl get -o json`
prints: built with the official client's models and its serializer."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from placement.cluster.k8s import (
    DEFAULT_RESOURCES,
    export_manifests,
    import_cluster,
    manifests_yaml,
    parse_resource_options,
)
from placement.cluster.quantity import format_cpu, format_memory_gib, parse_quantity
from placement.formats.errors import InputError
from placement.formats.instance import Instance

k8s = pytest.importorskip("kubernetes")
client = k8s.client

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "instances" / "demo.json"


# --------------------------------------------------------------------------- fixtures


def node(name: str, instance_type: str | None, *, cpu: str = "8", memory: str = "16Gi",
         ready: str = "True", unschedulable: bool | None = None, zone: str = "eu-1a"):
    labels = {"kubernetes.io/hostname": f"host-{name}", "topology.kubernetes.io/zone": zone}
    if instance_type is not None:
        labels["node.kubernetes.io/instance-type"] = instance_type
    return client.V1Node(
        api_version="v1",
        kind="Node",
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1NodeSpec(unschedulable=unschedulable),
        status=client.V1NodeStatus(
            allocatable={"cpu": cpu, "memory": memory, "pods": "110"},
            capacity={"cpu": cpu, "memory": memory, "pods": "110"},
            conditions=[client.V1NodeCondition(type="Ready", status=ready)],
        ),
    )


def pod(name: str, node_name: str | None, *, model: str | None = None, replica: str = "0",
        cpu: str = "500m", memory: str = "1Gi", phase: str = "Running"):
    labels = {"app": name}
    if model is not None:
        labels |= {"placement.io/model": model, "placement.io/replica": replica}
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(name=name, namespace="default", labels=labels),
        spec=client.V1PodSpec(
            node_name=node_name,
            containers=[client.V1Container(
                name="main", image="busybox",
                resources=client.V1ResourceRequirements(requests={"cpu": cpu, "memory": memory}),
            )],
        ),
        status=client.V1PodStatus(phase=phase),
    )


def as_kubectl(items, list_class) -> dict:
    """What `kubectl get ... -o json` prints: a v1 List of the objects."""
    listing = list_class(api_version="v1", kind="List", items=items,
                         metadata=client.V1ListMeta(resource_version=""))
    return client.ApiClient().sanitize_for_serialization(listing)


def demo_cluster() -> tuple[dict, dict]:
    nodes = as_kubectl([
        node("n1", "c5.2xlarge", cpu="7910m", memory="15Gi"),
        node("n2", "c5.2xlarge", unschedulable=True, zone="eu-1b"),
        node("n3", "c5.4xlarge", cpu="16", memory="32Gi", ready="False"),
        node("n4", "c5.4xlarge", cpu="16", memory="32Gi", zone="eu-1b"),
        node("n5", None),  # no instance type: skipped
    ], client.V1NodeList)
    pods = as_kubectl([
        pod("resnet-0", "n1", model="resnet50", replica="0"),
        pod("bert-0", "n3", model="bert-base", replica="0"),
        pod("yolo-0", "n4", model="yolo-v5", replica="0"),
        pod("gone-0", "n4", model="retired", replica="0"),  # a model the instance lacks
        pod("resnet-1", None, model="resnet50", replica="1", phase="Pending"),
        pod("logging", "n1", cpu="1500m", memory="2Gi"),  # another tenant
        pod("done", "n1", cpu="4", memory="4Gi", phase="Succeeded"),  # holds nothing
    ], client.V1PodList)
    return nodes, pods


def deserialize(obj: dict, kind: str):
    """The client's own deserializer (its signature changed across releases)."""
    api = client.ApiClient()
    params = inspect.signature(api.deserialize).parameters
    text = json.dumps(obj)
    if "response_text" in params:
        return api.deserialize(text, kind, None)

    class Response:  # older clients read `.data` from a response object
        data = text

    return api.deserialize(Response(), kind)


# --------------------------------------------------------------------------- quantities

QUANTITIES = ["250m", "1.5Gi", "2e3", "1E", "1E3", "3920m", "128974848", "0.1", ".5", "5.",
              "1Ki", "1Mi", "1Ti", "1Pi", "1Ei", "100n", "3u", "7k", "2M", "4G", "1T", "1P",
              "1.25e-3", "12e+2", "+3", "0"]


@pytest.mark.parametrize("text", QUANTITIES)
def test_quantity_matches_the_client(text):
    reference = pytest.importorskip("kubernetes.utils.quantity").parse_quantity
    assert parse_quantity(text) == reference(text)


@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
       st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e2", "e-3", "E1"]))
def test_quantity_matches_the_client_on_random_values(number, suffix):
    reference = pytest.importorskip("kubernetes.utils.quantity").parse_quantity
    text = f"{number}{suffix}"
    assert parse_quantity(text) == reference(text)


@pytest.mark.parametrize("text", ["1.2.3", "Gi", "1Gb", "1ki", "e3", "", "1 Gi", "NaN",
                                  "Infinity", "1e999", "0x10", "1mi"])
def test_bad_quantities_are_refused(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_formatting_rounds_up_and_reads_back():
    assert format_cpu(1.5) == "1500m" and format_cpu(2) == "2" and format_cpu(0.0004) == "1m"
    assert format_memory_gib(1.5) == "1536Mi"
    assert parse_quantity(format_memory_gib(0.3)) >= Decimal("0.3") * 2**30


# --------------------------------------------------------------------------- import


def test_import_machines_states_capacity_labels_and_current():
    nodes, pods = demo_cluster()
    imported = import_cluster(Instance.load(DEMO), nodes, pods)
    inst = imported.instance
    records = {r.id: r for r in inst.machine_records()}
    assert set(records) == {"n1", "n2", "n3", "n4"}
    assert [records[n].state for n in ("n1", "n2", "n3", "n4")] == [
        "ready", "cordoned", "down", "ready"]
    # allocatable minus the other tenant's requests (the finished pod holds nothing)
    assert records["n1"].capacity["vcpus"] == pytest.approx(7.91 - 1.5)
    assert records["n1"].capacity["memory_gb"] == pytest.approx(15 - 2)
    assert records["n4"].capacity == {"vcpus": 16.0, "memory_gb": 32.0}
    assert records["n2"].labels["topology.kubernetes.io/zone"] == "eu-1b"
    # pending pods are new replicas; pods of models the instance lacks are departures
    assert inst.current == {"resnet50#0": "n1", "bert-base#0": "n3", "yolo-v5#0": "n4",
                            "retired#0": "n4"}
    assert inst.departed() == ["retired#0"]
    assert any("n5" in w for w in imported.warnings)


def test_import_extra_resource_and_init_containers():
    nodes = as_kubectl([node("n1", "c5.2xlarge")], client.V1NodeList)
    nodes["items"][0]["status"]["allocatable"]["ephemeral-storage"] = "100Gi"
    busy = pod("batch", "n1", cpu="1", memory="1Gi")
    busy.spec.init_containers = [client.V1Container(
        name="init", image="busybox",
        resources=client.V1ResourceRequirements(requests={"cpu": "3", "memory": "512Mi"}))]
    pods = as_kubectl([busy], client.V1PodList)
    mapping = parse_resource_options(["ephemeral-storage=disk_gb"])
    inst = import_cluster(Instance.load(DEMO), nodes, pods, resources=mapping).instance
    cap = inst.machine_records()[0].capacity
    # the scheduler counts max(sum of containers, largest init container) per resource
    assert cap["vcpus"] == pytest.approx(8 - 3) and cap["memory_gb"] == pytest.approx(15)
    assert cap["disk_gb"] == pytest.approx(100)


def test_import_bad_input_names_the_path():
    nodes, pods = demo_cluster()
    nodes["items"][0]["status"]["allocatable"]["cpu"] = "lots"
    with pytest.raises(InputError) as exc:
        import_cluster(Instance.load(DEMO), nodes, pods, nodes_source="nodes.json")
    assert 'items[0].status.allocatable["cpu"]' in exc.value.render()
    nodes, pods = demo_cluster()
    pods["items"][0]["metadata"]["labels"]["placement.io/replica"] = "first"
    with pytest.raises(InputError, match="placement.io/replica"):
        import_cluster(Instance.load(DEMO), nodes, pods)
    with pytest.raises(InputError, match="items"):
        import_cluster(Instance.load(DEMO), {"kind": "NodeList"}, pods)
    with pytest.raises(InputError, match="--resource"):
        parse_resource_options(["memory"])


# --------------------------------------------------------------------------- export


def test_every_exported_object_is_a_v1_deployment_pinned_to_its_node():
    nodes, pods = demo_cluster()
    inst = import_cluster(Instance.load(DEMO), nodes, pods).instance
    assignment = {"resnet50#0": "n1", "resnet50#1": "n4", "bert-base#0": "n4",
                  "yolo-v5#0": "n4", "mobilenet-v2#0": "n1", "distilbert#0": "n2"}
    exported = export_manifests(inst, assignment, images={"resnet50": "ghcr.io/x/resnet:1"})
    assert len(exported.objects) == len(assignment)
    names = set()
    for obj in exported.objects:
        dep = deserialize(obj, "V1Deployment")
        assert dep.kind == "Deployment" and dep.spec.replicas == 1
        labels = dep.spec.template.metadata.labels
        rid = f"{labels['placement.io/model']}#{labels['placement.io/replica']}"
        assert dep.spec.template.spec.node_selector == {
            "kubernetes.io/hostname": f"host-{assignment[rid]}"}
        assert dep.spec.selector.match_labels == labels
        names.add(dep.metadata.name)
    assert "resnet50-0" in names and len(names) == len(assignment)
    first = exported.objects[0]["spec"]["template"]["spec"]["containers"][0]
    assert first["image"] == "ghcr.io/x/resnet:1"
    assert first["resources"]["requests"] == {"cpu": "2", "memory": "1536Mi"}
    assert any("MODEL:latest" in w for w in exported.warnings)


def test_manifests_are_a_yaml_stream_kubectl_reads():
    yaml = pytest.importorskip("yaml")
    inst = Instance.load(DEMO)
    exported = export_manifests(inst, {"resnet50#0": "big-1", "bert-base#0": "big-2"})
    text = manifests_yaml(exported.objects)
    assert not text.lstrip().startswith("{")  # kubectl then reads it as YAML documents
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert docs == exported.objects


def test_export_names_are_unique_dns_names():
    data = json.loads(DEMO.read_text())
    data["models"][0]["name"] = "ResNet.50"
    data["models"][1]["name"] = "resnet-50"
    for entry in data["interference"]["pairwise"] + data["interference"]["setwise"]:
        for key in ("target",):
            entry[key] = {"resnet50": "ResNet.50", "bert-base": "resnet-50"}.get(entry[key],
                                                                                 entry[key])
        with_ = entry["with"]
        rename = {"resnet50": "ResNet.50", "bert-base": "resnet-50"}
        entry["with"] = [rename.get(w, w) for w in with_] if isinstance(with_, list) else (
            rename.get(with_, with_))
    inst = Instance.model_validate(data)
    exported = export_manifests(inst, {"ResNet.50#0": "big-1", "resnet-50#0": "big-2"})
    names = [o["metadata"]["name"] for o in exported.objects]
    assert len(set(names)) == 2
    for name in names:
        assert len(name) <= 63 and name == name.lower() and name[0].isalnum()
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_export_refuses_unknown_machines_and_empty_assignments():
    inst = Instance.load(DEMO)
    with pytest.raises(InputError, match="unknown machine"):
        export_manifests(inst, {"resnet50#0": "nope"})
    with pytest.raises(InputError, match="nothing to export"):
        export_manifests(inst, {})


# --------------------------------------------------------------------------- CLI


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "placement.cli.app", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_import_solve_export(tmp_path):
    nodes, pods = demo_cluster()
    (tmp_path / "nodes.json").write_text(json.dumps(nodes))
    (tmp_path / "pods.json").write_text(json.dumps(pods))
    proc = run("k8s", "import", "--nodes", "nodes.json", "--pods", "pods.json",
               "--into", str(DEMO), "-o", "cluster.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: node n5" in proc.stderr
    inst = Instance.load(tmp_path / "cluster.json")
    assert inst.current["resnet50#0"] == "n1"
    assignment = {rid: "n4" if i % 2 else "n1" for i, (rid, _) in
                  enumerate(inst.replica_ids()[:2])}
    (tmp_path / "sol.json").write_text(json.dumps({"assignment": assignment}))
    proc = run("k8s", "export", "cluster.json", "sol.json", "-o", "out.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.yaml").read_text().count("\n---\n") + 1 >= len(assignment)
    # bad input: exit 2, a message naming the file, nothing written
    (tmp_path / "bad.json").write_text(json.dumps({"assignment": {"resnet50#0": "zz"}}))
    proc = run("k8s", "export", "cluster.json", "bad.json", "-o", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "bad.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bad.yaml").exists()
    proc = run("k8s", "import", "--nodes", "nodes.json", "--pods", "pods.json",
               "--into", str(DEMO), "-o", "nodes.json", cwd=tmp_path)
    assert proc.returncode == 2 and "input" in proc.stderr


def test_default_resources_cover_cpu_memory_gpu():
    assert DEFAULT_RESOURCES == {"cpu": "vcpus", "memory": "memory_gb", "nvidia.com/gpu": "gpus"}


def pods_from_deployments(objects: list[dict], nodes: dict) -> dict:
    """The pods the Deployments create, bound where their node selectors point, as kubectl
    prints them."""
    by_hostname = {n["metadata"]["labels"]["kubernetes.io/hostname"]: n["metadata"]["name"]
                   for n in nodes["items"]}
    pods = []
    for obj in objects:
        dep = deserialize(obj, "V1Deployment")
        spec = dep.spec.template.spec
        spec.node_name = by_hostname[spec.node_selector["kubernetes.io/hostname"]]
        pods.append(client.V1Pod(
            api_version="v1", kind="Pod",
            metadata=client.V1ObjectMeta(name=f"{dep.metadata.name}-7d9f8-x2k4q",
                                         labels=dep.spec.template.metadata.labels),
            spec=spec, status=client.V1PodStatus(phase="Running")))
    return as_kubectl(pods, client.V1PodList)


def test_round_trip_export_then_import_gives_the_placement_back():
    nodes, pods = demo_cluster()
    inst = import_cluster(Instance.load(DEMO), nodes, pods).instance
    assignment = {"resnet50#0": "n4", "resnet50#1": "n1", "bert-base#0": "n2",
                  "yolo-v5#0": "n4", "mobilenet-v2#0": "n1", "mobilenet-v2#1": "n4",
                  "distilbert#0": "n1"}
    exported = export_manifests(inst, assignment)
    again = import_cluster(Instance.load(DEMO), nodes, pods_from_deployments(exported.objects,
                                                                             nodes)).instance
    assert again.current == assignment
    # our own pods never reduce capacity: the machines are what the first import saw, minus
    # the other tenant, who is gone from this pod list
    assert again.machine_records()[0].capacity["vcpus"] == pytest.approx(7.91)


def test_gpu_requests_are_whole_devices_with_equal_limits():
    data = json.loads(DEMO.read_text())
    data["machine_types"][1]["capacity"]["gpus"] = 4
    data["models"][2]["requests"]["gpus"] = 0.5
    data["models"][2]["requests"]["gpu_memory_gb"] = 3
    inst = Instance.model_validate(data)
    exported = export_manifests(inst, {"yolo-v5#0": "big-1"})
    resources = exported.objects[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    assert any("gpu_memory_gb" in w for w in exported.warnings)
    deserialize(exported.objects[0], "V1Deployment")


def test_kubectl_reads_every_deployment_of_the_stream(tmp_path):
    """kubectl's own decoder (offline: `label --local` parses files like `apply -f` does)."""
    import shutil

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    inst = Instance.load(DEMO)
    assignment = {"resnet50#0": "big-1", "bert-base#0": "big-2", "yolo-v5#0": "big-1"}
    path = tmp_path / "m.yaml"
    path.write_text(manifests_yaml(export_manifests(inst, assignment).objects))
    proc = subprocess.run([kubectl, "label", "--local", "-f", str(path), "checked=yes",
                           "-o", "name"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["deployment.apps/resnet50-0", "deployment.apps/bert-base-0",
                                   "deployment.apps/yolo-v5-0"]


@pytest.mark.parametrize("solver", ["local-search", "cpsat"])
def test_solved_exported_and_reimported_cluster_needs_no_move(solver):
    """The issue's round trip: import, solve, export, run, re-import, re-solve with
    max_moves 0: nothing moves."""
    from placement import solve

    nodes, pods = demo_cluster()
    inst = import_cluster(Instance.load(DEMO), nodes, pods).instance
    first = solve(inst, solver, time_limit=5)
    assert first.status in ("optimal", "feasible"), first.diagnosis
    down = {r.id for r in inst.machine_records() if r.state == "down"}
    assert not set(first.assignment.values()) & down
    running = pods_from_deployments(export_manifests(inst, first.assignment).objects, nodes)
    again = import_cluster(Instance.load(DEMO), nodes, running).instance
    assert again.current == first.assignment
    data = again.dump()
    data.setdefault("limits", {})["max_moves"] = 0
    second = solve(Instance.model_validate(data), solver, time_limit=5)
    assert second.status in ("optimal", "feasible"), second.diagnosis
    assert second.moves == [] and second.summary.moves == 0
