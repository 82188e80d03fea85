"""The runtime tier: stand-ins started once per session, a cluster of folders per test.

Every case here renders with `python -m krmfn`, then runs the pods with bubblewrap
(tests/runtime/pods.py) and the `vllm` stand-in, whose loaders are the real client
libraries of this venv. Run it with `bash scripts/runtime-tests.sh`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.orchestrators import require
from tests.runtime import workloads
from tests.runtime.models import tensor_digests, tiny_adapter, tiny_model
from tests.runtime.pods import Cluster
from tests.runtime.standins.hub import Hub, Repo, commit_sha
from tests.runtime.standins.stores import AzureStore, GcsStore, S3Store, TlsInterceptor

# The hub as the pods' env names it (krmfn's hfEndpoint), and the token of its gated repo.
HUB_HOST = "hub.models.svc.cluster.local:8080"
HUB_ENDPOINT = f"http://{HUB_HOST}"
TOKEN = "hf_runtime_token"
TINY = {1: tiny_model(1), 2: tiny_model(2)}
GATED = tiny_model(3)
LLAMA = tiny_model(4, llama_original=True)
# test/tiny has two revisions: the first pinned, `main` at the second.
PINNED = commit_sha(TINY[1])
# LoRA adapters of test/tiny: test/lora-gated (gated by TOKEN) has two revisions, the first
# pinned as LORA_PINNED; test/lora-open one; the S3 bucket holds SQL_LORA under
# adapters/sql-lora/, Cloud Storage's GCS_LORA under adapters/gcs-lora/, Azure's AZ_LORA
# under adapters/az-lora/; CLAIM_LORA is for a test to put on a claim, OCI_LORA in an image.
LORA_GATED = {1: tiny_adapter(11, "test/tiny"), 2: tiny_adapter(12, "test/tiny")}
LORA_PINNED = commit_sha(LORA_GATED[1])
LORA_OPEN = tiny_adapter(13, "test/tiny")
SQL_LORA = tiny_adapter(14, "test/tiny")
CLAIM_LORA = tiny_adapter(15, "test/tiny")
GCS_LORA = tiny_adapter(16, "test/tiny")
AZ_LORA = tiny_adapter(17, "test/tiny")
OCI_LORA = tiny_adapter(18, "test/tiny")


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return tensor_digests(files)


@pytest.fixture(autouse=True)
def _bubblewrap() -> None:
    require("bwrap")


@pytest.fixture(scope="session")
def hub() -> Iterator[Hub]:
    repos = {
        "test/tiny": Repo.of(TINY[1], TINY[2]),
        "test/gated": Repo.of(GATED, token=TOKEN),
        "test/llama": Repo.of(LLAMA),
        "test/lora-gated": Repo.of(LORA_GATED[1], LORA_GATED[2], token=TOKEN),
        "test/lora-open": Repo.of(LORA_OPEN),
    }
    with Hub(repos) as running:
        yield running


@pytest.fixture
def cluster(tmp_path: Path, hub: Hub) -> Cluster:
    """A cluster of folders for one test, with the hub's name mapped to the stand-in."""
    local = hub.url.removeprefix("http://")
    return Cluster(tmp_path, hosts={HUB_HOST: local}, entrypoints=dict(workloads.ENTRYPOINTS))


@pytest.fixture(params=workloads.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def interceptor() -> Iterator[TlsInterceptor]:
    """The clouds' own host names (storage.googleapis.com, <account>.blob.core.windows.net,
    their token endpoints) answered by the stand-ins, through the pods' HTTPS_PROXY."""
    with TlsInterceptor() as proxy:
        yield proxy


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Store]:
    with S3Store() as store:
        store.upload(TINY[1], "tiny")
        store.upload(SQL_LORA, "adapters/sql-lora")
        yield store


@pytest.fixture(scope="session")
def gcs(interceptor: TlsInterceptor) -> Iterator[GcsStore]:
    with GcsStore(bucket="acme-models", proxy=interceptor) as store:
        store.upload(TINY[1], "tiny")
        store.upload(GCS_LORA, "adapters/gcs-lora")
        yield store


@pytest.fixture(scope="session")
def azure(interceptor: TlsInterceptor) -> Iterator[AzureStore]:
    with AzureStore(interceptor) as store:
        store.upload(TINY[1], "tiny")
        store.upload(AZ_LORA, "adapters/az-lora")
        yield store
