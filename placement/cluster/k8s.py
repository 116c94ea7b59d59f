"""Kubernetes in and out (SPEC section 11).

``import_cluster`` reads what ``kubectl get nodes -o json`` and ``kubectl get pods -o json``
print and replaces an instance's machines and ``current``: one machine per node (its type
from the ``node.kubernetes.io/instance-type`` label), with the node's labels, its state
(``spec.unschedulable`` -> cordoned, a Ready condition that is not True -> down) and a
capacity of ``status.allocatable`` minus what the node's other pods request; ``current``
comes from the pods labelled ``placement.io/model`` / ``placement.io/replica`` that are bound
to a node. ``export_manifests`` writes one Deployment per replica, pinned to its node.

Only the standard library is used: the ``kubernetes`` client is an optional extra that the
tests use to build fixtures exactly as ``kubectl`` prints them and to check every exported
object against ``V1Deployment``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from placement.cluster.quantity import format_cpu, format_memory_gib, parse_quantity
from placement.formats.errors import InputError
from placement.formats.instance import Instance, validate_model

MODEL_LABEL = "placement.io/model"
REPLICA_LABEL = "placement.io/replica"
TYPE_LABEL = "node.kubernetes.io/instance-type"
HOSTNAME_LABEL = "kubernetes.io/hostname"
#: Kubernetes resource -> instance resource; more with ``--resource K8S=NAME``.
DEFAULT_RESOURCES = {"cpu": "vcpus", "memory": "memory_gb", "nvidia.com/gpu": "gpus"}
GIB = Decimal(2) ** 30
_TERMINATED = ("Succeeded", "Failed")  # pods in these phases hold no resources
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
MAX_NAME = 52  # leaves room for the ReplicaSet and pod hash suffixes Kubernetes appends


@dataclass
class Imported:
    """The instance with the cluster's machines and ``current``, and what was skipped."""

    instance: Instance
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- options


def parse_resource_options(options: Sequence[str]) -> dict[str, str]:
    """``["ephemeral-storage=disk_gb"]`` -> the resource mapping, defaults included.

    A target name ending in ``_gb`` is converted from bytes to GiB, as ``memory_gb`` is."""
    mapping = dict(DEFAULT_RESOURCES)
    for option in options:
        k8s, sep, name = option.partition("=")
        if not sep or not k8s.strip() or not name.strip():
            raise InputError("--resource", [("$", f"expected K8S=NAME such as "
                                                  f"ephemeral-storage=disk_gb, got {option!r}")])
        mapping[k8s.strip()] = name.strip()
    return mapping


def to_instance_units(name: str, quantity: Decimal) -> float:
    """A Kubernetes quantity in the instance's unit for resource ``name``."""
    return float(quantity / GIB) if name.endswith("_gb") else float(quantity)


# --------------------------------------------------------------------------- import


