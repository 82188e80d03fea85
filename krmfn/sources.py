"""Model artifact sources: one class per URI scheme.

A source knows how to parse its URI and what it puts into a pod: the `model-storage`
volume, the mount on marked containers, the env of marked containers, and the
template variables it defines. Adding a scheme is adding a class to `SCHEMES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from krmfn.names import is_dns1123_subdomain

VOLUME_NAME = "model-storage"
DEFAULT_MOUNT_ROOT = "/model-cache"

_HF_ID = re.compile(r"^[A-Za-z0-9._-]{1,96}$")
_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)


class SourceError(ValueError):
    """A URI or artifact field that cannot be used; the message says why."""


@dataclass(frozen=True)
class Options:
    """What the function config and the ModelService let a user tune."""

    mount_root: str = DEFAULT_MOUNT_ROOT
    auth_secret_name: str = ""
    size: str | int | float | None = None


@dataclass(frozen=True)
class Source:
    scheme: ClassVar[str]
    uri: str
    options: Options = field(default_factory=Options)

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

    def describe(self) -> str:
        """For the info result: what went into the pods."""
        raise NotImplementedError


def _hf_id(uri: str, segment: str) -> str:
    if not _HF_ID.match(segment) or "--" in segment or ".." in segment:
        raise SourceError(
            f"{uri!r}: {segment!r} is not a valid Hugging Face id (letters, digits, '.', '_',"
            " '-'; no '--' or '..'; at most 96 characters)"
        )
    return segment


def _quantity(size: str | int | float) -> str | int | float:
    if isinstance(size, bool) or not _QUANTITY.match(str(size)):
        raise SourceError(
            f"size {size!r} is not a Kubernetes quantity (for example 5Gi, 500M, 1e9)"
        )
    return size


@dataclass(frozen=True)
class HuggingFace(Source):
    """`hf://<repo-id>/<model-id>`: downloaded at start into an emptyDir."""

    scheme: ClassVar[str] = "hf"
    repo: str = ""
    model: str = ""

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> HuggingFace:
        segments = rest.split("/")
        if len(segments) != 2 or not all(segments):
            raise SourceError(
                f"{uri!r} must be hf://<repo-id>/<model-id>, with exactly two non-empty segments"
            )
        if options.size is not None:
            _quantity(options.size)
        return cls(uri, options, _hf_id(uri, segments[0]), _hf_id(uri, segments[1]))

    def volume(self) -> dict[str, Any]:
        if self.options.size is None:
            return {"emptyDir": {}}
        return {"emptyDir": {"sizeLimit": self.options.size}}

    @property
    def read_only(self) -> bool:
        return False  # the Hugging Face hub writes into its cache

    def env(self) -> list[dict[str, Any]]:
        env: list[dict[str, Any]] = []
        if self.options.auth_secret_name:
            env.append(
                {
                    "name": "HF_TOKEN",
                    "valueFrom": {
                        "secretKeyRef": {"name": self.options.auth_secret_name, "key": "HF_TOKEN"}
                    },
                }
            )
        env.append({"name": "HF_HOME", "value": self.options.mount_root})
        return env

    @property
    def hf_model_name(self) -> str:
        return f"{self.repo}/{self.model}"

    @property
    def model_path(self) -> str:
        return self.hf_model_name

    @property
    def mounted_model_path(self) -> str:
        return self.options.mount_root

    def describe(self) -> str:
        extra = ", HF_TOKEN from Secret " + self.options.auth_secret_name
        return f"emptyDir volume, HF_HOME{extra if self.options.auth_secret_name else ''}"


@dataclass(frozen=True)
class PersistentVolumeClaim(Source):
    """`pvc://<claim>[/<path>]`: a prepared volume, mounted read-only."""

    scheme: ClassVar[str] = "pvc"
    claim: str = ""
    path: str = ""

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> PersistentVolumeClaim:
        claim, _, path = rest.partition("/")
        if not is_dns1123_subdomain(claim):
            raise SourceError(
                f"{uri!r}: claim {claim!r} is not a valid PersistentVolumeClaim name"
                " (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.')"
            )
        segments = [s for s in path.split("/") if s and s != "."]
        if ".." in segments:
            raise SourceError(f"{uri!r}: the path must not contain a '..' segment")
        return cls(uri, options, claim, "/".join(segments))

    def volume(self) -> dict[str, Any]:
        return {"persistentVolumeClaim": {"claimName": self.claim, "readOnly": True}}

    @property
    def read_only(self) -> bool:
        return True

    @property
    def model_path(self) -> str:
        return self.path

    @property
    def mounted_model_path(self) -> str:
        root = self.options.mount_root
        return f"{root.rstrip('/')}/{self.path}" if self.path else root

    def describe(self) -> str:
        return f"read-only PersistentVolumeClaim {self.claim}"


SCHEMES: dict[str, type[HuggingFace] | type[PersistentVolumeClaim]] = {
    HuggingFace.scheme: HuggingFace,
    PersistentVolumeClaim.scheme: PersistentVolumeClaim,
}


def parse_uri(uri: str, options: Options) -> Source:
    scheme, sep, rest = uri.partition("://")
    kind = SCHEMES.get(scheme) if sep else None
    if kind is None:
        supported = ", ".join(f"{s}://" for s in SCHEMES)
        raise SourceError(f"unsupported URI {uri!r}; supported schemes: {supported}")
    return kind.parse(uri, rest, options)
