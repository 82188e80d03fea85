"""LoRA adapters and the compile cache (spec.modelArtifacts.adapters, lora, compileCache):
what the real CLI writes into the pods, exactly; that every change to them converges
through the record; and what is refused, with its field path. The pods themselves run in
the runtime tier (tests/runtime/test_adapters.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.golden import FIXTURES, command, fixture_input, run_cli
from tests.test_golden import strip_results

BASE = "meta-llama/Llama-3.1-8B-Instruct"


def _render(text: str, case: str = "lora-adapters") -> tuple[str, dict[str, Any]]:
    outcome = run_cli(command(FIXTURES / case), text.encode())
    assert outcome.status == 0, outcome.stderr.decode()
    return outcome.stdout.decode(), yaml.safe_load(outcome.stdout)


def _item(resource_list: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(
        i for i in resource_list["items"] if i["kind"] == kind and i["metadata"]["name"] == name
    )


def _pod(resource_list: dict[str, Any], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _item(resource_list, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def _results(resource_list: dict[str, Any], severity: str) -> list[tuple[str, str, str]]:
    return [
        (r["resourceRef"]["name"], (r.get("field") or {}).get("path", ""), r["message"])
        for r in resource_list.get("results") or []
        if r["severity"] == severity
    ]


def _module(name: str) -> str:
    path = f"/adapters/{name}"
    return json.dumps({"name": name, "path": path, "base_model_name": BASE}, separators=(",", ":"))


def _original() -> str:
    return fixture_input(FIXTURES / "lora-adapters").decode()


# What the pods get -------------------------------------------------------------------------


def test_static_mode_lists_every_adapter_once() -> None:
    _, out = _render(_original())
    vllm = _pod(out, "llama-decode")["containers"][0]
    assert vllm["args"] == [
        BASE,
        "--lora-modules",
        _module("sql-lora"),
        _module("support_v2"),
        _module("finance-lora"),
        _module("legal-lora"),
        "--max-lora-rank=32",
        "--max-loras=4",
        "--port=8000",
        "--enable-lora",  # the workload's own: not doubled
    ]
    assert vllm["volumeMounts"][1:] == [
        {
            "name": "adapters",
            "mountPath": "/adapters/sql-lora",
            "subPath": "sql-lora",
            "readOnly": True,
        },
        {
            "name": "adapters-lora-adapters",
            "mountPath": "/adapters/support_v2",
            "subPath": "support/v2",
            "readOnly": True,
        },
        {
            "name": "adapters",
            "mountPath": "/adapters/finance-lora",
            "subPath": "finance-lora",
            "readOnly": True,
        },
        {
            "name": "adapter-legal-lora",
            "mountPath": "/adapters/legal-lora",
            "subPath": "lora",
            "readOnly": True,
        },
    ]


def test_each_source_is_a_volume_or_a_download() -> None:
    _, out = _render(_original())
    pod = _pod(out, "llama-decode")
    assert pod["volumes"][1:] == [
        {"name": "adapters", "emptyDir": {}},
        {
            "name": "adapters-lora-adapters",
            "persistentVolumeClaim": {"claimName": "lora-adapters", "readOnly": True},
        },
        {
            "name": "adapter-legal-lora",
            "image": {
                "reference": "registry.example.com/adapters/legal:v3",
                "pullPolicy": "IfNotPresent",
            },
        },
    ]
    hub, store = pod["initContainers"]
    assert [hub["name"], store["name"]] == ["adapter-sql-lora", "adapter-finance-lora"]
    assert hub["image"] == store["image"] == "vllm/vllm-openai:v0.10.0"
    assert hub["args"] == ["hf", "acme/llama-sql-lora", "4f2a9c1", "/adapters/sql-lora"]
    # The hub adapter uses the model's token; the store adapter its own Secret.
    assert hub["env"] == [
        {
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}},
        },
        {"name": "HF_HOME", "value": "/adapters/.hf-home"},
    ]
    assert store["args"] == ["s3", "s3://acme-adapters/finance", "", "/adapters/finance-lora"]
    assert [e["name"] for e in store["env"]] == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ]
    assert store["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "minio-keys"
    assert (
        hub["volumeMounts"]
        == store["volumeMounts"]
        == [{"name": "adapters", "mountPath": "/adapters"}]
    )


def test_resolver_mode_sets_the_resolver_env_and_keeps_other_plugins() -> None:
    _, out = _render(fixture_input(FIXTURES / "lora-resolver").decode(), "lora-resolver")
    vllm, index = _pod(out, "qwen-decode")["containers"]
    assert vllm["env"] == [
        {"name": "VLLM_PLUGINS", "value": "my_metrics_plugin,lora_filesystem_resolver"},
        {"name": "VLLM_LORA_RESOLVER_CACHE_DIR", "value": "/adapters"},
        {"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "True"},
    ]
    assert vllm["args"] == [
        "/model-cache/Qwen/Qwen3-8B",
        "--served-model-name",
        "Qwen/Qwen3-8B",
        "--enable-lora",
        "--max-lora-rank=16",
        "--max-loras=4",
    ]
    assert "initContainers" not in _pod(out, "qwen-decode")
    # The template variables, in a container krmfn does not mark.
    assert index["command"][2] == (
        "for a in qwen-chat-lora qwen-code-lora; do ls /adapters/$a; done; sleep infinity"
    )


@pytest.mark.parametrize(
    ("own", "added"),
    [
        (["--max_lora_rank", "64"], ["--enable-lora", "--max-loras=1"]),
        (["--max-loras=2", "--enable-lora"], ["--max-lora-rank=16"]),
    ],
)
def test_options_the_container_has_are_its_own(own: list[str], added: list[str]) -> None:
    text = _original().replace(
        "          - --port=8000\n          - --enable-lora  # already the workload's: not doubled\n",
        "".join(f"          - {json.dumps(a)}\n" for a in own),
    )
    text = text.replace("      lora:\n        maxRank: 32\n", "")
    keep = text.index("      # prepared files")
    text = text[:keep] + text[text.index("    decode:") :]
    _, out = _render(text)
    assert _pod(out, "llama-decode")["containers"][0]["args"] == [
        BASE,
        "--lora-modules",
        _module("sql-lora"),
        *added,
        *own,
    ]


def test_a_shell_launched_server_is_told_by_its_script() -> None:
    script = "exec vllm serve {{ .HFModelName }} --port 8000"
    text = (
        _original()
        .replace(
            "          args:\n          - --port=8000\n"
            "          - --enable-lora  # already the workload's: not doubled\n",
            f'          command: ["/bin/bash", "-c"]\n          args: ["{script}"]\n',
        )
        .replace('        args: ["{{ .HFModelName }}"]\n', "")
    )
    _, out = _render(text)
    assert _results(out, "warning")[-1] == (
        "llama-decode",
        "spec.template.spec.containers[0].args",
        "Deployment serving/llama-decode container 'vllm' runs a shell script, which krmfn"
        " does not edit: add {{ .LoraArgs }} to the vllm command in it (the adapters'"
        " --lora-modules, --enable-lora, --max-lora-rank, --max-loras)",
    )
    _, told = _render(text.replace("--port 8000", "--port 8000 {{ .LoraArgs }}"))
    assert [w for w in _results(told, "warning") if "LoraArgs" in w[2]] == []
    rendered = _pod(told, "llama-decode")["containers"][0]["args"][0]
    assert rendered.startswith(
        f"exec vllm serve {BASE} --port 8000 --lora-modules"
        f" '{_module('sql-lora')}' '{_module('support_v2')}'"
    )
    assert rendered.endswith("--enable-lora --max-lora-rank=32 --max-loras=4")


def test_names_that_sanitise_alike_get_distinct_containers() -> None:
    text = _original().replace("name: finance-lora", "name: Sql.Lora")
    _, out = _render(text)
    names = [c["name"] for c in _pod(out, "llama-decode")["initContainers"]]
    assert names[0] != names[1]
    assert [len(n) <= 63 and n.startswith("adapter-sql-lora") for n in names] == [True, True]


def test_a_mount_of_the_workloads_own_at_an_adapters_path_is_an_error() -> None:
    text = _original().replace(
        "          - --enable-lora  # already the workload's: not doubled\n",
        "          volumeMounts:\n          - {name: mine, mountPath: /adapters/sql-lora}\n",
    )
    outcome = run_cli(command(FIXTURES / "lora-adapters"), text.encode())
    assert outcome.status == 1
    assert _results(yaml.safe_load(outcome.stdout), "error") == [
        (
            "llama-decode",
            "spec.template.spec.containers[0].volumeMounts[0]",
            "ModelService serving/llama: Deployment serving/llama-decode container 'vllm'"
            " already mounts volume 'mine' at /adapters/sql-lora; remove it or move it,"
            " krmfn's volume 'adapters' goes there",
        )
    ]


# Changes converge through the record -------------------------------------------------------

CHANGES = {
    "adapter removed": (
        "      - name: support_v2\n        uri: pvc://lora-adapters/support/v2\n",
        "",
    ),
    "adapter added": (
        "      lora:\n",
        "      - name: extra\n        uri: hf://acme/extra-lora\n      lora:\n",
    ),
    "revision changed": ("@4f2a9c1", "@8d0e1f2"),
    "source changed": ("uri: s3://acme-adapters/finance", "uri: s3://acme-adapters/finance-v2"),
    "mode changed": ("        maxRank: 32\n", "        maxRank: 32\n        mode: resolver\n"),
    "adapters removed": (
        _original()[_original().index("      adapters:\n") : _original().index("    decode:")],
        "",
    ),
    "compile cache added": (
        "      lora:\n",
        "      compileCache: pvc://compile-cache\n      lora:\n",
    ),
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_change_converges(change: str) -> None:
    old, new = CHANGES[change]
    original = _original()
    assert original.count(old) == 1
    fresh, _ = _render(original.replace(old, new))
    rewritten = strip_results(_render(original)[0])
    again, _ = _render(rewritten.replace(old, new))
    assert again == fresh


def test_removing_every_adapter_leaves_no_trace() -> None:
    old, _ = CHANGES["adapters removed"]
    rewritten = strip_results(_render(_original())[0])
    _, out = _render(rewritten.replace(old, ""))
    pod = _pod(out, "llama-decode")
    assert "initContainers" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["model-storage"]
    assert pod["containers"][0]["args"] == [BASE, "--port=8000", "--enable-lora"]
    assert "adapter" not in json.dumps(pod)


def test_the_compile_cache_leaves_with_its_record() -> None:
    original = fixture_input(FIXTURES / "compile-cache").decode()
    line = "      compileCache: pvc://vllm-compile-cache/granite\n"
    rewritten = strip_results(_render(original, "compile-cache")[0])
    again, out = _render(rewritten.replace(line, ""), "compile-cache")
    fresh, _ = _render(original.replace(line, ""), "compile-cache")
    assert again == fresh
    assert _pod(out, "granite-decode")["volumes"][1] == {
        "name": "torch-compile-cache",
        "emptyDir": {},
    }


# The compile cache ---------------------------------------------------------------------------


def test_the_guides_cache_mount_moves_onto_the_claim() -> None:
    _, out = _render(fixture_input(FIXTURES / "compile-cache").decode(), "compile-cache")
    pod = _pod(out, "granite-decode")
    vllm = pod["containers"][0]
    cache = [m for m in vllm["volumeMounts"] if m["mountPath"] == "/.cache"]
    assert cache == [{"mountPath": "/.cache", "name": "torch-compile-cache", "subPath": "granite"}]
    assert pod["volumes"][1] == {
        "name": "torch-compile-cache",
        "persistentVolumeClaim": {"claimName": "vllm-compile-cache"},
    }
    assert vllm["env"][-2:] == [
        {"name": "VLLM_CACHE_ROOT", "value": "/.cache/vllm"},
        {"name": "TORCHINDUCTOR_CACHE_DIR", "value": "/.cache/torchinductor"},
    ]
    prefill = _pod(out, "granite-prefill")
    assert prefill["containers"][0]["volumeMounts"][-1] == {
        "name": "compile-cache",
        "mountPath": "/compile-cache",
        "subPath": "granite",
    }
    assert prefill["volumes"][-1] == {
        "name": "compile-cache",
        "persistentVolumeClaim": {"claimName": "vllm-compile-cache"},
    }
    assert _results(out, "warning") == [
        (
            "granite",
            "spec.modelArtifacts.compileCache",
            "the compile cache's claim vllm-compile-cache is ReadWriteOnce, not"
            " ReadWriteMany, while 3 pods mount it writable: pods on other nodes cannot",
        )
    ]


def test_wide_ep_jit_cache_keeps_its_own_cache_root() -> None:
    text = fixture_input(FIXTURES / "guide-wide-ep").decode()
    marker = "    modelArtifacts:\n"
    assert text.count(marker) == 1
    text = text.replace(marker, marker + "      compileCache: pvc://jit-cache-claim\n")
    outcome = run_cli(command(FIXTURES / "guide-wide-ep"), text.encode())
    assert outcome.status == 0, outcome.stderr.decode()
    out = yaml.safe_load(outcome.stdout)
    ds = next(i for i in out["items"] if i["kind"] == "DisaggregatedSet")
    for role in ds["spec"]["roles"]:
        template = role["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
        volume = next(v for v in template["volumes"] if v["name"] == "jit-cache")
        assert volume == {
            "name": "jit-cache",
            "persistentVolumeClaim": {"claimName": "jit-cache-claim"},
        }
        env = {e["name"]: e.get("value") for e in template["containers"][0]["env"]}
        assert env["VLLM_CACHE_ROOT"] == "/var/cache/vllm/vllm"  # the guide's, under the mount
        assert env["TORCHINDUCTOR_CACHE_DIR"] == "/var/cache/vllm/torchinductor"
        mounts = [m for m in template["containers"][0]["volumeMounts"] if m["name"] == "jit-cache"]
        assert mounts == [{"name": "jit-cache", "mountPath": "/var/cache/vllm"}]


# What is refused ---------------------------------------------------------------------------


def test_the_refusals_name_their_fields() -> None:
    outcome = run_cli(
        command(FIXTURES / "adapter-errors"), fixture_input(FIXTURES / "adapter-errors")
    )
    assert outcome.status == 1
    out = yaml.safe_load(outcome.stdout)
    errors = [(name, path) for name, path, _ in _results(out, "error")]
    assert errors == [
        ("names", "spec.modelArtifacts.adapters[1].name"),
        ("names", "spec.modelArtifacts.adapters[2].name"),
        ("folders", "spec.modelArtifacts.adapters[0].name"),
        ("folders", "spec.modelArtifacts.adapters[1].name"),
        ("sources", "spec.modelArtifacts.adapters[0].uri"),
        ("sources", "spec.modelArtifacts.adapters[1].uri"),
        ("sources", "spec.modelArtifacts.adapters[2].uri"),
        ("sources", "spec.modelArtifacts.adapters[3].endpoint"),
        ("options", "spec.modelArtifacts.adapters[0].revison"),
        ("options", "spec.modelArtifacts.lora.mode"),
        ("options", "spec.modelArtifacts.lora.maxRank"),
        ("options", "spec.modelArtifacts.lora.maxLoras"),
        ("cache", "spec.modelArtifacts.compileCache"),
        ("own-modules-decode", "spec.template.spec.containers[0].args"),
    ]
    assert _results(out, "error")[0][2] == (
        "adapter 'sql-lora' is given twice (spec.modelArtifacts.adapters[0] and [1]);"
        " clients name an adapter by its name: one name, one adapter"
    )
    assert [(n, p) for n, p, _ in _results(out, "warning")] == [
        ("lora-alone", "spec.modelArtifacts.lora"),
        ("unused", "spec.modelArtifacts.adapters[0].authSecretName"),
    ]


READ_ONLY = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata: {name: opt}
  spec:
    routing: {modelName: facebook/opt-125m}
    modelArtifacts: {uri: hf://facebook/opt-125m}
    decode:
      containers: [{name: vllm, mountModelVolume: true}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: opt-decode}
  spec:
    selector: {matchLabels: {app: opt}}
    template:
      metadata: {labels: {app: opt}}
      spec:
        containers:
        - name: vllm
          image: vllm/vllm-openai:v0.10.0
          args: [facebook/opt-125m]
          securityContext: {readOnlyRootFilesystem: true}
"""


