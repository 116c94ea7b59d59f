"""Setting an instance's ``current`` from a solution or assignment file (``solve --current``)."""

from __future__ import annotations

from collections.abc import Mapping

from placement.formats.errors import InputError
from placement.formats.instance import Instance, validate_model


def replace_current(instance: Instance, assignment: Mapping[str, str], source: str) -> Instance:
    """A copy of ``instance`` whose ``current`` is ``assignment`` (replica id -> machine id).

    A machine the instance does not have is bad input, named in ``source`` (the file the
    assignment came from) at ``assignment.<replica>``; replicas the instance no longer has are
    departures and kept (they end up in the solution's ``info.departed``).
    """
    machine_ids = {mid for mid, _ in instance.machine_ids()}
    unknown = [
        (f"assignment.{rid}", f"unknown machine {mid!r}: the instance has no such machine")
        for rid, mid in assignment.items()
        if mid not in machine_ids
    ]
    if unknown:
        raise InputError(source, unknown)
    data = instance.dump()
    data["current"] = dict(assignment)
    return validate_model(Instance, data, source)
