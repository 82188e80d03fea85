"""s3://, gs:// and az:// rendered by krmfn and run: the `vllm` stand-in streams the
tensors with the Run:ai Model Streamer (both of its halves: the Python listing and pulls,
the C++ reads), configured only by the env krmfn wrote, from stand-ins of the stores.

S3 is moto at an S3-compatible endpoint, as MinIO would be. Cloud Storage and Azure are
reached under their own host names (the streamer's C++ readers take no endpoint for them),
through the HTTPS proxy and CA bundle the cluster gives every container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import TINY, digests
from tests.runtime.pods import Cluster, PodFailed
from tests.runtime.render import modelservice, render
from tests.runtime.runs import model_args, run_workload
from tests.runtime.standins.stores import AzureStore, GcsStore, S3Store, TlsInterceptor
from tests.runtime.workloads import pods, roles, workload

MODEL = "{{ .MountedModelPath }}"
MINIO = "minio.storage.svc.cluster.local:9000"


def streamed(cluster: Cluster, kind: str, uri: str, **artifacts: Any) -> list[dict[str, Any]]:
    """Render a ModelService streaming `uri` onto a workload of `kind` and run its pods;
    returns what each pod's vLLM loaded."""
    ms = modelservice(uri, roles(kind), model_args(kind, MODEL), **artifacts)
    rendered = render(ms, workload(kind, MODEL))
    item = next(i for i in rendered.items if i["kind"] != "ModelService")
    return [loaded for _, loaded in run_workload(cluster, item)]


def s3_cluster(cluster: Cluster, s3: S3Store, key: str | None = None) -> Cluster:
    cluster.hosts[MINIO] = s3.endpoint.removeprefix("http://")
    cluster.secrets["s3-keys"] = {
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key or s3.secret_access_key,
    }
    return cluster


def s3_modelservice() -> dict[str, Any]:
    """A Deployment's ModelService streaming from the MinIO-like endpoint."""
    return modelservice(
        "s3://models/tiny",
        roles("Deployment"),
        [MODEL],
        endpoint=f"http://{MINIO}",
        authSecretName="s3-keys",
    )


def test_s3_streams_from_an_s3_compatible_endpoint(
    cluster: Cluster, s3: S3Store, kind: str
) -> None:
    s3_cluster(cluster, s3)
    for loaded in streamed(
        cluster, kind, "s3://models/tiny", endpoint=f"http://{MINIO}", authSecretName="s3-keys"
    ):
        assert loaded["model"] == "s3://models/tiny"
        assert loaded["files"] == ["s3://models/tiny/model.safetensors"]
        assert loaded["tensors"] == digests(TINY[1])


def test_s3_streams_into_a_read_only_root_filesystem(cluster: Cluster, s3: S3Store) -> None:
    """vLLM pulls the model's config and tokenizer files into its assets cache before it
    streams the tensors, and writes its compile cache at start: a container whose root
    filesystem is read-only (a restricted pod security profile) needs both on volumes.
    krmfn gives the assets cache the model volume, and warns that the compile cache has
    nowhere to go until compileCache (or a mount of the workload's own) gives it one."""
    s3_cluster(cluster, s3)
    locked = workload("Deployment", MODEL, security={"readOnlyRootFilesystem": True})
    warned = render(s3_modelservice(), locked)
    assert [m for m in warned.messages("warning") if "read-only root" in m] == [
        "Deployment llm-decode container 'vllm' has a read-only root filesystem, and vLLM"
        " writes its compile cache"
        " under VLLM_CACHE_ROOT (~/.cache/vllm) at start: set"
        " spec.modelArtifacts.compileCache, or mount a writable volume and point"
        " VLLM_CACHE_ROOT into it (or run with --enforce-eager)"
    ]
    with pytest.raises(PodFailed, match="Read-only file system"):
        run_workload(cluster, warned.item("Deployment"))
    cluster.claim("compile-cache")
    ms = s3_modelservice()
    ms["spec"]["modelArtifacts"]["compileCache"] = "pvc://compile-cache/tiny"
    item = render(ms, locked).item("Deployment")
    [(_, loaded)] = run_workload(cluster, item)
    assert loaded["tensors"] == digests(TINY[1])
    assert loaded["config"].startswith("/model-cache/")
    assert loaded["compile_cache"]["vllm_root"] == "/compile-cache/vllm"


