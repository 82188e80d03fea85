"""Prefetch: download a `pvc+hf://` model into its claim once, with a Job, instead of in
every pod.

The Job downloads with the huggingface_hub of its image into the Hugging Face cache on the
claim, as the pods see it (`HF_HUB_CACHE`), then writes a marker file naming what it
downloaded. The pods mount the claim read-only, run the hub offline, and wait in an init
container for the marker, so vLLM never starts on a half-filled cache. Job pod templates
are immutable: the Job's name carries a digest of its spec, so a new model, revision or
image is a new Job and a re-render of the same is the same Job. Optionally the claim is
generated too.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from krmfn.kinds import MODEL_LABEL
from krmfn.modelservice import ModelService
from krmfn.sources import VOLUME_NAME, HuggingFaceCacheOnClaim, Source

GENERATED_BY = "krmfn.llm-d.ai/generated-by"
MARKERS = ".krmfn-prefetched"
WAITER = "wait-for-model"
_PATHS = ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
_INDEXES = ("internal.config.kubernetes.io/index", "config.kubernetes.io/index")
# What orchestrators add to items and a comparison must not see.
_ORCHESTRATOR_PREFIXES = (
    "internal.config.kubernetes.io/",
    "config.kubernetes.io/",
    "config.k8s.io/",
)
_DEFAULT_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}

# Runs in the Job's image: the hub client vLLM images ship. It downloads what vLLM loads:
# every file but the checkpoints in original/ (vLLM skips them) and, where the repo has
# safetensors, the other weight formats (vLLM loads the first format it finds). The marker
# is written last, and atomically, so that it only ever names a complete download.
DOWNLOAD = """\
import fnmatch, os, pathlib, sys
from huggingface_hub import HfApi, snapshot_download
repo, revision, marker = sys.argv[1:]
ignore = ["original/*"]  # fnmatch: * crosses /
files = HfApi().list_repo_files(repo, revision=revision or None)
if fnmatch.filter(files, "*.safetensors"):
    ignore += ["*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.gguf"]
folder = snapshot_download(repo_id=repo, revision=revision or None, ignore_patterns=ignore)
done = pathlib.Path(marker)
done.parent.mkdir(parents=True, exist_ok=True)
partial = done.with_name(done.name + ".partial")
partial.write_text(f"{repo}@{revision or 'main'} {os.path.basename(folder)}\\n")
partial.replace(done)
print(f"downloaded {repo} into {folder}")
"""


def marker(source: HuggingFaceCacheOnClaim) -> str:
    """The file the Job writes when the download is complete, as the pods see it."""
    revision = (source.rev or "main").replace("/", "--")
    return f"{source.hub_cache}/{MARKERS}/{source.repo}--{source.model}@{revision}"


def waiter(source: Source, image: str) -> dict[str, Any]:
    """The init container that holds a pod until the model is in the cache."""
    assert isinstance(source, HuggingFaceCacheOnClaim)
    wait = 'until [ -f "$0" ]; do echo "waiting for $0 (the prefetch Job)"; sleep 10; done'
    return {
        "name": WAITER,
        "image": image,
        "command": ["sh", "-c", wait, marker(source)],
        "volumeMounts": [
            {"name": VOLUME_NAME, "mountPath": source.options.mount_root, "readOnly": True}
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _metadata(name: str, namespace: str, by: str, model: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {
        "app.kubernetes.io/managed-by": "krmfn",
        "app.kubernetes.io/component": "model-prefetch",
        MODEL_LABEL: model,
    }
    metadata["annotations"] = {GENERATED_BY: by}
    return metadata


def job(
    ms: ModelService, source: HuggingFaceCacheOnClaim, namespace: str, image: str
) -> dict[str, Any]:
    """The Job that fills the cache; `ms` is the ModelService it serves."""
    settings = ms.spec.modelArtifacts.prefetch_options
    assert settings is not None
    cache = {"name": "HF_HUB_CACHE", "value": source.hub_cache}
    resources = settings.resources.model_dump(exclude_none=True) if settings.resources else None
    container = {
        "name": "download",
        "image": image,
        "command": ["python3", "-c", DOWNLOAD],
        "args": [source.hf_model_name, source.rev, marker(source)],
        # Online and writable, unlike the pods.
        "env": source.hub_env(cache, offline=False),
        "resources": resources or _DEFAULT_RESOURCES,
        "volumeMounts": [{"name": VOLUME_NAME, "mountPath": source.options.mount_root}],
    }
    spec = {
        "backoffLimit": settings.backoffLimit,
        "activeDeadlineSeconds": settings.timeoutSeconds,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/component": "model-prefetch"}},
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [container],
                "volumes": [
                    {"name": VOLUME_NAME, "persistentVolumeClaim": {"claimName": source.claim}}
                ],
            },
        },
    }
    base = ms.name[:44].rstrip("-.")
    name = f"{base}-prefetch-{_digest(spec)}"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(name, namespace, ms.qualified, ms.sanitized_model_name),
        "spec": spec,
    }


def claim(
    ms: ModelService, source: HuggingFaceCacheOnClaim, namespace: str
) -> dict[str, Any] | None:
    """The claim to generate, if `prefetch.claim` asks for one."""
    prefetch = ms.spec.modelArtifacts.prefetch_options
    settings = prefetch.claim if prefetch is not None else None
    if settings is None:
        return None
    spec: dict[str, Any] = {
        "accessModes": list(settings.accessModes),
        "resources": {"requests": {"storage": settings.size}},
    }
    if settings.storageClassName:
        spec["storageClassName"] = settings.storageClassName
    metadata = _metadata(source.claim, namespace, ms.qualified, ms.sanitized_model_name)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}


def placed(items: list[dict[str, Any]], path: str, ms: ModelService) -> list[dict[str, Any]]:
    """The generated items with kpt's path and index annotations: a file of their own
    beside `path` (the ModelService's file). Without a path (kustomize, Helm), as they are."""
    if not path:
        return items
    file = posixpath.join(posixpath.dirname(path), f"{ms.name}-prefetch.yaml")
    for index, item in enumerate(items):
        annotations = item["metadata"]["annotations"]
        annotations.update({key: file for key in _PATHS})
        annotations.update({key: str(index) for key in _INDEXES})
    return items


def comparable(data: Any) -> Any:
    """An item without what orchestrators add to it, to tell whether it changed."""
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return data
    annotations = data["metadata"].get("annotations") or {}
    kept = {k: v for k, v in annotations.items() if not k.startswith(_ORCHESTRATOR_PREFIXES)}
    return {**data, "metadata": {**data["metadata"], "annotations": kept}}
