"""kpt runs krmfn as an exec function: `kpt fn render` from the package's Kptfile
pipeline, and `kpt fn eval --exec`. Both write the function's output back into the
user's files, so the files themselves are what is checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.orchestrators import (
    KPT_EXPECTED,
    KPT_PACKAGE,
    KPT_PREFETCH,
    copy_package,
    kpt_expected,
    kpt_render,
    package_files,
    run,
    tool_env,
    uri_error,
)

pytestmark = pytest.mark.needs("kpt")

LICENSE = b"# Copyright 2025 The llm-d Authors.\n# SPDX-License-Identifier: Apache-2.0\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return tool_env(tmp_path / "bin")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return copy_package(KPT_PACKAGE, tmp_path / "kpt-package")


def eval_exec(package: Path, env: dict[str, str], *config: str) -> tuple[int, str]:
    outcome = run(["kpt", "fn", "eval", "--exec", "krmfn", str(package), "--", *config], env)
    return outcome.status, (outcome.stdout + outcome.stderr).decode()


def test_render_rewrites_the_workloads_in_place_keeping_the_files_style(
    package: Path, env: dict[str, str]
) -> None:
    before = package_files(package)
    rendered = kpt_render(package, env)
    assert rendered.status == 0, rendered.stderr.decode()
    after = package_files(package)
    assert after == package_files(KPT_EXPECTED)
    changed = sorted(name for name in after if after[name] != before[name])
    assert changed == ["decode.yaml", "prefill.yaml"]
    decode, prefill = after["decode.yaml"], after["prefill.yaml"]
    for text in (decode, prefill):
        assert text.startswith(LICENSE)
        assert text.count(b"SPDX-License-Identifier") == 1
    # each file keeps its own list style, for the lists the function added too
    assert b"\n        volumeMounts:\n        - name: model-storage\n" in decode
    assert b"\n          volumeMounts:\n            - name: model-storage\n" in prefill
    assert b'          value: "INFO" # quoted on purpose\n' in decode
    assert b"  replicas: 2 # krmfn sets this from the ModelService\n" in decode


def test_a_second_render_changes_no_byte(package: Path, env: dict[str, str]) -> None:
    assert kpt_render(package, env).status == 0
    once = package_files(package)
    again = kpt_render(package, env)
    assert again.status == 0, again.stderr.decode()
    assert package_files(package) == once


def without_prefill(package: Path) -> None:
    """The ModelService no longer has a prefill role: granite-prefill leaves its targets."""
    modelservice = package / "modelservice.yaml"
    text = modelservice.read_text()
    assert text.count("\n  prefill:\n") == 1
    modelservice.write_text(text[: text.index("\n  prefill:\n") + 1])


def test_a_workload_that_leaves_the_targets_renders_as_from_the_originals(
    package: Path, env: dict[str, str], tmp_path: Path
) -> None:
    assert kpt_render(package, env).status == 0
    assert b"krmfn.llm-d.ai/applied" in package_files(package)["prefill.yaml"]
    without_prefill(package)
    again = kpt_render(package, env)
    assert again.status == 0, again.stderr.decode()
    fresh = copy_package(KPT_PACKAGE, tmp_path / "fresh")
    without_prefill(fresh)
    assert kpt_render(fresh, env).status == 0
    assert package_files(package) == package_files(fresh)
    # granite-prefill is back to the bytes it was written with.
    assert package_files(package)["prefill.yaml"] == (KPT_PACKAGE / "prefill.yaml").read_bytes()


def test_eval_with_key_value_config_writes_the_same_files(
    package: Path, env: dict[str, str]
) -> None:
    status, output = eval_exec(package, env, "kinds=Deployment", "strict=true")
    assert status == 0, output
    assert package_files(package) == package_files(KPT_EXPECTED)
    lines = output.splitlines()
    assert lines[0] == '[RUNNING] "krmfn"'
    assert re.fullmatch(r'\[PASS\] "krmfn" in [0-9.]+m?s', lines[1])
    assert lines[2:4] == [
        "  Results:",
        "    [info] llm-d.ai/v1alpha1/ModelService/llm-d/granite: applied"
        " pvc://model-store/granite/granite-3.3-2b-instruct (read-only PersistentVolumeClaim"
        " model-store) to Deployment llm-d/granite-decode (decode, by name),"
        " Deployment llm-d/granite-prefill (prefill, by name)",
    ]


def test_eval_config_reaches_the_function(package: Path, env: dict[str, str]) -> None:
    """kinds=StatefulSet finds nothing here: a warning, which strict=true makes an error."""
    untouched = package_files(package)
    line = (
        "[{severity}] llm-d.ai/v1alpha1/ModelService/llm-d/granite: no workload found for"
        " decode, prefill: looked for StatefulSet in namespace llm-d named granite-decode or"
        " granite-prefill, or owned by ModelService granite with label llm-d.ai/role, or"
        " labelled llm-d.ai/model=ibm-granite-granite-3-3-2b-instruct (or"
        " granite-3.3-2b-instruct) with llm-d.ai/role; name the workloads as kustomize's"
        " patches do, for example spec.decode.target: {{kind: Deployment,"
        " name: <your decode workload>}}"
    )
    status, output = eval_exec(package, env, "kinds=StatefulSet", "strict=false")
    assert status == 0, output
    assert f"    {line.format(severity='warning')}\n" in output
    status, output = eval_exec(package, env, "kinds=StatefulSet", "strict=true")
    assert status == 1, output
    assert f"    {line.format(severity='error')}\n" in output
    assert "  Exit code: 1\n" in output
    assert package_files(package) == untouched


@pytest.mark.parametrize("command", ["render", "eval"])
def test_an_error_fails_kpt_with_the_error_line_and_writes_nothing(
    package: Path, env: dict[str, str], command: str
) -> None:
    modelservice = package / "modelservice.yaml"
    modelservice.write_text(
        modelservice.read_text().replace(
            "uri: pvc://model-store/granite/granite-3.3-2b-instruct", "uri: HF://x/y"
        )
    )
    before = package_files(package)
    if command == "render":
        outcome = kpt_render(package, env)
        status, output = outcome.status, (outcome.stdout + outcome.stderr).decode()
    else:
        status, output = eval_exec(package, env)
    assert status == 1, output
    # kpt shows the function's results, then its stderr quoted
    error = uri_error("llm-d/granite", "HF://x/y")
    lines = output.splitlines()
    assert [line for line in lines if re.fullmatch(f"    {error}", line)], output
    assert [line for line in lines if re.fullmatch(f'    "{error}"', line)], output
    assert "  Exit code: 1" in lines
    assert package_files(package) == before


def test_render_writes_the_prefetch_job_and_claim_to_a_file_of_their_own(
    env: dict[str, str], tmp_path: Path
) -> None:
    package = copy_package(KPT_PREFETCH, tmp_path / "kpt-prefetch")
    rendered = kpt_render(package, env)
    assert rendered.status == 0, rendered.stderr.decode()
    files = package_files(package)
    assert files == package_files(kpt_expected(KPT_PREFETCH))
    job, claim = yaml.safe_load_all(files["qwen-prefetch.yaml"])
    assert (job["kind"], claim["kind"]) == ("Job", "PersistentVolumeClaim")
    assert job["metadata"]["name"].startswith("qwen-prefetch-")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "Qwen/Qwen3-0.6B"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    # kpt keeps no path annotations in the files it writes
    assert b"config.kubernetes.io/path" not in files["qwen-prefetch.yaml"]

    again = kpt_render(package, env)
    assert again.status == 0, again.stderr.decode()
    assert package_files(package) == files


def test_another_model_replaces_the_job_in_its_file(env: dict[str, str], tmp_path: Path) -> None:
    package = copy_package(KPT_PREFETCH, tmp_path / "kpt-prefetch")
    assert kpt_render(package, env).status == 0
    first = yaml.safe_load_all((package / "qwen-prefetch.yaml").read_text())
    modelservice = package / "modelservice.yaml"
    modelservice.write_text(modelservice.read_text().replace("Qwen3-0.6B", "Qwen3-1.7B"))
    rendered = kpt_render(package, env)
    assert rendered.status == 0, rendered.stderr.decode()
    jobs = [d for d in yaml.safe_load_all((package / "qwen-prefetch.yaml").read_text())]
    assert [d["kind"] for d in jobs] == ["Job", "PersistentVolumeClaim"]
    old_job = next(first)
    assert jobs[0]["metadata"]["name"] != old_job["metadata"]["name"]
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["args"][0] == "Qwen/Qwen3-1.7B"
    assert sorted(p.name for p in package.iterdir()) == sorted(
        [
            "Kptfile",
            "decode.yaml",
            "model-artifacts.yaml",
            "modelservice.yaml",
            "qwen-prefetch.yaml",
        ]
    )
