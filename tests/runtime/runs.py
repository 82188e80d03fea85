"""Running a rendered workload's pods and reading what the `vllm` stand-in loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.runtime.pods import Cluster, PodResult
from tests.runtime.workloads import SHELL_KINDS, pods


def model_args(kind: str, model: str) -> list[str] | None:
    """The ModelService's args: the model in front of the workload's own, except for a
    shell-launched container, whose script names the model itself."""
    return None if kind in SHELL_KINDS else [model]


def report(result: PodResult, container: str = "vllm") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((result.reports / f"{container}.json").read_text())
    return loaded


def run_workload(
    cluster: Cluster, item: dict[str, Any], replicas: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Run each pod the workload's controller would start, one after the other; returns
    each pod's name and what its vllm container loaded."""
    out = []
    for name, spec, extra in pods(item, replicas):
        out.append((name, report(cluster.run(name, spec, extra))))
    return out


def volume(cluster: Cluster, pod: str, name: str) -> Path:
    """The folder of a pod's emptyDir."""
    return cluster.root / "pods" / pod / "volumes" / name


def files_under(folder: Path) -> dict[str, int]:
    """Every file under a folder, with its size."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def blobs(folder: Path) -> set[str]:
    """The names of the Hugging Face cache blobs anywhere under a folder."""
    return {p.name for p in folder.rglob("blobs/*") if p.is_file()}
