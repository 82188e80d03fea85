"""Argo CD runs the plugin's generate command in the application's folder, as
`bash -c SCRIPT` with the app's env (ARGOCD_APP_*, ARGOCD_ENV_*, PARAM_*), and applies
what it prints. The command is read from integrations/argocd/plugin.yaml and run that
way; no Argo CD is installed here."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.orchestrators import (
    ARGOCD_APP,
    ARGOCD_EXPECTED,
    ARGOCD_PLUGIN,
    IMAGE,
    KUSTOMIZE_EXAMPLE,
    KUSTOMIZE_EXPECTED,
    ROOT,
    Outcome,
    cmp_env,
    cmp_generate,
    generate_command,
    kustomize_build,
    tool_env,
    uri_error,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return tool_env(tmp_path / "bin")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ARGOCD_APP, tmp_path / "app", ignore=shutil.ignore_patterns(".*")))


def stand_in(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def with_path(env: dict[str, str], bin_dir: Path) -> dict[str, str]:
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}


def test_generate_is_bash_with_pipefail() -> None:
    command = generate_command()
    assert command[:2] == ["bash", "-c"]
    assert command[2].startswith("set -euo pipefail\n")


@pytest.mark.parametrize(
    "settings",
    [
        {},  # auto: no kustomization in the folder
        {"ARGOCD_ENV_KRMFN_MODE": "manifests"},
        {
            "PARAM_MODE": "manifests",
            "ARGOCD_APP_PARAMETERS": json.dumps([{"name": "mode", "string": "manifests"}]),
        },
    ],
    ids=["auto", "env", "parameter"],
)
def test_manifests_mode_prints_the_rewritten_stream(
    env: dict[str, str], settings: dict[str, str]
) -> None:
    generated = cmp_generate(ARGOCD_APP, {**cmp_env(env), **settings})
    assert (generated.status, generated.stderr) == (0, b"")
    assert generated.stdout == ARGOCD_EXPECTED.read_bytes()
    docs = [d for d in yaml.safe_load_all(generated.stdout) if d]
    assert [d["kind"] for d in docs] == ["Deployment", "ModelService", "Service"]
    vllm = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert vllm["args"] == ["Qwen/Qwen2.5-0.5B-Instruct", "--port", "8000"]
    # files that are not workloads come out as they are in the repository
    assert generated.stdout.endswith((ARGOCD_APP / "service.yaml").read_bytes())


def test_config_file_is_passed_to_krmfn_and_kept_out_of_the_manifests(
    env: dict[str, str], app: Path
) -> None:
    (app / "krmfn.yaml").write_text(
        "apiVersion: krmfn.llm-d.ai/v1alpha1\nkind: ModelArtifacts\nspec:\n  kinds: [Deployment]\n"
    )
    generated = cmp_generate(app, cmp_env(env, KRMFN_CONFIG="krmfn.yaml"))
    assert (generated.status, generated.stderr) == (0, b"")
    assert generated.stdout == ARGOCD_EXPECTED.read_bytes()


def assert_failed(outcome: Outcome, *stderr_lines: str) -> None:
    """Nothing on stdout: Argo CD must get no manifests at all, not a partial set."""
    assert (outcome.status, outcome.stdout) == (1, b"")
    lines = outcome.stderr.decode().splitlines()
    assert len(lines) == len(stderr_lines), lines
    for line, expected in zip(lines, stderr_lines, strict=True):
        assert re.fullmatch(expected, line), line


def test_function_error_gives_non_zero_exit_and_no_output(env: dict[str, str], app: Path) -> None:
    modelservice = app / "modelservice.yaml"
    modelservice.write_text(modelservice.read_text().replace("uri: hf://", "uri: HF://"))
    assert_failed(
        cmp_generate(app, cmp_env(env)), uri_error("qwen", "HF://Qwen/Qwen2.5-0.5B-Instruct")
    )


def test_strict_config_error_gives_no_output(env: dict[str, str], app: Path) -> None:
    (app / "strict.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  kinds: StatefulSet\n  strict: 'true'\n"
    )
    assert_failed(
        cmp_generate(app, cmp_env(env, KRMFN_CONFIG="strict.yaml")),
        re.escape("[error] llm-d.ai/v1alpha1/ModelService/qwen: no workload found for decode:")
        + ".*",
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ARGOCD_ENV_KRMFN_MODE": "helm"}, "unknown mode 'helm'; use auto, kustomize or manifests"),
        ({"PARAM_CONFIG": "/etc/passwd"}, "config must be a path inside the application, not '/etc/passwd'"),
        ({"PARAM_CONFIG": "../x.yaml"}, "config must be a path inside the application, not '../x.yaml'"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused(
    env: dict[str, str], settings: dict[str, str], message: str
) -> None:
    assert_failed(
        cmp_generate(ARGOCD_APP, {**cmp_env(env), **settings}),
        re.escape(f"krmfn plugin: {message}"),
    )


def test_empty_application_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("no manifests here\n")
    assert_failed(
        cmp_generate(empty, cmp_env(env)),
        re.escape("krmfn plugin: the result is empty; refusing to hand Argo CD nothing"),
    )


KUSTOMIZE_CALL = "build --enable-alpha-plugins --enable-exec ."


def test_kustomize_mode_without_kustomize_fails_clearly(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"
    assert shutil.which("kustomize", path=path) is None
    assert_failed(
        cmp_generate(KUSTOMIZE_EXAMPLE, {**cmp_env(env), "PATH": path}),
        re.escape("krmfn plugin: mode kustomize needs the kustomize binary in the sidecar image"),
    )


def test_kustomize_mode_prints_the_build(env: dict[str, str], tmp_path: Path) -> None:
    """No standalone kustomize is installable here. This stand-in checks the call and
    builds with kubectl kustomize; kustomization-example/ runs krmfn through the
    container variant (and the docker stand-in), which kubectl kustomize does run."""
    bin_dir = tmp_path / "kustomize-bin"
    stand_in(
        bin_dir,
        "kustomize",
        f'[ "$*" = "{KUSTOMIZE_CALL}" ] || {{ echo "kustomize: unexpected $*" >&2; exit 2; }}\n'
        "exec kubectl kustomize --enable-alpha-plugins .",
    )
    generated = cmp_generate(KUSTOMIZE_EXAMPLE, with_path(cmp_env(env), bin_dir))
    assert (generated.status, generated.stderr) == (0, b"")
    assert generated.stdout == KUSTOMIZE_EXPECTED.read_bytes()
    assert generated.stdout == kustomize_build(KUSTOMIZE_EXAMPLE, env).stdout


@pytest.mark.parametrize(
    ("script", "stderr"),
    [
        # output already written when the build fails: none of it may reach Argo CD
        ("echo 'apiVersion: v1'; echo 'kind: ConfigMap'; echo boom >&2; exit 1", "boom"),
        ("exit 0", "krmfn plugin: the result is empty; refusing to hand Argo CD nothing"),
    ],
)
def test_kustomize_failure_or_empty_build_gives_no_output(
    env: dict[str, str], tmp_path: Path, script: str, stderr: str
) -> None:
    bin_dir = tmp_path / "kustomize-bin"
    stand_in(bin_dir, "kustomize", script)
    assert_failed(
        cmp_generate(KUSTOMIZE_EXAMPLE, with_path(cmp_env(env), bin_dir)), re.escape(stderr)
    )


def test_sidecar_patch_mounts_the_plugin_and_runs_the_cmp_server(tmp_path: Path) -> None:
    """Apply the patch the way kustomize (and kubectl patch) merge it, onto the volumes
    the stock argocd-repo-server already has."""
    (tmp_path / "repo-server.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: argocd-repo-server\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: argocd-repo-server\n"
        "          image: quay.io/argoproj/argocd:v3.0.0\n      volumes:\n"
        "        - name: var-files\n          emptyDir: {}\n"
        "        - name: plugins\n          emptyDir: {}\n"
    )
    shutil.copy(ROOT / "integrations" / "argocd" / "repo-server-patch.yaml", tmp_path)
    integration = os.path.relpath(ARGOCD_PLUGIN.parent, tmp_path)  # kustomize wants relative
    (tmp_path / "kustomization.yaml").write_text(
        f"namespace: argocd\nresources:\n  - repo-server.yaml\n  - {integration}\n"
        "patches:\n  - path: repo-server-patch.yaml\n"
    )
    built = kustomize_build(tmp_path, dict(os.environ))
    assert (built.status, built.stderr) == (0, b""), built.stderr
    config_map, deployment = yaml.safe_load_all(built.stdout)
    assert config_map["metadata"] == {"name": "krmfn-cmp-plugin", "namespace": "argocd"}
    assert config_map["data"] == {"plugin.yaml": ARGOCD_PLUGIN.read_text()}
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert sorted(containers) == ["argocd-repo-server", "krmfn"]
    sidecar = containers["krmfn"]
    assert sidecar["image"] == IMAGE
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"] == {"runAsNonRoot": True, "runAsUser": 999}
    mounts = {m["mountPath"]: (m["name"], m.get("subPath")) for m in sidecar["volumeMounts"]}
    assert mounts == {
        "/var/run/argocd": ("var-files", None),
        "/home/argocd/cmp-server/plugins": ("plugins", None),
        "/home/argocd/cmp-server/config/plugin.yaml": ("krmfn-cmp-plugin", "plugin.yaml"),
        "/tmp": ("krmfn-cmp-tmp", None),
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert sorted(volumes) == ["krmfn-cmp-plugin", "krmfn-cmp-tmp", "plugins", "var-files"]
    assert volumes["krmfn-cmp-plugin"]["configMap"] == {"name": "krmfn-cmp-plugin"}
