"""hf://, pvc://, pvc+hf:// and oci:// rendered by krmfn and run: each on a Deployment, a
LeaderWorkerSet, a DisaggregatedSet, a Grove PodCliqueSet, a shell-launched container and
wide-ep's DisaggregatedSet of shell-launched groups, loaded by the `vllm` stand-in with huggingface_hub from the hub stand-in, or from the folders the pods mount."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrators import require
from tests.runtime.conftest import GATED, HUB_ENDPOINT, LLAMA, PINNED, TINY, TOKEN, digests
from tests.runtime.pods import Cluster, PodFailed
from tests.runtime.render import Rendered, modelservice, render
from tests.runtime.runs import (
    blobs,
    files_under,
    model_args,
    report,
    run_workload,
    volume,
)
from tests.runtime.standins.hub import Hub
from tests.runtime.workloads import SHELL_KINDS, pods, roles, workload

CONFIG = {"hfEndpoint": HUB_ENDPOINT}
HUB_MODEL = "{{ .HFModelName }}"
FOLDER_MODEL = "{{ .MountedModelPath }}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weights_blob(files: dict[str, bytes]) -> str:
    return sha256(files["model.safetensors"])


def rendered_workload(rendered: Rendered) -> dict[str, Any]:
    return next(i for i in rendered.items if i["kind"] not in ("ModelService", "Job"))


def hf(kind: str, uri: str, model: str = HUB_MODEL, **artifacts: Any) -> Rendered:
    ms = modelservice(uri, roles(kind), model_args(kind, model), **artifacts)
    return render(ms, workload(kind, model), config=CONFIG)


def test_hf_downloads_into_the_model_volume(cluster: Cluster, kind: str) -> None:
    rendered = hf(kind, "hf://test/tiny")
    for name, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["tensors"] == digests(TINY[2])
        assert loaded["files"] == [
            f"/model-cache/hub/models--test--tiny/blobs/{weights_blob(TINY[2])}"
        ]
        assert weights_blob(TINY[2]) in blobs(volume(cluster, name, "model-storage"))


def test_hf_gated_repo_loads_with_the_token(cluster: Cluster, hub: Hub, kind: str) -> None:
    cluster.secrets["hf-token"] = {"HF_TOKEN": TOKEN}
    since = len(hub.requests)
    rendered = hf(kind, "hf://test/gated", authSecretName="hf-token")
    for _, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["tensors"] == digests(GATED)
    asked = [r for r in hub.requests[since:] if "test/gated" in r.path]
    assert asked
    assert {r.authorization for r in asked} == {f"Bearer {TOKEN}"}


def test_hf_gated_repo_pod_does_not_start_without_its_secret(cluster: Cluster) -> None:
    rendered = hf("Deployment", "hf://test/gated", authSecretName="hf-token")
    name, spec, extra = pods(rendered_workload(rendered))[0]
    with pytest.raises(PodFailed) as failed:
        cluster.run(name, spec, extra)
    assert str(failed.value) == 'CreateContainerConfigError: secret "hf-token" not found'


def test_hf_pinned_revision_loads_that_revision(cluster: Cluster, kind: str) -> None:
    # A script passes the revision itself: krmfn does not edit scripts (and says so).
    model = f"{HUB_MODEL} --revision {{{{ .Revision }}}}" if kind in SHELL_KINDS else HUB_MODEL
    rendered = hf(kind, f"hf://test/tiny@{PINNED}", model)
    assert rendered.messages("warning") == []
    for _, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["options"]["--revision"] == PINNED
        assert loaded["tensors"] == digests(TINY[1])
        assert loaded["tensors"] != digests(TINY[2])


def test_hf_workload_cache_follows_the_model_volume(cluster: Cluster, kind: str) -> None:
    """llm-d's wide-ep guide gives the hub its own cache (HF_HUB_CACHE on an emptyDir of
    its own): the weights must still land in the volume krmfn made and sized."""
    own = workload(
        kind,
        HUB_MODEL,
        env=[{"name": "HF_HUB_CACHE", "value": "/var/cache/huggingface"}],
        mounts=[{"name": "hf-cache", "mountPath": "/var/cache/huggingface"}],
        volumes=[{"name": "hf-cache", "emptyDir": {}}],
    )
    ms = modelservice("hf://test/tiny", roles(kind), model_args(kind, HUB_MODEL), size="2Gi")
    rendered = render(ms, own, config=CONFIG)
    for name, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["tensors"] == digests(TINY[2])
        assert weights_blob(TINY[2]) in blobs(volume(cluster, name, "model-storage"))
        assert files_under(volume(cluster, name, "hf-cache")) == {}


def put_model(folder: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under a folder with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_pvc_model_is_read_from_a_read_only_claim(cluster: Cluster, kind: str) -> None:
    claim = cluster.claim("models")
    put_model(claim / "tiny", TINY[1])
    before = snapshot(claim)
    ms = modelservice("pvc://models/tiny", roles(kind), model_args(kind, FOLDER_MODEL))
    rendered = render(ms, workload(kind, FOLDER_MODEL))
    for _, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["model"] == "/model-cache/tiny"
        assert loaded["tensors"] == digests(TINY[1])
        assert loaded["read_only"] == {"/model-cache/tiny/model.safetensors": True}
    assert snapshot(claim) == before


def test_pvc_hf_cache_is_shared_between_replicas(cluster: Cluster, hub: Hub, kind: str) -> None:
    ms = modelservice("pvc+hf://hub-cache/hub/test/tiny", roles(kind), model_args(kind, HUB_MODEL))
    rendered = render(ms, workload(kind, HUB_MODEL), config=CONFIG)
    item = rendered_workload(rendered)
    runs = pods(item, replicas=2)
    served = []
    for name, spec, extra in runs:
        before = hub.bytes_served()
        loaded = report(cluster.run(name, spec, extra))
        served.append(hub.bytes_served() - before)
        assert loaded["tensors"] == digests(TINY[2])
        assert loaded["files"] == [
            f"/model-cache/hub/models--test--tiny/blobs/{weights_blob(TINY[2])}"
        ]
    # The first pod downloads; the others find the weights on the claim.
    assert served[0] >= len(TINY[2]["model.safetensors"])
    assert served[1:] == [0] * (len(runs) - 1)
    assert blobs(cluster.claim("hub-cache")) >= {weights_blob(TINY[2])}


def prefetch(kind: str, repo: str, **artifacts: Any) -> Rendered:
    ms = modelservice(
        f"pvc+hf://hub-cache/hub/{repo}",
        roles(kind),
        model_args(kind, HUB_MODEL),
        prefetch=True,
        authSecretName="hf-token",
        **artifacts,
    )
    return render(ms, workload(kind, HUB_MODEL), config=CONFIG)


def job_pod(rendered: Rendered) -> tuple[str, dict[str, Any], dict[str, str]]:
    return pods(rendered.item("Job"))[0]


def marker(cluster: Cluster, rendered: Rendered) -> Path:
    init = rendered_pod_spec(rendered)["initContainers"][0]
    assert init["name"] == "wait-for-model"
    path = init["command"][3]
    return cluster.claim("hub-cache") / path.removeprefix("/model-cache/")


def rendered_pod_spec(rendered: Rendered) -> dict[str, Any]:
    return pods(rendered_workload(rendered))[0][1]


def test_pvc_hf_prefetch_fills_the_claim_once_for_offline_pods(
    cluster: Cluster, hub: Hub, kind: str
) -> None:
    cluster.secrets["hf-token"] = {"HF_TOKEN": TOKEN}
    rendered = prefetch(kind, "test/llama")
    # Without the marker the pod waits in wait-for-model and vLLM never starts.
    first, spec, extra = pods(rendered_workload(rendered))[0]
    pod = cluster.start_async(first, spec, extra)
    time.sleep(3)
    assert pod.state() == "Init:0/1 (wait-for-model running)"
    pod.stop()
    # The Job downloads what vLLM loads, with the token, and writes the marker.
    since = len(hub.requests)
    cluster.run(*job_pod(rendered))
    assert {r.authorization for r in hub.requests[since:]} == {f"Bearer {TOKEN}"}
    assert marker(cluster, rendered).is_file()
    claim = cluster.claim("hub-cache")
    # What the Job put in the claim is what the pods load (the config and the
    # safetensors), not original/: vLLM skips it.
    on_claim = sum(files_under(claim / "hub" / "models--test--llama" / "blobs").values())
    loads = len(LLAMA["model.safetensors"]) + len(LLAMA["config.json"])
    assert on_claim <= 1.05 * loads, (on_claim, loads)
    assert not [p for p in snapshot(claim) if "original" in p]
    # Offline pods need no Secret, ask the hub for nothing and write nothing.
    del cluster.secrets["hf-token"]
    before, since = snapshot(claim), len(hub.requests)
    for _, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["tensors"] == digests(LLAMA)
        assert set(loaded["read_only"].values()) == {True}
    assert hub.requests[since:] == []
    assert snapshot(claim) == before


def test_pvc_hf_prefetch_killed_mid_download_completes_when_run_again(
    cluster: Cluster, hub: Hub
) -> None:
    cluster.secrets["hf-token"] = {"HF_TOKEN": TOKEN}
    rendered = prefetch("Deployment", "test/tiny")
    name, spec, extra = job_pod(rendered)
    hub.stall("model.safetensors", 100_000)
    try:
        job = cluster.start_async(name, spec, extra)
        deadline = time.monotonic() + 60
        while hub.bytes_served() == 0 or not any(
            r.path.endswith("model.safetensors") and r.method == "GET" for r in hub.requests
        ):
            assert time.monotonic() < deadline, "the Job never reached the stalled file"
            time.sleep(0.2)
        time.sleep(0.5)
        job.stop()
        assert not marker(cluster, rendered).exists()
    finally:
        hub.unstall()
    cluster.run(name, spec, extra)
    assert marker(cluster, rendered).is_file()
    for _, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["tensors"] == digests(TINY[2])


@pytest.fixture(scope="session")
def model_image(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An image holding the model (a "modelcar"), built and mounted by podman: the files
    the kubelet's image volume would show."""
    podman = require("podman")
    context = tmp_path_factory.mktemp("modelcar")
    put_model(context / "models" / "tiny", TINY[1])
    (context / "Containerfile").write_text("FROM scratch\nCOPY models /models\n")
    reference = "localhost/krmfn-runtime/tiny:v1"
    subprocess.run([podman, "build", "-q", "-t", reference, str(context)], check=True)
    mounted = subprocess.run(
        [podman, "image", "mount", reference], check=True, capture_output=True, text=True
    )
    yield reference, Path(mounted.stdout.strip())
    subprocess.run([podman, "image", "unmount", reference], check=False)
    subprocess.run([podman, "rmi", "-f", reference], check=False, capture_output=True)


def test_oci_model_is_read_from_the_image_volume(
    cluster: Cluster, kind: str, model_image: tuple[str, Path]
) -> None:
    reference, files = model_image
    cluster.images[reference] = files
    uri = f"oci://{reference}//models/tiny"
    ms = modelservice(uri, roles(kind), model_args(kind, FOLDER_MODEL))
    rendered = render(ms, workload(kind, FOLDER_MODEL))
    for _, loaded in run_workload(cluster, rendered_workload(rendered)):
        assert loaded["model"] == "/model-cache/models/tiny"
        assert loaded["tensors"] == digests(TINY[1])
        assert set(loaded["read_only"].values()) == {True}


def test_shell_script_runs_unchanged(cluster: Cluster) -> None:
    """The guide's script keeps its shell syntax: bash computes the rank from the
    LeaderWorkerSet's env and vLLM gets the JSON argument whole."""
    rendered = hf("shell", "hf://test/tiny")
    [(_, loaded)] = run_workload(cluster, rendered_workload(rendered))
    assert loaded["options"]["--data-parallel-start-rank"] == "0"
    assert loaded["options"]["--kv-transfer-config"] == (
        '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
    )
