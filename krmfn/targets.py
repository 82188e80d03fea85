"""Finding the workloads a ModelService's roles apply to, in one pass over the items.

A role with a `target` applies to what the target selects, and to nothing else. A role
without one finds its workloads by the rules llm-d's controller, chart and guides imply:
by name (`<modelservice>-<role>`), by an ownerReference to the ModelService, or by the
`llm-d.ai/model` and `llm-d.ai/role` labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from krmfn import record
from krmfn.journal import Kind, fingerprint, get
from krmfn.kinds import (
    MODEL_LABEL,
    MODELSERVICE_API_VERSION,
    MODELSERVICE_KIND,
    ROLE_LABEL,
    ROLES,
    WORKLOAD_KINDS,
)
from krmfn.krm import Item
from krmfn.krm.errors import FieldError
from krmfn.modelservice import ModelService
from krmfn.names import sanitize
from krmfn.paths import Path
from krmfn.selectors import PREVIOUS_NAMES, original_names
from krmfn.workloads import all_pod_templates, holds_roles, role_names

# How strongly a ModelService claims a workload: the strongest claims win, so that a
# workload the function labelled for one ModelService does not become a label match for
# another one serving the same model.
_BY_TARGET, _BY_NAME, _BY_LABELS = 3, 2, 1


class Target(NamedTuple):
    item: Item
    roles: tuple[str, ...]  # several only for a workload that holds roles
    how: str  # for messages


class Discovery(NamedTuple):
    targets: dict[str, list[Target]]  # by ModelService key
    conflicts: dict[str, list[str]]  # key -> messages
    claimed: set[int]  # the ids of the items some ModelService claims, conflicts too


def ms_key(ms: ModelService) -> str:
    return f"{ms.namespace}/{ms.name}"


def is_workload(item: Item, kinds: Iterable[str]) -> bool:
    return item.kind in kinds and item.api_version == WORKLOAD_KINDS.get(item.kind)


def _added_labels(item: Item) -> dict[Path, tuple[str, ...]]:
    """The label keys an earlier run added, by where: they are krmfn's, not the user's,
    and selecting by them would make a second run find other workloads than the first."""
    text = item.annotations.get(record.ANNOTATION)
    if not text:
        return {}
    try:
        ops = record.read(text).ops
    except FieldError:
        return {}  # the apply says so
    added: dict[Path, tuple[str, ...]] = {}
    for op in ops:
        if op.kind is not Kind.MERGE or op.path[-1:] != ("labels",):
            continue
        # Only labels a take-back would remove: all of them there, none changed since.
        labels = get(item.fields, op.path)
        keys = tuple(op.prior)
        if (
            isinstance(labels, dict)
            and all(k in labels for k in keys)
            and fingerprint({k: labels[k] for k in keys}, len(op.digest)) == op.digest
        ):
            added[op.path] = added.get(op.path, ()) + keys
    return added


def _own(labels: object, added: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if k not in added} if added else labels


def all_labels(item: Item) -> list[Mapping[str, str]]:
    """The workload's labels, then those of each of its pod templates (read from the
    fields the reader kept, which have the workload's shape), as the user wrote them:
    without those an earlier run added."""
    added = _added_labels(item)
    where: Path = ("metadata", "labels")
    own = _own(item.field("metadata", "labels"), added.get(where, ()))
    found: list[Mapping[str, str]] = [own]
    for template in all_pod_templates(item.kind, item.fields):
        path = template.labels
        labels = get(item.fields, path)
        if isinstance(labels, dict):
            found.append(_own(labels, added.get(path, ())))
    return found


def held_roles(item: Item) -> list[str]:
    """The roles a DisaggregatedSet holds, by name."""
    return role_names(item.kind, item.fields)


def names(item: Item) -> tuple[str, ...]:
    """The workload's name and the one it had before kustomize's namePrefix/nameSuffix."""
    return original_names(item.annotations, item.name, PREVIOUS_NAMES)


def _default_roles(item: Item, ms: ModelService, labels: list[Mapping[str, str]]) -> list[str]:
    """The roles the label and ownerReference rules can give a workload: those it holds,
    or the one its role label names."""
    if holds_roles(item.kind):
        return [r for r in held_roles(item) if r in ms.roles]
    role = next((ls[ROLE_LABEL] for ls in labels if ROLE_LABEL in ls), "")
    return [role] if role in ms.roles else []


def _owned_by(item: Item, ms: ModelService) -> bool:
    for ref in item.field("metadata", "ownerReferences") or []:
        if (
            isinstance(ref, dict)
            and ref.get("name") == ms.name
            and ref.get("kind") == MODELSERVICE_KIND
            and ref.get("apiVersion") == MODELSERVICE_API_VERSION
        ):
            return True
    return False


def _name_index(services: list[ModelService]) -> dict[str, list[tuple[ModelService, str]]]:
    """`<modelservice>-<role>`, for the name and the name before kustomize's prefix."""
    index: dict[str, list[tuple[ModelService, str]]] = defaultdict(list)
    for ms in services:
        for role in ms.roles:
            if role in ms.targets:
                continue
            for name in _default_names(ms, role):
                index[name].append((ms, role))
    return index


