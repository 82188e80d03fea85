"""Helm runs a post-renderer with the whole rendered release on stdin and installs what
comes out on stdout. No helm binary is installable here (not in Debian, PyPI or npm), so
these tests call the wrapper exactly as Helm 3's --post-renderer does, on a stream in the
shape of the llm-d-modelservice chart's output (tests/helm/chart-output-pd.yaml), and the
Helm 4 plugin's command the way its subprocess runtime does."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.orchestrators import (
    HELM_CHART_OUTPUT,
    HELM_EXPECTED,
    HELM_MODELSERVICE,
    HELM_POST_RENDERER,
    ROOT,
    Outcome,
    helm_input,
    post_render,
    run,
    tool_env,
    uri_error,
)

PLUGIN_DIR = ROOT / "integrations" / "helm" / "plugin"
SEPARATOR = re.compile(rb"^---\n", re.MULTILINE)
FILENAME_ANNOTATION = "postrenderer.helm.sh/postrender-filename"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return tool_env(tmp_path / "bin")


def documents(stream: bytes) -> list[bytes]:
    return SEPARATOR.split(stream)


def sources(stream: bytes) -> list[bytes]:
    return re.findall(rb"^# Source: .*$", stream, re.MULTILINE)


def by_name_input() -> bytes:
    """The same ModelService named like the chart's release, so it finds the Deployments
    by name."""
    modelservice = HELM_MODELSERVICE.read_bytes().replace(
        b"  name: opt\n", b"  name: pd-llm-d-modelservice\n"
    )
    return HELM_CHART_OUTPUT.read_bytes() + modelservice


def test_chart_deployments_found_by_label_are_rewritten(env: dict[str, str]) -> None:
    rendered = post_render(helm_input(), env)
    assert (rendered.status, rendered.stderr) == (0, b"")
    assert rendered.stdout == HELM_EXPECTED.read_bytes()


def test_expected_output_keeps_sources_and_untouched_documents() -> None:
    """What the checked-in expectation must be, whoever regenerates it."""
    given, expected = helm_input(), HELM_EXPECTED.read_bytes()
    assert sources(expected) == sources(given)
    before, after = documents(given), documents(expected)
    assert len(after) == len(before) == 5
    # the leading comment, the ServiceAccount and the ModelService come back as they came
    assert [after[i] for i in (0, 1, 4)] == [before[i] for i in (0, 1, 4)]
    for document in after[2:4]:
        assert b"name: HF_TOKEN" in document
        assert b"krmfn.llm-d.ai/applied" in document


def test_by_name_rewrites_deployments_and_passes_the_rest_byte_for_byte(
    env: dict[str, str],
) -> None:
    given = by_name_input()
    rendered = post_render(given, env)
    assert (rendered.status, rendered.stderr) == (0, b"")
    assert sources(rendered.stdout) == sources(given)
    before, after = documents(given), documents(rendered.stdout)
    assert [after[i] for i in (0, 1, 4)] == [before[i] for i in (0, 1, 4)]
    for role, document in zip(("decode", "prefill"), after[2:4], strict=True):
        deployment = yaml.safe_load(document)
        assert deployment["metadata"]["labels"]["llm-d.ai/role"] == role
        vllm = deployment["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}} in vllm["env"]  # fmt: skip
        assert vllm["volumeMounts"] == [{"name": "model-storage", "mountPath": "/model-cache"}]


def helm4_input(stream: bytes) -> bytes:
    """Helm 4 marks each document with the template it came from before post-rendering
    and splits the result back by that annotation."""
    counter = iter(range(100))
    return re.sub(
        rb"^metadata:\n",
        lambda _: (
            f"metadata:\n  annotations:\n    {FILENAME_ANNOTATION}:"
            f" 'templates/file-{next(counter)}.yaml'\n"
        ).encode(),
        stream,
        flags=re.MULTILINE,
    )


def test_helm4_filename_annotations_are_kept(env: dict[str, str]) -> None:
    given = helm4_input(by_name_input())
    rendered = post_render(given, env)
    assert (rendered.status, rendered.stderr) == (0, b"")

    def filenames(stream: bytes) -> list[str]:
        docs = [d for d in yaml.safe_load_all(stream) if d]
        return [d["metadata"]["annotations"][FILENAME_ANNOTATION] for d in docs]

    assert filenames(rendered.stdout) == [f"templates/file-{i}.yaml" for i in range(4)]


def test_helm4_plugin_runs_the_same_wrapper(env: dict[str, str]) -> None:
    manifest = yaml.safe_load((PLUGIN_DIR / "plugin.yaml").read_text())
    assert {k: manifest[k] for k in ("apiVersion", "type", "runtime", "name")} == {
        "apiVersion": "v1",
        "type": "postrenderer/v1",
        "runtime": "subprocess",
        "name": "krmfn",
    }
    [command] = manifest["runtimeConfig"]["platformCommand"]
    assert command == {"command": "${HELM_PLUGIN_DIR}/krmfn-post-renderer"}
    executable = command["command"].replace("${HELM_PLUGIN_DIR}", str(PLUGIN_DIR))
    assert os.path.samefile(executable, HELM_POST_RENDERER)
    via_plugin = run([executable], env, data=by_name_input())
    assert via_plugin == post_render(by_name_input(), env)


def test_an_error_goes_to_stderr_with_a_non_zero_exit_and_nothing_on_stdout(
    env: dict[str, str],
) -> None:
    given = helm_input().replace(b"uri: hf://facebook/opt-125m", b"uri: HF://x/y")
    rendered = post_render(given, env)
    assert (rendered.status, rendered.stdout) == (1, b"")
    first, last = rendered.stderr.decode().splitlines()
    assert re.fullmatch(uri_error("opt", "HF://x/y"), first)
    assert last == "krmfn-post-renderer: krmfn failed (exit status 1); nothing passed on to Helm"


def test_post_renderer_args_reach_krmfn(env: dict[str, str], tmp_path: Path) -> None:
    """`--post-renderer-args=--config --post-renderer-args=FILE` arrive as arguments."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  kinds: StatefulSet\n  strict: 'true'\n"
    )
    rendered = run([str(HELM_POST_RENDERER), "--config", str(config)], env, data=by_name_input())
    assert (rendered.status, rendered.stdout) == (1, b"")
    assert rendered.stderr.decode().startswith(
        "[error] llm-d.ai/v1alpha1/ModelService/pd-llm-d-modelservice: no workload found for"
        " decode, prefill: looked for StatefulSet without a namespace"
    )


@pytest.mark.parametrize(
    ("script", "status", "message"),
    [
        ("exit 0", 1, "krmfn returned an empty stream for a non-empty one; refusing it"),
        ("printf '\\n  \\n'", 1, "krmfn returned an empty stream for a non-empty one; refusing it"),
        ("echo 'apiVersion: v1'; exit 3", 3, "krmfn failed (exit status 3); nothing passed on to Helm"),
    ],
)  # fmt: skip
def test_wrapper_never_passes_on_an_empty_or_failed_result(
    env: dict[str, str], tmp_path: Path, script: str, status: int, message: str
) -> None:
    broken = tmp_path / "broken" / "krmfn"
    broken.parent.mkdir()
    broken.write_text(f"#!/bin/sh\ncat >/dev/null\n{script}\n")
    broken.chmod(0o755)
    env = {**env, "PATH": f"{broken.parent}{os.pathsep}{env['PATH']}"}
    rendered = post_render(helm_input(), env)
    assert (rendered.status, rendered.stdout) == (status, b"")
    assert rendered.stderr.decode() == f"krmfn-post-renderer: {message}\n"


def test_empty_release_stays_empty(env: dict[str, str]) -> None:
    assert post_render(b"", env) == Outcome(b"", b"", 0)