def import_cluster(
    instance: Instance,
    nodes: Any,
    pods: Any,
    *,
    resources: Mapping[str, str] = DEFAULT_RESOURCES,
    nodes_source: str = "nodes",
    pods_source: str = "pods",
) -> Imported:
    """``instance`` with machines and ``current`` from ``kubectl get nodes/pods -o json``.

    Bad input (a malformed list, a quantity Kubernetes would refuse, a replica label that is
    not a number) raises :class:`InputError` naming the file and the JSON path.
    """
    warnings: list[str] = []
    types = {t.name: t.capacity for t in instance.machine_types}
    node_items = _items(nodes, nodes_source, "NodeList")
    pod_items = _items(pods, pods_source, "PodList")
    machines: dict[str, dict[str, Any]] = {}
    allocatable: dict[str, dict[str, Decimal]] = {}
    for i, node in enumerate(node_items):
        where = f"items[{i}]"
        name = _string(_get(node, ("metadata", "name"), nodes_source, where), nodes_source,
                       f"{where}.metadata.name")
        labels = _string_map(_get(node, ("metadata", "labels"), nodes_source, where, {}),
                             nodes_source, f"{where}.metadata.labels")
        machine_type = labels.get(TYPE_LABEL)
        if machine_type is None:
            warnings.append(f"node {name}: no {TYPE_LABEL} label; skipped")
            continue
        if machine_type not in types:
            warnings.append(f"node {name}: instance type {machine_type!r} is not among the "
                            f"instance's machine types {sorted(types)}; skipped")
            continue
        if name in machines:
            raise InputError(nodes_source, [(f"{where}.metadata.name",
                                             f"duplicate node name {name!r}")])
        machines[name] = {"id": name, "type": machine_type,
                          "state": _node_state(node, nodes_source, where), "labels": labels}
        alloc = _get(node, ("status", "allocatable"), nodes_source, where, {})
        allocatable[name] = _quantities(alloc, resources, nodes_source,
                                        f"{where}.status.allocatable")
    if not machines:
        raise InputError(nodes_source, [("items", f"no node with a {TYPE_LABEL} label naming "
                                                  f"one of the instance's types {sorted(types)}")])

    current: dict[str, str] = {}
    for i, pod in enumerate(pod_items):
        where = f"items[{i}]"
        phase = _get(pod, ("status", "phase"), pods_source, where, None)
        if phase in _TERMINATED:
            continue
        pod_name = _get(pod, ("metadata", "name"), pods_source, where, f"#{i}")
        labels = _string_map(_get(pod, ("metadata", "labels"), pods_source, where, {}),
                             pods_source, f"{where}.metadata.labels")
        node = _get(pod, ("spec", "nodeName"), pods_source, where, None)
        if MODEL_LABEL not in labels:  # another tenant's pod: it takes capacity
            if node in allocatable:
                used = _pod_requests(pod, resources, pods_source, where)
                for k, v in used.items():
                    if k in allocatable[node]:  # a resource the node does not list keeps the type's
                        allocatable[node][k] -= v
            continue
        rid = _replica_id(labels, pods_source, where)
        if node is None:
            continue  # pending: a new replica, placed freely
        if node not in machines:
            warnings.append(f"pod {pod_name} ({rid}) runs on node {node}, which was not "
                            "imported; its replica is placed as new")
        elif rid in current:
            warnings.append(f"pod {pod_name}: replica {rid} already runs on {current[rid]}; "
                            "this pod is ignored")
        else:
            current[rid] = node
    for name, machine in machines.items():
        type_capacity = types[machine["type"]]
        override = {}
        for k8s_name, value in allocatable[name].items():
            resource = resources[k8s_name]
            amount = max(0.0, to_instance_units(resource, value))
            if type_capacity.get(resource) != amount:
                override[resource] = amount
        if override:
            machine["capacity"] = override
    data = instance.dump()
    data["machines"] = list(machines.values())
    data["current"] = current
    return Imported(validate_model(Instance, data, f"{nodes_source} + {pods_source}"), warnings)


