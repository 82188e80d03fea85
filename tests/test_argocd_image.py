"""The Argo CD sidecar image (`bash scripts/build-image.sh` builds it as
localhost/krmfn-argocd:dev), running the plugin's generate command the way
argocd-cmp-server does: `bash -c SCRIPT` from integrations/argocd/plugin.yaml in the
application's folder, as user 999, with the app's env, on a read-only root whose only
writable path is /tmp (the sidecar's emptyDir), and here with no network and a HOME that
does not exist either. The repository is mounted read-only, which is stricter than the
CMP's own copy of it.

What the sidecar prints must be what `kubectl kustomize --enable-alpha-plugins` prints on
a laptop, where `docker` runs the function image (the host's kubectl with the test
stand-in here). Without podman or the images these tests skip, except under CI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.orchestrators import (
    ARGOCD_DOCKER,
    ARGOCD_IMAGE,
    IMAGE,
    KUSTOMIZE_EXAMPLE,
    KUSTOMIZE_EXAMPLES,
    ROOT,
    Outcome,
    cmp_env,
    generate_command,
    kustomize_build,
    tool_env,
)
from tests.test_argocd import NEVER_RAN, REPOSITORY, not_krmfn, other_krmfn
from tests.test_container import DEV_IMAGE, SIZE_LIMIT, built, podman

pytestmark = pytest.mark.container

ARGOCD_DEV_IMAGE = "localhost/krmfn-argocd:dev"
# Kustomizations the sidecar must build as a laptop does, each beside its expected.yaml.
APPS = KUSTOMIZE_EXAMPLES
# The sidecar is the function image plus kubectl (61.9 MB for kubectl 1.37.1), its
# license and the docker stand-in.
KUBECTL_MARGIN = 63_000_000
# What kubectl kustomize prints when a function exits non-zero (Kustomize v5.8.1).
FUNCTION_FAILED = "error: couldn't execute function: exit status 125 "


@pytest.fixture(scope="module")
def sidecar() -> str:
    return built(ARGOCD_DEV_IMAGE, ARGOCD_IMAGE)


def cmp_generate_in(image: str, repository: Path, app: Path, cmp_tmp: Path) -> Outcome:
    """The generate command in the sidecar, in `app` of `repository`, with `cmp_tmp` as
    its /tmp: a volume like the emptyDir, so a test can see what a run leaves there."""
    cmp_tmp.mkdir()
    cmp_tmp.chmod(0o1777)
    env = [f"--env={name}={value}" for name, value in cmp_env({}).items()]
    return podman(
        "run", "--rm", "--network", "none", "--user", "999",
        "--read-only", "--read-only-tmpfs=false", "--security-opt=no-new-privileges",
        "--volume", f"{repository}:/repo:ro", "--volume", f"{cmp_tmp}:/tmp",
        "--workdir", f"/repo/{app.relative_to(repository)}", "--env=HOME=/nonexistent", *env,
        image, *generate_command(),
    )  # fmt: skip


def laptop_build(app: Path, tmp_path: Path) -> bytes:
    built = kustomize_build(app, tool_env(tmp_path / "bin"))
    assert (built.status, built.stderr) == (0, b""), built.stderr.decode()
    return built.stdout


@pytest.mark.needs("kubectl")
@pytest.mark.parametrize("app", APPS, ids=lambda app: app.relative_to(ROOT).as_posix())
def test_generate_in_the_sidecar_prints_what_kubectl_kustomize_prints(
    sidecar: str, tmp_path: Path, app: Path
) -> None:
    generated = cmp_generate_in(sidecar, ROOT, app, tmp_path / "cmp-tmp")
    assert (generated.status, generated.stderr.decode()) == (0, "")
    assert generated.stdout == laptop_build(app, tmp_path)
    assert generated.stdout == (app / "expected.yaml").read_bytes()
    assert list((tmp_path / "cmp-tmp").iterdir()) == []


def example_naming(image: str, tmp_path: Path) -> Path:
    """A copy of kustomization-example/ whose transformer names `image`."""
    example = Path(shutil.copytree(KUSTOMIZE_EXAMPLE, tmp_path / "example"))
    config = example / "krmfn.yaml"
    config.write_text(config.read_text().replace(IMAGE, image))
    return example


@pytest.mark.parametrize("tag", ["v0.1", "v0"])
def test_the_sidecar_runs_the_moving_tags_of_its_krmfn(
    sidecar: str, tmp_path: Path, tag: str
) -> None:
    example = example_naming(f"{REPOSITORY}:{tag}", tmp_path)
    generated = cmp_generate_in(sidecar, example, example, tmp_path / "cmp-tmp")
    assert (generated.status, generated.stderr.decode()) == (0, "")
    assert generated.stdout == (KUSTOMIZE_EXAMPLE / "expected.yaml").read_bytes()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("docker.io/library/busybox:1.36", not_krmfn("docker.io/library/busybox:1.36")),
        (f"{REPOSITORY}:v0.2.0", other_krmfn(f"{REPOSITORY}:v0.2.0")),
    ],
    ids=["other-image", "other-version"],
)
def test_the_sidecar_refuses_any_other_image(
    sidecar: str, tmp_path: Path, image: str, message: str
) -> None:
    example = example_naming(image, tmp_path)
    generated = cmp_generate_in(sidecar, example, example, tmp_path / "cmp-tmp")
    assert (generated.status, generated.stdout) == (1, b"")
    assert generated.stderr.decode().splitlines() == [
        f"docker (krmfn sidecar): {message}",
        FUNCTION_FAILED,
    ]


def test_the_sidecar_refuses_an_exec_transformer(sidecar: str, tmp_path: Path) -> None:
    generated = cmp_generate_in(sidecar, ROOT, KUSTOMIZE_EXAMPLE / "exec", tmp_path / "cmp-tmp")
    assert (generated.status, generated.stdout, generated.stderr.decode()) == (
        1,
        b"",
        NEVER_RAN + "\n",
    )


def size(image: str) -> int:
    inspected = podman("image", "inspect", "--format", "{{.Size}}", image)
    assert inspected.status == 0
    return int(inspected.stdout)


def test_sidecar_image_config_tools_and_size(sidecar: str) -> None:
    function = built(DEV_IMAGE, IMAGE)
    inspected = podman("image", "inspect", sidecar)
    assert inspected.status == 0
    (details,) = json.loads(inspected.stdout)
    config = details["Config"]
    assert config["User"] == "999:999"
    assert config.get("Entrypoint") is None  # the pod's command is argocd-cmp-server
    assert {"PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8"} <= set(config["Env"])

    tools = podman(
        "run", "--rm", "--network", "none", "--read-only", sidecar, "sh", "-c",
        "for t in kubectl docker krmfn; do command -v $t; done; kubectl version --client;"
        " cat /usr/local/bin/docker",
    )  # fmt: skip
    assert (tools.status, tools.stderr) == (0, b"")
    assert tools.stdout.decode() == (
        "/usr/local/bin/kubectl\n/usr/local/bin/docker\n/opt/krmfn/bin/krmfn\n"
        "Client Version: v1.37.1\nKustomize Version: v5.8.1\n" + ARGOCD_DOCKER.read_text()
    ), "the image differs from this checkout: rebuild it with bash scripts/build-image.sh"
    # the function image that kustomize and kpt pull stays without either
    bare = podman(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", function, "-c",
        "for t in kubectl docker; do command -v $t || echo no $t; done",
    )  # fmt: skip
    assert (bare.status, bare.stdout, bare.stderr) == (0, b"no kubectl\nno docker\n", b"")

    sizes = f"sidecar {size(sidecar)} bytes, function image {size(function)} bytes"
    assert size(function) < SIZE_LIMIT, sizes
    assert size(sidecar) - size(function) < KUBECTL_MARGIN, sizes
