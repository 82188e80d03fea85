"""llm-d v0.9's guides as first-class shapes: a shell-launched DisaggregatedSet (wide-ep),
a Grove PodCliqueSet, replicas an autoscaler owns, and the serving label spelt
`llm-d.ai/inference-serving`. Each case runs the real CLI on a fixture of the project's
own and checks the fields the acceptance names, exactly."""

from __future__ import annotations

import sys
from typing import Any

import yaml

from krmfn.kinds import SERVING_LABELS
from tests.golden import FIXTURES, Outcome, run_case, run_cli

HF_HUB_CACHE = {"name": "HF_HUB_CACHE", "value": "/model-cache/hub"}
HF_HOME = {"name": "HF_HOME", "value": "/model-cache"}
HF_TOKEN = {
    "name": "HF_TOKEN",
    "valueFrom": {"secretKeyRef": {"name": "llm-d-hf-token", "key": "HF_TOKEN"}},
}
MOUNT = {"name": "model-storage", "mountPath": "/model-cache"}


def _run(case: str) -> tuple[Outcome, dict[str, Any], dict[str, Any]]:
    outcome = run_case(FIXTURES / case)
    before = yaml.safe_load((FIXTURES / case / "input.yaml").read_text())
    return outcome, before, yaml.safe_load(outcome.stdout)


