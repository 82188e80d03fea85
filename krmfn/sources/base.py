"""What every source is, how a URI picks its class, and the checks sources share."""

from __future__ import annotations

import re
from typing import Any, ClassVar, NamedTuple

from krmfn.krm.errors import FieldError

VOLUME_NAME = "model-storage"
DEFAULT_MOUNT_ROOT = "/model-cache"

# The fields of a ModelService a source reads, for the errors that name them.
URI_FIELD = "spec.modelArtifacts.uri"
SIZE_FIELD = "spec.modelArtifacts.size"
PULL_POLICY_FIELD = "spec.modelArtifacts.pullPolicy"
PREFETCH_FIELD = "spec.modelArtifacts.prefetch"

_HF_ID = re.compile(r"[A-Za-z0-9._-]{1,96}")
_REVISION = re.compile(r"[A-Za-z0-9._/-]{1,255}")
_QUANTITY = re.compile(
    r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?"
)


class Options(NamedTuple):
    """What the function config and the ModelService let a user tune."""

    mount_root: str = DEFAULT_MOUNT_ROOT
    auth_secret_name: str = ""
    size: str | int | float | None = None
    read_only: bool | None = None  # None: the source's own default
    medium: str = ""  # emptyDir medium: "" (node disk) or "Memory"
    token_key: str = "HF_TOKEN"
    token_optional: bool = False
    pull_policy: str = ""  # oci://: "" means by tag (Always for latest)
    hf_endpoint: str = ""  # HF_ENDPOINT: a mirror, an air-gapped hub
    ephemeral_request: bool = True  # request node disk for an emptyDir of `size`
    endpoint: str = ""  # object storage: an S3-compatible store
    region: str = ""
    account: str = ""  # az://: the storage account
    credentials: str = ""  # gs://: which credentials the Secret holds (see objects.py)
    prefetch: bool = False  # download into the cache with a Job (see krmfn.prefetch)


# Settings of spec.modelArtifacts that only some sources use: given to another, they
# would be dropped without a word (the object-storage options are errors: parse_uri).
TUNABLE = ("size", "authSecretName", "pullPolicy")

# Every scheme by name, in the order the classes are defined (as errors list them).
SCHEMES: dict[str, type[Source]] = {}


