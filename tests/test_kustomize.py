"""kustomize runs krmfn as a container `transformers:` function. `kubectl kustomize` is
the real kustomize (v5.5.0); `docker` on PATH is the stand-in that runs the local krmfn
for the image name, and refuses any call kustomize does not really make."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.orchestrators import (
    DOCKER_STANDIN,
    GUIDE_EXAMPLES,
    IMAGE,
    KUSTOMIZE_EXAMPLE,
    KUSTOMIZE_EXPECTED,
    KUSTOMIZE_FLAGS,
    kustomize_build,
    run,
    tool_env,
    uri_error,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return tool_env(tmp_path / "bin")


@pytest.mark.needs("kubectl")
def test_build_prints_rewritten_deployments_and_no_modelservice(env: dict[str, str]) -> None:
    built = kustomize_build(KUSTOMIZE_EXAMPLE, env)
    assert (built.status, built.stderr) == (0, b"")
    assert built.stdout == KUSTOMIZE_EXPECTED.read_bytes()
    docs = list(yaml.safe_load_all(built.stdout))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "opt-decode"),
        ("Deployment", "opt-prefill"),
    ]
    decode = docs[0]["spec"]["template"]["spec"]
    assert decode["volumes"] == [{"name": "model-storage", "emptyDir": {"sizeLimit": "5Gi"}}]
    assert decode["containers"][0]["args"][:3] == [
        "facebook/opt-125m",
        "--served-model-name",
        "facebook/opt-125m",
    ]


@pytest.mark.needs("kubectl")
def test_a_function_error_fails_the_build_with_the_error_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    example = tmp_path / "example"
    shutil.copytree(KUSTOMIZE_EXAMPLE, example)
    modelservice = example / "workloads" / "modelservice.yaml"
    modelservice.write_text(
        modelservice.read_text().replace("uri: hf://facebook/opt-125m", "uri: HF://x/y")
    )
    built = kustomize_build(example, env)
    assert (built.status, built.stdout) == (1, b"")
    first, *rest = built.stderr.decode().splitlines()
    assert re.fullmatch(uri_error("llm-d/opt", "HF://x/y"), first)
    assert rest[-1].endswith('"command failed" err="couldn\'t execute function: exit status 1 "')


@pytest.mark.needs("kubectl")
def test_another_image_name_is_refused_by_the_stand_in(env: dict[str, str], tmp_path: Path) -> None:
    example = tmp_path / "example"
    shutil.copytree(KUSTOMIZE_EXAMPLE, example)
    config = example / "krmfn.yaml"
    config.write_text(config.read_text().replace(IMAGE, "ghcr.io/llm-d-incubation/krmfn:latest"))
    built = kustomize_build(example, env)
    assert (built.status, built.stdout) == (1, b"")
    assert (
        b"docker-local: unexpected call: docker "
        + b" ".join(a.encode() for a in KUSTOMIZE_FLAGS)
        + b" ghcr.io/llm-d-incubation/krmfn:latest\n"
        in built.stderr
    )


@pytest.mark.parametrize(
    "args",
    [
        [*KUSTOMIZE_FLAGS[:-2], IMAGE],  # no STRUCTURED_RESULTS
        [*KUSTOMIZE_FLAGS, IMAGE, "extra"],
        [*KUSTOMIZE_FLAGS, "--network", "host", IMAGE],
        ["pull", IMAGE],
    ],
)
def test_stand_in_refuses_calls_kustomize_does_not_make(
    env: dict[str, str], args: list[str]
) -> None:
    refused = run([str(DOCKER_STANDIN), *args], env, data=b"kind: ResourceList\nitems: []\n")
    assert (refused.status, refused.stdout) == (125, b"")
    assert refused.stderr.startswith(b"docker-local: unexpected call: docker " + args[0].encode())


@pytest.mark.needs("kubectl")
def test_exec_variant_is_silently_skipped_by_kubectl_kustomize(env: dict[str, str]) -> None:
    """Why the exec variant needs standalone `kustomize build --enable-alpha-plugins
    --enable-exec`: kubectl has no --enable-exec and drops the transformer without a word,
    giving the workloads unchanged. No standalone kustomize is installable here, so that
    variant is checked by its shape below and this measured trap."""
    skipped = kustomize_build(KUSTOMIZE_EXAMPLE / "exec", env)
    plain = kustomize_build(KUSTOMIZE_EXAMPLE / "workloads", env)
    assert (skipped.status, skipped.stderr) == (0, b"")
    assert skipped.stdout == plain.stdout
    assert b"model-storage" not in skipped.stdout


def test_exec_variant_runs_krmfn_from_path_with_the_same_config() -> None:
    def load(path: Path) -> dict[str, object]:
        loaded = yaml.safe_load(path.read_text())
        assert isinstance(loaded, dict)
        return loaded

    exec_config = load(KUSTOMIZE_EXAMPLE / "exec" / "krmfn.yaml")
    container_config = load(KUSTOMIZE_EXAMPLE / "krmfn.yaml")
    annotations = exec_config["metadata"]["annotations"]  # type: ignore[index]
    assert yaml.safe_load(annotations["config.kubernetes.io/function"]) == {
        "exec": {"path": "krmfn"}
    }
    assert exec_config["spec"] == container_config["spec"]
    kustomizations = [
        load(KUSTOMIZE_EXAMPLE / "exec" / "kustomization.yaml"),
        load(KUSTOMIZE_EXAMPLE / "kustomization.yaml"),
    ]
    assert [k["transformers"] for k in kustomizations] == [["krmfn.yaml"], ["krmfn.yaml"]]
    assert [k["resources"] for k in kustomizations] == [["../workloads"], ["workloads"]]


GENERATED = "krmfn.llm-d.ai/generated-by"


def without_krmfn(example: Path, tmp_path: Path) -> Path:
    """A copy of an overlay without its krmfn transformer: what the guide builds alone.
    The overlays beside it come along: an overlay may build on another's base."""
    tree = Path(shutil.copytree(example.parent, tmp_path / example.parent.name))
    copy = tree / example.name
    kustomization = copy / "kustomization.yaml"
    text = kustomization.read_text()
    assert "transformers:\n  - modelservice.yaml\n" in text
    kustomization.write_text(text.replace("transformers:\n  - modelservice.yaml\n", ""))
    return copy


