"""Models on a PersistentVolumeClaim: `pvc://` (prepared files) and `pvc+hf://` (a Hugging
Face hub cache, which a prefetch Job can fill)."""

from __future__ import annotations

from typing import Any

from krmfn.krm.errors import FieldError
from krmfn.names import is_dns1123_subdomain
from krmfn.sources.base import URI_FIELD, Options, Source, bad_uri, hf_id, normalised
from krmfn.sources.huggingface import HubModel, split_revision


class ModelInVolume(Source):
    """A source whose model lies at `path` inside the mounted volume."""

    __slots__ = ("path",)
    path: str

    @property
    def model_path(self) -> str:
        return self.path

    @property
    def mounted_model_path(self) -> str:
        return self.subpath(self.path)


def claim_name(uri: str, claim: str) -> str:
    if not is_dns1123_subdomain(claim):
        raise bad_uri(
            uri,
            f"claim {claim!r} is not a valid PersistentVolumeClaim name"
            " (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.')",
        )
    return claim


class PersistentVolumeClaim(ModelInVolume, scheme="pvc"):
    """`pvc://<claim>[/<path>]`: a prepared volume, mounted read-only."""

    __slots__ = ("claim",)
    claim: str

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> PersistentVolumeClaim:
        claim, _, path = rest.partition("/")
        return cls(uri, options, path=normalised(uri, path), claim=claim_name(uri, claim))

    def volume(self) -> dict[str, Any]:
        claim: dict[str, Any] = {"claimName": self.claim}
        if self.read_only:
            claim["readOnly"] = True
        return {"persistentVolumeClaim": claim}

    @property
    def read_only(self) -> bool:
        return self.options.read_only is not False

    def describe(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"{mode} PersistentVolumeClaim {self.claim}"


class HuggingFaceCacheOnClaim(HubModel, PersistentVolumeClaim, scheme="pvc+hf"):
    """`pvc+hf://<claim>/<cache path>/<repo-id>/<model-id>[@<revision>]`: a Hugging Face
    hub cache kept on a claim. Writable by default: the hub writes lock files even to read
    a cached model. Read-only (by config, or when a prefetch Job fills it) the hub runs
    offline."""

    __slots__ = ("model", "repo", "rev")
    prefetches = True
    uses = frozenset({"authSecretName"})

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> HuggingFaceCacheOnClaim:
        rest, rev = split_revision(uri, rest)
        claim, _, path = rest.partition("/")
        claim = claim_name(uri, claim)
        path = normalised(uri, path)
        segments = path.split("/") if path else []
        if len(segments) < 2:
            raise FieldError(
                f"{uri!r} must be pvc+hf://<claim>/<cache path>/<repo-id>/<model-id>", URI_FIELD
            )
        repo, model = (hf_id(uri, s) for s in segments[-2:])
        cache = "/".join(segments[:-2])
        return cls(uri, options, path=cache, claim=claim, repo=repo, model=model, rev=rev)

    @property
    def read_only(self) -> bool:
        return self.options.read_only is True or self.options.prefetch

    @property
    def hub_cache(self) -> str:
        return self.subpath(self.path)

    def env(self) -> list[dict[str, Any]]:
        cache = {"name": "HF_HUB_CACHE", "value": self.hub_cache}
        return self.hub_env(cache, offline=self.read_only)

    def unused(self, given: dict[str, Any]) -> list[tuple[str, str]]:
        out = super().unused(given)
        if given.get("authSecretName") and self.read_only and not self.options.prefetch:
            # Offline pods never send the token (HubModel.hub_env).
            out.append(
                (
                    "the cache is read-only (readOnly in the function config), so the pods"
                    " run the hub offline and never send the token: authSecretName has no"
                    " effect; remove it, or let a prefetch Job fill the cache with it",
                    "spec.modelArtifacts.authSecretName",
                )
            )
        return out

    def describe(self) -> str:
        prefetched = ", filled by a prefetch Job" if self.options.prefetch else ""
        return f"{super().describe()} as Hugging Face cache {self.hub_cache}{prefetched}"
