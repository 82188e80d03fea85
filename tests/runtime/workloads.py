"""The workloads the runtime cases render, one builder per kind, and the pods each kind's
controller would make of a rendered one.

Every workload runs the `vllm` container of llm-d's guides. Its model argument comes from
the ModelService (`args: ["{{ ... }}"]`), except in the shell-launched kind, where the
model is written into the `bash -c` script as the guides do since v0.9.
"""

from __future__ import annotations

import copy
from typing import Any

IMAGE = "vllm/vllm-openai:v0.10.0"
# The image's ENTRYPOINT, for containers that give args only.
ENTRYPOINTS = {IMAGE: ["vllm", "serve"]}
KINDS = ("Deployment", "LeaderWorkerSet", "DisaggregatedSet", "shell")
SHELL_SCRIPT = """\
# as llm-d's wide-ep guide starts vLLM
START_RANK=$(( ${LWS_WORKER_INDEX:-0} * DP_SIZE_LOCAL ))
echo "rank $START_RANK"
exec vllm serve \\
  MODEL \\
  --port 8000 \\
  --data-parallel-start-rank $START_RANK \\
  --kv_transfer_config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
"""


def container(
    kind: str, model_template: str, env: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    if kind == "shell":
        return {
            "name": "vllm",
            "image": IMAGE,
            "command": ["/bin/bash", "-c"],
            "args": [SHELL_SCRIPT.replace("MODEL", model_template)],
            "env": [{"name": "DP_SIZE_LOCAL", "value": "1"}, *(env or [])],
        }
    out: dict[str, Any] = {"name": "vllm", "image": IMAGE, "args": ["--port", "8000"]}
    if env:
        out["env"] = env
    return out


def _template(role: str, vllm: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [copy.deepcopy(vllm)]}
    if volumes:
        spec["volumes"] = copy.deepcopy(volumes)
    labels = {"app": "llm", "llm-d.ai/model": "tiny", "llm-d.ai/role": role}
    return {"metadata": {"labels": labels}, "spec": spec}


def workload(
    kind: str,
    model_template: str,
    *,
    env: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    security: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A workload named `llm-decode` (a DisaggregatedSet: `llm`, roles decode and prefill)
    whose vllm container runs the model the ModelService gives it."""
    vllm = container(kind, model_template, env)
    if mounts:
        vllm["volumeMounts"] = mounts
    if security:
        vllm["securityContext"] = security
    volumes = volumes or []
    if kind in ("Deployment", "shell"):
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "llm-decode"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "llm"}},
                "template": _template("decode", vllm, volumes),
            },
        }
    if kind == "LeaderWorkerSet":
        return {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": "llm-decode"},
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": 2,
                    "leaderTemplate": _template("decode", vllm, volumes),
                    "workerTemplate": _template("decode", vllm, volumes),
                },
            },
        }
    assert kind == "DisaggregatedSet", kind
    return {
        "apiVersion": "disaggregatedset.x-k8s.io/v1",
        "kind": "DisaggregatedSet",
        "metadata": {"name": "llm"},
        "spec": {
            "roles": [
                {
                    "name": role,
                    "spec": {
                        "replicas": 1,
                        "leaderWorkerTemplate": {
                            "size": 1,
                            "workerTemplate": _template(role, vllm, volumes),
                        },
                    },
                }
                for role in ("prefill", "decode")
            ]
        },
    }


def roles(kind: str) -> tuple[str, ...]:
    return ("prefill", "decode") if kind == "DisaggregatedSet" else ("decode",)


def pods(
    item: dict[str, Any], replicas: int | None = None
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(pod name, pod spec, env its controller adds) of each pod the workload's controller
    would start: `replicas` of a Deployment (default: its own), a leader and its workers
    of a LeaderWorkerSet group, and each DisaggregatedSet role's group."""
    kind, name = item["kind"], item["metadata"]["name"]
    spec = item["spec"]
    if kind in ("Deployment", "StatefulSet"):
        count = spec.get("replicas", 1) if replicas is None else replicas
        return [(f"{name}-{i}", spec["template"]["spec"], {}) for i in range(count)]
    if kind == "Job":
        return [(name, spec["template"]["spec"], {})]
    if kind == "LeaderWorkerSet":
        return _group(name, spec["leaderWorkerTemplate"])
    assert kind == "DisaggregatedSet", kind
    out = []
    for role in spec["roles"]:
        out += _group(f"{name}-{role['name']}", role["spec"]["leaderWorkerTemplate"])
    return out


def _group(name: str, lws: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """One LeaderWorkerSet group, with the env the LWS controller gives its pods."""
    size = int(lws.get("size", 1))
    leader = lws.get("leaderTemplate") or lws["workerTemplate"]
    base = {"LWS_LEADER_ADDRESS": "127.0.0.1", "LWS_GROUP_SIZE": str(size)}
    out = [(f"{name}-0", leader["spec"], {**base, "LWS_WORKER_INDEX": "0"})]
    for index in range(1, size):
        worker = lws["workerTemplate"]["spec"]
        out.append((f"{name}-0-{index}", worker, {**base, "LWS_WORKER_INDEX": str(index)}))
    return out
