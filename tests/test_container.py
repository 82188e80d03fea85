"""The real container image (built by `bash scripts/build-image.sh`), run by podman the way
orchestrators run it: directly, by `kubectl kustomize` through a `docker` that is podman,
and by `kpt fn render` with KPT_FN_RUNTIME=podman.

Without podman, kpt, kubectl or the image these tests skip, saying what to install or
build, except under CI (the CI variable set), where they fail: .ci/run installs podman
and builds the images first (tests.orchestrators.unavailable).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.golden import ROOT, cases, fixture_input, is_stream, run_case
from tests.orchestrators import (
    GUIDE_EXAMPLES,
    IMAGE,
    KPT_EXPECTED,
    KPT_PACKAGE,
    KUSTOMIZE_EXAMPLE,
    KUSTOMIZE_EXPECTED,
    KUSTOMIZE_FLAGS,
    Outcome,
    copy_package,
    package_files,
    require,
    run,
    unavailable,
)

pytestmark = pytest.mark.container

DEV_IMAGE = "localhost/krmfn:dev"
CONTAINERS_CONF = ROOT / "tests" / "container" / "containers.conf"
DOCKER_PODMAN = ROOT / "tests" / "standins" / "docker-podman"
# As kustomize and kpt run a function (no network, nobody, no privilege gain), with a
# read-only root on top and, as with docker's --read-only, no writable /tmp or /run
# either: a function must not need to write anywhere.
READ_ONLY = ["--read-only", "--read-only-tmpfs=false"]
RUN = [
    "run", "--rm", "-i", "--network", "none", "--user", "nobody", *READ_ONLY,
    "--security-opt=no-new-privileges",
]  # fmt: skip
KUSTOMIZE_RUN = [*KUSTOMIZE_FLAGS, IMAGE]
# kpt 1.0.0-beta.56 asks for podman's version, then runs the function once.
KPT_CALLS = [
    "version",
    f"run --rm -i --network none --user nobody --security-opt=no-new-privileges --pull never {IMAGE}",
]
CONFIG_IN_CONTAINER = "/etc/krmfn/config.yaml"
SIZE_LIMIT = 150_000_000


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args: str, data: bytes = b"") -> Outcome:
    return run(["podman", *args], podman_env(), data=data)


def built(dev: str, release: str) -> str:
    """A freshly built image; the release tag the examples name must be the same one."""
    require("podman")
    ids = {}
    for name in (dev, release):
        found = podman("image", "inspect", "--format", "{{.Id}}", name)
        if found.status != 0:
            unavailable(f"no image {name}: bash scripts/build-image.sh")
        ids[name] = found.stdout.strip()
    assert ids[dev] == ids[release], "stale tag: rerun bash scripts/build-image.sh"
    return dev


@pytest.fixture(scope="module")
def image() -> str:
    return built(DEV_IMAGE, IMAGE)


def tool_env(bin_dir: Path, log: Path, orchestrator: str) -> dict[str, str]:
    """PATH with the orchestrator (kpt or kubectl), podman and `docker` (the podman
    stand-in) but no krmfn, so nothing but the image can have rewritten the output."""
    bin_dir.mkdir()
    real_podman = require("podman")
    (bin_dir / orchestrator).symlink_to(require(orchestrator))
    (bin_dir / "docker").symlink_to(DOCKER_PODMAN)
    (bin_dir / "podman").symlink_to(DOCKER_PODMAN)
    system = [d for d in os.defpath.split(os.pathsep) + ["/usr/sbin", "/sbin"] if d]
    env = podman_env()
    env.update(
        PATH=os.pathsep.join([str(bin_dir), *(d for d in system if not Path(d, "krmfn").exists())]),
        KRMFN_PODMAN=real_podman,
        KRMFN_DOCKER_LOG=str(log),
    )
    assert shutil.which("krmfn", path=env["PATH"]) is None
    return env


def container_args(case: Path) -> tuple[list[str], list[str]]:
    """podman options and krmfn arguments for a golden case, as tests.golden.command
    runs it locally: stream cases read their config from a file, mounted read-only."""
    if not is_stream(case):
        return [], []
    args = ["--stream"]
    mounts: list[str] = []
    if (case / "config.yaml").is_file():
        mounts = ["--volume", f"{case / 'config.yaml'}:{CONFIG_IN_CONTAINER}:ro"]
        args += ["--config", CONFIG_IN_CONTAINER]
    return mounts, args


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_image_gives_the_local_cli_bytes_on_every_golden_case(image: str, case: Path) -> None:
    data = (case / "input.yaml").read_bytes() if is_stream(case) else fixture_input(case)
    local = run_case(case, data)
    mounts, args = container_args(case)
    contained = podman(*RUN, *mounts, image, *args, data=data)
    assert (contained.status, contained.stderr.decode(), contained.stdout.decode()) == (
        local.status,
        local.stderr.decode(),
        local.stdout.decode(),
    ), "the image differs from this checkout: rebuild it with bash scripts/build-image.sh"


PROBE = """
import json, os, shutil, socket, sys, yaml
def writable(path):
    try:
        open(os.path.join(path, "krmfn-probe"), "w").close()
    except OSError as exc:
        return os.strerror(exc.errno)
    return "writable"
