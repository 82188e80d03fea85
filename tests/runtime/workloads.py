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
KINDS = ("Deployment", "LeaderWorkerSet", "DisaggregatedSet", "PodCliqueSet", "shell", "wide-ep")
# Kinds whose vllm starts from a `bash -c` script naming the model: a Deployment, and
# llm-d v0.9's wide-ep DisaggregatedSet (both roles, multi-host groups).
SHELL_KINDS = ("shell", "wide-ep")
# A Grove PodCliqueSet's cliques as llm-d's wide-ep guide has them: (name, replicas, role
# label). The decode worker clique has no role label: its roleName says decode.
CLIQUES = (("prefill", 1, "prefill"), ("decode-leader", 1, "decode"), ("decode-worker", 2, ""))
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
    if kind in SHELL_KINDS:
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


def _pod_spec(vllm: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [copy.deepcopy(vllm)]}
    if volumes:
        spec["volumes"] = copy.deepcopy(volumes)
    return spec


def _labels(role: str) -> dict[str, str]:
    return {"app": "llm", "llm-d.ai/model": "tiny", **({"llm-d.ai/role": role} if role else {})}


def _template(role: str, vllm: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"labels": _labels(role)}, "spec": _pod_spec(vllm, volumes)}


def _cliques(vllm: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": "llm"},
        "spec": {
            "replicas": 1,
            "template": {
                "cliques": [
                    {
                        "name": name,
                        "labels": _labels(role),
                        "spec": {
                            "roleName": name,
                            "replicas": replicas,
                            "podSpec": _pod_spec(vllm, volumes),
                        },
                    }
                    for name, replicas, role in CLIQUES
                ]
            },
        },
    }


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
    if kind == "PodCliqueSet":
        return _cliques(vllm, volumes)
    assert kind in ("DisaggregatedSet", "wide-ep"), kind
    size = 2 if kind == "wide-ep" else 1
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
                            "size": size,
                            "workerTemplate": _template(role, vllm, volumes),
                        },
                    },
                }
                for role in ("prefill", "decode")
            ]
        },
    }


def roles(kind: str) -> tuple[str, ...]:
    holding = ("DisaggregatedSet", "PodCliqueSet", "wide-ep")
    return ("prefill", "decode") if kind in holding else ("decode",)


def pods(
    item: dict[str, Any], replicas: int | None = None
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(pod name, pod spec, env its controller adds) of each pod the workload's controller
    would start: `replicas` of a Deployment (default: its own), a leader and its workers
    of a LeaderWorkerSet group, each DisaggregatedSet role's group, and each clique's
    replicas of a PodCliqueSet."""
    kind, name = item["kind"], item["metadata"]["name"]
    spec = item["spec"]
    if kind in ("Deployment", "StatefulSet"):
        count = spec.get("replicas", 1) if replicas is None else replicas
        return [(f"{name}-{i}", spec["template"]["spec"], {}) for i in range(count)]
    if kind == "Job":
        return [(name, spec["template"]["spec"], {})]
    if kind == "LeaderWorkerSet":
        return _group(name, spec["leaderWorkerTemplate"])
    if kind == "PodCliqueSet":
        return _clique_pods(name, spec)
    assert kind == "DisaggregatedSet", kind
    out = []
    for role in spec["roles"]:
        out += _group(f"{name}-{role['name']}", role["spec"]["leaderWorkerTemplate"])
    return out


def _clique_pods(
    name: str, spec: dict[str, Any]
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Each clique's pods, with the env Grove gives them (replica 0 of the set)."""
    out = []
    for clique in spec["template"]["cliques"]:
        clique_name = f"{name}-0-{clique['name']}"
        env = {
            "GROVE_PCS_NAME": name,
            "GROVE_PCS_INDEX": "0",
            "GROVE_PCLQ_NAME": clique_name,
            "GROVE_HEADLESS_SERVICE": f"{name}-0.default.svc.cluster.local",
        }
        for index in range(int(clique["spec"].get("replicas", 1))):
            pod_env = {**env, "GROVE_PCLQ_POD_INDEX": str(index)}
            out.append((f"{clique_name}-{index}", clique["spec"]["podSpec"], pod_env))
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
