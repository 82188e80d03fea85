"""LoRA adapters and the compile cache rendered by krmfn and run: the `vllm` stand-in loads
each adapter from the path `--lora-modules` (or the filesystem resolver's directory) gives
it, as vLLM loads LoRAs at startup, and finds the compile cache an earlier pod wrote.

The adapters: `hf://test/lora-gated@<first revision>` (gated by the hub's token, the one
of the model's `authSecretName`), `pvc://loras/claim-lora` (a claim of the cluster) and
`s3://models/adapters/sql-lora` (the S3 stand-in, with its keys' Secret), each of the tiny
model `test/tiny`, whose tensors tell them apart. One adapter at a time, the sources that
need the clouds' stand-ins or podman: `gs://acme-models/adapters/gcs-lora` with a service
account key of its own (beside a `gs://` model's key too) or the pod's Workload Identity,
`az://models/adapters/az-lora` with a service principal, and an image volume
`oci://localhost/krmfn-runtime/lora:v1//loras/oci-lora`."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrators import require
from tests.runtime.conftest import (
    AZ_LORA,
    CLAIM_LORA,
    GCS_LORA,
    HUB_ENDPOINT,
    LORA_GATED,
    LORA_PINNED,
    OCI_LORA,
    SQL_LORA,
    TINY,
    TOKEN,
    digests,
)
from tests.runtime.pods import Cluster, PodFailed
from tests.runtime.render import Rendered, modelservice, render
from tests.runtime.runs import report, run_workload, volume
from tests.runtime.standins.hub import Hub
from tests.runtime.standins.stores import (
    AzureStore,
    GcsStore,
    S3Store,
    ServiceAccountKey,
    TlsInterceptor,
)
from tests.runtime.workloads import pods, roles, workload

CONFIG = {"hfEndpoint": HUB_ENDPOINT}
MODEL = "{{ .HFModelName }}"
BASE = "test/tiny"
NAMES = ("gated-lora", "claim-lora", "sql-lora")
# What each adapter's folder must hold: the gated repo's first (pinned) revision.
FILES = {
    "gated-lora": LORA_GATED[1],
    "claim-lora": CLAIM_LORA,
    "sql-lora": SQL_LORA,
    "gcs-lora": GCS_LORA,
    "az-lora": AZ_LORA,
    "oci-lora": OCI_LORA,
}
RESOLVER_ENV = {
    "VLLM_PLUGINS": "lora_filesystem_resolver",
    "VLLM_LORA_RESOLVER_CACHE_DIR": "/adapters",
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
}


def adapter(name: str, s3: S3Store) -> dict[str, Any]:
    if name == "gated-lora":
        return {"name": name, "uri": f"hf://test/lora-gated@{LORA_PINNED}"}
    if name == "claim-lora":
        return {"name": name, "uri": "pvc://loras/claim-lora"}
    assert name == "sql-lora", name
    return {
        "name": name,
        "uri": s3.uri("adapters/sql-lora"),
        "endpoint": s3.endpoint,
        "region": s3.region,
        "authSecretName": "s3-keys",
    }


def lora_service(
    s3: S3Store, names: tuple[str, ...] = NAMES, mode: str = "static"
) -> dict[str, Any]:
    """The ModelService of the contract: test/tiny from the hub with its token, the named
    adapters, LoRA in `mode` with rank 8."""
    return modelservice(
        "hf://test/tiny",
        roles("Deployment"),
        [MODEL],
        authSecretName="hf-token",
        adapters=[adapter(name, s3) for name in names],
        lora={"mode": mode, "maxRank": 8},
    )


def ready(cluster: Cluster, s3: S3Store) -> Cluster:
    """The cluster's side: the hub token's and S3 keys' Secrets, the claim-lora claim."""
    cluster.secrets["hf-token"] = {"HF_TOKEN": TOKEN}
    cluster.secrets["s3-keys"] = {
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
    }
    put_files(cluster.claim("loras") / "claim-lora", CLAIM_LORA)
    return cluster


