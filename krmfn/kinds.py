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
    "PodCliqueSet": "grove.io/v1alpha1",
}
# The roles a ModelService has, in the order they are applied and named.
ROLES = ("decode", "prefill")
# The labels llm-d's routing selects model servers by. The serving label is spelt as
# llm-d writes it since v0.8 (the key krmfn adds), then as before: a workload that has
# either gets neither.
SERVING_LABELS = ("llm-d.ai/inference-serving", "llm-d.ai/inferenceServing")
SERVING_LABEL = SERVING_LABELS[0]
MODEL_LABEL = "llm-d.ai/model"
ROLE_LABEL = "llm-d.ai/role"

_TEMPLATE_LABELS: FieldSpec = {"metadata": {"labels": STRINGS}}
_LEADER_WORKER: FieldSpec = {
    "leaderTemplate": _TEMPLATE_LABELS,
    "workerTemplate": _TEMPLATE_LABELS,
}
# What discovery reads of every item, besides its identity: labels and owners, the labels
# of its pod templates (one, a LeaderWorkerSet's two, a DisaggregatedSet's per role, a
# PodCliqueSet's cliques), a DisaggregatedSet's role names and scaling, the cliques' role
# names, and what an autoscaler scales (krmfn.scalers).
DISCOVERY_FIELDS: FieldSpec = {
    "metadata": {"labels": STRINGS, "ownerReferences": [STRINGS]},
    "spec": {
        "template": {
            **_TEMPLATE_LABELS,
            "cliques": [{"name": SCALAR, "labels": STRINGS, "spec": {"roleName": SCALAR}}],
        },
        "leaderWorkerTemplate": _LEADER_WORKER,
        "roles": [
            {
                "name": SCALAR,
                "scaling": {"mode": SCALAR},
                "spec": {"leaderWorkerTemplate": _LEADER_WORKER},
            }
        ],
        "scaleTargetRef": STRINGS,
        "targetRef": STRINGS,
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
