"""Workloads that carry the record of a ModelService that no longer targets them.

kpt renders a package in place: a workload a ModelService edited keeps the edit and its
record in the files. When the ModelService stops selecting it (its target changed, the
workload was renamed or relabelled), a render from the originals would leave it
untouched, so the record is taken back and the workload comes out as it was written.

Only a ModelService that is in this run and was read without errors decides that: a
record of one that is not here (another transformer's, in a kustomization that runs
krmfn once per ModelService, or a `kpt fn eval` that selected the workloads only) is
left alone, since nothing says that ModelService stopped targeting the workload.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from krmfn import record
from krmfn.apply import take_back
from krmfn.kinds import WORKLOAD_KINDS
from krmfn.krm import FieldError, Item


class Orphan(NamedTuple):
    item: Item
    by: str  # the ModelService named in its record


def find(items: Iterable[Item], serving: set[str], targeted: set[int]) -> list[Orphan]:
    """Workloads not among the `targeted` items (by id) whose record names one of the
    ModelServices `serving` (by `namespace/name`, as records name them)."""
    found = []
    for item in items:
        text = item.annotations.get(record.ANNOTATION)
        if not text or id(item) in targeted or WORKLOAD_KINDS.get(item.kind) != item.api_version:
            continue
        try:
            by = record.read(text).by
        except FieldError:  # said when a ModelService targets it; nobody does here
            continue
        if by in serving:
            found.append(Orphan(item, by))
    return found


def restored(item: Item) -> tuple[str, bool]:
    """The item's text with its record taken back, and whether its comments had to be
    left out (see RoundTrip.text). Raises FieldError."""
    from krmfn.krm.roundtrip import RoundTrip

    view = RoundTrip(item)
    take_back(view.data)
    return view.text()
