"""Kubernetes on the command line (SPEC section 11). Thin: parse, call, print, write.

```
placement k8s import --nodes NODES.json --pods PODS.json --into INSTANCE
                     [--resource K8S=NAME]... -o INSTANCE_OUT
placement k8s export INSTANCE SOLUTION [--images IMAGES.json] -o MANIFESTS.yaml
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from placement.formats.errors import InputError

app = typer.Typer(
    help="Import a running Kubernetes cluster; export a placement as Deployments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


@app.command("import")
def import_command(
    nodes: Annotated[Path, typer.Option(help="`kubectl get nodes -o json` output")],
    pods: Annotated[Path, typer.Option(help="`kubectl get pods -o json` output")],
    into: Annotated[Path, typer.Option(help="instance whose machines and current are replaced")],
    output: Annotated[Path, typer.Option("-o", "--output", help="instance JSON to write")],
    resource: Annotated[
        list[str] | None,
        typer.Option(help="K8S=NAME: also import this resource (NAME ending in _gb: GiB)"),
    ] = None,
) -> None:
    """Replace INSTANCE's machines and current placement by the cluster's nodes and pods."""
    from placement.cluster.k8s import import_cluster, parse_resource_options
    from placement.formats.files import check_output, read_json, write_json_atomic
    from placement.formats.instance import Instance

    mapping = parse_resource_options(resource or [])
    target = check_output(output, inputs=[nodes, pods, into])
    instance = Instance.load(into)
    imported = import_cluster(
        instance, read_json(nodes), read_json(pods), resources=mapping,
        nodes_source=str(nodes), pods_source=str(pods),
    )
    for line in imported.warnings:
        err.print(f"warning: {line}", highlight=False, markup=False)
    write_json_atomic(target, imported.instance.dump())
    inst = imported.instance
    states = [r.state for r in inst.machine_records()]
    err.print(
        f"wrote {output}: {len(states)} machines ({states.count('cordoned')} cordoned, "
        f"{states.count('down')} down), {len(inst.current_placement())} replicas running, "
        f"{len(inst.departed())} departed",
        highlight=False,
    )


@app.command("export")
def export_command(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solution: Annotated[Path, typer.Argument(help="solution or assignment file")],
    output: Annotated[Path, typer.Option("-o", "--output", help="manifests (YAML) to write")],
    images: Annotated[
        Path | None, typer.Option(help='JSON object {"model": "image", ...}')
    ] = None,
) -> None:
    """Write one Deployment per replica, pinned to its node, ready for `kubectl apply -f`."""
    from placement.cluster.k8s import export_manifests, manifests_yaml
    from placement.formats.files import check_output, read_json, write_output
    from placement.formats.instance import Instance
    from placement.formats.solution import AssignmentFile

    target = check_output(output, inputs=[instance, solution, images])
    inst = Instance.load(instance)
    assignment = AssignmentFile.load(solution).assignment
    image_map = _images(read_json(images), str(images)) if images is not None else {}
    exported = export_manifests(inst, assignment, images=image_map, source=str(solution))
    for line in exported.warnings:
        err.print(f"warning: {line}", highlight=False, markup=False)
    write_output(target, manifests_yaml(exported.objects))
    err.print(f"wrote {output}: {len(exported.objects)} Deployments", highlight=False)


def _images(data: object, source: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise InputError(source, [("$", 'expected an object {"model": "image", ...}')])
    bad = [(k, v) for k, v in data.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InputError(source, [(k, f"expected an image name, got {v!r}") for k, v in bad])
    return dict(data)


def mount(root: typer.Typer) -> None:
    """Join the ``placement`` command as ``placement k8s import|export``."""
    root.add_typer(app, name="k8s", help="Kubernetes: import a cluster, export Deployments.")