def test_s3_store_refuses_wrong_keys(cluster: Cluster, s3: S3Store) -> None:
    s3_cluster(cluster, s3, key="not-the-secret")
    ms = s3_modelservice()
    item = render(ms, workload("Deployment", MODEL)).item("Deployment")
    name, spec, extra = pods(item)[0]
    with pytest.raises(PodFailed) as failed:
        cluster.run(name, spec, extra)
    assert "SignatureDoesNotMatch" in failed.value.detail


def object_requests(gcs: GcsStore) -> list[Any]:
    """What the store was asked for objects (not tokens)."""
    return [r for r in gcs.requests if not r.path.startswith("/token")]


def cloud(cluster: Cluster, interceptor: TlsInterceptor) -> Cluster:
    cluster.env.update(interceptor.env())
    cluster.files.update(interceptor.mounts())
    return cluster


def test_gs_streams_with_a_service_account_key(
    cluster: Cluster, interceptor: TlsInterceptor, gcs: GcsStore, kind: str
) -> None:
    cloud(cluster, interceptor)
    key = gcs.service_account_key()
    cluster.secrets["gcs-key"] = {"key.json": key.json_key()}
    gcs.clear_requests()
    for loaded in streamed(
        cluster,
        kind,
        "gs://acme-models/tiny",
        authSecretName="gcs-key",
        credentials="serviceAccountKey",
    ):
        assert loaded["files"] == ["gs://acme-models/tiny/model.safetensors"]
        assert loaded["tensors"] == digests(TINY[1])
    # The Python half exchanges the key for a token, the C++ half signs its own JWT.
    assert {(r.auth, r.status < 300) for r in object_requests(gcs)} == {
        ("token:oauth", True),
        ("jwt:self-signed", True),
    }


def test_gs_streams_with_the_pods_own_identity(
    cluster: Cluster, interceptor: TlsInterceptor, gcs: GcsStore, kind: str
) -> None:
    cloud(cluster, interceptor)
    with gcs.metadata_server() as metadata:
        # What GKE gives a pod of a Workload Identity service account: its metadata server.
        cluster.env.update(metadata.env())
        gcs.clear_requests()
        for loaded in streamed(cluster, kind, "gs://acme-models/tiny"):
            assert loaded["tensors"] == digests(TINY[1])
    assert {(r.auth, r.status < 300) for r in object_requests(gcs)} == {("token:metadata", True)}


def test_gs_streams_as_s3_with_hmac_keys(
    cluster: Cluster, interceptor: TlsInterceptor, gcs: GcsStore, kind: str
) -> None:
    key = gcs.hmac_key()
    # Cloud Storage's S3-compatible endpoint, as krmfn writes it, is the stand-in here.
    cluster.hosts["https://storage.googleapis.com"] = gcs.endpoint
    cluster.secrets["gcs-hmac"] = {
        "AWS_ACCESS_KEY_ID": key.access_id,
        "AWS_SECRET_ACCESS_KEY": key.secret,
    }
    for loaded in streamed(
        cluster, kind, "gs://acme-models/tiny", authSecretName="gcs-hmac", credentials="hmac"
    ):
        assert loaded["model"] == "s3://acme-models/tiny"
        assert loaded["tensors"] == digests(TINY[1])


def test_az_streams_with_a_service_principal(
    cluster: Cluster, interceptor: TlsInterceptor, azure: AzureStore, kind: str
) -> None:
    cloud(cluster, interceptor)
    principal = azure.service_principal_env()
    cluster.secrets["azure-sp"] = {
        name: principal[name]
        for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")
    }
    for loaded in streamed(
        cluster, kind, "az://models/tiny", account=azure.account, authSecretName="azure-sp"
    ):
        assert loaded["files"] == ["az://models/tiny/model.safetensors"]
        assert loaded["tensors"] == digests(TINY[1])


def test_az_streams_with_the_pods_workload_identity(
    cluster: Cluster, interceptor: TlsInterceptor, azure: AzureStore, kind: str, tmp_path: Path
) -> None:
    cloud(cluster, interceptor)
    token = "/var/run/secrets/azure/tokens/azure-identity-token"
    # What AKS's workload identity webhook injects into a pod of such a service account.
    injected = azure.workload_identity_env(tmp_path / "token")
    cluster.files[token] = tmp_path / "token"
    cluster.env.update(
        {
            k: v
            for k, v in injected.items()
            if k.startswith("AZURE_") and k != "AZURE_STORAGE_ACCOUNT_NAME"
        }
    )
    cluster.env["AZURE_FEDERATED_TOKEN_FILE"] = token
    for loaded in streamed(cluster, kind, "az://models/tiny", account=azure.account):
        assert loaded["tensors"] == digests(TINY[1])
