"""The real Run:ai Model Streamer against the stand-in stores of standins/stores.py.

Each test uploads a small sharded safetensors model to a store and loads it the way vLLM
does - `list_safetensors(uri)`, `pull_files(uri, dst, allow_pattern=["*.json"])`, then
`SafetensorsStreamer` over the listed shards - in a subprocess that has nothing but the
pod's env (the streamer reads its settings from the environment, once per process), and
for the stores reached as the clouds' own host names, the stand-in CA bundle mounted
where the image keeps its own. The tensors must hash as uploaded; wrong credentials must be
refused by both halves of the streamer: the Python listing/download (boto3,
google-cloud-storage, azure-storage-blob) and the C++ reader.

What each backend reads, and why some stores are reached under the clouds' own host
names (through stores.TlsInterceptor), is in the docstring of stores.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrators import unavailable
from tests.runtime.standins.stores import (
    AzureStore,
    GcsStore,
    HmacKey,
    S3Store,
    TlsInterceptor,
    Unavailable,
    pod_argv,
)

RUNTIME_LIBRARIES = (
    "runai_model_streamer",
    "runai_model_streamer_s3",
    "runai_model_streamer_gcs",
    "runai_model_streamer_azure",
    "moto",
    "safetensors",
    "numpy",
    "torch",
    "cryptography",
)

# vLLM's load, in the pod. Prints what each step gave, or the error it raised.
LOADER = r"""
import hashlib, json, os, sys, tempfile
from runai_model_streamer import SafetensorsStreamer, list_safetensors, pull_files

uri, shards = sys.argv[1], sys.argv[2:]
report = {}

def step(name, run):
    try:
        report[name] = run()
    except Exception as error:
        report[name + "_error"] = f"{type(error).__name__}: {error}"

def stream(paths):
    hashes = {}
    with SafetensorsStreamer() as streamer:
        streamer.stream_files(paths)
        for name, tensor in streamer.get_tensors():
            hashes[name] = hashlib.sha256(tensor.numpy().tobytes()).hexdigest()
    return hashes

def pull():
    dst = tempfile.mkdtemp()
    pull_files(uri, dst, allow_pattern=["*.json"])
    return sorted(os.listdir(dst))

if uri != "-":  # "-": only the C++ reader, of the shards given
    step("listed", lambda: sorted(list_safetensors(uri)))
    step("pulled", pull)
