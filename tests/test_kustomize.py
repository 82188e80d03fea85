"""kustomize runs krmfn as a container `transformers:` function. `kubectl kustomize` is
the real kustomize (v5.5.0); `docker` on PATH is the stand-in that runs the local krmfn
for the image name, and refuses any call kustomize does not really make."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.orchestrators import (
    DOCKER_STANDIN,
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