def _default_names(ms: ModelService, role: str) -> set[str]:
    """The workload names the name rule looks for: `<modelservice>-<role>`, with the
    ModelService's name and the one it had before kustomize's namePrefix."""
    found = set()
    for name in {ms.name, ms.original_name} - {""}:
        try:
            found.add(sanitize(f"{name}-{role}"))
        except FieldError:
            continue
    return found


class _Claim(NamedTuple):
    strength: int
    roles: list[str]
    how: str  # "target", "name", "ownerReference" or "labels"


class _Index:
    """The ModelServices by what finds a workload for them (a target, an owner's name, a
    model label, a name), so that a workload is looked up, not compared with each one."""

    def __init__(self, services: list[ModelService]) -> None:
        self.by_name = _name_index(services)
        self.targeted = [ms for ms in services if ms.targets]
        self.by_owner: dict[str, list[ModelService]] = defaultdict(list)
        self.by_model: dict[str, list[ModelService]] = defaultdict(list)
        for ms in services:
            self.by_owner[ms.name].append(ms)
            for label in set(ms.model_labels):
                self.by_model[label].append(ms)
        self.order = {ms_key(ms): index for index, ms in enumerate(services)}

    def candidates(self, item: Item, labels: list[Mapping[str, str]]) -> list[ModelService]:
        """The ModelServices the ownerReference and label rules may give the workload to."""
        found = {
            ms_key(ms): ms
            for ref in item.field("metadata", "ownerReferences") or []
            if isinstance(ref, dict)
            for ms in self.by_owner.get(str(ref.get("name")), [])
        }
        for ls in labels:
            for ms in self.by_model.get(ls.get(MODEL_LABEL, ""), []):
                found.setdefault(ms_key(ms), ms)
        return sorted(found.values(), key=lambda ms: self.order[ms_key(ms)])


def _claims(item: Item, index: _Index) -> dict[str, _Claim]:
    """Each ModelService's claim on one workload. A workload holding roles takes every
    role claimed; another kind, the strongest claims' roles."""
    strengths: dict[str, dict[str, int]] = defaultdict(dict)  # key -> role -> strength
    hows: dict[str, tuple[int, str]] = {}  # key -> the strongest claim's reason

    def claim(ms: ModelService, strength: int, how: str, roles: list[str]) -> None:
        key = ms_key(ms)
        held = strengths[key]
        for role in roles:
            held[role] = max(held.get(role, 0), strength)
        if hows.get(key, (0, ""))[0] < strength:
            hows[key] = (strength, how)

    labels = all_labels(item)
    for ms in index.targeted:
        for role, target in ms.targets.items():
            if not target.has_namespace and not ms.serves(item.namespace):
                continue
            if target.selects(
                item.api_version, item.kind, item.name, item.namespace, labels[0], item.annotations
            ):
                claim(ms, _BY_TARGET, "target", [role])
    for ms in index.candidates(item, labels):
        if not ms.serves(item.namespace):
            continue
        untargeted = [r for r in _default_roles(item, ms, labels) if r not in ms.targets]
        if untargeted and _owned_by(item, ms):
            claim(ms, _BY_NAME, "ownerReference", untargeted)
        elif untargeted and any(ls.get(MODEL_LABEL) in ms.model_labels for ls in labels):
            claim(ms, _BY_LABELS, "labels", untargeted)
    for name in names(item):
        for ms, role in index.by_name.get(name, []):
            if ms.serves(item.namespace) and not holds_roles(item.kind):
                claim(ms, _BY_NAME, "name", [role])
    claims = {}
    for key, roles in strengths.items():
        strength, how = hows[key]
        kept = [r for r, s in roles.items() if s == strength or holds_roles(item.kind)]
        claims[key] = _Claim(strength, sorted(kept, key=ROLES.index), how)
    return claims