step("tensors", lambda: stream(shards or report.get("listed") or []))
print(json.dumps(report))
"""


@pytest.fixture(scope="module", autouse=True)
def runtime_libraries() -> None:
    missing = [name for name in RUNTIME_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        unavailable(
            f"{', '.join(missing)} missing: run with the runtime venv (runai-model-streamer "
            "with -s3/-gcs/-azure, torch, moto[server], google-cloud-storage, "
            "azure-storage-blob, azure-identity, safetensors)"
        )


# -- the model ------------------------------------------------------------------------


def small_model() -> tuple[dict[str, bytes], dict[str, str]]:
    """A two-shard safetensors model with its json files, and the sha256 of each tensor."""
    import numpy as np
    from numpy.typing import NDArray
    from safetensors.numpy import save

    rng = np.random.default_rng(7)
    shards: list[dict[str, NDArray[Any]]] = [
        {
            "model.embed_tokens.weight": rng.standard_normal((64, 16)).astype(np.float32),
            "model.layers.0.mlp.up_proj.weight": rng.standard_normal((32, 16)).astype(np.float16),
        },
        {
            "model.norm.weight": np.ones(16, dtype=np.float32),
            "model.rotary.inv_freq": np.arange(8, dtype=np.int64),
            "lm_head.weight": rng.integers(0, 255, (64, 16), dtype=np.uint8),
        },
    ]
    files = {
        f"model-0000{i}-of-00002.safetensors": save(tensors) for i, tensors in enumerate(shards, 1)
    }
    weight_map = {
        name: f"model-0000{i}-of-00002.safetensors"
        for i, tensors in enumerate(shards, 1)
        for name in tensors
    }
    files["model.safetensors.index.json"] = json.dumps({"weight_map": weight_map}).encode()
    files["config.json"] = json.dumps({"model_type": "llama", "hidden_size": 16}).encode()
    files["tokenizer_config.json"] = b"{}"
    # Not listed (list_safetensors is not recursive), not pulled (not json).
    files["original/consolidated.safetensors"] = save({"x": np.zeros(4, dtype=np.float32)})
    expected = {
        name: hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        for tensors in shards
        for name, array in tensors.items()
    }
    return files, expected


MODEL, TENSORS = small_model()
SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
JSON_FILES = ["config.json", "model.safetensors.index.json", "tokenizer_config.json"]


def load(
    uri: str,
    env: dict[str, str],
    home: Path,
    mounts: dict[str, Path] | None = None,
    shards: list[str] | None = None,
) -> dict[str, Any]:
    """Loads `uri` in a process with only the pod's `env` (and `mounts`)."""
    home.mkdir(exist_ok=True)
    pod_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),  # an empty home: no ~/.aws, no gcloud ADC file
        "RUNAI_STREAMER_LOG_TO_STDERR": "1",
        **env,
    }
    argv = pod_argv([sys.executable, "-c", LOADER, uri, *(shards or [])], mounts or {})
    result = subprocess.run(argv, env=pod_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    report["stderr"] = result.stderr
    return report


def assert_loaded(report: dict[str, Any], uri: str) -> None:
    errors = {k: v for k, v in report.items() if k.endswith("_error")}
    assert not errors, f"{errors}\n{report['stderr'][-3000:]}"
    assert report["listed"] == [f"{uri}/{shard}" for shard in SHARDS]
    assert report["pulled"] == JSON_FILES
    assert report["tensors"] == TENSORS


def assert_refused(report: dict[str, Any], python: str, cpp: str) -> None:
    """Both halves refused: the listing with `python` in its error, the C++ read of the
    shards with `cpp` in its log."""
    assert python in report.get("listed_error", ""), report
    assert "tensors" not in report, report
    assert "File access error" in report.get("tensors_error", ""), report
    assert cpp in report["stderr"], report["stderr"][-3000:]


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Store]:
    with S3Store() as store:
        yield store


@pytest.fixture(scope="module")
def proxy() -> Iterator[TlsInterceptor]:
    try:
        subprocess.run(pod_argv(["true"], {"/tmp": Path("/tmp")}), check=True, timeout=30)
    except (Unavailable, subprocess.CalledProcessError) as error:
        unavailable(f"bwrap cannot mount the CA bundle here: {error}")
    with TlsInterceptor() as interceptor:
        yield interceptor


@pytest.fixture(scope="module")
def azure(proxy: TlsInterceptor) -> Iterator[AzureStore]:
    try:
        store = AzureStore(proxy).__enter__()
    except Unavailable as error:
        unavailable(f"{error}: install node and npm (Azurite comes from npm)")
    try:
        yield store
    finally:
        store.__exit__(None, None, None)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# -- S3 -------------------------------------------------------------------------------


def test_s3_static_keys(s3: S3Store, home: Path) -> None:
    uri = s3.upload(MODEL, "s3-static-keys")
    assert_loaded(load(uri, s3.env(), home), uri)


def test_s3_wrong_secret_is_refused(s3: S3Store, home: Path) -> None:
    uri = s3.upload(MODEL, "s3-wrong-secret")
    shards = [f"{uri}/{shard}" for shard in SHARDS]
    report = load(uri, s3.env(secret_access_key="not-the-secret"), home, shards=shards)
    assert_refused(report, "SignatureDoesNotMatch", "http_status=403")


def test_s3_unknown_key_is_refused(s3: S3Store, home: Path) -> None:
    uri = s3.upload(MODEL, "s3-unknown-key")
    shards = [f"{uri}/{shard}" for shard in SHARDS]
    env = s3.env(access_key_id="AKIAUNKNOWNKEY000000", secret_access_key="x")
    assert_refused(load(uri, env, home, shards=shards), "InvalidAccessKeyId", "http_status=403")


# -- Cloud Storage --------------------------------------------------------------------


def reads(store: GcsStore) -> list[str]:
    """How the C++ reader authenticated its ranged media reads of the shards."""
    return sorted({r.auth for r in store.requests if r.path.endswith("safetensors?alt=media")})


def reads_xml(store: GcsStore) -> list[str]:
    """How the reads of the shards through the XML API were signed."""
    return sorted(
        {r.auth for r in store.requests if r.path.endswith(".safetensors") and r.status < 300}
    )


