"""The kinds the function looks for, and what the reader keeps of each item to find them,
in a module that imports nothing heavy: a list with no ModelService passes through
without loading pydantic (most lists of a monorepo)."""

from __future__ import annotations

from typing import Protocol

from krmfn.krm.reader import SCALAR, STRINGS, FieldSpec

MODELSERVICE_API_VERSION = "llm-d.ai/v1alpha1"
MODELSERVICE_KIND = "ModelService"
WORKLOAD_KINDS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
    "DisaggregatedSet": "disaggregatedset.x-k8s.io/v1",
}
# The labels llm-d's routing selects model servers by.
SERVING_LABEL = "llm-d.ai/inferenceServing"
MODEL_LABEL = "llm-d.ai/model"
ROLE_LABEL = "llm-d.ai/role"

_TEMPLATE_LABELS: FieldSpec = {"metadata": {"labels": STRINGS}}
_LEADER_WORKER: FieldSpec = {
    "leaderTemplate": _TEMPLATE_LABELS,
    "workerTemplate": _TEMPLATE_LABELS,
}
# What discovery reads of every item, besides its identity: labels and owners, the labels
# of its pod templates (one, a LeaderWorkerSet's two, or a DisaggregatedSet's per role),
# and a DisaggregatedSet's role names.
DISCOVERY_FIELDS: FieldSpec = {
    "metadata": {"labels": STRINGS, "ownerReferences": [STRINGS]},
    "spec": {
        "template": _TEMPLATE_LABELS,
        "leaderWorkerTemplate": _LEADER_WORKER,
        "roles": [{"name": SCALAR, "spec": {"leaderWorkerTemplate": _LEADER_WORKER}}],
    },
}


class _Identified(Protocol):
    api_version: str
    kind: str
    annotations: dict[str, str]


def is_model_service(item: _Identified) -> bool:
    return item.kind == MODELSERVICE_KIND and item.api_version == MODELSERVICE_API_VERSION


def is_model_service_data(data: dict[str, object]) -> bool:
    return (
        data.get("kind") == MODELSERVICE_KIND and data.get("apiVersion") == MODELSERVICE_API_VERSION
    )
