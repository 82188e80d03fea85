"""Workloads whose replicas something else owns: an autoscaler in the list, or a
DisaggregatedSet role that says so. krmfn writes no `replicas` there: writing them would
fight the autoscaler on every sync (and the API server refuses replicas on an External
role of a DisaggregatedSet).

What says a workload's replicas are owned elsewhere:
- a HorizontalPodAutoscaler (`autoscaling/*`) or a KEDA ScaledObject (`keda.sh/*`) whose
  `spec.scaleTargetRef` names it by kind and name (KEDA's kind defaults to Deployment);
- for a DisaggregatedSet role: `scaling.mode: External` on the role, a
  DisaggregatedSetRoleScaler whose `spec.targetRef` names the set and role, or an
  autoscaler that names the scaler the set's controller makes (`<set>-<role>`).
Names are compared with the workload's name and the one it had before kustomize's
namePrefix (kustomize renames an HPA's target, not a KEDA ScaledObject's).
"""

from __future__ import annotations

from typing import NamedTuple

from krmfn.krm import Item
from krmfn.targets import names
from krmfn.workloads import DISAGGREGATED

ROLE_SCALER = "DisaggregatedSetRoleScaler"
_ROLE_SCALER_API = "disaggregatedset.x-k8s.io/v1"
_AUTOSCALERS = {"HorizontalPodAutoscaler": "autoscaling/", "ScaledObject": "keda.sh/"}
_KEDA_DEFAULT_KIND = "Deployment"


class _Scaled(NamedTuple):
    namespace: str
    kind: str
    name: str
    role: str  # "" but for a DisaggregatedSet role


class Scalers:
    """What the autoscalers in one list scale, looked up by workload."""

    def __init__(self, items: list[Item]) -> None:
        self._owners: dict[_Scaled, str] = {}
        for item in items:
            for scaled in _scales(item):
                self._owners.setdefault(scaled, f"{item.kind} {item.name} sets them")

    def owner(self, workload: Item, role: str) -> str:
        """Why the replicas of the workload's role are not krmfn's, said for a message
        ("HorizontalPodAutoscaler x sets them"); "" if nothing else owns them."""
        if workload.kind == DISAGGREGATED and _scaling_mode(workload, role) == "External":
            return "the role's scaling.mode is External (an autoscaler sets them)"
        namespace = workload.namespace or ""
        for name in names(workload):
            wanted = [_Scaled(namespace, workload.kind, name, "")]
            if workload.kind == DISAGGREGATED:
                wanted += [
                    _Scaled(namespace, workload.kind, name, role),
                    _Scaled(namespace, ROLE_SCALER, f"{name}-{role}", ""),
                ]
            for scaled in wanted:
                if scaled in self._owners:
                    return self._owners[scaled]
        return ""


def _scaling_mode(workload: Item, role: str) -> str:
    roles = workload.field("spec", "roles")
    for entry in roles if isinstance(roles, list) else []:
        if isinstance(entry, dict) and entry.get("name") == role:
            scaling = entry.get("scaling")
            return str(scaling.get("mode") or "") if isinstance(scaling, dict) else ""
    return ""


def _scales(item: Item) -> list[_Scaled]:
    namespace = item.namespace or ""
    if item.kind == ROLE_SCALER and item.api_version == _ROLE_SCALER_API:
        ref = item.field("spec", "targetRef")
        if isinstance(ref, dict) and ref.get("name") and ref.get("role"):
            return [_Scaled(namespace, DISAGGREGATED, str(ref["name"]), str(ref["role"]))]
        return []
    group = _AUTOSCALERS.get(str(item.kind))
    if group is None or not str(item.api_version).startswith(group):
        return []
    ref = item.field("spec", "scaleTargetRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return []
    kind = ref.get("kind") or (_KEDA_DEFAULT_KIND if item.kind == "ScaledObject" else "")
    return [_Scaled(namespace, str(kind), str(ref["name"]), "")] if kind else []