def test_gcs_key_file_at_emulator_endpoint(tmp_path: Path, home: Path) -> None:
    """RUNAI_STREAMER_GCS_CREDENTIAL_FILE reaches both halves even at an emulator
    endpoint: Python exchanges the key for a token, the C++ reader signs its own JWT."""
    with GcsStore() as store:
        uri = store.upload(MODEL, "gcs-key")
        key = store.service_account_key().write(tmp_path / "key.json")
        assert_loaded(load(uri, store.env(key_file=key), home), uri)
        assert "token:oauth" in {r.auth for r in store.requests}
        assert reads(store) == ["jwt:self-signed"]


def test_gcs_emulator_endpoint_reads_anonymously(tmp_path: Path, home: Path) -> None:
    """With CLOUD_STORAGE_EMULATOR_ENDPOINT set and no RUNAI_STREAMER_GCS_CREDENTIAL_FILE,
    google-cloud-cpp ignores GOOGLE_APPLICATION_CREDENTIALS and reads without credentials:
    the store refuses, and the streamer reports it as a short read."""
    with GcsStore() as store:
        uri = store.upload(MODEL, "gcs-emulator-adc")
        key = store.service_account_key().write(tmp_path / "key.json")
        env = store.env(key_file=key, key_variable="GOOGLE_APPLICATION_CREDENTIALS")
        report = load(uri, env, home)
        assert report["listed"] == [f"{uri}/{shard}" for shard in SHARDS]
        assert "File access error" in report["tensors_error"]
        assert "GCS ReadObject received 0 bytes" in report["stderr"]
        assert reads(store) == ["none"]


def test_gcs_without_credentials_is_refused(home: Path) -> None:
    """No key and no metadata server: the listing finds no credentials at all, the C++
    reader (at the emulator endpoint) reads anonymously and is refused."""
    with GcsStore() as store:
        uri = store.upload(MODEL, "gcs-none")
        report = load(uri, store.env(), home, shards=[f"{uri}/{SHARDS[0]}"])
        assert "DefaultCredentialsError" in report["listed_error"]
        assert "GCS ReadObject received 0 bytes" in report["stderr"]
        assert reads(store) == ["none"]


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize(
    "variable", ["RUNAI_STREAMER_GCS_CREDENTIAL_FILE", "GOOGLE_APPLICATION_CREDENTIALS"]
)
def test_gcs_key_file_as_google(
    proxy: TlsInterceptor, tmp_path: Path, home: Path, variable: str
) -> None:
    """A key file as `gcloud iam service-accounts keys create` gives it, at
    storage.googleapis.com: both variables reach both halves."""
    with GcsStore(proxy=proxy) as store:
        uri = store.upload(MODEL, "gcs-google-key")
        key = store.service_account_key().write(tmp_path / "key.json")
        report = load(uri, store.env(key_file=key, key_variable=variable), home, store.mounts())
        assert_loaded(report, uri)
        assert "token:oauth" in {r.auth for r in store.requests}
        assert reads(store) == ["jwt:self-signed"]


@pytest.mark.needs("bwrap")
def test_gcs_key_of_another_project_is_refused(
    proxy: TlsInterceptor, tmp_path: Path, home: Path
) -> None:
    with GcsStore(proxy=proxy) as store, GcsStore(proxy=None, project="elsewhere") as other:
        uri = store.upload(MODEL, "gcs-google-other-key")
        key = other.service_account_key()
        key.token_uri = store.token_uri
        path = key.write(tmp_path / "key.json")
        report = load(
            uri, store.env(key_file=path), home, store.mounts(), shards=[f"{uri}/{SHARDS[0]}"]
        )
        assert "invalid_grant" in report["listed_error"]
        assert "GCS ReadObject received 0 bytes" in report["stderr"]
        assert reads(store) == ["refused"]


@pytest.mark.needs("bwrap")
def test_gcs_workload_identity(proxy: TlsInterceptor, home: Path) -> None:
    """No key: both halves take tokens from the metadata server, as on GKE."""
    with GcsStore(proxy=proxy) as store, store.metadata_server() as metadata:
        uri = store.upload(MODEL, "gcs-workload-identity")
        assert_loaded(load(uri, store.env(metadata=metadata), home, store.mounts()), uri)
        assert {r.auth for r in store.requests} == {"token:metadata"}
        assert reads(store) == ["token:metadata"]
        assert any(path.endswith("/token") or "/token?" in path for path in metadata.paths)