def built_docs(example: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    built = kustomize_build(example, env)
    assert (built.status, built.stderr) == (0, b""), built.stderr.decode()
    return [d for d in yaml.safe_load_all(built.stdout) if d]


@pytest.mark.needs("kubectl")
@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.name)
def test_guide_overlay_builds_the_golden_output(env: dict[str, str], example: Path) -> None:
    built = kustomize_build(example, env)
    assert (built.status, built.stderr) == (0, b"")
    assert built.stdout == (example / "expected.yaml").read_bytes()
    assert b"kind: ModelService" not in built.stdout


@pytest.mark.needs("kubectl")
def test_a_typo_is_a_warning_and_fails_the_build_when_the_modelservice_is_strict(
    env: dict[str, str], tmp_path: Path
) -> None:
    """kustomize passes a warning on to stderr and builds; Argo CD shows no stderr of a
    build that succeeds. The strict annotation on the transformer's ModelService (which
    has no other config) makes the typo fail the build."""
    example = tmp_path / "llm-d-guide"
    shutil.copytree(GUIDE_EXAMPLES[0], example)
    modelservice = example / "modelservice.yaml"
    text = modelservice.read_text().replace("authSecretName:", "authSecretname:")
    modelservice.write_text(text)
    warned = kustomize_build(example, env)
    message = (
        "llm-d.ai/v1alpha1/ModelService/qwen spec.modelArtifacts.authSecretname:"
        " authSecretname is not a field krmfn or llm-d reads: it has no effect;"
        " did you mean authSecretName?"
    )
    assert (warned.status, warned.stderr.decode()) == (0, f"[warning] {message}\n")
    modelservice.write_text(
        text.replace("  annotations:\n", '  annotations:\n    krmfn.llm-d.ai/strict: "true"\n')
    )
    built = kustomize_build(example, env)
    assert (built.status, built.stdout) == (1, b"")
    first, *rest = built.stderr.decode().splitlines()
    assert first == f"[error] {message}"
    assert rest[-1].endswith('"command failed" err="couldn\'t execute function: exit status 1 "')