def _node_state(node: Any, source: str, where: str) -> str:
    conditions = _get(node, ("status", "conditions"), source, where, [])
    if not isinstance(conditions, list):
        raise InputError(source, [(f"{where}.status.conditions", "expected a list")])
    ready = [c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"]
    if not ready or ready[0].get("status") != "True":
        return "down"
    spec = node.get("spec") or {}
    return "cordoned" if spec.get("unschedulable") is True else "ready"


def _replica_id(labels: Mapping[str, str], source: str, where: str) -> str:
    text = labels.get(REPLICA_LABEL)
    path = f'{where}.metadata.labels["{REPLICA_LABEL}"]'
    if text is None or not text.isdigit():
        raise InputError(source, [(path, f"expected the replica index (0, 1, ...) beside "
                                         f"{MODEL_LABEL}, got {text!r}")])
    return f"{labels[MODEL_LABEL]}#{int(text)}"


def _pod_requests(
    pod: Any, resources: Mapping[str, str], source: str, where: str
) -> dict[str, Decimal]:
    """What the scheduler counts for a pod: the containers' requests summed, or the largest
    init container's if that is more, plus the pod overhead."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for j, container in enumerate(spec.get("containers") or []):
        asked = _container_requests(container, resources, source, f"{where}.spec.containers[{j}]")
        for k, v in asked.items():
            total[k] = total.get(k, Decimal(0)) + v
    for j, container in enumerate(spec.get("initContainers") or []):
        asked = _container_requests(container, resources, source,
                                    f"{where}.spec.initContainers[{j}]")
        for k, v in asked.items():
            total[k] = max(total.get(k, Decimal(0)), v)
    overhead = _quantities(spec.get("overhead") or {}, resources, source, f"{where}.spec.overhead")
    for k, v in overhead.items():
        total[k] = total.get(k, Decimal(0)) + v
    return total


def _container_requests(
    container: Any, resources: Mapping[str, str], source: str, where: str
) -> dict[str, Decimal]:
    if not isinstance(container, dict):
        raise InputError(source, [(where, "expected an object")])
    res = container.get("resources") or {}
    # Kubernetes defaults a missing request to the limit
    asked = {**(res.get("limits") or {}), **(res.get("requests") or {})}
    return _quantities(asked, resources, source, f"{where}.resources.requests")


def _quantities(
    values: Any, resources: Mapping[str, str], source: str, where: str
) -> dict[str, Decimal]:
    if not isinstance(values, dict):
        raise InputError(source, [(where, "expected an object of resource quantities")])
    out = {}
    for k8s_name, text in values.items():
        if k8s_name not in resources:
            continue
        try:
            value = parse_quantity(text)
        except ValueError as exc:
            raise InputError(source, [(f'{where}["{k8s_name}"]', str(exc))]) from None
        if value < 0:
            raise InputError(source, [(f'{where}["{k8s_name}"]', "expected a quantity >= 0")])
        out[k8s_name] = value
    return out


def _items(document: Any, source: str, kind: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise InputError(source, [("items", f"expected a {kind} as `kubectl get ... -o json` "
                                            "prints it: an object with an items list")])
    for i, item in enumerate(document["items"]):
        if not isinstance(item, dict):
            raise InputError(source, [(f"items[{i}]", "expected an object")])
    return document["items"]


def _get(obj: dict, keys: tuple[str, ...], source: str, where: str, default: Any = ...) -> Any:
    value: Any = obj
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value or value[key] is None:
            if default is not ...:
                return default
            path = ".".join((where, *keys[: depth + 1]))
            raise InputError(source, [(path, "required field is missing")])
        value = value[key]
    return value


def _string(value: Any, source: str, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(source, [(path, f"expected a non-empty string, got {value!r}")])
    return value


def _string_map(value: Any, source: str, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InputError(source, [(path, "expected an object of string labels")])
    return dict(value)


# --------------------------------------------------------------------------- export


@dataclass
class Exported:
    """Deployments ready for ``kubectl apply``, and what the user should know about them."""

    objects: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def export_manifests(
    instance: Instance,
    assignment: Mapping[str, str],
    *,
    images: Mapping[str, str] | None = None,
    source: str = "solution",
) -> Exported:
    """One Deployment per placed replica: 1 pod, pinned with a node selector on
    ``kubernetes.io/hostname``, the model's requests, the two placement labels and a DNS-1123
    name made from the replica id. Unknown replicas or machines are bad input in ``source``."""
    images = dict(images or {})
    machines = {r.id: r for r in instance.machine_records()}
    models = {m.name: m for m in instance.models}
    replica_model = dict(instance.replica_ids())
    problems = [
        (f"assignment.{rid}", "unknown replica: the instance has no such replica")
        for rid in assignment if rid not in replica_model
    ] + [
        (f"assignment.{rid}", f"unknown machine {mid!r}: the instance has no such machine")
        for rid, mid in assignment.items() if mid not in machines
    ]
    if problems:
        raise InputError(source, problems)
    if not assignment:
        raise InputError(source, [("assignment", "places no replica; nothing to export")])
    bad_labels = [m for m in models if len(m) > 63 or not _LABEL_VALUE.fullmatch(m)]
    if bad_labels:
        raise InputError(source, [("assignment", f"model names {bad_labels[:5]} are not valid "
                                                 "Kubernetes label values (at most 63 letters, "
                                                 "digits, '-', '_', '.')")])
    warnings: list[str] = []
    defaulted = sorted({replica_model[r] for r in assignment} - set(images))
    if defaulted:
        warnings.append(f"no image given for {', '.join(defaulted)}; using MODEL:latest "
                        "(pass --images IMAGES.json)")
    unmapped = sorted({k for m in models.values() for k, v in m.requests.items()
                       if v > 0 and k not in _EXPORTED_RESOURCES})
    if unmapped:
        warnings.append(f"resources {', '.join(unmapped)} have no Kubernetes name; left out "
                        "of the pods' requests")
    names = _deployment_names([rid for rid, _ in instance.replica_ids() if rid in assignment])
    objects = []
    for rid, _ in instance.replica_ids():
        if rid not in assignment:
            continue
        model = models[replica_model[rid]]
        machine = machines[assignment[rid]]
        labels = {MODEL_LABEL: model.name, REPLICA_LABEL: rid.rsplit("#", 1)[1]}
        requests, limits = _requests(model.requests)
        container: dict[str, Any] = {
            "name": _dns_label(model.name),
            "image": images.get(model.name, f"{_dns_label(model.name)}:latest"),
            "resources": {"requests": requests, **({"limits": limits} if limits else {})},
        }
        objects.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": names[rid], "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {HOSTNAME_LABEL: machine.labels.get(HOSTNAME_LABEL,
                                                                            machine.id)},
                        "containers": [container],
                    },
                },
            },
        })
    return Exported(objects, warnings)


_EXPORTED_RESOURCES = {name: k8s for k8s, name in DEFAULT_RESOURCES.items()}


def _requests(requests: Mapping[str, float]) -> tuple[dict[str, str], dict[str, str]]:
    """Requests in Kubernetes quantities; a GPU count is an extended resource, which needs
    a whole number and a limit equal to the request."""
    out: dict[str, str] = {}
    limits: dict[str, str] = {}
    for name, value in requests.items():
        if value <= 0 or name not in _EXPORTED_RESOURCES:
            continue
        if name == "vcpus":
            out["cpu"] = format_cpu(value)
        elif name == "memory_gb":
            out["memory"] = format_memory_gib(value)
        else:
            out[_EXPORTED_RESOURCES[name]] = limits[_EXPORTED_RESOURCES[name]] = str(
                math.ceil(value)
            )
    return out, limits


def _dns_label(text: str, limit: int = 63) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return label or "model"


def _deployment_names(replica_ids: Sequence[str]) -> dict[str, str]:
    """A DNS-1123 name per replica id (``resnet50#0`` -> ``resnet50-0``); ids that lose
    characters or collide get a short hash of the id, so every name is unique."""
    plain = {rid: _dns_label(rid.replace("#", "-"), MAX_NAME) for rid in replica_ids}
    counts: dict[str, int] = {}
    for name in plain.values():
        counts[name] = counts.get(name, 0) + 1
    out = {}
    for rid, name in plain.items():
        exact = name == rid.replace("#", "-")
        if counts[name] > 1 or not exact:
            digest = hashlib.sha1(rid.encode()).hexdigest()[:8]
            name = f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"
        out[rid] = name
    return out


def manifests_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """A multi-document YAML stream whose documents are JSON (JSON is YAML): no YAML library
    needed. The leading comment makes kubectl read it as YAML, document by document."""
    head = "# Deployments written by `placement k8s export`; apply with kubectl apply -f\n"
    return head + "".join(
        "---\n" + json.dumps(obj, indent=2, allow_nan=False) + "\n" for obj in objects
    )
