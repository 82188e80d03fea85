"""The kinds the function looks for, in a module that imports nothing heavy: a list with
no ModelService passes through without loading pydantic (most lists of a monorepo)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

MODELSERVICE_API_VERSION = "llm-d.ai/v1alpha1"
MODELSERVICE_KIND = "ModelService"
WORKLOAD_KINDS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
}
LOCAL_CONFIG = "config.kubernetes.io/local-config"


class _Identified(Protocol):
    api_version: str
    kind: str
    annotations: dict[str, str]


def is_model_service(item: _Identified) -> bool:
    return item.kind == MODELSERVICE_KIND and item.api_version == MODELSERVICE_API_VERSION


def is_local_config(item: _Identified) -> bool:
    return item.annotations.get(LOCAL_CONFIG) == "true"


def has_work(items: Iterable[_Identified], stream: bool) -> bool:
    """Whether the function has anything to do: a ModelService to apply, or in a stream
    a local-config document to leave out."""
    return any(is_model_service(i) or (stream and is_local_config(i)) for i in items)