def test_gcs_hmac_key_through_s3(home: Path) -> None:
    """HMAC keys: `s3://` to the XML API, both halves signing SigV4 with the key."""
    with GcsStore() as store:
        store.upload(MODEL, "gcs-hmac")
        uri = store.s3_uri("gcs-hmac")
        assert_loaded(load(uri, store.hmac_env(store.hmac_key()), home), uri)
        assert reads_xml(store) == ["hmac"]


def test_gcs_wrong_hmac_secret_is_refused(home: Path) -> None:
    with GcsStore() as store:
        store.upload(MODEL, "gcs-hmac-wrong")
        uri = store.s3_uri("gcs-hmac-wrong")
        key = HmacKey(store.hmac_key().access_id, "not-the-secret")
        shards = [f"{uri}/{shard}" for shard in SHARDS]
        report = load(uri, store.hmac_env(key), home, shards=shards)
        assert_refused(report, "SignatureDoesNotMatch", "http_status=403")


# -- Azure Blob Storage ---------------------------------------------------------------


@pytest.mark.needs("bwrap")
def test_azure_account_key(azure: AzureStore, home: Path) -> None:
    uri = azure.upload(MODEL, "az-account-key")
    assert_loaded(load(uri, azure.env(), home, azure.mounts()), uri)


@pytest.mark.needs("bwrap")
def test_azure_sas_token(azure: AzureStore, home: Path) -> None:
    uri = azure.upload(MODEL, "az-sas")
    assert_loaded(load(uri, azure.env(sas_token=azure.sas_token()), home, azure.mounts()), uri)


@pytest.mark.needs("bwrap")
def test_azure_wrong_account_key_is_refused(azure: AzureStore, home: Path) -> None:
    import base64
    import secrets

    uri = azure.upload(MODEL, "az-wrong-key")
    wrong = base64.b64encode(secrets.token_bytes(64)).decode()
    shards = [f"{uri}/{shard}" for shard in SHARDS]
    report = load(uri, azure.env(account_key=wrong), home, azure.mounts(), shards=shards)
    # Azurite with --oauth answers a bad Shared Key signature 400 InvalidAuthenticationInfo
    # (Azure itself: 403 AuthenticationFailed).
    assert_refused(report, "InvalidAuthenticationInfo", "StatusCode=400")


@pytest.mark.needs("bwrap")
def test_azure_service_principal(azure: AzureStore, home: Path) -> None:
    """DefaultAzureCredential from AZURE_TENANT_ID/CLIENT_ID/CLIENT_SECRET, both halves."""
    uri = azure.upload(MODEL, "az-service-principal")
    before = len(azure.grants)
    assert_loaded(load(uri, azure.service_principal_env(), home, azure.mounts()), uri)
    assert set(azure.grants[before:]) == {"secret"}


@pytest.mark.needs("bwrap")
def test_azure_wrong_client_secret_is_refused(azure: AzureStore, home: Path) -> None:
    """The C++ reader only: the Python listing retries a refused token for 90 s (the
    storage client's retry policy) before it raises."""
    uri = azure.upload(MODEL, "az-wrong-secret")
    shards = [f"{uri}/{shard}" for shard in SHARDS]
    before = len(azure.grants)
    env = azure.service_principal_env(client_secret="not-the-secret")
    report = load("-", env, home, azure.mounts(), shards=shards)
    assert "File access error" in report["tensors_error"]
    assert "Failed to get token from DefaultAzureCredential" in report["stderr"]
    assert set(azure.grants[before:]) == {"wrong secret"}


@pytest.mark.needs("bwrap")
def test_azure_workload_identity(azure: AzureStore, tmp_path: Path, home: Path) -> None:
    """AKS Workload Identity: the projected token file exchanged at Entra ID."""
    uri = azure.upload(MODEL, "az-workload-identity")
    before = len(azure.grants)
    env = azure.workload_identity_env(tmp_path / "azure-identity-token")
    assert_loaded(load(uri, env, home, azure.mounts()), uri)
    assert set(azure.grants[before:]) == {"federated token"}