def discover(items: list[Item], services: list[ModelService], kinds: tuple[str, ...]) -> Discovery:
    """Claims by target are strongest, then by name or ownerReference, then by labels;
    only the strongest claims on a workload count. Two of them from different
    ModelServices are a conflict, and so are two roles of one ModelService on a workload
    that is one role."""
    index = _Index(services)
    found = Discovery({ms_key(ms): [] for ms in services}, {}, set())
    for item in items:
        if not is_workload(item, kinds):
            continue
        claims = _claims(item, index)
        if not claims:
            continue
        found.claimed.add(id(item))
        strongest = max(c.strength for c in claims.values())
        winners = {k: c for k, c in claims.items() if c.strength == strongest}
        where = item.describe()
        if len(winners) > 1:
            owners = sorted(winners)
            for key in owners:
                others = ", ".join(k.lstrip("/") for k in owners if k != key)
                found.conflicts.setdefault(key, []).append(
                    f"{where} is also claimed by ModelService {others}"
                    f" (by {winners[key].how}); a workload can belong to one ModelService only"
                )
            continue
        ((key, (_, roles, how)),) = winners.items()
        if len(roles) > 1 and not holds_roles(item.kind):
            found.conflicts.setdefault(key, []).append(
                f"{where} is claimed by roles {' and '.join(roles)}; a {item.kind} serves one"
                " role (give each role a target that selects its own workloads)"
            )
            continue
        found.targets[key].append(Target(item, tuple(roles), how))
    return found


def _suggestion(ms: ModelService, role: str, items: list[Item], kinds: tuple[str, ...]) -> str:
    """A `target:` to copy: for the first workload that looks like the role's."""
    for item in items:
        if not is_workload(item, kinds) or not ms.serves(item.namespace):
            continue
        original = names(item)[-1]
        if not original:  # a workload without a name cannot be named in a target
            continue
        labelled = any(ls.get(ROLE_LABEL) == role for ls in all_labels(item))
        if labelled or original.endswith(role) or role in held_roles(item):
            return f"{{kind: {item.kind}, name: {original}}}"
    return f"{{kind: Deployment, name: <your {role} workload>}}"


def not_found(ms: ModelService, roles: list[str], items: list[Item], kinds: tuple[str, ...]) -> str:
    """What was looked for, to tell a user why nothing was found, and a target to copy."""
    where = f"in namespace {ms.namespace}" if ms.namespace else "without a namespace"
    if ms.from_config and not ms.namespace:
        where = "in any namespace"
    tried = []
    targeted = [r for r in roles if r in ms.targets]
    for role in targeted:
        tried.append(f"spec.{role}.target {ms.targets[role].describe()} selected nothing")
    searched = [r for r in roles if r not in ms.targets]
    if searched:
        wanted = " or ".join(sorted({n for r in searched for n in _default_names(ms, r)}))
        sanitized, last = ms.model_labels
        model = sanitized if sanitized == last else f"{sanitized} (or {last})"
        tried.append(
            f"looked for {'/'.join(kinds)} {where} named {wanted},"
            f" or owned by ModelService {ms.name} with label {ROLE_LABEL},"
            f" or labelled {MODEL_LABEL}={model} with {ROLE_LABEL}"
        )
    hint = _suggestion(ms, roles[0], items, kinds)
    return (
        f"no workload found for {', '.join(roles)}: {'; '.join(tried)};"
        f" name the workloads as kustomize's patches do, for example"
        f" spec.{roles[0]}.target: {hint}"
    )
