"""The compile cache: vLLM's cache root and torch inductor's cache on a claim the pods
share, so that a pod does not recompile what another already compiled.

`spec.modelArtifacts.compileCache: pvc://<claim>[/<path>]`. A marked container that mounts
a compile cache of its own (llm-d's guides: `/.cache` on a `torch-compile-cache` emptyDir,
wide-ep's `/var/cache/vllm` on a `jit-cache` emptyDir) keeps its mount and path: the
volume becomes the claim. Without one, the claim is mounted at `ROOT`. `VLLM_CACHE_ROOT`
and `TORCHINDUCTOR_CACHE_DIR` point under the mount, unless they already do.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from krmfn.krm.errors import FieldError
from krmfn.sources.base import VOLUME_NAME, normalised
from krmfn.sources.claims import claim_name

FIELD = "spec.modelArtifacts.compileCache"
VOLUME = "compile-cache"
ROOT = "/compile-cache"
# The compile-cache volumes of llm-d's guides.
GUIDE_VOLUMES = ("torch-compile-cache", "jit-cache")
VLLM_ROOT = "VLLM_CACHE_ROOT"
INDUCTOR_DIR = "TORCHINDUCTOR_CACHE_DIR"


class CompileCache(NamedTuple):
    uri: str
    claim: str
    path: str  # inside the claim ("" for its root)

    def volume(self, name: str) -> dict[str, Any]:
        return {"name": name, "persistentVolumeClaim": {"claimName": self.claim}}

    def env(self, mount_path: str, given: dict[str, str]) -> list[dict[str, Any]]:
        """The cache variables a container mounting the cache at `mount_path` needs,
        given its own values (`given`): one under the mount is kept."""
        root = mount_path.rstrip("/")
        out = []
        for name, folder in ((VLLM_ROOT, "vllm"), (INDUCTOR_DIR, "torchinductor")):
            own = given.get(name, "")
            if own == root or own.startswith(f"{root}/"):
                continue
            out.append({"name": name, "value": f"{root}/{folder}"})
        return out

    def describe(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"compile cache on PersistentVolumeClaim {self.claim}{where}"


def parse(uri: str) -> CompileCache:
    """Raises FieldError."""
    scheme, sep, rest = uri.partition("://")
    if scheme != "pvc" or not sep:
        raise FieldError(
            f"{uri!r}: the compile cache is a claim the pods share: pvc://<claim>[/<path>]",
            FIELD,
        )
    claim, _, path = rest.partition("/")
    try:
        return CompileCache(uri, claim_name(uri, claim), normalised(uri, path))
    except FieldError as exc:
        raise FieldError(exc.message, FIELD) from None


def own_mount(mounts: Any, env: dict[str, str]) -> int | None:
    """The index of a container's own compile-cache mount: a guide's volume, or the mount
    its VLLM_CACHE_ROOT lies under; None if it has none."""
    listed = [m if isinstance(m, dict) else {} for m in mounts] if isinstance(mounts, list) else []
    for index, mount in enumerate(listed):
        if mount.get("name") in GUIDE_VOLUMES:
            return index
    root = env.get(VLLM_ROOT, "")
    for index, mount in enumerate(listed):
        path = str(mount.get("mountPath", "")).rstrip("/")
        under = root == path or root.startswith(f"{path}/")
        if path and under and mount.get("name") != VOLUME_NAME:
            return index
    return None
