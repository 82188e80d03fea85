"""The hub stand-in against the real huggingface_hub client, run in a subprocess so that it
reads HF_ENDPOINT, HF_HOME, HF_TOKEN and HF_HUB_OFFLINE fresh, as a pod's process would."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from tests.runtime.models import tensor_digests, tiny_model
from tests.runtime.standins.hub import Hub, Repo, commit_sha, etag

# Evaluates argv[1] with the client imported and prints the value as JSON; `attempt` turns
# an exception into its class name.
CLIENT = """\
import json, sys
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
def attempt(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except Exception as error:
        return type(error).__name__
print(json.dumps(eval(sys.argv[1])))
"""
CHUNK = 10 * 1024 * 1024  # huggingface_hub's DOWNLOAD_CHUNK_SIZE: what it writes at a time
MODEL = tiny_model(1)
LLAMA = tiny_model(2, llama_original=True)
SHA = commit_sha(MODEL)


def environment(hub: Hub, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **extra,
    }


def client(hub: Hub, tmp_path: Path, expression: str, **env: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, expression],
        env=environment(hub, tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def snapshot(folder: str) -> dict[str, bytes]:
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def seen(hub: Hub, since: int = 0) -> list[tuple[str, str]]:
    return sorted((r.method, r.path) for r in hub.requests[since:])


def downloads(repo: str, sha: str, files: list[str]) -> list[tuple[str, str]]:
    return sorted((m, f"/{repo}/resolve/{sha}/{f}") for f in files for m in ("HEAD", "GET"))


@pytest.fixture
def hub() -> Iterator[Hub]:
    a, b = tiny_model(3), tiny_model(4)
    repos = {
        "org/model": Repo.of(MODEL),
        "org/gated": Repo.of(MODEL, token="hf_secret"),
        "org/two": Repo(
            revisions={commit_sha(a): a, commit_sha(b): b},
            refs={"main": commit_sha(b), "v1": commit_sha(a)},
        ),
        "meta/llama": Repo.of(LLAMA),
    }
    with Hub(repos) as running:
        yield running


def test_public_repo_downloads_whole(hub: Hub, tmp_path: Path) -> None:
    folder = client(hub, tmp_path, "snapshot_download('org/model')")

    assert folder == str(tmp_path / "hf/hub/models--org--model/snapshots" / SHA)
    assert snapshot(folder) == MODEL
    assert tensor_digests(snapshot(folder)) == tensor_digests(MODEL)
    assert (tmp_path / "hf/hub/models--org--model/refs/main").read_text() == SHA
    assert seen(hub) == sorted(
        [
            ("GET", "/api/models/org/model/revision/main"),
            *downloads("org/model", SHA, sorted(MODEL)),
        ]
    )
    assert all(r.authorization is None and r.range is None for r in hub.requests)
    assert hub.bytes_served() == sum(len(c) for c in MODEL.values())
    # The cache names LFS blobs by sha256 and the others by git blob sha1, as from the hub.
    blobs = sorted(p.name for p in (tmp_path / "hf/hub/models--org--model/blobs").iterdir())
    assert blobs == sorted(etag(f, c) for f, c in MODEL.items())
    assert (
        etag("model.safetensors", MODEL["model.safetensors"])
        == hashlib.sha256(MODEL["model.safetensors"]).hexdigest()
    )
    # `printf '{}\n' | git hash-object --stdin`
    assert etag("config.json", b"{}\n") == "0967ef424bce6791893e9a57bb952f80fd536e93"


def test_api_lists_files_and_tells_errors(hub: Hub, tmp_path: Path) -> None:
    answer = client(
        hub,
        tmp_path,
        "[HfApi().list_repo_files('meta/llama'),"
        " [f.path for f in HfApi().list_repo_tree('meta/llama')],"
        " (lambda i: [i.id, i.sha, i.gated, [s.rfilename for s in i.siblings]])"
        "(HfApi().model_info('meta/llama')),"
        " attempt(snapshot_download, 'org/missing'),"
        " attempt(hf_hub_download, 'org/model', 'missing.json'),"
        " attempt(hf_hub_download, 'org/model', 'config.json', revision='nope'),"
        " attempt(HfApi().model_info, 'org/gated')]",
    )

    llama = sorted(LLAMA)
    assert answer == [
        llama,
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "original",
            "tokenizer_config.json",
        ],
        ["meta/llama", commit_sha(LLAMA), False, llama],
        "RepositoryNotFoundError",
        "EntryNotFoundError",
        "RevisionNotFoundError",
        "GatedRepoError",
    ]


def test_gated_repo_needs_the_token(hub: Hub, tmp_path: Path) -> None:
    assert client(hub, tmp_path, "attempt(snapshot_download, 'org/gated')") == "GatedRepoError"
    assert client(hub, tmp_path, "attempt(hf_hub_download, 'org/gated', 'config.json')") == (
        "GatedRepoError"
    )
    wrong = client(hub, tmp_path, "attempt(snapshot_download, 'org/gated')", HF_TOKEN="hf_wrong")
    assert wrong == "GatedRepoError"
    assert [(r.method, r.path, r.authorization) for r in hub.requests] == [
        ("GET", "/api/models/org/gated/revision/main", None),
        ("HEAD", "/org/gated/resolve/main/config.json", None),
        ("GET", "/api/models/org/gated/revision/main", "Bearer hf_wrong"),
    ]
    before = len(hub.requests)

    folder = client(hub, tmp_path, "snapshot_download('org/gated')", HF_TOKEN="hf_secret")

    assert snapshot(folder) == MODEL
    assert tensor_digests(snapshot(folder)) == tensor_digests(MODEL)
    assert seen(hub, before) == sorted(
        [
            ("GET", "/api/models/org/gated/revision/main"),
            *downloads("org/gated", SHA, sorted(MODEL)),
        ]
    )
    assert {r.authorization for r in hub.requests[before:]} == {"Bearer hf_secret"}


def test_each_revision_loads_by_sha(hub: Hub, tmp_path: Path) -> None:
    a, b = tiny_model(3), tiny_model(4)
    sha_a, sha_b = commit_sha(a), commit_sha(b)
    assert tensor_digests(a).keys() == tensor_digests(b).keys()
    assert all(tensor_digests(a)[k] != tensor_digests(b)[k] for k in tensor_digests(a))

    first = client(hub, tmp_path, f"snapshot_download('org/two', revision='{sha_a}')")
    second = client(hub, tmp_path, f"snapshot_download('org/two', revision='{sha_b}')")
    tag = client(hub, tmp_path, "snapshot_download('org/two', revision='v1')")
    main = client(hub, tmp_path, "snapshot_download('org/two')")

    assert [Path(f).name for f in (first, second, tag, main)] == [sha_a, sha_b, sha_a, sha_b]
    assert tensor_digests(snapshot(first)) == tensor_digests(a)
    assert tensor_digests(snapshot(second)) == tensor_digests(b)
    cache = tmp_path / "hf/hub/models--org--two"
    assert {p.name: p.read_text() for p in (cache / "refs").iterdir()} == {
        "v1": sha_a,
        "main": sha_b,
    }
    # A file the cache holds for that sha is not asked for again: the tag and main cost one
    # info request each. The JSON files are the same in both, so the second sha only asks
    # their ETags (HEAD) and links the blobs it has: 3 shared blobs and 2 weights.
    assert seen(hub) == sorted(
        [
            ("GET", f"/api/models/org/two/revision/{sha_a}"),
            ("GET", f"/api/models/org/two/revision/{sha_b}"),
            ("GET", "/api/models/org/two/revision/v1"),
            ("GET", "/api/models/org/two/revision/main"),
            *downloads("org/two", sha_a, sorted(a)),
            *downloads("org/two", sha_b, ["model.safetensors"]),
            *[("HEAD", f"/org/two/resolve/{sha_b}/{f}") for f in sorted(b) if f.endswith(".json")],
        ]
    )
    assert len(list((cache / "blobs").iterdir())) == 5


def test_patterns_leave_out_the_original_checkpoint(hub: Hub, tmp_path: Path) -> None:
    folder = client(
        hub,
        tmp_path,
        "snapshot_download('meta/llama', allow_patterns=['*.safetensors', '*.json'],"
        " ignore_patterns=['original/**/*'])",
    )

    # fnmatch's `*` crosses `/` but `original/**/*` needs a second one: it matches files in
    # folders below original/, not original/params.json, which `*.json` lets in.
    # The checkpoint stays out only because `*.pth` is not allowed.
    kept = [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "original/params.json",
        "tokenizer_config.json",
    ]
    assert sorted(snapshot(folder)) == kept
    assert snapshot(folder) == {f: LLAMA[f] for f in kept}
    assert seen(hub) == sorted(
        [
            ("GET", "/api/models/meta/llama/revision/main"),
            *downloads("meta/llama", commit_sha(LLAMA), kept),
        ]
    )
    assert not any(r.path.endswith(".pth") for r in hub.requests)


def test_offline_after_download_asks_nothing(hub: Hub, tmp_path: Path) -> None:
    folder = client(hub, tmp_path, "snapshot_download('org/model')")
    before = len(hub.requests)

    answer = client(
        hub,
        tmp_path,
        "[snapshot_download('org/model'), hf_hub_download('org/model', 'config.json'),"
        " attempt(snapshot_download, 'org/two')]",
        HF_HUB_OFFLINE="1",
    )

    assert answer == [folder, f"{folder}/config.json", "LocalEntryNotFoundError"]
    assert len(hub.requests) == before == 1 + 2 * len(MODEL)


def kill_when(process: subprocess.Popen[str], done: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the download never reached the stall"
        time.sleep(0.02)
    process.kill()
    process.wait()


def test_download_killed_mid_file_resumes(hub: Hub, tmp_path: Path) -> None:
    # Larger than the client's chunk, so that a chunk is on disk when the download stalls.
    rng = np.random.default_rng(5)
    files = dict(MODEL)
    files["model.safetensors"] = save(
        {"weight": rng.standard_normal((4 * 1024, 1024), dtype=np.float32)},
        metadata={"format": "pt"},
    )
    sha = commit_sha(files)
    hub.repos["org/big"] = Repo.of(files)
    blob = (
        tmp_path
        / "hf/hub/models--org--big/blobs"
        / etag("model.safetensors", files["model.safetensors"])
    )
    partial = blob.with_name(blob.name + ".incomplete")
    hub.stall("model.safetensors", CHUNK + 1000)
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT, "snapshot_download('org/big')"],
        env=environment(hub, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    kill_when(process, lambda: partial.exists() and partial.stat().st_size == CHUNK)
    hub.unstall()
    before = len(hub.requests)
    folder = client(hub, tmp_path, "snapshot_download('org/big')")

    assert snapshot(folder) == files
    assert tensor_digests(snapshot(folder)) == tensor_digests(files)
    assert not partial.exists()
    again = [(r.method, r.path, r.range) for r in hub.requests[before:] if "safetensors" in r.path]
    assert again == [
        ("HEAD", f"/org/big/resolve/{sha}/model.safetensors", None),
        ("GET", f"/org/big/resolve/{sha}/model.safetensors", f"bytes={CHUNK}-"),
    ]


def test_small_download_killed_starts_over(hub: Hub, tmp_path: Path) -> None:
    # Smaller than a chunk: nothing reaches the disk before the stall, so no Range after.
    blob = (
        tmp_path
        / "hf/hub/models--org--model/blobs"
        / etag("model.safetensors", MODEL["model.safetensors"])
    )
    partial = blob.with_name(blob.name + ".incomplete")
    hub.stall("model.safetensors", 300_000)
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT, "snapshot_download('org/model')"],
        env=environment(hub, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = sum(len(c) for f, c in MODEL.items() if f != "model.safetensors") + 300_000

    others = [tmp_path / "hf/hub/models--org--model/snapshots" / SHA / f for f in MODEL]
    kill_when(
        process,
        lambda: (
            partial.exists()
            and hub.bytes_served() == served
            and sum(f.exists() for f in others) == len(MODEL) - 1
        ),
    )
    assert partial.stat().st_size == 0
    hub.unstall()
    before = len(hub.requests)
    folder = client(hub, tmp_path, "snapshot_download('org/model')")

    assert snapshot(folder) == MODEL
    again = [(r.method, r.path, r.range) for r in hub.requests[before:] if "safetensors" in r.path]
    assert again == [
        ("HEAD", f"/org/model/resolve/{SHA}/model.safetensors", None),
        ("GET", f"/org/model/resolve/{SHA}/model.safetensors", None),
    ]
    assert hub.bytes_served() == served + len(MODEL["model.safetensors"])