with open("/proc/net/dev") as dev:
    interfaces = sorted(line.split(":")[0].strip() for line in dev.readlines()[2:])
try:
    socket.create_connection(("192.0.2.1", 443), timeout=2)
    connect = "connected"
except OSError as exc:
    connect = os.strerror(exc.errno) if exc.errno else type(exc).__name__
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "libyaml": yaml.__with_libyaml__,
    "root": writable("/"), "tmp": writable("/tmp"), "home": writable(os.environ["HOME"]),
    "interfaces": interfaces, "connect": connect,
    "python": sys.executable, "version": list(sys.version_info[:2]),
    "dontwritebytecode": sys.dont_write_bytecode,
    "tools": {t: shutil.which(t) for t in ("pip", "pip3", "gcc", "cc", "apt-get")},
}))
"""


def test_image_runs_as_nobody_read_only_without_network_with_libyaml(image: str) -> None:
    # No --user here: the image itself must say nobody.
    probe = podman(
        "run", "--rm", "--network", "none", *READ_ONLY, "--security-opt=no-new-privileges",
        "--entrypoint", "python3", image, "-c", PROBE,
    )  # fmt: skip
    assert (probe.status, probe.stderr) == (0, b"")
    assert json.loads(probe.stdout) == {
        "uid": 65534,
        "gid": 65534,
        "libyaml": True,
        "root": "Read-only file system",
        "tmp": "Read-only file system",
        "home": "No such file or directory",
        "interfaces": ["lo"],
        "connect": "Network is unreachable",
        "python": "/opt/krmfn/bin/python3",
        "version": [3, 11],
        "dontwritebytecode": True,
        # apt stays for debugging a running image; no pip, no compiler
        "tools": {
            "pip": None,
            "pip3": None,
            "gcc": None,
            "cc": None,
            "apt-get": "/usr/bin/apt-get",
        },
    }


def test_version_and_image_config(image: str) -> None:
    version = podman(*RUN, image, "--version")
    # The checkout's version, whether or not a krmfn is installed on PATH.
    local = run([sys.executable, "-m", "krmfn", "--version"], podman_env())
    assert (version.status, version.stdout, version.stderr) == (0, local.stdout, b"")
    assert version.stdout.startswith(b"krmfn ")
    inspected = podman("image", "inspect", image)
    assert inspected.status == 0
    (details,) = json.loads(inspected.stdout)
    config = details["Config"]
    assert config["Entrypoint"] == ["krmfn"]
    assert config["User"] == "65534:65534"
    assert {"PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8"} <= set(config["Env"])
    assert details["Size"] < SIZE_LIMIT, f"image is {details['Size']} bytes"


@pytest.mark.needs("kubectl")
def test_kubectl_kustomize_runs_the_image_through_docker(image: str, tmp_path: Path) -> None:
    log = tmp_path / "docker.log"
    env = tool_env(tmp_path / "bin", log, "kubectl")
    built = run(["kubectl", "kustomize", "--enable-alpha-plugins", str(KUSTOMIZE_EXAMPLE)], env)
    assert (built.status, built.stderr.decode()) == (0, "")
    assert built.stdout == KUSTOMIZE_EXPECTED.read_bytes()
    assert log.read_text().splitlines() == [" ".join(KUSTOMIZE_RUN)]
    docs = list(yaml.safe_load_all(built.stdout))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "opt-decode"),
        ("Deployment", "opt-prefill"),
    ]


@pytest.mark.needs("kubectl")
@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.name)
def test_kubectl_kustomize_builds_the_guide_overlays_with_the_image(
    image: str, tmp_path: Path, example: Path
) -> None:
    log = tmp_path / "docker.log"
    env = tool_env(tmp_path / "bin", log, "kubectl")
    built = run(["kubectl", "kustomize", "--enable-alpha-plugins", str(example)], env)
    assert (built.status, built.stderr.decode()) == (0, "")
    assert built.stdout == (example / "expected.yaml").read_bytes()
    assert log.read_text().splitlines() == [" ".join(KUSTOMIZE_RUN)]


README = ROOT / "README.md"


@pytest.mark.needs("kubectl")
def test_the_readme_builds_the_guide_overlay_with_podman_as_docker(
    image: str, tmp_path: Path
) -> None:
    """The README's quick start for kustomize, word for word, on a machine with podman
    and no docker: podman linked as `docker` (here into a folder of our own, not
    /usr/local/bin), CONTAINERS_CONF as the README says for a sandbox like this one."""
    readme = README.read_text()
    build = "kubectl kustomize --enable-alpha-plugins kustomization-example/llm-d-guide/"
    link = 'ln -s "$(command -v podman)" /usr/local/bin/docker'
    conf = "export CONTAINERS_CONF=$PWD/tests/container/containers.conf"
    for command in ("bash scripts/build-image.sh", build, link, conf):
        assert command in readme, command
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(require("podman"))
    (bin_dir / "kubectl").symlink_to(require("kubectl"))
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_CONF"}
    system = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    env.update(PATH=os.pathsep.join([str(bin_dir), *system]), PWD=str(ROOT))
    env["CONTAINERS_CONF"] = conf.split("=", 1)[1].replace("$PWD", str(ROOT))
    assert shutil.which("docker", path=env["PATH"]) == str(bin_dir / "docker")
    assert shutil.which("krmfn", path=env["PATH"]) is None
    built = run(build.split(), env)
    assert (built.status, built.stderr.decode()) == (0, "")
    assert built.stdout == (GUIDE_EXAMPLES[0] / "expected.yaml").read_bytes()


def image_pipeline(package: Path) -> bytes:
    """Switch the package's exec mutator to the image, keeping its config."""
    kptfile = package / "Kptfile"
    document = yaml.safe_load(kptfile.read_text())
    (mutator,) = document["pipeline"]["mutators"]
    assert mutator["exec"] == "krmfn"
    document["pipeline"]["mutators"] = [{"image": IMAGE, "configPath": mutator["configPath"]}]
    kptfile.write_text(yaml.safe_dump(document, sort_keys=False))
    return kptfile.read_bytes()


