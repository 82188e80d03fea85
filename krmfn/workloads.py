"""Where a ModelService role lands in each workload kind.

- Deployment, StatefulSet: the workload is one role; its pod template is `spec.template`.
- LeaderWorkerSet: one role with two pod templates, `spec.leaderWorkerTemplate`'s
  `leaderTemplate` (optional) and `workerTemplate`.
- DisaggregatedSet: one object holding several roles, `spec.roles[name=<role>].spec`, each
  with a `leaderWorkerTemplate` like a LeaderWorkerSet's and its own `replicas`.
"""

from __future__ import annotations

from typing import Any

from krmfn.journal import get
from krmfn.paths import Match, Path

DISAGGREGATED = "DisaggregatedSet"
_LEADER_WORKER = ("LeaderWorkerSet", DISAGGREGATED)
# Kinds whose `spec.selector` must keep matching `spec.template`'s labels.
SELECTOR_KINDS = ("Deployment", "StatefulSet")


def holds_roles(kind: str) -> bool:
    """Whether one workload of this kind holds several roles, each under its name."""
    return kind == DISAGGREGATED


def role_spec(kind: str, role: str) -> Path:
    """The part of the workload a role's `replicas` and pod templates are in."""
    if kind == DISAGGREGATED:
        return ("spec", "roles", Match("name", role), "spec")
    return ("spec",)


def role_names(kind: str, obj: Any) -> list[str]:
    """The roles a workload holds: a DisaggregatedSet's by name; any other kind is one."""
    roles = get(obj, ("spec", "roles"))
    if kind != DISAGGREGATED or not isinstance(roles, list):
        return []
    return [str(r["name"]) for r in roles if isinstance(r, dict) and r.get("name")]


def pod_templates(kind: str, obj: Any, role: str) -> list[Path]:
    """The paths of the role's pod templates that the workload has."""
    base = role_spec(kind, role)
    if kind in _LEADER_WORKER:
        group = (*base, "leaderWorkerTemplate")
        candidates = [(*group, "leaderTemplate"), (*group, "workerTemplate")]
    else:
        candidates = [(*base, "template")]
    return [path for path in candidates if isinstance(get(obj, path), dict)]


def all_pod_templates(kind: str, obj: Any) -> list[Path]:
    """Every pod template of the workload, whatever role it belongs to."""
    roles = role_names(kind, obj) if holds_roles(kind) else [""]
    return [path for role in roles for path in pod_templates(kind, obj, role)]


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
    size = get(obj, ("spec", "leaderWorkerTemplate", "size")) if kind in _LEADER_WORKER else 1
    return _count(get(obj, ("spec", "replicas"))) * _count(size)
