"""Where a ModelService role lands in each workload kind.

- Deployment, StatefulSet: the workload is one role; its pod template is `spec.template`.
- LeaderWorkerSet: one role with two pod templates, `spec.leaderWorkerTemplate`'s
  `leaderTemplate` (optional) and `workerTemplate`.
- DisaggregatedSet: one object holding several roles, `spec.roles[name=<role>].spec`, each
  with a `leaderWorkerTemplate` like a LeaderWorkerSet's and its own `replicas`.
- PodCliqueSet (Grove): one object holding several roles in its cliques,
  `spec.template.cliques[name=<clique>]`, each with its `labels` and its pod's spec in
  `spec.podSpec`. A role is the cliques whose `llm-d.ai/role` label names it or, without
  the label, whose `roleName` is the role or starts with it and a dash
  (`decode-leader`, `decode-worker`). Each clique has its own `replicas`, which a role's
  cannot be spread over: krmfn writes none.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from krmfn.journal import get
from krmfn.kinds import ROLE_LABEL, ROLES
from krmfn.paths import Match, Path

DISAGGREGATED = "DisaggregatedSet"
CLIQUES = "PodCliqueSet"
_LEADER_WORKER = ("LeaderWorkerSet", DISAGGREGATED)
_HOLDING_ROLES = (DISAGGREGATED, CLIQUES)
_CLIQUE_LIST: Path = ("spec", "template", "cliques")
# Kinds whose `spec.selector` must keep matching `spec.template`'s labels.
SELECTOR_KINDS = ("Deployment", "StatefulSet")


class PodTemplate(NamedTuple):
    """Where one pod template of a workload keeps its pod's spec and its labels."""

    pod: Path  # the PodSpec: containers, volumes, ...
    labels: Path  # the pods' labels


def _template(path: Path) -> PodTemplate:
    return PodTemplate((*path, "spec"), (*path, "metadata", "labels"))


def _clique(name: str) -> PodTemplate:
    clique = (*_CLIQUE_LIST, Match("name", name))
    return PodTemplate((*clique, "spec", "podSpec"), (*clique, "labels"))


def holds_roles(kind: str) -> bool:
    """Whether one workload of this kind holds several roles, each under its name."""
    return kind in _HOLDING_ROLES


def roles_path(kind: str) -> Path:
    """Where a workload that holds roles lists them."""
    return _CLIQUE_LIST if kind == CLIQUES else ("spec", "roles")


def writes_replicas(kind: str) -> bool:
    """Whether a role's `replicas` has one place to go in this kind (not in a
    PodCliqueSet, whose cliques each have their own)."""
    return kind != CLIQUES


def role_spec(kind: str, role: str) -> Path:
    """The part of the workload a role's `replicas` and pod templates are in."""
    if kind == DISAGGREGATED:
        return ("spec", "roles", Match("name", role), "spec")
    return ("spec",)


def _cliques(obj: Any) -> list[dict[str, Any]]:
    cliques = get(obj, _CLIQUE_LIST)
    if not isinstance(cliques, list):
        return []
    return [c for c in cliques if isinstance(c, dict) and isinstance(c.get("name"), str)]


def clique_role(clique: Any) -> str:
    """The ModelService role a clique serves (see the module's docstring), or ""."""
    labels = clique.get("labels")
    if isinstance(labels, dict) and isinstance(labels.get(ROLE_LABEL), str):
        return str(labels[ROLE_LABEL])
    role_name = get(clique, ("spec", "roleName"))
    if isinstance(role_name, str):
        for role in ROLES:
            if role_name == role or role_name.startswith(f"{role}-"):
                return role
    return ""


def role_names(kind: str, obj: Any) -> list[str]:
    """The roles a workload holds (a DisaggregatedSet's by name, a PodCliqueSet's by its
    cliques' roles, in order, once each); any other kind is one."""
    if kind == CLIQUES:
        found = [r for c in _cliques(obj) if (r := clique_role(c))]
        return list(dict.fromkeys(found))
    roles = get(obj, ("spec", "roles"))
    if kind != DISAGGREGATED or not isinstance(roles, list):
        return []
    return [str(r["name"]) for r in roles if isinstance(r, dict) and r.get("name")]


def pod_templates(kind: str, obj: Any, role: str) -> list[PodTemplate]:
    """The role's pod templates that the workload has."""
    if kind == CLIQUES:
        return [
            _clique(c["name"])
            for c in _cliques(obj)
            if clique_role(c) == role and isinstance(c.get("spec"), dict)
        ]
    base = role_spec(kind, role)
    if kind in _LEADER_WORKER:
        group = (*base, "leaderWorkerTemplate")
        candidates = [(*group, "leaderTemplate"), (*group, "workerTemplate")]
    else:
        candidates = [(*base, "template")]
    return [_template(path) for path in candidates if isinstance(get(obj, path), dict)]


def all_pod_templates(kind: str, obj: Any) -> list[PodTemplate]:
    """Every pod template of the workload, whatever role it belongs to (a clique that
    serves no role too)."""
    if kind == CLIQUES:
        return [_clique(c["name"]) for c in _cliques(obj) if isinstance(c.get("spec"), dict)]
    roles = role_names(kind, obj) if holds_roles(kind) else [""]
    return [path for role in roles for path in pod_templates(kind, obj, role)]


def label_paths(kind: str, obj: Any) -> list[Path]:
    """Where the workload keeps labels: its own, then each pod template's."""
    return [("metadata", "labels"), *(t.labels for t in all_pod_templates(kind, obj))]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def pods(kind: str, obj: Any) -> int:
    """How many pods the workload runs (replicas, times a group's size; defaults of 1)."""
    if kind == DISAGGREGATED:
        roles = get(obj, ("spec", "roles"))
        return (
            sum(pods("LeaderWorkerSet", r) for r in roles if isinstance(r, dict))
            if isinstance(roles, list)
            else 0
        )
    if kind == CLIQUES:
        cliques = sum(_count(get(c, ("spec", "replicas"))) for c in _cliques(obj))
        return _count(get(obj, ("spec", "replicas"))) * cliques
    size = get(obj, ("spec", "leaderWorkerTemplate", "size")) if kind in _LEADER_WORKER else 1
    return _count(get(obj, ("spec", "replicas"))) * _count(size)
