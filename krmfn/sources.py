"""Model artifact sources: one class per URI scheme.

A source knows how to parse its URI and what it puts into a pod: the `model-storage`
volume, the mount on marked containers, the env of marked containers, and the
template variables it defines. Adding a scheme is adding a class: `class X(Source,
scheme="x")` registers it in `SCHEMES`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, NamedTuple

from krmfn.krm.errors import FieldError
from krmfn.names import is_dns1123_subdomain

VOLUME_NAME = "model-storage"
DEFAULT_MOUNT_ROOT = "/model-cache"

_HF_ID = re.compile(r"^[A-Za-z0-9._-]{1,96}$")
_REVISION = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)


# The fields of a ModelService a source reads, for the errors that name them.
URI_FIELD = "spec.modelArtifacts.uri"
SIZE_FIELD = "spec.modelArtifacts.size"
PULL_POLICY_FIELD = "spec.modelArtifacts.pullPolicy"


_OCI_REFERENCE = re.compile(
    r"^(?P<registry>[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(:[0-9]+)?)"
    r"/(?P<repository>[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?"
    r"(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


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


# Every scheme by name, in the order the classes are defined (as errors list them).
SCHEMES: dict[str, type[Source]] = {}


class Source:
    """Where a model comes from, parsed from its URI. A source is not changed once made."""

    scheme: ClassVar[str] = ""
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
        raise NotImplementedError

    @property
    def read_only(self) -> bool:
        raise NotImplementedError

    def env(self) -> list[dict[str, Any]]:
        return []

    @property
    def hf_model_name(self) -> str:
        return ""

    @property
    def model_path(self) -> str:
        raise NotImplementedError

    @property
    def mounted_model_path(self) -> str:
        raise NotImplementedError

    def mount(self) -> dict[str, Any]:
        mount: dict[str, Any] = {"name": VOLUME_NAME, "mountPath": self.options.mount_root}
        if self.read_only:
            mount["readOnly"] = True
        return mount

    @property
    def revision(self) -> str:
        return ""

    def warnings(self) -> list[str]:
        return []

    def describe(self) -> str:
        """For the info result: what went into the pods."""
        raise NotImplementedError

    def token_env(self) -> list[dict[str, Any]]:
        if not self.options.auth_secret_name:
            return []
        ref: dict[str, Any] = {"name": self.options.auth_secret_name, "key": self.options.token_key}
        if self.options.token_optional:
            ref["optional"] = True
        return [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": ref}}]

    def _subpath(self, path: str) -> str:
        root = self.options.mount_root
        return f"{root.rstrip('/')}/{path}" if path else root


def _bad_uri(uri: str, problem: str) -> FieldError:
    return FieldError(f"{uri!r}: {problem}", URI_FIELD)


def _hf_id(uri: str, segment: str) -> str:
    if not _HF_ID.match(segment) or "--" in segment or ".." in segment:
        raise _bad_uri(
            uri,
            f"{segment!r} is not a valid Hugging Face id (letters, digits, '.', '_',"
            " '-'; no '--' or '..'; at most 96 characters)",
        )
    return segment


def _quantity(size: str | int | float) -> str | int | float:
    if isinstance(size, bool) or not _QUANTITY.match(str(size)):
        raise FieldError(
            f"size {size!r} is not a Kubernetes quantity (for example 5Gi, 500M, 1e9)",
            SIZE_FIELD,
        )
    return size


class _HubModel:
    """A model named by its Hugging Face repository id."""

    __slots__ = ()
    model: str
    repo: str

    @property
    def hf_model_name(self) -> str:
        return f"{self.repo}/{self.model}"

    @property
    def model_path(self) -> str:
        return self.hf_model_name


class HuggingFace(_HubModel, Source, scheme="hf"):
    """`hf://<repo-id>/<model-id>`: downloaded at start into an emptyDir."""

    __slots__ = ("model", "repo", "rev")
    model: str
    repo: str
    rev: str

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> HuggingFace:
        rest, at, revision = rest.partition("@")
        if at and not _REVISION.match(revision):
            raise _bad_uri(
                uri,
                f"revision {revision!r} is not a branch, tag or commit"
                " (letters, digits, '.', '_', '-', '/'; at most 255 characters)",
            )
        segments = rest.split("/")
        if len(segments) != 2 or not all(segments):
            raise FieldError(
                f"{uri!r} must be hf://<repo-id>/<model-id>[@<revision>],"
                " with exactly two non-empty segments",
                URI_FIELD,
            )
        if options.size is not None:
            _quantity(options.size)
        repo, model = (_hf_id(uri, segment) for segment in segments)
        return cls(uri, options, repo=repo, model=model, rev=revision)

    def volume(self) -> dict[str, Any]:
        empty_dir: dict[str, Any] = {}
        if self.options.medium:
            empty_dir["medium"] = self.options.medium
        if self.options.size is not None:
            empty_dir["sizeLimit"] = self.options.size
        return {"emptyDir": empty_dir}

    @property
    def revision(self) -> str:
        return self.rev

    @property
    def read_only(self) -> bool:
        return False  # the Hugging Face hub writes into its cache

    def env(self) -> list[dict[str, Any]]:
        return [*self.token_env(), {"name": "HF_HOME", "value": self.options.mount_root}]

    @property
    def mounted_model_path(self) -> str:
        return self.options.mount_root

    def describe(self) -> str:
        extra = ", HF_TOKEN from Secret " + self.options.auth_secret_name
        revision = f", revision {self.rev}" if self.rev else ""
        token = extra if self.options.auth_secret_name else ""
        return f"emptyDir volume, HF_HOME{token}{revision}"


def _normalised(uri: str, path: str) -> str:
    """A path inside a volume, without empty or `.` segments; `..` would leave it."""
    segments = [s for s in path.split("/") if s and s != "."]
    if ".." in segments:
        raise _bad_uri(
            uri,
            "the path must not contain a '..' segment",
        )
    return "/".join(segments)


class _ModelInVolume(Source):
    """A source whose model lies at `path` inside the mounted volume."""

    __slots__ = ("path",)
    path: str

    @property
    def model_path(self) -> str:
        return self.path

    @property
    def mounted_model_path(self) -> str:
        return self._subpath(self.path)


class PersistentVolumeClaim(_ModelInVolume, scheme="pvc"):
    """`pvc://<claim>[/<path>]`: a prepared volume, mounted read-only."""

    __slots__ = ("claim",)
    claim: str

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> PersistentVolumeClaim:
        claim, _, path = rest.partition("/")
        if not is_dns1123_subdomain(claim):
            raise _bad_uri(
                uri,
                f"claim {claim!r} is not a valid PersistentVolumeClaim name"
                " (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.')",
            )
        return cls(uri, options, path=_normalised(uri, path), claim=claim)

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


class HuggingFaceCacheOnClaim(_HubModel, PersistentVolumeClaim, scheme="pvc+hf"):
    """`pvc+hf://<claim>/<cache path>/<repo-id>/<model-id>`: a Hugging Face hub cache kept
    on a claim. Writable by default: the hub writes lock files even to read a cached model."""

    __slots__ = ("model", "repo")
    model: str
    repo: str

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> HuggingFaceCacheOnClaim:
        claimed = PersistentVolumeClaim.parse(uri, rest, options)
        segments = claimed.path.split("/") if claimed.path else []
        if len(segments) < 2:
            raise FieldError(
                f"{uri!r} must be pvc+hf://<claim>/<cache path>/<repo-id>/<model-id>", URI_FIELD
            )
        repo, model = (_hf_id(uri, s) for s in segments[-2:])
        return cls(
            uri,
            options,
            path="/".join(segments[:-2]),
            claim=claimed.claim,
            repo=repo,
            model=model,
        )

    @property
    def read_only(self) -> bool:
        return self.options.read_only is True

    def env(self) -> list[dict[str, Any]]:
        return [*self.token_env(), {"name": "HF_HUB_CACHE", "value": self._subpath(self.path)}]

    def describe(self) -> str:
        return f"{super().describe()} as Hugging Face cache {self._subpath(self.path)}"


class ImageVolume(_ModelInVolume, scheme="oci"):
    """`oci://<registry>/<repository>[:tag][@sha256:digest][//<path in image>]`: an image
    volume (a "modelcar"), read-only by nature. The path after `//` names the model's folder
    inside the image, as go-getter writes subdirectories."""

    __slots__ = ("reference",)
    reference: str

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> ImageVolume:
        reference, _, path = rest.partition("//")
        match = _OCI_REFERENCE.match(reference)
        if not match:
            raise _bad_uri(
                uri,
                f"{reference!r} is not an image reference"
                " (<registry>/<repository>[:tag][@sha256:<64 hex digits>])",
            )
        path = _normalised(uri, path)
        if options.pull_policy and options.pull_policy not in PULL_POLICIES:
            raise FieldError(
                f"pull policy {options.pull_policy!r} is not one of {', '.join(PULL_POLICIES)}",
                PULL_POLICY_FIELD,
            )
        return cls(uri, options, path=path, reference=reference)

    @property
    def _pull_policy(self) -> str:
        if self.options.pull_policy:
            return self.options.pull_policy
        match = _OCI_REFERENCE.match(self.reference)
        assert match is not None
        tag, digest = match.group("tag"), match.group("digest")
        return "Always" if not digest and tag in (None, "latest") else "IfNotPresent"

    def volume(self) -> dict[str, Any]:
        return {"image": {"reference": self.reference, "pullPolicy": self._pull_policy}}

    @property
    def read_only(self) -> bool:
        return True

    def warnings(self) -> list[str]:
        return [
            "image volumes need Kubernetes 1.35+ (or the ImageVolume feature gate on 1.33-1.34)"
            " and containerd 2.1+ or CRI-O 1.31+ on the nodes"
        ]

    def describe(self) -> str:
        return f"image volume {self.reference} ({self._pull_policy})"


def parse_uri(uri: str, options: Options) -> Source:
    scheme, sep, rest = uri.partition("://")
    kind = SCHEMES.get(scheme) if sep else None
    if kind is None:
        supported = ", ".join(f"{s}://" for s in SCHEMES)
        raise FieldError(f"unsupported URI {uri!r}; supported schemes: {supported}", URI_FIELD)
    return kind.parse(uri, rest, options)