def put_files(folder: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def deployment(rendered: Rendered) -> dict[str, Any]:
    return rendered.item("Deployment")


def pod_spec(item: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = item["spec"]["template"]["spec"]
    return spec


def vllm_of(item: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod_spec(item)["containers"] if c["name"] == "vllm")


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def module(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "path": f"/adapters/{name}",
        "base_model_name": BASE,
        "tensors": digests(FILES[name]),
    }


def assert_adapter_volumes(item: dict[str, Any], names: tuple[str, ...]) -> None:
    """The contract's volumes: an emptyDir `adapters` the init containers write at
    /adapters, every mount of vllm under /adapters read-only, a pvc:// adapter's claim
    mounted at /adapters/<name> with a subPath."""
    spec = pod_spec(item)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["adapters"] == {"name": "adapters", "emptyDir": {}}
    mounts = vllm_of(item).get("volumeMounts") or []
    under = [m for m in mounts if m["mountPath"].startswith("/adapters")]
    assert under and all(m.get("readOnly") for m in under), under
    if "claim-lora" in names:
        [claimed] = [m for m in under if m["mountPath"] == "/adapters/claim-lora"]
        assert volumes[claimed["name"]]["persistentVolumeClaim"]["claimName"] == "loras"
        assert claimed["subPath"] == "claim-lora"
    for init in spec.get("initContainers") or []:
        for mount in init.get("volumeMounts") or []:
            if mount["name"] == "adapters":
                assert mount["mountPath"] == "/adapters" and not mount.get("readOnly"), init


def test_static_adapters_load_where_vllm_is_told(cluster: Cluster, hub: Hub, s3: S3Store) -> None:
    ready(cluster, s3)
    rendered = render(lora_service(s3), workload("Deployment", MODEL), config=CONFIG)
    item = deployment(rendered)
    args = vllm_of(item)["args"]
    assert args[0] == BASE and args.count("--lora-modules") == 1
    at = args.index("--lora-modules")
    assert [json.loads(a) for a in args[at + 1 : at + 4]] == [
        {"name": n, "path": f"/adapters/{n}", "base_model_name": BASE} for n in NAMES
    ]
    assert args[at + 4 :] == [
        "--enable-lora",
        "--max-lora-rank=8",
        "--max-loras=3",
        "--port",
        "8000",
    ]
    assert not set(RESOLVER_ENV) & set(env_of(vllm_of(item)))
    assert_adapter_volumes(item, NAMES)
    since = len(hub.requests)
    [(_, loaded)] = run_workload(cluster, item)
    assert loaded["tensors"] == digests(TINY[2])
    assert loaded["options"]["--lora-modules"] == args[at + 1 : at + 4]
    assert loaded["lora"] == {
        "enabled": True,
        "max_rank": 8,
        "max_loras": 3,
        "modules": [module(n) for n in NAMES],
        "resolver": None,
    }
    # The pinned revision, not main's.
    assert digests(LORA_GATED[1]) != digests(LORA_GATED[2])
    gated = [r for r in hub.requests[since:] if r.path.startswith("/test/lora-gated/")]
    assert gated
    assert {r.path.split("/")[4] for r in gated if "/resolve/" in r.path} == {LORA_PINNED}
    asked = [r for r in hub.requests[since:] if "test/lora-gated" in r.path]
    assert {r.authorization for r in asked} == {f"Bearer {TOKEN}"}


def test_gated_adapter_is_not_fetched_without_the_token(
    cluster: Cluster, hub: Hub, s3: S3Store
) -> None:
    ready(cluster, s3)
    item = deployment(render(lora_service(s3), workload("Deployment", MODEL), config=CONFIG))
    name, spec, extra = pods(item)[0]
    # The Secret without its key: the pod does not start, or the download is refused.
    cluster.secrets["hf-token"] = {"OTHER": "x"}
    since = len(hub.requests)
    with pytest.raises(PodFailed) as failed:
        cluster.run(name, spec, extra)
    if failed.value.reason == "CreateContainerConfigError":
        assert failed.value.detail == "couldn't find key HF_TOKEN in Secret default/hf-token"
    else:
        assert failed.value.reason == "Init:Error", failed.value
        asked = [r for r in hub.requests[since:] if "test/lora-gated" in r.path]
        assert asked and {r.authorization for r in asked} == {None}
    assert not (cluster.root / "pods" / name / "reports" / "vllm.json").exists()
    # A token the hub does not know: the download is refused and vLLM never starts.
    cluster.secrets["hf-token"] = {"HF_TOKEN": "hf_not_the_token"}
    with pytest.raises(PodFailed) as refused:
        cluster.run(name, spec, extra)
    assert refused.value.reason == "Init:Error", refused.value
    assert "lora-gated" in refused.value.detail
    assert not (cluster.root / "pods" / name / "reports" / "vllm.json").exists()


def test_resolver_finds_the_adapters_by_name(cluster: Cluster, s3: S3Store) -> None:
    ready(cluster, s3)
    rendered = render(
        lora_service(s3, mode="resolver"), workload("Deployment", MODEL), config=CONFIG
    )
    item = deployment(rendered)
    vllm = vllm_of(item)
    assert "--lora-modules" not in vllm["args"]
    assert "--enable-lora" in vllm["args"]
    env = env_of(vllm)
    assert {k: env.get(k) for k in RESOLVER_ENV} == RESOLVER_ENV
    assert_adapter_volumes(item, NAMES)
    [(_, loaded)] = run_workload(cluster, item)
    assert loaded["lora"]["modules"] == []
    assert loaded["lora"]["resolver"] == {
        "dir": "/adapters",
        "adapters": [
            {
                "name": n,
                "path": f"/adapters/{n}",
                "base_model_name_or_path": BASE,
                "tensors": digests(FILES[n]),
            }
            for n in sorted(NAMES)
        ],
    }


def with_adapters(service: dict[str, Any], s3: S3Store, names: tuple[str, ...]) -> Any:
    """The ModelService as a user edits it: the same, with only `names` as adapters."""
    edited = copy.deepcopy(service)
    edited["spec"]["modelArtifacts"]["adapters"] = [adapter(n, s3) for n in names]
    return edited


# What else names an adapter's source in a pod spec: its Secret, endpoint, claim, repo.
SOURCE_TRACES = {
    "gated-lora": ["test/lora-gated", LORA_PINNED],
    "claim-lora": ['"claimName": "loras"', "pvc://loras"],
    "sql-lora": ["s3-keys", "adapters/sql-lora", "AWS_"],
}


@pytest.mark.parametrize("removed", NAMES)
def test_a_removed_adapter_leaves_no_trace(cluster: Cluster, s3: S3Store, removed: str) -> None:
    ready(cluster, s3)
    three = render(lora_service(s3), workload("Deployment", MODEL), config=CONFIG)
    kept = tuple(n for n in NAMES if n != removed)
    # kustomize re-renders the edited source: krmfn's output, with the ModelService changed.
    edited = [with_adapters(i, s3, kept) if i["kind"] == "ModelService" else i for i in three.items]
    again = render(*edited, config=CONFIG)
    item = deployment(again)
    text = json.dumps(item)
    assert removed not in text
    for trace in SOURCE_TRACES[removed]:
        assert trace not in text, trace
    fresh = render(lora_service(s3, kept), workload("Deployment", MODEL), config=CONFIG)
    assert again.items == fresh.items
    [(_, loaded)] = run_workload(cluster, item)
    assert loaded["lora"]["modules"] == [module(n) for n in kept]
    assert len(loaded["options"]["--lora-modules"]) == 2


# -- adapters from Cloud Storage, Azure and an image ----------------------------------------

GCS_MODEL = "{{ .MountedModelPath }}"
GCS_KEY_FOLDER = "/var/run/secrets/krmfn/gcs"
GCS_KEY_ENV = {
    "RUNAI_STREAMER_GCS_CREDENTIAL_FILE": f"{GCS_KEY_FOLDER}/key.json",
    "GOOGLE_APPLICATION_CREDENTIALS": f"{GCS_KEY_FOLDER}/key.json",
}
AZURE_SP_KEYS = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")


def one_adapter(
    entry: dict[str, Any], uri: str = "hf://test/tiny", model: str = MODEL, **artifacts: Any
) -> Rendered:
    """A Deployment of `uri` (test/tiny from the hub by default) serving one adapter,
    static, rank 8, rendered."""
    service = modelservice(
        uri,
        roles("Deployment"),
        [model],
        adapters=[entry],
        lora={"mode": "static", "maxRank": 8},
        **artifacts,
    )
    return render(service, workload("Deployment", model), config=CONFIG)


def fetcher(item: dict[str, Any], name: str) -> dict[str, Any]:
    """The adapter's init container: the only one the pod has."""
    [init] = pod_spec(item).get("initContainers") or []
    assert init["name"] == f"adapter-{name}", init["name"]
    return init


def secret_volumes(item: dict[str, Any]) -> dict[str, str]:
    """The pod's Secret volumes: volume name -> Secret name."""
    volumes = pod_spec(item)["volumes"]
    return {v["name"]: v["secret"]["secretName"] for v in volumes if "secret" in v}


def assert_loads_alone(
    cluster: Cluster, item: dict[str, Any], name: str, tensors: dict[str, str]
) -> dict[str, Any]:
    """As the static case: vLLM is told of the one adapter, at /adapters/<name>, loads its
    tensors from there, and the model's are `tensors`."""
    args = vllm_of(item)["args"]
    assert args.count("--lora-modules") == 1
    at = args.index("--lora-modules")
    assert json.loads(args[at + 1]) == {
        "name": name,
        "path": f"/adapters/{name}",
        "base_model_name": BASE,
    }
    assert args[at + 2 :] == [
        "--enable-lora",
        "--max-lora-rank=8",
        "--max-loras=1",
        "--port",
        "8000",
    ]
    [(_, loaded)] = run_workload(cluster, item)
    assert loaded["tensors"] == tensors
    assert loaded["options"]["--lora-modules"] == args[at + 1 : at + 2]
    assert loaded["lora"] == {
        "enabled": True,
        "max_rank": 8,
        "max_loras": 1,
        "modules": [module(name)],
        "resolver": None,
    }
    return loaded


def cloud(cluster: Cluster, interceptor: TlsInterceptor) -> Cluster:
    """The clouds' host names through the proxy and its CA bundle, in every container."""
    cluster.env.update(interceptor.env())
    cluster.files.update(interceptor.mounts())
    return cluster


def object_requests(gcs: GcsStore) -> list[Any]:
    return [r for r in gcs.requests if not r.path.startswith("/token")]


def gcs_key_adapter(gcs: GcsStore) -> dict[str, Any]:
    return {
        "name": "gcs-lora",
        "uri": gcs.uri("adapters/gcs-lora"),
        "authSecretName": "gcs-lora-key",
        "credentials": "serviceAccountKey",
    }


def assert_key_is_the_adapters(item: dict[str, Any]) -> str:
    """The init container reads the key file from a volume of the adapter's Secret, which
    vLLM's container does not mount; returns that volume's name."""
    init = fetcher(item, "gcs-lora")
    assert env_of(init) == GCS_KEY_ENV
    [adapters, key] = init["volumeMounts"]
    assert adapters == {"name": "adapters", "mountPath": "/adapters"}
    assert key == {"name": key["name"], "mountPath": GCS_KEY_FOLDER, "readOnly": True}
    assert secret_volumes(item)[key["name"]] == "gcs-lora-key"
    assert key["name"] not in {m["name"] for m in vllm_of(item)["volumeMounts"]}
    assert_adapter_volumes(item, ("gcs-lora",))
    return str(key["name"])


def revoked(key: ServiceAccountKey) -> str:
    """The key file with a key id the store does not know, as after the key is deleted."""
    data = json.loads(key.json_key())
    data["private_key_id"] = "0" * 40
    return json.dumps(data)


def test_gs_adapter_pulls_with_its_own_service_account_key(
    cluster: Cluster, interceptor: TlsInterceptor, gcs: GcsStore
) -> None:
    cloud(cluster, interceptor)
    cluster.secrets["gcs-lora-key"] = {"key.json": gcs.service_account_key("lora").json_key()}
    item = deployment(one_adapter(gcs_key_adapter(gcs)))
    key_volume = assert_key_is_the_adapters(item)
    # The model is the hub's: no other Secret volume, no key env in vLLM's container.
    assert secret_volumes(item) == {key_volume: "gcs-lora-key"}
    assert not set(GCS_KEY_ENV) & set(env_of(vllm_of(item)))
    gcs.clear_requests()
    assert_loads_alone(cluster, item, "gcs-lora", digests(TINY[2]))
    # google-cloud-storage exchanged the key for a token, and only that token was shown.
    assert {(r.auth, r.status < 300) for r in object_requests(gcs)} == {("token:oauth", True)}


def test_gs_adapter_key_is_its_own_beside_the_models(
    cluster: Cluster, interceptor: TlsInterceptor, gcs: GcsStore
) -> None:
    """A gs:// model with a key of its Secret, a gs:// adapter with a key of another: each
    container reads the key of its own Secret at the same path."""
    cloud(cluster, interceptor)
    model_key = gcs.service_account_key("model")
    lora_key = gcs.service_account_key("lora")
    item = deployment(
        one_adapter(
            gcs_key_adapter(gcs),
            "gs://acme-models/tiny",
            GCS_MODEL,
            authSecretName="gcs-key",
            credentials="serviceAccountKey",
        )
    )
    key_volume = assert_key_is_the_adapters(item)
    [model_mount] = [m for m in vllm_of(item)["volumeMounts"] if m["mountPath"] == GCS_KEY_FOLDER]
    assert secret_volumes(item) == {key_volume: "gcs-lora-key", model_mount["name"]: "gcs-key"}
    assert {k: env_of(vllm_of(item))[k] for k in GCS_KEY_ENV} == GCS_KEY_ENV
    cluster.secrets["gcs-key"] = {"key.json": model_key.json_key()}
    cluster.secrets["gcs-lora-key"] = {"key.json": lora_key.json_key()}
    loaded = assert_loads_alone(cluster, item, "gcs-lora", digests(TINY[1]))
    assert loaded["files"] == ["gs://acme-models/tiny/model.safetensors"]
    name, spec, extra = pods(item)[0]
    # The adapter's key refused, the model's good: the adapter's pull fails.
    cluster.secrets["gcs-lora-key"] = {"key.json": revoked(lora_key)}
    with pytest.raises(PodFailed) as failed:
        cluster.run(name, spec, extra)
    assert failed.value.reason == "Init:Error", failed.value
    assert failed.value.detail.startswith("adapter-gcs-lora exited 1"), failed.value.detail
    assert "unknown key id" in failed.value.detail, failed.value.detail
    assert not (cluster.root / "pods" / name / "reports" / "vllm.json").exists()
    # The model's key refused, the adapter's good: the adapter is pulled, vLLM fails.
    cluster.secrets["gcs-key"] = {"key.json": revoked(model_key)}
    cluster.secrets["gcs-lora-key"] = {"key.json": lora_key.json_key()}
    with pytest.raises(PodFailed) as refused:
        cluster.run(name, spec, extra)
    assert refused.value.reason == "Error", refused.value
    assert refused.value.detail.startswith("vllm exited"), refused.value.detail
    assert "unknown key id" in refused.value.detail, refused.value.detail
    pulled = volume(cluster, name, "adapters") / "gcs-lora"
    assert {p.name: p.read_bytes() for p in pulled.iterdir()} == GCS_LORA


def test_gs_adapter_pulls_with_the_pods_own_identity(
    cluster: Cluster, interceptor: TlsInterceptor, gcs: GcsStore
) -> None:
    cloud(cluster, interceptor)
    item = deployment(one_adapter({"name": "gcs-lora", "uri": gcs.uri("adapters/gcs-lora")}))
    init = fetcher(item, "gcs-lora")
    assert "env" not in init
    assert init["volumeMounts"] == [{"name": "adapters", "mountPath": "/adapters"}]
    assert secret_volumes(item) == {}
    assert_adapter_volumes(item, ("gcs-lora",))
    with gcs.metadata_server() as metadata:
        # What GKE gives a pod of a Workload Identity service account.
        cluster.env.update(metadata.env())
        gcs.clear_requests()
        assert_loads_alone(cluster, item, "gcs-lora", digests(TINY[2]))
    assert {(r.auth, r.status < 300) for r in object_requests(gcs)} == {("token:metadata", True)}


def test_az_adapter_pulls_with_a_service_principal(
    cluster: Cluster, interceptor: TlsInterceptor, azure: AzureStore
) -> None:
    cloud(cluster, interceptor)
    principal = azure.service_principal_env()
    cluster.secrets["azure-sp"] = {k: principal[k] for k in AZURE_SP_KEYS}
    entry = {
        "name": "az-lora",
        "uri": azure.uri("adapters/az-lora"),
        "account": azure.account,
        "authSecretName": "azure-sp",
    }
    item = deployment(one_adapter(entry))
    init = fetcher(item, "az-lora")
    assert env_of(init) == {
        "AZURE_STORAGE_ACCOUNT_NAME": azure.account,
        **{k: {"secretKeyRef": {"name": "azure-sp", "key": k}} for k in AZURE_SP_KEYS},
    }
    assert init["volumeMounts"] == [{"name": "adapters", "mountPath": "/adapters"}]
    assert not {"AZURE_STORAGE_ACCOUNT_NAME", *AZURE_SP_KEYS} & set(env_of(vllm_of(item)))
    assert_adapter_volumes(item, ("az-lora",))
    since = len(azure.grants)
    assert_loads_alone(cluster, item, "az-lora", digests(TINY[2]))
    # Entra ID handed out tokens for the principal's secret, and refused nothing.
    assert azure.grants[since:] and set(azure.grants[since:]) == {"secret"}


LORA_IMAGE = "localhost/krmfn-runtime/lora:v1"


@pytest.fixture(scope="session")
def adapter_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An image holding an adapter under /loras/oci-lora, built and mounted by podman: the
    files the kubelet's image volume would show."""
    podman = require("podman")
    context = tmp_path_factory.mktemp("lora-image")
    put_files(context / "loras" / "oci-lora", OCI_LORA)
    (context / "Containerfile").write_text("FROM scratch\nCOPY loras /loras\n")
    subprocess.run([podman, "build", "-q", "-t", LORA_IMAGE, str(context)], check=True)
    mounted = subprocess.run(
        [podman, "image", "mount", LORA_IMAGE], check=True, capture_output=True, text=True
    )
    yield LORA_IMAGE, Path(mounted.stdout.strip())
    subprocess.run([podman, "image", "unmount", LORA_IMAGE], check=False)
    subprocess.run([podman, "rmi", "-f", LORA_IMAGE], check=False, capture_output=True)


def test_oci_adapter_is_read_from_its_image_volume(
    cluster: Cluster, adapter_image: tuple[str, Path]
) -> None:
    reference, files = adapter_image
    cluster.images[reference] = files
    rendered = one_adapter({"name": "oci-lora", "uri": f"oci://{reference}//loras/oci-lora"})
    assert [m for m in rendered.messages("warning") if "image volumes" in m]
    item = deployment(rendered)
    spec = pod_spec(item)
    assert spec["volumes"] == [
        {"name": "model-storage", "emptyDir": {}},
        {
            "name": "adapter-oci-lora",
            "image": {"reference": reference, "pullPolicy": "IfNotPresent"},
        },
    ]
    assert "initContainers" not in spec
    [mount] = [m for m in vllm_of(item)["volumeMounts"] if m["mountPath"].startswith("/adapters")]
    assert mount == {
        "name": "adapter-oci-lora",
        "mountPath": "/adapters/oci-lora",
        "subPath": "loras/oci-lora",
        "readOnly": True,
    }
    assert_loads_alone(cluster, item, "oci-lora", digests(TINY[2]))


# -- the compile cache -------------------------------------------------------------------


def compile_service(kind: str = "Deployment") -> dict[str, Any]:
    return modelservice(
        "hf://test/tiny", roles(kind), [MODEL], compileCache="pvc://compile-cache/llm"
    )


def guide_workload(volume: str) -> dict[str, Any]:
    """llm-d's guides: vLLM's caches under /.cache (HOME=/ of a non-root image), on an
    emptyDir the pod loses."""
    return workload(
        "Deployment",
        MODEL,
        mounts=[{"name": volume, "mountPath": "/.cache"}],
        volumes=[{"name": volume, "emptyDir": {}}],
    )


def run_twice(cluster: Cluster, item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two replicas, one after the other: what each found in, and wrote to, the cache."""
    runs = [report(cluster.run(name, spec, extra)) for name, spec, extra in pods(item, 2)]
    first, second = (loaded["compile_cache"] for loaded in runs)
    return first, second


def assert_shared(first: dict[str, Any], second: dict[str, Any], root: str) -> None:
    assert (first["vllm_root"], first["inductor_dir"]) == (
        f"{root}/vllm",
        f"{root}/torchinductor",
    )
    assert first["found"] == first["found_inductor"] == []
    vllm_file, inductor_file = first["wrote"]
    assert second["found"] == [str(Path(vllm_file).relative_to(f"{root}/vllm"))]
    assert second["found_inductor"] == [
        str(Path(inductor_file).relative_to(f"{root}/torchinductor"))
    ]
    # What the first pod wrote, the second read.
    assert second["found_markers"] == dict.fromkeys(first["wrote"], "llm-decode-0")


@pytest.mark.parametrize("volume", ["torch-compile-cache", "jit-cache"])
def test_compile_cache_replaces_the_guides_cache_volume(cluster: Cluster, volume: str) -> None:
    cluster.claim("compile-cache")
    rendered = render(compile_service(), guide_workload(volume), config=CONFIG)
    item = deployment(rendered)
    vllm = vllm_of(item)
    [mount] = [m for m in vllm["volumeMounts"] if m["mountPath"] == "/.cache"]
    assert [m for m in vllm["volumeMounts"] if m["mountPath"].startswith("/compile-cache")] == []
    volumes = {v["name"]: v for v in pod_spec(item)["volumes"]}
    assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == "compile-cache"
    assert "emptyDir" not in volumes[mount["name"]]
    assert mount.get("subPath") == "llm"
    env = env_of(vllm)
    assert (env["VLLM_CACHE_ROOT"], env["TORCHINDUCTOR_CACHE_DIR"]) == (
        "/.cache/vllm",
        "/.cache/torchinductor",
    )
    first, second = run_twice(cluster, item)
    assert_shared(first, second, "/.cache")
    on_claim = cluster.claim("compile-cache") / "llm"
    assert (on_claim / "vllm" / second["found"][0]).read_text() == "llm-decode-1\n"


def test_compile_cache_gets_a_mount_of_its_own(cluster: Cluster) -> None:
    cluster.claim("compile-cache")
    item = deployment(render(compile_service(), workload("Deployment", MODEL), config=CONFIG))
    vllm = vllm_of(item)
    [mount] = [m for m in vllm["volumeMounts"] if m["mountPath"] == "/compile-cache"]
    volumes = {v["name"]: v for v in pod_spec(item)["volumes"]}
    assert mount["name"] == "compile-cache"
    assert volumes["compile-cache"]["persistentVolumeClaim"]["claimName"] == "compile-cache"
    assert mount.get("subPath") == "llm"
    first, second = run_twice(cluster, item)
    assert_shared(first, second, "/compile-cache")