class Source:
    """Where a model comes from, parsed from its URI. A source is not changed once made."""

    scheme: ClassVar[str] = ""
    # Whether `prefetch` can fill the source's cache ahead of the pods.
    prefetches: ClassVar[bool] = False
    # Which of the object-storage options (endpoint, region, account) it reads.
    reads: ClassVar[tuple[str, ...]] = ()
    # Which of the other settings of spec.modelArtifacts (TUNABLE) it uses.
    uses: ClassVar[frozenset[str]] = frozenset()
    __slots__ = ("options", "uri")

    def __init_subclass__(cls, scheme: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if scheme:
            cls.scheme = scheme
            SCHEMES[scheme] = cls

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> Source:
        """The source of `uri`, whose part after `<scheme>://` is `rest`. Raises FieldError."""
        raise NotImplementedError

    def __init__(self, uri: str, options: Options, **parts: str) -> None:
        """`parts`: what `parse` read from the URI, one slot of the class each."""
        self.uri = uri
        self.options = options
        for name, value in parts.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    def volume(self) -> dict[str, Any]:
        """The `model-storage` volume without its name."""
        raise NotImplementedError

    @property
    def read_only(self) -> bool:
        raise NotImplementedError

    def mount(self) -> dict[str, Any]:
        mount: dict[str, Any] = {"name": VOLUME_NAME, "mountPath": self.options.mount_root}
        if self.read_only:
            mount["readOnly"] = True
        return mount

    def env(self) -> list[dict[str, Any]]:
        """The env of marked containers (a ContainerSpec's own env wins)."""
        return []

    def displaced_env(self) -> list[dict[str, Any]]:
        """Env a marked container may already have that would take the model elsewhere
        (a cache of its own): replaced where present, restored when taken back."""
        return []

    def credential_volume(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A volume of credential files for the pods and its mount on marked containers."""
        return None

    def args(self, given: list[str]) -> list[str]:
        """Args marked containers need after the ModelService's, given the args they
        already have (the ModelService's and the workload's)."""
        return []

    def ephemeral_storage(self) -> str | int | float | None:
        """Node disk the first marked container should request for the model."""
        return None

    @property
    def hf_model_name(self) -> str:
        return ""

    @property
    def model_path(self) -> str:
        raise NotImplementedError

    @property
    def mounted_model_path(self) -> str:
        raise NotImplementedError

    @property
    def revision(self) -> str:
        return ""

    def warnings(self) -> list[tuple[str, str]]:
        """(message, field path) of what the pods will do that the user may not expect."""
        return []

    def describe(self) -> str:
        """For the info result: what went into the pods."""
        raise NotImplementedError

    def unloadable(self, model: str) -> str:
        """What `model`, given to vLLM as the model to serve, is instead of this
        source's model (and what to give), or "" when it is the model (or cannot tell)."""
        return ""

    def unused(self, given: dict[str, Any]) -> list[tuple[str, str]]:
        """(message, field path) of each setting of spec.modelArtifacts (`given`: its
        fields that hold a value) that has no effect with this source."""
        out = []
        for field in TUNABLE:
            if given.get(field) is not None and field not in self.uses:
                users = ", ".join(f"{s}://" for s, k in SCHEMES.items() if field in k.uses)
                out.append(
                    (
                        f"{self.scheme}:// does not use {field} (it is for {users}):"
                        " it has no effect; remove it",
                        f"spec.modelArtifacts.{field}",
                    )
                )
        return out

    def secret_env(self, *keys: str, optional: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Env vars from the `authSecretName` Secret, each from the key of its name."""
        if not self.options.auth_secret_name:
            return []
        out = []
        for key in (*keys, *optional):
            ref: dict[str, Any] = {"name": self.options.auth_secret_name, "key": key}
            if key in optional:
                ref["optional"] = True
            out.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
        return out

    def subpath(self, path: str) -> str:
        root = self.options.mount_root
        return f"{root.rstrip('/')}/{path}" if path else root


def bad_uri(uri: str, problem: str) -> FieldError:
    return FieldError(f"{uri!r}: {problem}", URI_FIELD)


def hf_id(uri: str, segment: str) -> str:
    if not _HF_ID.fullmatch(segment) or "--" in segment or ".." in segment:
        raise bad_uri(
            uri,
            f"{segment!r} is not a valid Hugging Face id (letters, digits, '.', '_',"
            " '-'; no '--' or '..'; at most 96 characters)",
        )
    return segment


def revision(uri: str, text: str) -> str:
    if not _REVISION.fullmatch(text):
        raise bad_uri(
            uri,
            f"revision {text!r} is not a branch, tag or commit"
            " (letters, digits, '.', '_', '-', '/'; at most 255 characters)",
        )
    return text


def quantity(size: str | int | float) -> str | int | float:
    if isinstance(size, bool) or not _QUANTITY.fullmatch(str(size)):
        raise FieldError(
            f"size {size!r} is not a Kubernetes quantity (for example 5Gi, 500M, 1e9)",
            SIZE_FIELD,
        )
    return size


def normalised(uri: str, path: str) -> str:
    """A path inside a volume or bucket, without empty or `.` segments; `..` would leave it."""
    segments = [s for s in path.split("/") if s and s != "."]
    if ".." in segments:
        raise bad_uri(uri, "the path must not contain a '..' segment")
    return "/".join(segments)


def parse_uri(uri: str, options: Options) -> Source:
    scheme, sep, rest = uri.partition("://")
    kind = SCHEMES.get(scheme) if sep else None
    if kind is None:
        supported = ", ".join(f"{s}://" for s in SCHEMES)
        raise FieldError(f"unsupported URI {uri!r}; supported schemes: {supported}", URI_FIELD)
    for field in ("endpoint", "region", "account", "credentials"):
        if getattr(options, field) and field not in kind.reads:
            readers = ", ".join(f"{s}://" for s, k in SCHEMES.items() if field in k.reads)
            raise FieldError(
                f"{scheme}:// does not read {field} (it is for {readers})",
                f"spec.modelArtifacts.{field}",
            )
    if options.prefetch and not kind.prefetches:
        raise FieldError(
            f"{scheme}:// has no cache to fill ahead of the pods; prefetch needs"
            " pvc+hf://<claim>/<cache path>/<repo-id>/<model-id>",
            PREFETCH_FIELD,
        )
    return kind.parse(uri, rest, options)