def _item(resource_list: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(
        i for i in resource_list["items"] if i["kind"] == kind and i["metadata"]["name"] == name
    )


def _results(resource_list: dict[str, Any], severity: str) -> list[tuple[str, str, str]]:
    return [
        (r["resourceRef"]["name"], r["message"], (r.get("field") or {}).get("path", ""))
        for r in resource_list.get("results") or []
        if r["severity"] == severity
    ]


def _labels(obj: Any) -> list[dict[str, str]]:
    """Every labels mapping anywhere in an object."""
    if isinstance(obj, dict):
        found = [obj["labels"]] if isinstance(obj.get("labels"), dict) else []
        return found + [ls for v in obj.values() for ls in _labels(v)]
    if isinstance(obj, list):
        return [ls for v in obj for ls in _labels(v)]
    return []


# wide-ep: a DisaggregatedSet of shell-launched vLLM ----------------------------------------


def _worker(ds: dict[str, Any], role: str) -> dict[str, Any]:
    spec = next(r for r in ds["spec"]["roles"] if r["name"] == role)["spec"]
    template: dict[str, Any] = spec["leaderWorkerTemplate"]["workerTemplate"]
    return template


def test_wide_ep_script_keeps_its_shell_with_the_model_from_the_template() -> None:
    outcome, before, after = _run("guide-wide-ep")
    assert (outcome.status, outcome.stderr) == (0, b"")
    for role in ("prefill", "decode"):
        script = _worker(_item(before, "DisaggregatedSet", "wide-ep-vllm"), role)["spec"][
            "containers"
        ][0]["args"]
        rendered = _worker(_item(after, "DisaggregatedSet", "wide-ep-vllm"), role)["spec"][
            "containers"
        ][0]
        assert "{{ .HFModelName }}" in script[0]
        # The template is the only change: every `${...}`, `$(( ))`, quote and JSON stays.
        assert rendered["args"] == [
            script[0].replace("{{ .HFModelName }}", "deepseek-ai/DeepSeek-V4-Pro")
        ]
        assert rendered["command"] == ["/bin/bash", "-c"]


def test_wide_ep_weights_land_in_the_model_volume() -> None:
    _, _, after = _run("guide-wide-ep")
    ds = _item(after, "DisaggregatedSet", "wide-ep-vllm")
    for role in ("prefill", "decode"):
        pod = _worker(ds, role)["spec"]
        vllm = pod["containers"][0]
        assert {"name": "model-storage", "emptyDir": {"sizeLimit": "1Ti"}} in pod["volumes"]
        assert MOUNT in vllm["volumeMounts"]
        # The guide's own hub cache follows the model volume; the token stays as it was.
        env = {e["name"]: e for e in vllm["env"]}
        assert (env["HF_HUB_CACHE"], env["HF_HOME"], env["HF_TOKEN"]) == (
            HF_HUB_CACHE,
            HF_HOME,
            HF_TOKEN,
        )
        assert vllm["resources"]["requests"]["ephemeral-storage"] == "1Ti"


def test_wide_ep_gets_no_second_serving_label() -> None:
    _, before, after = _run("guide-wide-ep")
    labels_before = _labels(_item(before, "DisaggregatedSet", "wide-ep-vllm"))
    labels_after = _labels(_item(after, "DisaggregatedSet", "wide-ep-vllm"))
    assert not any(SERVING_LABELS[1] in ls for ls in labels_after)
    # Every mapping of labels is as the guide wrote it (the model label was there too).
    assert labels_after == labels_before


# Grove: a PodCliqueSet ---------------------------------------------------------------------


def _clique(pcs: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pcs["spec"]["template"]["cliques"] if c["name"] == name)


def test_podcliqueset_roles_go_to_their_cliques() -> None:
    outcome, before, after = _run("grove-podcliqueset")
    assert outcome.status == 0
    pcs = _item(after, "PodCliqueSet", "dsr1")
    model = "deepseek-ai/DeepSeek-R1-0528"
    for name, own_args in (
        ("decode-leader", ["--port", "8200", "--data-parallel-rank", "0"]),
        ("decode-worker", ["--port", "8200", "--headless"]),
    ):
        pod = _clique(pcs, name)["spec"]["podSpec"]
        vllm = pod["containers"][0]
        assert pod["volumes"][-1] == {"name": "model-storage", "emptyDir": {}}
        assert vllm["volumeMounts"] == [MOUNT]
        assert vllm["env"] == [HF_TOKEN, HF_HOME]
        assert vllm["args"] == [model, "--served-model-name", "deepseek-ai/DeepSeek-R1", *own_args]
    prefill = _clique(pcs, "prefill")["spec"]["podSpec"]
    vllm = prefill["containers"][0]
    assert prefill["volumes"] == [
        {"name": "jit-cache", "emptyDir": {}},
        {"name": "model-storage", "emptyDir": {}},
    ]
    assert vllm["volumeMounts"][-1] == MOUNT
    assert vllm["env"][1:] == [HF_TOKEN, HF_HOME]
    assert f"  {model} \\\n" in vllm["args"][0]
    # The sidecar of the leader is not the ModelService's: untouched.
    leader = _clique(pcs, "decode-leader")["spec"]["podSpec"]
    original = _clique(_item(before, "PodCliqueSet", "dsr1"), "decode-leader")["spec"]["podSpec"]
    assert leader["initContainers"] == original["initContainers"]


def test_podcliqueset_replicas_are_the_cliques_own() -> None:
    _, _, after = _run("grove-podcliqueset")
    replicas = {
        c["name"]: c["spec"]["replicas"]
        for c in _item(after, "PodCliqueSet", "dsr1")["spec"]["template"]["cliques"]
    }
    assert replicas == {"prefill": 1, "decode-leader": 1, "decode-worker": 7}
    assert _item(after, "PodCliqueSet", "dsr1")["spec"]["replicas"] == 1
    assert _results(after, "warning") == [
        (
            "dsr1",
            "spec.decode.replicas (8) is not written: a PodCliqueSet's cliques each have their"
            " own replicas, which one number cannot be spread over; set them in the cliques"
            " (or set decoupleScaling: true)",
            "spec.template.cliques",
        )
    ]


def test_podcliqueset_labels_go_only_where_absent() -> None:
    _, before, after = _run("grove-podcliqueset")
    cliques_before = _item(before, "PodCliqueSet", "dsr1")["spec"]["template"]["cliques"]
    cliques_after = _item(after, "PodCliqueSet", "dsr1")["spec"]["template"]["cliques"]
    added = [
        {k: v for k, v in a["labels"].items() if k not in b["labels"]}
        for b, a in zip(cliques_before, cliques_after, strict=True)
    ]
    # The worker clique had no role label: it gets the one its roleName implies; nothing
    # else is added (the serving label is on the set's other cliques already).
    assert added == [{}, {}, {"llm-d.ai/role": "decode"}]


# External scaling --------------------------------------------------------------------------


def test_replicas_an_autoscaler_owns_are_kept_with_an_info_result() -> None:
    outcome, _, after = _run("external-scaling")
    assert (outcome.status, outcome.stderr) == (0, b"")
    ds = _item(after, "DisaggregatedSet", "pd")
    roles = {r["name"]: r["spec"].get("replicas") for r in ds["spec"]["roles"]}
    assert roles == {"prefill": None, "decode": 1}
    assert _item(after, "Deployment", "opt-decode")["spec"]["replicas"] == 1
    assert "replicas" not in _item(after, "Deployment", "granite-decode")["spec"]
    # An HPA in another namespace scales another Deployment: this one gets its replicas.
    assert _item(after, "Deployment", "granite-prefill")["spec"]["replicas"] == 2
    notes = [n for n in _results(after, "info") if "is not written" in n[1]]
    assert notes == [
        (
            "pd",
            "spec.decode.replicas (4) is not written: DisaggregatedSetRoleScaler"
            " pd-decode-scaler sets them",
            "spec.roles[1].spec.replicas",
        ),
        (
            "pd",
            "spec.prefill.replicas (2) is not written: the role's scaling.mode is External"
            " (an autoscaler sets them)",
            "spec.roles[0].spec.replicas",
        ),
        (
            "opt-decode",
            "spec.decode.replicas (3) is not written: HorizontalPodAutoscaler opt-decode sets them",
            "spec.replicas",
        ),
        (
            "granite-decode",
            "spec.decode.replicas (2) is not written: ScaledObject granite-decode sets them",
            "spec.replicas",
        ),
    ]


# The serving label -------------------------------------------------------------------------


def test_either_serving_key_means_neither_is_added() -> None:
    _, before, after = _run("serving-label")
    for name in ("opt-decode", "opt-prefill"):
        labels_before = _labels(_item(before, "Deployment", name))
        labels_after = _labels(_item(after, "Deployment", name))
        serving = [(k, v) for ls in labels_after for k, v in ls.items() if k in SERVING_LABELS]
        assert serving == [
            (k, v) for ls in labels_before for k, v in ls.items() if k in SERVING_LABELS
        ]
        assert len(serving) == 1


def test_the_old_key_an_earlier_run_added_is_taken_back() -> None:
    _, _, after = _run("serving-label")
    deployment = _item(after, "Deployment", "granite-decode")
    for labels in (
        deployment["metadata"]["labels"],
        deployment["spec"]["template"]["metadata"]["labels"],
    ):
        assert labels["llm-d.ai/inference-serving"] == "true"
        assert "llm-d.ai/inferenceServing" not in labels


PREFIXED = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata:
    name: qwen-opt
    annotations: {internal.config.kubernetes.io/previousNames: "opt"}
  spec:
    routing: {modelName: facebook/opt-125m}
    modelArtifacts: {uri: hf://facebook/opt-125m}
    decode:
      replicas: 3
      containers:
      - {name: vllm, mountModelVolume: true}
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: qwen-opt-decode
    annotations: {internal.config.kubernetes.io/previousNames: "opt-decode"}
  spec:
    replicas: 1
    selector: {matchLabels: {app: opt}}
    template:
      metadata: {labels: {app: opt}}
      spec:
        containers:
        - {name: vllm, image: vllm/vllm-openai:v0.23.0}
- apiVersion: keda.sh/v1alpha1
  kind: ScaledObject
  metadata:
    name: qwen-opt-decode
    annotations: {internal.config.kubernetes.io/previousNames: "opt-decode"}
  spec:
    scaleTargetRef: {name: opt-decode}
"""


def test_an_autoscaler_naming_the_workload_before_kustomizes_prefix_owns_it() -> None:
    # kustomize's namePrefix renames an HPA's target with the Deployment, not a KEDA
    # ScaledObject's (a kind it does not know): the name before the prefix counts too.
    outcome = run_cli([sys.executable, "-m", "krmfn"], PREFIXED.encode())
    after = yaml.safe_load(outcome.stdout)
    assert outcome.status == 0
    assert _item(after, "Deployment", "qwen-opt-decode")["spec"]["replicas"] == 1
    assert [n for n in _results(after, "info") if "is not written" in n[1]] == [
        (
            "qwen-opt-decode",
            "spec.decode.replicas (3) is not written: ScaledObject qwen-opt-decode sets them",
            "spec.replicas",
        )
    ]
    # Without the autoscaler, the ModelService's replicas are written.
    alone = PREFIXED[: PREFIXED.index("- apiVersion: keda.sh")]
    after = yaml.safe_load(run_cli([sys.executable, "-m", "krmfn"], alone.encode()).stdout)
    assert _item(after, "Deployment", "qwen-opt-decode")["spec"]["replicas"] == 3