@pytest.mark.parametrize(
    ("change", "warned"),
    [
        ((), True),
        (("args: [facebook/opt-125m]", "args: [facebook/opt-125m, --enforce-eager]"), False),
        (
            (
                "modelArtifacts: {uri: hf://facebook/opt-125m}",
                "modelArtifacts: {uri: hf://facebook/opt-125m, compileCache: pvc://cache}",
            ),
            False,
        ),
        (
            (
                "          securityContext:",
                "          volumeMounts: [{name: torch-compile-cache, mountPath: /.cache}]\n"
                "          securityContext:",
            ),
            False,
        ),
    ],
    ids=["warned", "enforce-eager", "compileCache", "own cache mount"],
)
def test_a_read_only_root_needs_somewhere_for_the_compile_cache(
    change: tuple[str, ...], warned: bool
) -> None:
    text = READ_ONLY.replace(*change) if change else READ_ONLY
    outcome = run_cli(command(FIXTURES / "hf-basic"), text.encode())
    out = yaml.safe_load(outcome.stdout)
    expected = [
        (
            "opt-decode",
            "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem",
            "Deployment opt-decode container 'vllm' has a read-only root filesystem, and vLLM"
            " writes its compile cache under VLLM_CACHE_ROOT (~/.cache/vllm) at start: set"
            " spec.modelArtifacts.compileCache, or mount a writable volume and point"
            " VLLM_CACHE_ROOT into it (or run with --enforce-eager)",
        )
    ]
    assert _results(out, "warning") == (expected if warned else [])


