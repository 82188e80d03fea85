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

from tests.golden import fixture_input
from tests.orchestrators import (
    ARGOCD_APP,
    ARGOCD_DOCKER,
    ARGOCD_EXPECTED,
    ARGOCD_IMAGE,
    ARGOCD_PLUGIN,
    IMAGE,
    KUSTOMIZE_EXAMPLE,
    KUSTOMIZE_EXPECTED,
    KUSTOMIZE_FLAGS,
    ROOT,
    Outcome,
    cmp_env,
    cmp_generate,
    generate_command,
    kustomize_build,
    run,
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


def test_kustomize_mode_without_kubectl_fails_clearly(env: dict[str, str], tmp_path: Path) -> None:
    """Only what the command runs before it looks for kubectl: bash, mktemp, rm (the trap)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("bash", "mktemp", "rm"):
        found = shutil.which(name)
        assert found is not None
        (tools / name).symlink_to(found)
    assert shutil.which("kubectl", path=str(tools)) is None
    assert_failed(
        cmp_generate(KUSTOMIZE_EXAMPLE, {**cmp_env(env), "PATH": str(tools)}),
        re.escape(
            "krmfn plugin: mode kustomize needs kubectl and the docker stand-in of the sidecar"
            " image ghcr.io/llm-d-incubation/krmfn-argocd"
        ),
    )


@pytest.mark.needs("kubectl")
def test_kustomize_mode_prints_the_build(env: dict[str, str]) -> None:
    """kubectl kustomize --enable-alpha-plugins runs the transformer that names krmfn's
    image through `docker`: here the test stand-in, in the sidecar image its own (see
    test_argocd_image.py, which runs this very command there)."""
    generated = cmp_generate(KUSTOMIZE_EXAMPLE, cmp_env(env))
    assert (generated.status, generated.stderr) == (0, b"")
    assert generated.stdout == KUSTOMIZE_EXPECTED.read_bytes()
    assert generated.stdout == kustomize_build(KUSTOMIZE_EXAMPLE, env).stdout


@pytest.mark.needs("kubectl")
def test_kustomize_mode_function_error_gives_no_output(env: dict[str, str], tmp_path: Path) -> None:
    example = Path(shutil.copytree(KUSTOMIZE_EXAMPLE, tmp_path / "example"))
    modelservice = example / "workloads" / "modelservice.yaml"
    modelservice.write_text(modelservice.read_text().replace("uri: hf://", "uri: HF://"))
    assert_failed(
        cmp_generate(example, cmp_env(env)),
        uri_error("llm-d/opt", "HF://facebook/opt-125m"),
        r"E\d{4} [0-9:.]+ +\d+ run\.go:\d+\] "
        + re.escape('"command failed" err="couldn\'t execute function: exit status 1 "'),
    )


NEVER_RAN = (
    "krmfn plugin: the kustomization never ran krmfn; name its image in a container: function"
    " under transformers: (kubectl kustomize skips exec: functions without a word)"
)


@pytest.mark.needs("kubectl")
@pytest.mark.parametrize(
    "app",
    [KUSTOMIZE_EXAMPLE / "exec", KUSTOMIZE_EXAMPLE / "workloads"],
    ids=["exec-transformer", "no-transformer"],
)
def test_kustomize_mode_refuses_a_build_that_never_ran_krmfn(
    env: dict[str, str], app: Path
) -> None:
    """kubectl kustomize builds both without error, leaving the workloads unchanged."""
    assert kustomize_build(app, env).status == 0
    assert_failed(cmp_generate(app, cmp_env(env)), re.escape(NEVER_RAN))


@pytest.mark.parametrize(
    ("script", "stderr"),
    [
        # output already written when the build fails: none of it may reach Argo CD
        ("echo 'apiVersion: v1'; echo 'kind: ConfigMap'; echo boom >&2; exit 1", "boom"),
        (
            f'echo {IMAGE} >>"$KRMFN_ARGOCD_RUNS"',
            "krmfn plugin: the result is empty; refusing to hand Argo CD nothing",
        ),
    ],
    ids=["failed", "empty"],
)
def test_kustomize_failure_or_empty_build_gives_no_output(
    env: dict[str, str], tmp_path: Path, script: str, stderr: str
) -> None:
    bin_dir = tmp_path / "kubectl-bin"
    stand_in(bin_dir, "kubectl", script)
    assert_failed(
        cmp_generate(KUSTOMIZE_EXAMPLE, with_path(cmp_env(env), bin_dir)), re.escape(stderr)
    )


def sidecar_docker(args: list[str], env: dict[str, str], data: bytes = b"") -> Outcome:
    return run([str(ARGOCD_DOCKER), *args], env, data=data)


REPOSITORY = IMAGE.rpartition(":")[0]


@pytest.mark.parametrize(
    ("case", "tag"),
    [("hf-basic", "v0.1.0"), ("hf-basic", "v0.1"), ("hf-basic", "v0"), ("errors", "v0.1.0")],
)
def test_sidecar_docker_runs_krmfn_for_its_own_image(
    env: dict[str, str], tmp_path: Path, case: str, tag: str
) -> None:
    """The sidecar's `docker` (integrations/argocd/docker) runs the krmfn on PATH, here
    this checkout, for krmfn's image at that krmfn's version or its moving tags, and
    records the run for the plugin."""
    runs = tmp_path / "runs"
    fixture = ROOT / "fixtures" / case
    ran = sidecar_docker(
        [*KUSTOMIZE_FLAGS, f"{REPOSITORY}:{tag}"],
        {**env, "KRMFN_ARGOCD_RUNS": str(runs)},
        fixture_input(fixture),
    )
    expected = fixture / "expected.yaml"
    assert (ran.stdout, ran.stderr.decode() + f"exit status: {ran.status}\n") == (
        expected.read_bytes(),
        (fixture / "expected.txt").read_text(),
    )
    assert runs.read_text() == f"{REPOSITORY}:{tag}\n"


def not_krmfn(image: str) -> str:
    return f"refusing to run {image}: this sidecar runs only krmfn v0.1.0 ({IMAGE}, :v0.1 or :v0)"


def other_krmfn(image: str) -> str:
    return (
        f"this sidecar runs krmfn v0.1.0, not {image}: name {IMAGE},"
        " or use the sidecar image of the version you need"
    )


def unexpected(args: list[str]) -> str:
    return (
        f"unexpected call 'docker {' '.join(args)}';"
        " only kustomize's 'docker run ... IMAGE' of a container function is run here"
    )


BRIDGED = [*KUSTOMIZE_FLAGS[:9], "bridge", *KUSTOMIZE_FLAGS[10:], IMAGE]
DIGEST = f"{REPOSITORY}@sha256:{'0' * 64}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        *(
            ([*KUSTOMIZE_FLAGS, image], not_krmfn(image))
            for image in ("docker.io/library/busybox:1.36", ARGOCD_IMAGE)
        ),
        *(
            ([*KUSTOMIZE_FLAGS, image], other_krmfn(image))
            for image in (f"{REPOSITORY}:v0.2.0", f"{REPOSITORY}:v0.10", f"{REPOSITORY}:latest", DIGEST)
        ),
        *((args, unexpected(args)) for args in (
            ["version"], [*KUSTOMIZE_FLAGS, IMAGE, "--stream"], BRIDGED, KUSTOMIZE_FLAGS,
        )),
    ],
    ids=[
        "other-image", "sidecar-image", "other-version", "other-minor", "latest", "digest",
        "version-command", "extra-argument", "network", "no-image",
    ],
)  # fmt: skip
def test_sidecar_docker_refuses_anything_else(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    runs = tmp_path / "runs"
    refused = sidecar_docker(args, {**env, "KRMFN_ARGOCD_RUNS": str(runs)}, b"kind: ResourceList\n")
    assert (refused.status, refused.stdout, refused.stderr.decode()) == (
        125,
        b"",
        f"docker (krmfn sidecar): {message}\n",
    )
    assert not runs.exists()


@pytest.mark.needs("kubectl")
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
    assert sidecar["image"] == ARGOCD_IMAGE
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