def labels_and_selectors(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every label of an object and its templates, and its selector, as (where, key, value)."""
    found = [("metadata", k, v) for k, v in (doc["metadata"].get("labels") or {}).items()]
    spec = doc.get("spec") or {}
    for key, value in ((spec.get("selector") or {}).get("matchLabels") or {}).items():
        found.append(("selector", key, value))
    templates = [("template", spec.get("template"))]
    for role in spec.get("roles") or []:
        group = role["spec"]["leaderWorkerTemplate"]
        templates += [
            (f"{role['name']}.{n}", group.get(n)) for n in ("leaderTemplate", "workerTemplate")
        ]
    for where, template in templates:
        labels = ((template or {}).get("metadata") or {}).get("labels") or {}
        found += [(where, k, v) for k, v in labels.items()]
    for clique in (spec.get("template") or {}).get("cliques") or []:
        found += [(clique["name"], k, v) for k, v in (clique.get("labels") or {}).items()]
    return found


@pytest.mark.needs("kubectl")
@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.name)
def test_guide_overlay_keeps_every_label_and_selector(
    env: dict[str, str], example: Path, tmp_path: Path
) -> None:
    plain = built_docs(without_krmfn(example, tmp_path), env)
    applied = built_docs(example, env)
    # What krmfn generates (a prefetch Job) comes besides the guide's own objects.
    generated = [d for d in applied if GENERATED in d["metadata"].get("annotations", {})]
    applied = [d for d in applied if d not in generated]
    assert [(d["kind"], d["metadata"]["name"]) for d in applied] == [
        (d["kind"], d["metadata"]["name"]) for d in plain
    ]
    for before, after in zip(plain, applied, strict=True):
        kept = labels_and_selectors(after)
        assert set(labels_and_selectors(before)) <= set(kept)
        # What is added is the serving label, and the model label with the value the
        # workload already carries (on a DisaggregatedSet's templates, which kustomize's
        # labels: does not reach, or on a PodCliqueSet's cliques).
        added = set(kept) - set(labels_and_selectors(before))
        models = {v for _, k, v in labels_and_selectors(before) if k == "llm-d.ai/model"}
        assert {(k, v) for _, k, v in added} <= {
            ("llm-d.ai/inference-serving", "true"),
            *(("llm-d.ai/model", model) for model in models),
        }
        assert len(models) == 1
        assert (after.get("spec") or {}).get("selector") == (before.get("spec") or {}).get(
            "selector"
        )


@pytest.mark.needs("kubectl")
def test_guide_overlay_replaces_the_hard_coded_model_token_and_cache(
    env: dict[str, str], tmp_path: Path
) -> None:
    example = GUIDE_EXAMPLES[0]
    (plain,) = [
        d for d in built_docs(without_krmfn(example, tmp_path), env) if d["kind"] == "Deployment"
    ]
    (applied,) = [d for d in built_docs(example, env) if d["kind"] == "Deployment"]
    assert applied["metadata"]["name"] == "optimized-baseline-nvidia-gpu-vllm-decode"
    before = plain["spec"]["template"]["spec"]["containers"][0]
    after = applied["spec"]["template"]["spec"]["containers"][0]
    assert after["args"] == ["Qwen/Qwen3-32B", *before["args"]]
    assert after["env"] == [
        {
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"key": "HF_TOKEN", "name": "llm-d-hf-token"}},
        },
        {"name": "HF_HOME", "value": "/model-cache"},
    ]
    assert after["volumeMounts"] == [
        *before["volumeMounts"],
        {"mountPath": "/model-cache", "name": "model-storage"},
    ]
    assert applied["spec"]["template"]["spec"]["volumes"] == [
        *plain["spec"]["template"]["spec"]["volumes"],
        {"emptyDir": {"sizeLimit": "80Gi"}, "name": "model-storage"},
    ]


@pytest.mark.needs("kubectl")
def test_guide_pd_overlay_applies_each_role_to_its_disaggregatedset_role(
    env: dict[str, str],
) -> None:
    built = {d["kind"]: d for d in built_docs(GUIDE_EXAMPLES[1], env)}
    assert sorted(built) == ["DisaggregatedSet", "Job"]
    applied, job = built["DisaggregatedSet"], built["Job"]
    # kustomize passes the generated prefetch Job through, in the overlay's namespace.
    assert (job["kind"], job["metadata"]["namespace"]) == ("Job", "llm-d")
    assert job["metadata"]["annotations"] == {GENERATED: "qwen"}
    assert job["spec"]["template"]["spec"]["volumes"] == [
        {"name": "model-storage", "persistentVolumeClaim": {"claimName": "model-pvc"}}
    ]
    assert (applied["kind"], applied["metadata"]["name"]) == ("DisaggregatedSet", "qwen-pd-disagg")
    roles = {r["name"]: r["spec"] for r in applied["spec"]["roles"]}
    assert {name: spec["replicas"] for name, spec in roles.items()} == {"prefill": 2, "decode": 1}
    for name, own_args in (("prefill", ["--port=8000"]), ("decode", ["--port=8200"])):
        pod = roles[name]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
        assert pod["volumes"] == [
            {
                "name": "model-storage",
                "persistentVolumeClaim": {"claimName": "model-pvc", "readOnly": True},
            }
        ]
        (server,) = pod["containers"]
        assert server["args"] == ["Qwen/Qwen3-32B", *own_args]
        assert server["volumeMounts"] == [
            {"mountPath": "/model-cache", "name": "model-storage", "readOnly": True}
        ]
        # Offline pods never send the token, so they carry no reference to its Secret.
        assert [e["name"] for e in server["env"]] == ["HF_HUB_CACHE", "HF_HUB_OFFLINE"]
        assert pod["initContainers"][0]["name"] == "wait-for-model"