@pytest.mark.needs("kpt")
def test_kpt_render_runs_the_image_and_a_second_render_changes_nothing(
    image: str, tmp_path: Path
) -> None:
    log = tmp_path / "podman.log"
    env = tool_env(tmp_path / "bin", log, "kpt")
    env["KPT_FN_RUNTIME"] = "podman"
    package = copy_package(KPT_PACKAGE, tmp_path / "kpt-package")
    kptfile = image_pipeline(package)
    render = ["kpt", "fn", "render", "--image-pull-policy", "never", str(package)]

    first = run(render, env)
    assert first.status == 0, first.stderr.decode()
    rendered = package_files(package)
    expected = package_files(KPT_EXPECTED)
    assert rendered.pop("Kptfile") == kptfile
    expected.pop("Kptfile")
    assert rendered == expected
    assert log.read_text().splitlines() == KPT_CALLS

    second = run(render, env)
    assert second.status == 0, second.stderr.decode()
    assert package_files(package) == {**expected, "Kptfile": kptfile}
    assert log.read_text().splitlines() == KPT_CALLS * 2


@pytest.mark.needs("hadolint")
def test_dockerfile_passes_hadolint() -> None:
    linted = run(["hadolint", str(ROOT / "Dockerfile")], dict(os.environ))
    assert (linted.status, linted.stdout, linted.stderr) == (0, b"", b"")
