"""Models in a container image: `oci://`, mounted as an image volume (a "modelcar")."""

from __future__ import annotations

import re
from typing import Any

from krmfn.krm.errors import FieldError
from krmfn.sources.base import PULL_POLICY_FIELD, URI_FIELD, Options, bad_uri, normalised
from krmfn.sources.claims import ModelInVolume

_OCI_REFERENCE = re.compile(
    r"(?P<registry>[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(:[0-9]+)?)"
    r"/(?P<repository>[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?"
    r"(@(?P<digest>sha256:[a-f0-9]{64}))?"
)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


class ImageVolume(ModelInVolume, scheme="oci"):
    """`oci://<registry>/<repository>[:tag][@sha256:digest][//<path in image>]`: an image
    volume, read-only by nature. The path after `//` names the model's folder inside the
    image, as go-getter writes subdirectories."""

    __slots__ = ("reference",)
    reference: str
    uses = frozenset({"pullPolicy"})

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> ImageVolume:
        reference, _, path = rest.partition("//")
        match = _OCI_REFERENCE.fullmatch(reference)
        if not match:
            raise bad_uri(
                uri,
                f"{reference!r} is not an image reference"
                " (<registry>/<repository>[:tag][@sha256:<64 hex digits>])",
            )
        path = normalised(uri, path)
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
        match = _OCI_REFERENCE.fullmatch(self.reference)
        assert match is not None
        tag, digest = match.group("tag"), match.group("digest")
        return "Always" if not digest and tag in (None, "latest") else "IfNotPresent"

    def volume(self) -> dict[str, Any]:
        return {"image": {"reference": self.reference, "pullPolicy": self._pull_policy}}

    @property
    def read_only(self) -> bool:
        return True

    def warnings(self) -> list[tuple[str, str]]:
        return [
            (
                "image volumes need Kubernetes 1.35+ (or the ImageVolume feature gate on"
                " 1.33-1.34) and containerd 2.1+ or CRI-O 1.31+ on the nodes",
                URI_FIELD,
            )
        ]

    def describe(self) -> str:
        return f"image volume {self.reference} ({self._pull_policy})"
