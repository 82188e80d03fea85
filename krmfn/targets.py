"""Finding the workloads a ModelService owns, in one pass over the items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from krmfn.kinds import WORKLOAD_KINDS
from krmfn.krm import Item
from krmfn.modelservice import API_VERSION, KIND, ROLES, ModelService
from krmfn.names import NameError_, sanitize

ROLE_LABEL = "llm-d.ai/role"
MODEL_LABEL = "llm-d.ai/model"


class Target(NamedTuple):
    item: Item
    role: str
    how: str  # "name", "ownerReference" or "labels": for messages


class Discovery(NamedTuple):
    targets: dict[str, list[Target]]  # by ModelService key
    conflicts: dict[str, list[str]]  # key -> messages


def ms_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def is_workload(item: Item, kinds: Iterable[str]) -> bool:
    return item.kind in kinds and item.api_version == WORKLOAD_KINDS.get(item.kind)


def looked_for(ms: ModelService, kinds: Iterable[str]) -> str:
    """What discovery searched for, to tell a user why nothing was found."""
    roles = [r for r in ROLES if ms.role(r) is not None]
    names = ", ".join(sanitize(f"{ms.name}-{r}") for r in roles)
    return (
        f"{'/'.join(kinds)} in namespace {ms.namespace or '(none)'} named {names or '(no roles)'},"
        f" or owned by ModelService {ms.name} with label {ROLE_LABEL},"
        f" or labelled {MODEL_LABEL}={ms.sanitized_model_name} and {ROLE_LABEL}"
    )


def discover(items: list[Item], services: list[ModelService], kinds: tuple[str, ...]) -> Discovery:
    """Claims by name or ownerReference are strong; by labels, weak. A workload the
    function has labelled for one ModelService must not become a label match for another
    one serving the same model, so a strong claim wins over weak ones. Two claims of the
    same strength from different ModelServices are a conflict."""
    by_name: dict[tuple[str, str], tuple[ModelService, str]] = {}
    by_owner: dict[tuple[str, str], ModelService] = {}
    by_model: dict[tuple[str, str], list[ModelService]] = defaultdict(list)
    for ms in services:
        for role in ROLES:
            if ms.role(role) is not None:
                try:
                    by_name[(ms.namespace, sanitize(f"{ms.name}-{role}"))] = (ms, role)
                except NameError_:
                    continue
        by_owner[(ms.namespace, ms.name)] = ms
        by_model[(ms.namespace, ms.sanitized_model_name)].append(ms)

    found = Discovery({ms_key(ms.namespace, ms.name): [] for ms in services}, {})
    for item in items:
        if not is_workload(item, kinds):
            continue
        strong: dict[str, Target] = {}
        weak: dict[str, Target] = {}
        # Charts (llm-d-modelservice among them) label only the pod template.
        labels = {**item.template_labels, **item.labels}
        role = labels.get(ROLE_LABEL, "")
        named = by_name.get((item.namespace, item.name))
        if named is not None:
            ms, named_role = named
            strong[ms_key(ms.namespace, ms.name)] = Target(item, named_role, "name")
        if role in ROLES:
            for ref in item.owner_references:
                owner = by_owner.get((item.namespace, ref.get("name", "")))
                if (
                    owner is not None
                    and ref.get("kind") == KIND
                    and ref.get("apiVersion") == API_VERSION
                    and owner.role(role) is not None
                ):
                    strong.setdefault(
                        ms_key(owner.namespace, owner.name), Target(item, role, "ownerReference")
                    )
            for ms in by_model.get((item.namespace, labels.get(MODEL_LABEL, "")), []):
                if ms.role(role) is not None:
                    weak[ms_key(ms.namespace, ms.name)] = Target(item, role, "labels")
        claims = strong or weak
        if len(claims) == 1:
            key, target = next(iter(claims.items()))
            found.targets[key].append(target)
        elif len(claims) > 1:
            owners = sorted(claims)
            where = f"{item.kind} {item.namespace + '/' if item.namespace else ''}{item.name}"
            for key in owners:
                others = ", ".join(k.lstrip("/") for k in owners if k != key)
                found.conflicts.setdefault(key, []).append(
                    f"{where} is also claimed by ModelService {others}"
                    f" (by {claims[key].how}); a workload can belong to one ModelService only"
                )
    return found