GCS = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata: {name: tiny}
  spec:
    routing: {modelName: test/tiny}
    modelArtifacts:
      uri: gs://acme-models/tiny
      authSecretName: gcs-key
      credentials: serviceAccountKey
      adapters:
      - {name: lora, uri: gs://acme-models/lora ADAPTER}
    decode:
      containers: [{name: vllm, mountModelVolume: true}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: tiny-decode}
  spec:
    selector: {matchLabels: {app: tiny}}
    template:
      metadata: {labels: {app: tiny}}
      spec:
        containers: [{name: vllm, image: vllm/vllm-openai:v0.10.0}]
"""


@pytest.mark.parametrize(
    ("adapter", "env", "volumes"),
    [
        # nothing of its own: the model's key, in a volume of the adapter's
        (
            "",
            ["RUNAI_STREAMER_GCS_CREDENTIAL_FILE", "GOOGLE_APPLICATION_CREDENTIALS"],
            ["adapters", "adapter-lora-key"],
        ),
        # its own kind of credentials: none of the model's Secret
        (", credentials: workloadIdentity", [], ["adapters"]),
    ],
    ids=["inherited key", "workload identity"],
)
def test_an_adapter_takes_the_models_secret_and_credentials_together(
    adapter: str, env: list[str], volumes: list[str]
) -> None:
    outcome = run_cli(command(FIXTURES / "hf-basic"), GCS.replace("ADAPTER", adapter).encode())
    assert outcome.status == 0, outcome.stderr.decode()
    pod = _pod(yaml.safe_load(outcome.stdout), "tiny-decode")
    [fetch] = pod["initContainers"]
    assert [e["name"] for e in fetch.get("env", [])] == env
    assert [v["name"] for v in pod["volumes"]] == ["model-storage", "gcs-credentials", *volumes]
