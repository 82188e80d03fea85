"""Models from the Hugging Face hub: `hf://`, downloaded by each pod into an emptyDir."""

from __future__ import annotations

from typing import Any, ClassVar

from krmfn.krm.errors import FieldError
from krmfn.sources.base import URI_FIELD, Options, Source, hf_id, quantity, revision


class HubModel:
    """A model named by its Hugging Face repository id, at a revision, and the env the
    hub client reads."""

    __slots__ = ()
    options: Options
    model: str
    repo: str
    rev: str
    # The variables a workload may set that send the hub's downloads, or transformers'
    # reads, to another cache than the model volume: huggingface_hub reads HF_HUB_CACHE
    # before HF_HOME (and the legacy HUGGINGFACE_HUB_CACHE), transformers 4 reads
    # TRANSFORMERS_CACHE before both.
    CACHE_VARIABLES: ClassVar[tuple[str, ...]] = (
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "TRANSFORMERS_CACHE",
    )

    @property
    def hub_cache(self) -> str:
        """HF_HUB_CACHE as the pods see it."""
        raise NotImplementedError

    def displaced_env(self) -> list[dict[str, Any]]:
        return [{"name": name, "value": self.hub_cache} for name in self.CACHE_VARIABLES]

    @property
    def hf_model_name(self) -> str:
        return f"{self.repo}/{self.model}"

    @property
    def model_path(self) -> str:
        return self.hf_model_name

    @property
    def revision(self) -> str:
        return self.rev

    def unloadable(self, model: str) -> str:
        use = f"pass {{{{ .HFModelName }}}} ({self.hf_model_name}): vLLM finds it in the cache"
        cache_dirs = {self.options.mount_root.rstrip("/"), self.hub_cache.rstrip("/")}
        if model.rstrip("/") in cache_dirs:
            return f"the Hugging Face cache, not a model folder: vLLM cannot load it; {use}"
        segments = model.split("/")
        if len(segments) == 2 and all(segments) and model != self.hf_model_name:
            return f"another model than the ModelService's {self.hf_model_name}; {use}"
        return ""

    def args(self, given: list[str]) -> list[str]:
        # vLLM takes the revision as an option; options may precede the model argument.
        if not self.rev or any(a == "--revision" or a.startswith("--revision=") for a in given):
            return []
        return [f"--revision={self.rev}"]

    def hub_env(self, cache: dict[str, Any], offline: bool) -> list[dict[str, Any]]:
        """HF_TOKEN from the Secret, the cache variable, HF_ENDPOINT, HF_HUB_OFFLINE."""
        env = []
        # An offline pod never sends the token: a required reference to it would only
        # stop the pod when the Secret is missing.
        if self.options.auth_secret_name and not offline:
            ref: dict[str, Any] = {
                "name": self.options.auth_secret_name,
                "key": self.options.token_key,
            }
            if self.options.token_optional:
                ref["optional"] = True
            env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": ref}})
        env.append(cache)
        if self.options.hf_endpoint:
            env.append({"name": "HF_ENDPOINT", "value": self.options.hf_endpoint})
        if offline:
            # The cache is read-only: the hub must not try to fetch (it would fail) or
            # even ask for a newer revision.
            env.append({"name": "HF_HUB_OFFLINE", "value": "1"})
        return env


def split_revision(uri: str, rest: str) -> tuple[str, str]:
    """`<path>[@<revision>]`."""
    path, at, rev = rest.partition("@")
    return path, revision(uri, rev) if at else ""


class HuggingFace(HubModel, Source, scheme="hf"):
    """`hf://<repo-id>/<model-id>[@<revision>]`: downloaded at start into an emptyDir."""

    __slots__ = ("model", "repo", "rev")
    uses = frozenset({"size", "authSecretName"})

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> HuggingFace:
        path, rev = split_revision(uri, rest)
        segments = path.split("/")
        if len(segments) != 2 or not all(segments):
            raise FieldError(
                f"{uri!r} must be hf://<repo-id>/<model-id>[@<revision>],"
                " with exactly two non-empty segments",
                URI_FIELD,
            )
        if options.size is not None:
            quantity(options.size)
        repo, model = (hf_id(uri, segment) for segment in segments)
        return cls(uri, options, repo=repo, model=model, rev=rev)

    def volume(self) -> dict[str, Any]:
        empty_dir: dict[str, Any] = {}
        if self.options.medium:
            empty_dir["medium"] = self.options.medium
        if self.options.size is not None:
            empty_dir["sizeLimit"] = self.options.size
        return {"emptyDir": empty_dir}

    @property
    def read_only(self) -> bool:
        return False  # the Hugging Face hub writes into its cache

    @property
    def hub_cache(self) -> str:
        return f"{self.options.mount_root.rstrip('/')}/hub"

    def env(self) -> list[dict[str, Any]]:
        home = {"name": "HF_HOME", "value": self.options.mount_root}
        return self.hub_env(home, offline=False)

    def ephemeral_storage(self) -> str | int | float | None:
        # An emptyDir on node disk counts against the pod's ephemeral storage: without a
        # request the scheduler may place the model on a node without room for it.
        if self.options.medium or not self.options.ephemeral_request:
            return None
        return self.options.size

    @property
    def mounted_model_path(self) -> str:
        return self.options.mount_root

    def describe(self) -> str:
        extra = ", HF_TOKEN from Secret " + self.options.auth_secret_name
        revision = f", revision {self.rev}" if self.rev else ""
        token = extra if self.options.auth_secret_name else ""
        return f"emptyDir volume, HF_HOME{token}{revision}"
